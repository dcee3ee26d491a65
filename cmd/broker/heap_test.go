package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestBoundHeap: after a collection the memory limit is twice the live
// heap plus the headroom, and follows the live heap down again.
func TestBoundHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	boundHeap(32 << 20)
	limitAfterGC := func(atLeast, below int64) int64 {
		t.Helper()
		runtime.GC()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			// The finalizer runs on its own goroutine after the collection.
			if l := debug.SetMemoryLimit(-1); l >= atLeast && l < below {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("memory limit %d, want it in [%d, %d)", debug.SetMemoryLimit(-1), atLeast, below)
			}
		}
	}
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = 1
	}
	high := limitAfterGC(2*64<<20+32<<20, 2*96<<20+32<<20)
	runtime.KeepAlive(live)
	live = nil
	low := limitAfterGC(32<<20, 2*32<<20+32<<20)
	t.Logf("limit with 64 MiB live: %d MiB; without: %d MiB", high>>20, low>>20)
}

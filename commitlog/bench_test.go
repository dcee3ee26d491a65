package commitlog

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchLog is a store with real-sized (1 GiB) segments.
func benchLog(b *testing.B, mode FlushMode) *Log {
	b.Helper()
	return openLog(b, Config{Dir: b.TempDir(), Flush: mode})
}

func benchMessage(size int) *Message {
	return &Message{
		Topic:         "BenchTopic",
		Body:          make([]byte, size),
		Properties:    "TAGS\x01TagA\x02UNIQ_KEY\x017F00000100002A9F0000000000000001\x02",
		BornTimestamp: 1700000000000,
		BornHost:      testBorn,
		StoreHost:     testStore,
	}
}

// BenchmarkAppend appends with AsyncFlush and 1 GiB segments. Besides
// records/s (wall clock, the allocator and the flusher running on the other
// CPU) it reports cpu-ns/op, the appending thread's own CPU time per record
// (user and system: the page faults it takes count), which is what one core
// spends per record.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l, m := benchLog(b, AsyncFlush), benchMessage(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			for b.Loop() {
				if _, err := l.Append(m); err != nil {
					b.Fatal(err)
				}
			}
			cpu := threadCPU(b) - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(l.Stats().Syncs)/float64(b.N), "syncs/op")
		})
	}
}

// threadCPU is the calling thread's CPU time.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// BenchmarkAppendSyncFlush: concurrent SYNC_FLUSH senders, each waiting
// for its record to be durable (group commit).
func BenchmarkAppendSyncFlush(b *testing.B) {
	for _, senders := range []int{1, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			l, m := benchLog(b, SyncFlush), benchMessage(1<<10)
			b.SetBytes(1 << 10)
			b.SetParallelism(senders)
			b.RunParallel(func(pb *testing.PB) {
				var wg sync.WaitGroup
				done := func(err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				}
				for pb.Next() {
					r, err := l.Append(m)
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					l.WaitDurable(r.EndOffset(), done)
					wg.Wait()
				}
			})
			b.ReportMetric(float64(l.Stats().Syncs)/float64(b.N), "syncs/op")
		})
	}
}

func BenchmarkQueueEntries(b *testing.B) {
	l := openLog(b, testConfig(b.TempDir()))
	for i := range 1000 {
		mustAppend(b, l, testMessage("Q", 0, i))
	}
	dst := make([]Entry, 0, 32)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		dst, _ = l.QueueEntries("Q", 0, i%968, 32, dst)
		i++
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	p, _ := prepare(benchMessage(1<<10), 1<<20)
	buf := make([]byte, p.size)
	p.encode(buf, 1, 2, 3)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeRecord(buf); err != nil {
			b.Fatal(err)
		}
	}
}

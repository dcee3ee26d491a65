package commitlog

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// vmFlags returns the VmFlags line of /proc/self/smaps for the mapping
// that holds b's first byte ("rr" is MADV_RANDOM).
func vmFlags(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	addr := uintptr(unsafe.Pointer(&b[0]))
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = addr >= lo && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

func hasRandom(flags string) bool { return strings.Contains(flags+" ", " rr ") }

// TestWrittenMappingsDoNotReadAround: the segment being written and its
// consume-queue files fault one page at a time (MADV_RANDOM: a fault on a
// fresh page must not zero the whole read-ahead window on a thread the
// kernel cannot preempt); a segment that filled up reads around again; a
// reopened store advises the unwritten rest of its last segment.
func TestWrittenMappingsDoNotReadAround(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, testConfig(dir))
	for i := 0; l.Stats().Rolls < 2; i++ {
		mustAppend(t, l, testMessage("T", 0, i))
	}
	l.mu.Lock()
	segs := append([]*segment(nil), l.segList...)
	active := l.active
	l.mu.Unlock()
	if !hasRandom(vmFlags(t, active.data)) {
		t.Fatalf("active segment %s: %s, want rr", active.path, vmFlags(t, active.data))
	}
	q := l.topics["T"].queues[0]
	if f := q.files[0]; !hasRandom(vmFlags(t, f.data)) {
		t.Fatalf("consume-queue file %s: %s, want rr", f.path, vmFlags(t, f.data))
	}
	// The allocator advises the full segments back, off the appender's path.
	full := segs[0]
	deadline := time.Now().Add(10 * time.Second)
	for hasRandom(vmFlags(t, full.data)) {
		if time.Now().After(deadline) {
			t.Fatalf("full segment %s still %s", full.path, vmFlags(t, full.data))
		}
		l.alloc.wake()
		time.Sleep(5 * time.Millisecond)
	}
	mustClose(t, l)

	l = openLog(t, testConfig(dir))
	l.mu.Lock()
	active, wrote := l.active, l.wrote
	l.mu.Unlock()
	next := (wrote - active.start + pageSize) &^ (pageSize - 1)
	if next >= int64(len(active.data)) {
		t.Skip("the last segment is full after reopening")
	}
	if f := vmFlags(t, active.data[next:]); !hasRandom(f) {
		t.Fatalf("reopened store, unwritten part of %s: %s, want rr", active.path, f)
	}
	if f := vmFlags(t, active.data); hasRandom(f) && next > pageSize {
		t.Fatalf("reopened store, written part of %s: %s, want read-around", active.path, f)
	}
}

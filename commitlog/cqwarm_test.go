package commitlog

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestCQWarmEnd: the chunks the appender has faulted in follow each other
// with no gap or overlap, start one chunk ahead and reach cqWarmAhead.
func TestCQWarmEnd(t *testing.T) {
	if got := cqWarmEnd(-1); got != 1 {
		t.Fatalf("cqWarmEnd(-1) = %d, want 1 (chunk 0 comes with the file)", got)
	}
	for k := int64(0); k < 40; k++ {
		lo, hi := cqWarmEnd(k-1), cqWarmEnd(k)
		if hi <= k+1 || lo > hi {
			t.Fatalf("chunk %d: warms [%d, %d), want a range past chunk %d", k, lo, hi, k)
		}
		if ahead := hi - 1 - k; ahead > cqWarmAhead || (k >= cqWarmAhead && ahead != cqWarmAhead) {
			t.Fatalf("chunk %d: %d chunks warm ahead, want min(k+1, %d)", k, ahead, cqWarmAhead)
		}
	}
}

// TestNewQueueFileResidency: the first message of a new queue leaves at
// most two chunks of its 5.7 MiB file in the page cache, chunk 0 before
// the appender writes. A fault in a new file's mapping used to read around
// it (the disk's read_ahead_kb, 8 MiB on the development VM), allocating
// and zeroing the whole file under the appender's lock.
func TestNewQueueFileResidency(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 1 << 20
	cfg.QueueFileEntries = 300000
	l := openLog(t, cfg)
	if _, err := l.Append(testMessage("Fresh", 0, 0)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.Dir, "consumequeue", "Fresh", "0", fileName(0))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int(300000 * cqEntrySize)
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := (size + pageSize - 1) / pageSize
	vec := make([]byte, pages)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	resident, first := 0, 0
	for i, v := range vec {
		if v&1 != 0 {
			resident++
			if i < cqWarmChunk/pageSize {
				first++
			}
		}
	}
	if first != cqWarmChunk/pageSize {
		t.Errorf("%d of chunk 0's %d pages are in the page cache; want all, faulted in before the first write", first, cqWarmChunk/pageSize)
	}
	if max := int(cqWarmEnd(0) * cqWarmChunk / pageSize); resident > max {
		t.Errorf("%d KiB of the new queue file are in the page cache after one message; want at most %d KiB", resident*pageSize>>10, max*pageSize>>10)
	}
}

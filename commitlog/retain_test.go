package commitlog

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncWriter serialises writes to w (a logger's output read by the test).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// fillSegments appends to queue Q/0 (and a little to R/0) until the log has
// n segments, and returns every append's result in order.
func fillSegments(t *testing.T, l *Log, n int) []AppendResult {
	t.Helper()
	var out []AppendResult
	for i := 0; len(*l.segs.Load()) < n; i++ {
		out = append(out, mustAppend(t, l, testMessage("Q", 0, i)))
		if i%10 == 0 {
			mustAppend(t, l, testMessage("R", 0, i))
		}
	}
	return out
}

func waitFlushed(t *testing.T, l *Log) {
	t.Helper()
	poll(t, "flushed", func() bool { return l.FlushedOffset() == l.MaxOffset() })
}

func TestDeleteSegmentsKeepsTheLogContiguous(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.DeleteGrace = time.Nanosecond
	l := openLog(t, cfg)
	res := fillSegments(t, l, 5)
	waitFlushed(t, l)
	segs := *l.segs.Load()

	// The eligibility check sees the segments oldest first and stops the
	// run at the first refusal: never a hole.
	var seen []int64
	n, err := l.DeleteSegments(10, func(si SegmentInfo) bool {
		seen = append(seen, si.Start)
		if si.LastWrite.IsZero() || time.Since(si.LastWrite) > time.Minute {
			t.Errorf("segment %d: implausible LastWrite %v", si.Start, si.LastWrite)
		}
		return si.Start < segs[2].start
	})
	if err != nil || n != 2 {
		t.Fatalf("DeleteSegments = %d, %v; want 2 deleted", n, err)
	}
	if len(seen) != 3 || seen[0] != segs[0].start || seen[2] != segs[2].start {
		t.Fatalf("eligibility asked for %v, want the first three segments in order", seen)
	}
	if got := l.MinOffset(); got != segs[2].start {
		t.Fatalf("MinOffset = %d, want %d", got, segs[2].start)
	}
	for _, s := range segs[:2] {
		if _, err := os.Stat(s.path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists (%v)", s.path, err)
		}
	}
	if _, err := l.Read(res[0].PhysOffset, res[0].WroteBytes); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read of a deleted record: %v, want ErrOutOfRange", err)
	}

	// The queue starts at its first entry whose record remains, and its
	// files before that are gone (64 entries per file).
	first := -1
	for i, r := range res {
		if r.PhysOffset >= segs[2].start {
			first = i
			break
		}
	}
	if got := l.QueueMinOffset("Q", 0); got != res[first].QueueOffset {
		t.Fatalf("QueueMinOffset = %d, want %d", got, res[first].QueueOffset)
	}
	entries, err := l.QueueEntries("Q", 0, 0, 10, nil)
	if err != nil || len(entries) != 0 {
		t.Fatalf("entries below the min offset: %v, %v", entries, err)
	}
	entries, err = l.QueueEntries("Q", 0, res[first].QueueOffset, 1, nil)
	if err != nil || len(entries) != 1 || entries[0].PhysOffset != res[first].PhysOffset {
		t.Fatalf("first remaining entry: %v, %v", entries, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "consumequeue", "Q", "0", fileName(0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the queue's first file, wholly below the min offset, still exists (%v)", err)
	}

	// Deleting everything still leaves the last segment.
	if n, err := l.DeleteSegments(10, func(SegmentInfo) bool { return true }); err != nil || n != 2 {
		t.Fatalf("DeleteSegments(all) = %d, %v; want 2 (the last segment stays)", n, err)
	}
	if got := len(*l.segs.Load()); got != 1 {
		t.Fatalf("%d segments left, want 1", got)
	}
	mustAppend(t, l, testMessage("Q", 0, 9999)) // still writable
	if got := l.Stats().SegmentsDeleted; got != 4 {
		t.Fatalf("SegmentsDeleted = %d, want 4", got)
	}
	poll(t, "deleted segments unmapped", func() bool {
		l.doomMu.Lock()
		defer l.doomMu.Unlock()
		return len(l.doomed) == 0
	})

	// A restart serves the same range.
	min, qmin := l.MinOffset(), l.QueueMinOffset("Q", 0)
	rmin := l.QueueMinOffset("R", 0)
	mustClose(t, l)
	l = openLog(t, cfg)
	if l.MinOffset() != min || l.QueueMinOffset("Q", 0) != qmin || l.QueueMinOffset("R", 0) != rmin {
		t.Fatalf("after restart: MinOffset %d, Q min %d, R min %d; want %d, %d, %d",
			l.MinOffset(), l.QueueMinOffset("Q", 0), l.QueueMinOffset("R", 0), min, qmin, rmin)
	}
}

// A segment not yet flushed is never deleted.
func TestDeleteSegmentsWaitsForTheFlush(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushInterval = time.Hour
	l := openLog(t, cfg)
	fillSegments(t, l, 3)
	if n, err := l.DeleteSegments(10, func(SegmentInfo) bool { return true }); err != nil || n != 0 {
		t.Fatalf("DeleteSegments = %d, %v; want nothing deleted before the flush", n, err)
	}
}

// A reader holding a slice of a deleted segment can use it until the grace
// ends.
func TestDeletedSegmentStaysMappedForTheGrace(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.DeleteGrace = time.Hour
	l := openLog(t, cfg)
	res := fillSegments(t, l, 3)
	waitFlushed(t, l)
	b, err := l.Read(res[0].PhysOffset, res[0].WroteBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	if n, err := l.DeleteSegments(1, func(SegmentInfo) bool { return true }); err != nil || n != 1 {
		t.Fatalf("DeleteSegments = %d, %v", n, err)
	}
	l.closeDoomed(time.Now(), false) // not due yet
	if string(b) != want {
		t.Fatal("the record changed under a reader")
	}
	if _, _, err := DecodeRecord(b); err != nil {
		t.Fatalf("record of a deleted segment, within the grace: %v", err)
	}
}

// TestPinnedSegmentOutlivesDeletion: a zero-copy reader's pin keeps a
// deleted segment's bytes (and its file, for sendfile) valid long past the
// grace, and the segment is unmapped right after the last pin goes.
func TestPinnedSegmentOutlivesDeletion(t *testing.T) {
	var logBuf bytes.Buffer
	cfg := testConfig(t.TempDir())
	cfg.DeleteGrace = time.Nanosecond // no time-based protection at all
	clock := newFakeClock()
	cfg.now = clock.Now
	cfg.Log = slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, nil))
	l := openLog(t, cfg)
	res := fillSegments(t, l, 3)
	waitFlushed(t, l)
	var pin Pin
	b, err := l.ReadPinned(&pin, res[0].PhysOffset, res[0].WroteBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	f, pos, n, release, err := l.Chunk(res[1].PhysOffset, 100)
	if err != nil {
		t.Fatal(err)
	}
	old := (*l.segs.Load())[0]
	if n, err := l.DeleteSegments(1, func(SegmentInfo) bool { return true }); err != nil || n != 1 {
		t.Fatalf("DeleteSegments = %d, %v", n, err)
	}
	if _, err := l.ReadPinned(new(Pin), res[0].PhysOffset, res[0].WroteBytes); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read of a deleted segment: %v", err)
	}
	clock.Advance(time.Hour)
	for range 3 { // flusher rounds: nothing is due while pinned
		l.closeDoomed(clock.Now(), false)
	}
	checkPinnedRead(t, b, want, f, pos, n)
	if l.Stats().Unmapped != 0 {
		t.Fatal("a pinned segment was unmapped")
	}
	if !strings.Contains(logBuf.String(), "still pinned") {
		t.Errorf("no log line for a pin that outlasted the grace:\n%s", logBuf.String())
	}
	release()
	pin.Release()
	pin.Release() // harmless
	poll(t, "unmap after the last pin", func() bool { return l.Stats().Unmapped == 1 })
	if !old.unmapped {
		t.Fatal("the deleted segment is still mapped")
	}
}

// Appends, pinned reads and deletions at the same time, with no grace (run
// with -race): readers see either a record intact or ErrOutOfRange, never
// garbage, because the pin, not time, keeps the bytes.
func TestDeleteSegmentsConcurrentWithReaders(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.DeleteGrace = time.Nanosecond
	l := openLog(t, cfg)
	stop := make(chan struct{})
	done := make(chan error, 2)
	go func() { // appender
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := l.Append(testMessage("Q", 0, i)); err != nil {
				done <- err
				return
			}
		}
	}()
	go pullLoop(l, func() int64 { return l.QueueMinOffset("Q", 0) }, 16, // from the queue's min offset on
		func(_ Entry, err error) error { return err }, stop, done)
	deadline := time.Now().Add(time.Second)
	deleted := 0
	for time.Now().Before(deadline) {
		n, err := l.DeleteSegments(2, func(SegmentInfo) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if deleted == 0 {
		t.Fatal("nothing was deleted")
	}
	poll(t, "every deleted segment unmapped", func() bool { return l.Stats().Unmapped == int64(deleted) })
	t.Logf("%d segments deleted while appending and reading", deleted)
}

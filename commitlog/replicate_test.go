package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rocketgo/rocketgo/internal/faultfs"
)

// sourceLog is a master's log with rolls, batches and transaction records.
func sourceLog(t *testing.T) (*Log, []AppendResult) {
	t.Helper()
	l := openLog(t, testConfig(t.TempDir()))
	rs := fillStore(t, l, 500)
	for i := range 5 {
		ms := make([]Message, 4)
		for j := range ms {
			ms[j] = *testMessage("R2", 1, 600+i*4+j)
		}
		if _, _, err := l.AppendBatch(ms); err != nil {
			t.Fatal(err)
		}
	}
	rs = append(rs, fillStore(t, l, 100)...)
	return l, rs
}

// stream returns the source's bytes [from, MaxOffset).
func stream(t *testing.T, l *Log, from int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < l.MaxOffset(); {
		end := min((off/l.cfg.SegmentSize+1)*l.cfg.SegmentSize, l.MaxOffset())
		b, err := l.Read(off, int32(end-off))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
		off = end
	}
	return out
}

// feed appends data at off in random chunks, some of a single byte.
func feed(t *testing.T, l *Log, off int64, data []byte, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for len(data) > 0 {
		n := 1 + rng.IntN(3000)
		if rng.IntN(10) == 0 {
			n = 1 + rng.IntN(8)
		}
		n = min(n, len(data))
		if err := l.AppendAt(off, data[:n]); err != nil {
			t.Fatalf("AppendAt(%d, %d bytes): %v", off, n, err)
		}
		off += int64(n)
		data = data[n:]
	}
}

// checkLastArrivals checks that the last arrival of each queue (by
// "topic/queueId") announced its end.
func checkLastArrivals(t *testing.T, want queueSnapshot, lastNext map[string]int64) {
	t.Helper()
	for k, es := range want {
		q, lo, _ := strings.Cut(k, "@")
		if min, _ := strconv.ParseInt(lo, 10, 64); lastNext[q] != min+int64(len(es)) {
			t.Errorf("last arrival of %s at %d, queue ends at %d", q, lastNext[q], min+int64(len(es)))
		}
	}
}

func TestAppendAtSplitStream(t *testing.T) {
	src, _ := sourceLog(t)
	want := snapshotQueues(t, src)
	data := stream(t, src, 0)
	for _, seed := range []uint64{1, 2, 3} {
		cfg := testConfig(t.TempDir())
		r := openLog(t, cfg)
		// Arrivals come once per call and queue, in order, the last with
		// the queue's end.
		arrivals := 0
		lastNext := map[string]int64{}
		r.SetArrivalListener(func(topic string, qid int32, next, _ int64) {
			arrivals++
			k := fmt.Sprintf("%s/%d", topic, qid)
			if next <= lastNext[k] {
				t.Errorf("arrival %s at %d after %d", k, next, lastNext[k])
			}
			lastNext[k] = next
		})
		feed(t, r, 0, data, seed)
		if r.MaxOffset() != src.MaxOffset() {
			t.Fatalf("replica max %d, source %d", r.MaxOffset(), src.MaxOffset())
		}
		if got := stream(t, r, 0); !bytes.Equal(got, data) {
			t.Fatal("replica bytes differ")
		}
		if d := diffSnapshots(want, snapshotQueues(t, r)); d != "" {
			t.Fatalf("seed %d: %s", seed, d)
		}
		entries := 0
		for _, es := range want {
			entries += len(es)
		}
		checkLastArrivals(t, want, lastNext)
		if arrivals == 0 || arrivals >= entries {
			t.Errorf("%d arrivals for %d entries: want fewer (one per call and queue)", arrivals, entries)
		}
		// A crash image and a clean restart keep it.
		img := crashImage(t, r)
		mustClose(t, r)
		r = openLog(t, cfg)
		if d := diffSnapshots(want, snapshotQueues(t, r)); d != "" || r.MaxOffset() != src.MaxOffset() {
			t.Fatalf("after restart: %s (max %d)", d, r.MaxOffset())
		}
		ccfg := cfg
		ccfg.Dir = img
		c := openLog(t, ccfg)
		if d := diffSnapshots(want, snapshotQueues(t, c)); d != "" || c.MaxOffset() != src.MaxOffset() {
			t.Fatalf("after crash: %s (max %d)", d, c.MaxOffset())
		}
	}
}

func TestAppendAtMismatch(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	r := mustAppend(t, l, testMessage("M", 0, 0))
	for _, off := range []int64{r.EndOffset() + 1, r.EndOffset() - 1, 0, -1} {
		if err := l.AppendAt(off, []byte{1, 2, 3}); !errors.Is(err, ErrOffsetMismatch) {
			t.Errorf("AppendAt(%d) = %v, want ErrOffsetMismatch", off, err)
		}
	}
	if l.MaxOffset() != r.EndOffset() {
		t.Errorf("max moved to %d", l.MaxOffset())
	}
}

// TestAppendAtMidStream: a new replica starts at the master's offset, at a
// segment start and in the middle of one.
func TestAppendAtMidStream(t *testing.T) {
	src, rs := sourceLog(t)
	seg := src.cfg.SegmentSize
	var atSegment, inSegment int64 = -1, -1
	for _, r := range rs {
		if atSegment < 0 && r.PhysOffset == 2*seg {
			atSegment = r.PhysOffset
		}
		if inSegment < 0 && r.PhysOffset > 2*seg+1000 {
			inSegment = r.PhysOffset
		}
	}
	for _, start := range []int64{atSegment, inSegment} {
		cfg := testConfig(t.TempDir())
		r := openLog(t, cfg)
		feed(t, r, start, stream(t, src, start), uint64(start))
		check := func(l *Log, when string) {
			t.Helper()
			if l.MinOffset() != start || l.MaxOffset() != src.MaxOffset() {
				t.Fatalf("%s: replica [%d,%d), want [%d,%d)", when, l.MinOffset(), l.MaxOffset(), start, src.MaxOffset())
			}
			for _, topic := range []string{"R1", "R2"} {
				for q := int32(0); q < 3; q++ {
					lo := l.QueueMinOffset(topic, q)
					if lo == 0 || l.QueueMaxOffset(topic, q) != src.QueueMaxOffset(topic, q) {
						t.Fatalf("%s: %s/%d [%d,%d), source max %d", when, topic, q, lo, l.QueueMaxOffset(topic, q), src.QueueMaxOffset(topic, q))
					}
					got, _ := l.QueueEntries(topic, q, lo, 1000, nil)
					want, _ := src.QueueEntries(topic, q, lo, 1000, nil)
					if len(got) != len(want) || want[0].PhysOffset < start {
						t.Fatalf("%s: %s/%d: %d entries, want %d", when, topic, q, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s: %s/%d entry %d: %+v, want %+v", when, topic, q, lo+int64(i), got[i], want[i])
						}
					}
					// The entry before min is the source's last one before start.
					if prev, _ := src.QueueEntries(topic, q, lo-1, 1, nil); prev[0].PhysOffset >= start {
						t.Fatalf("%s: %s/%d starts late", when, topic, q)
					}
					// Slots before min in the first file are placeholders.
					l.qmu.RLock()
					qq := l.lookup(topic, q)
					for i := qq.files[0].start; i < lo; i++ {
						if e := readEntry(qq.slot(i)); e != (Entry{0, math.MaxInt32, 0}) {
							t.Errorf("%s: slot %d = %+v", when, i, e)
						}
					}
					l.qmu.RUnlock()
				}
			}
			if _, err := l.Read(start-1, 1); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%s: read before the start: %v", when, err)
			}
		}
		check(r, "replicated")
		img := crashImage(t, r)
		mustClose(t, r)
		check(openLog(t, cfg), "reopened")
		ccfg := cfg
		ccfg.Dir = img
		check(openLog(t, ccfg), "crashed")
	}
}

func TestAppendAtCorrupt(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	garbage := bytes.Repeat([]byte{0xAB}, 300)
	if err := l.AppendAt(0, garbage); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AppendAt(garbage) = %v, want ErrCorrupt", err)
	}
	if err := l.AppendAt(300, []byte{1}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AppendAt after corruption = %v, want ErrCorrupt", err)
	}
	if _, err := l.Append(testMessage("X", 0, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Append after corruption = %v, want ErrCorrupt", err)
	}
}

// TestPromoteReplica: a replica holding a partial record becomes a master.
func TestPromoteReplica(t *testing.T) {
	src, rs := sourceLog(t)
	last := rs[len(rs)-1]
	data := stream(t, src, 0)
	cut := last.PhysOffset + int64(last.WroteBytes)/2
	r := openLog(t, testConfig(t.TempDir()))
	feed(t, r, 0, data[:cut], 9)
	if r.MaxOffset() != cut {
		t.Fatalf("max %d, want %d", r.MaxOffset(), cut)
	}
	// The partial record's queue offset is free again.
	rec := readRecord(t, src, last.PhysOffset, last.WroteBytes)
	res := mustAppend(t, r, testMessage(rec.Topic, rec.QueueID, 1))
	if res.PhysOffset != last.PhysOffset || res.QueueOffset != last.QueueOffset {
		t.Fatalf("promoted append at %d/%d, want %d/%d (the partial record dropped)", res.PhysOffset, res.QueueOffset, last.PhysOffset, last.QueueOffset)
	}
	readRecord(t, r, res.PhysOffset, res.WroteBytes)
}

// feedWindows appends data at the log's end the way a slave receives it:
// into the windows AppendWindow opens, committed in random pieces (some of
// a byte, some a whole window).
func feedWindows(t *testing.T, l *Log, data []byte, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	for len(data) > 0 {
		off, w, err := l.AppendWindow()
		if err != nil {
			t.Fatalf("AppendWindow: %v", err)
		}
		if off != l.MaxOffset() || len(w) == 0 {
			t.Fatalf("window at %d of %d bytes, log ends at %d", off, len(w), l.MaxOffset())
		}
		n := min(len(data), len(w), 1+rng.IntN(3000))
		if rng.IntN(10) == 0 {
			n = min(len(data), 1+rng.IntN(8))
		}
		if rng.IntN(10) == 0 {
			n = min(len(data), len(w))
		}
		copy(w, data[:n])
		if err := l.CommitWindow(off, n); err != nil {
			t.Fatalf("CommitWindow(%d, %d): %v", off, n, err)
		}
		data = data[n:]
	}
}

// TestAppendWindowStream: a replica fed through windows (across segment
// ends, records split anywhere) holds the source's bytes and queues, and
// keeps them across a restart and a crash.
func TestAppendWindowStream(t *testing.T) {
	src, _ := sourceLog(t)
	want := snapshotQueues(t, src)
	data := stream(t, src, 0)
	for _, seed := range []uint64{1, 2} {
		cfg := testConfig(t.TempDir())
		r := openLog(t, cfg)
		lastNext := map[string]int64{}
		r.SetArrivalListener(func(topic string, qid int32, next, _ int64) {
			lastNext[fmt.Sprintf("%s/%d", topic, qid)] = next
		})
		feedWindows(t, r, data, seed)
		if got := stream(t, r, 0); !bytes.Equal(got, data) {
			t.Fatal("replica bytes differ")
		}
		if d := diffSnapshots(want, snapshotQueues(t, r)); d != "" {
			t.Fatalf("seed %d: %s", seed, d)
		}
		checkLastArrivals(t, want, lastNext)
		if r.Stats().Rolls < 3 {
			t.Errorf("%d rolls: the windows never crossed a segment end", r.Stats().Rolls)
		}
		img := crashImage(t, r)
		mustClose(t, r)
		for _, dir := range []string{cfg.Dir, img} {
			c := openLog(t, testConfig(dir))
			if d := diffSnapshots(want, snapshotQueues(t, c)); d != "" || c.MaxOffset() != src.MaxOffset() {
				t.Fatalf("reopened %s: %s (max %d)", dir, d, c.MaxOffset())
			}
			mustClose(t, c)
		}
	}
}

// TestAppendWindowErrors runs the error branches of the slave's append
// path: commits that do not match the window, a corrupt stream, a closed
// log, a segment or a consume-queue file that cannot be created (and is,
// once the fault clears).
func TestAppendWindowErrors(t *testing.T) {
	src, rs := sourceLog(t)
	data := stream(t, src, 0)
	rec0 := int(rs[0].WroteBytes)

	t.Run("mismatch", func(t *testing.T) {
		l := openLog(t, testConfig(t.TempDir()))
		if err := l.CommitWindow(0, 10); !errors.Is(err, ErrOffsetMismatch) {
			t.Errorf("commit before any window: %v", err)
		}
		off, w, err := l.AppendWindow()
		if err != nil || off != 0 || int64(len(w)) != l.cfg.SegmentSize {
			t.Fatalf("first window: %d, %d bytes, %v", off, len(w), err)
		}
		copy(w, data[:rec0])
		for _, c := range []struct {
			off int64
			n   int
		}{{1, rec0}, {-1, rec0}, {0, -1}, {0, len(w) + 1}} {
			if err := l.CommitWindow(c.off, c.n); !errors.Is(err, ErrOffsetMismatch) {
				t.Errorf("CommitWindow(%d, %d) = %v, want ErrOffsetMismatch", c.off, c.n, err)
			}
		}
		if l.MaxOffset() != 0 {
			t.Fatalf("rejected commits moved the end to %d", l.MaxOffset())
		}
		// Half a record: in the log, not indexed; the rest completes it.
		if err := l.CommitWindow(0, rec0/2); err != nil {
			t.Fatal(err)
		}
		if l.MaxOffset() != int64(rec0/2) || l.QueueMaxOffset("R1", 0)+l.QueueMaxOffset("R1", 1)+l.QueueMaxOffset("R1", 2) != 0 {
			t.Fatalf("half a record: end %d", l.MaxOffset())
		}
		off, _, err = l.AppendWindow()
		if err != nil || off != int64(rec0/2) {
			t.Fatalf("window after half a record: %d, %v", off, err)
		}
		if err := l.CommitWindow(off, rec0-rec0/2); err != nil {
			t.Fatal(err)
		}
		first := readRecord(t, l, 0, int32(rec0))
		if l.QueueMaxOffset(first.Topic, first.QueueID) != 1 {
			t.Fatalf("completed record not indexed")
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		l := openLog(t, testConfig(t.TempDir()))
		off, w, _ := l.AppendWindow()
		for i := range 300 {
			w[i] = 0xAB
		}
		if err := l.CommitWindow(off, 300); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("garbage: %v, want ErrCorrupt", err)
		}
		if _, _, err := l.AppendWindow(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("window after corruption: %v", err)
		}
		if err := l.CommitWindow(300, 10); !errors.Is(err, ErrCorrupt) {
			t.Errorf("commit after corruption: %v", err)
		}
		if l.MaxOffset() != 300 {
			t.Errorf("end %d after corruption, want 300", l.MaxOffset())
		}
	})

	t.Run("closed", func(t *testing.T) {
		l := openLog(t, testConfig(t.TempDir()))
		mustClose(t, l)
		if _, _, err := l.AppendWindow(); !errors.Is(err, ErrClosed) {
			t.Errorf("AppendWindow after Close: %v", err)
		}
		if err := l.CommitWindow(0, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("CommitWindow after Close: %v", err)
		}
	})

	t.Run("segment", func(t *testing.T) {
		dir := t.TempDir()
		cfg := testConfig(dir)
		l, ffs := openFaulty(t, cfg)
		seg := int(cfg.SegmentSize)
		feedWindows(t, l, data[:seg], 1) // the first segment, full
		poll(t, "prepared segment", func() bool {
			_, err := os.Stat(segmentPath(dir, cfg.SegmentSize))
			return err == nil
		})
		// The segment after the prepared one cannot be created.
		ffs.Inject(faultfs.OpAllocate, filepath.Join(dir, "commitlog"), syscall.ENOSPC, -1)
		feedWindows(t, l, data[seg:2*seg], 2)
		if _, _, err := l.AppendWindow(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "roll to segment") {
			t.Fatalf("window past a full segment, fallocate failing: %v", err)
		}
		if l.MaxOffset() != int64(2*seg) {
			t.Fatalf("end %d", l.MaxOffset())
		}
		ffs.Clear()
		feedWindows(t, l, data[2*seg:], 3)
		if got := stream(t, l, 0); !bytes.Equal(got, data) {
			t.Fatal("bytes differ after the fault cleared")
		}
	})

	t.Run("queue file", func(t *testing.T) {
		dir := t.TempDir()
		cfg := testConfig(dir)
		l, ffs := openFaulty(t, cfg)
		arrivals := 0
		l.SetArrivalListener(func(string, int32, int64, int64) { arrivals++ })
		ffs.Inject(faultfs.OpCreate, filepath.Join(dir, "consumequeue"), syscall.ENOSPC, -1)
		off, w, _ := l.AppendWindow()
		copy(w, data[:rec0])
		if err := l.CommitWindow(off, rec0); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("commit of a record whose queue file cannot be created: %v", err)
		}
		if l.MaxOffset() != int64(rec0) || arrivals != 0 {
			t.Fatalf("end %d, %d arrivals: the record stays, unindexed", l.MaxOffset(), arrivals)
		}
		if err := l.CommitWindow(int64(rec0), 0); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("retry during the fault: %v", err)
		}
		ffs.Clear()
		if err := l.CommitWindow(int64(rec0), 0); err != nil {
			t.Fatalf("retry after the fault: %v", err)
		}
		first := readRecord(t, l, 0, int32(rec0))
		if l.QueueMaxOffset(first.Topic, first.QueueID) != 1 || arrivals != 1 {
			t.Fatalf("record not indexed after the retry (%d arrivals)", arrivals)
		}
		feedWindows(t, l, data[rec0:], 4)
		if d := diffSnapshots(snapshotQueues(t, src), snapshotQueues(t, l)); d != "" {
			t.Fatal(d)
		}
	})
}

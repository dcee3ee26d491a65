package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/faultfs"
)

// logState is what a log holds: its range, its bytes and its queues.
type logState struct {
	min, max int64
	bytes    []byte
	queues   queueSnapshot
}

func stateOf(t *testing.T, l *Log) logState {
	t.Helper()
	return logState{l.MinOffset(), l.MaxOffset(), stream(t, l, l.MinOffset()), snapshotQueues(t, l)}
}

// cutState is s as if nothing had been written past cut: each queue loses
// its trailing entries of records that end past cut (and placeholders
// before them), and a queue left without a slot is gone.
func cutState(s logState, cut int64) logState {
	out := logState{s.min, cut, s.bytes[:cut-s.min], queueSnapshot{}}
	for k, es := range s.queues {
		n := len(es)
		for n > 0 && (es[n-1].blank() || es[n-1].PhysOffset+int64(es[n-1].Size) > cut) {
			n--
		}
		if n == 0 && strings.HasSuffix(k, "@0") {
			continue
		}
		out.queues[k] = es[:n]
	}
	return out
}

func checkState(t *testing.T, l *Log, want logState, when string) {
	t.Helper()
	if l.MinOffset() != want.min || l.MaxOffset() != want.max {
		t.Fatalf("%s: log [%d,%d), want [%d,%d)", when, l.MinOffset(), l.MaxOffset(), want.min, want.max)
	}
	if got := stream(t, l, want.min); !bytes.Equal(got, want.bytes) {
		t.Fatalf("%s: the log's bytes differ", when)
	}
	if d := diffSnapshots(want.queues, snapshotQueues(t, l)); d != "" {
		t.Fatalf("%s: %s", when, d)
	}
	if _, err := l.Read(want.max, 1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("%s: read at the end %d: %v", when, want.max, err)
	}
}

// checkDisk checks that every segment file under dir holds only zeros from
// log offset cut on.
func checkDisk(t *testing.T, dir string, cut int64) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "commitlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		start, ok := parseFileName(e.Name())
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "commitlog", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		from := min(max(cut-start, 0), int64(len(b)))
		if i := bytes.IndexFunc(b[from:], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("segment %s holds bytes at %d, past the cut at %d", e.Name(), start+from+int64(i), cut)
		}
	}
}

// checkReopen checks that a crash image of l taken now, and l itself
// after a clean Close, reopen to want, with no byte past want.max on disk.
func checkReopen(t *testing.T, l *Log, want logState) {
	t.Helper()
	img := crashImage(t, l)
	mustClose(t, l)
	for _, dir := range []string{l.cfg.Dir, img} {
		checkDisk(t, dir, want.max)
		cfg := l.cfg
		cfg.Dir = dir
		c := openLog(t, cfg)
		checkState(t, c, want, "reopened "+dir)
		mustClose(t, c)
	}
}

// blanks returns where the log's end-of-segment blanks start.
func blanks(t *testing.T, l *Log) []int64 {
	t.Helper()
	var out []int64
	lo, b := l.MinOffset(), stream(t, l, l.MinOffset())
	for off := lo; off < l.MaxOffset(); {
		v, err := parse(b[off-lo:], false)
		switch {
		case err == nil:
			off += int64(v.size)
		case errors.Is(err, ErrBlank):
			out = append(out, off)
			off += int64(v.size)
		default:
			t.Fatalf("record at %d: %v", off, err)
		}
	}
	return out
}

func mustTruncate(t *testing.T, l *Log, cut int64) {
	t.Helper()
	if err := l.Truncate(cut); err != nil {
		t.Fatalf("Truncate(%d): %v", cut, err)
	}
}

// TestTruncateLastSegment: a cut within the only segment; a master goes on
// appending at the cut, each queue at the offset of its first record cut.
func TestTruncateLastSegment(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	rs := fillStore(t, l, 60)
	before := stateOf(t, l)
	var arrivals atomic.Int64
	l.SetArrivalListener(func(string, int32, int64, int64) { arrivals.Add(1) })
	cut := rs[25].PhysOffset
	mustTruncate(t, l, cut)
	if n := arrivals.Load(); n != 0 {
		t.Fatalf("the cut announced %d arrivals", n)
	}
	want := cutState(before, cut)
	checkState(t, l, want, "truncated")
	if l.CompleteOffset() != cut {
		t.Fatalf("CompleteOffset %d, want %d", l.CompleteOffset(), cut)
	}
	checkDisk(t, l.cfg.Dir, cut)
	img := crashImage(t, l)

	// Each queue's next offset is its first cut record's.
	next := map[string]int64{}
	for i, r := range rs[25:] {
		m := testMessage([]string{"R1", "R2"}[(25+i)%2], int32((25+i)%3), 25+i)
		k := fmt.Sprintf("%s/%d", m.Topic, m.QueueID)
		if _, ok := next[k]; !ok && (25+i)%17 != 5 { // not a PREPARED record
			next[k] = r.QueueOffset
		}
	}
	for k, qoff := range next {
		topic, id, _ := strings.Cut(k, "/")
		qid, _ := strconv.Atoi(id)
		if got := l.QueueMaxOffset(topic, int32(qid)); got != qoff {
			t.Errorf("%s: QueueMaxOffset %d, want %d", k, got, qoff)
		}
	}
	r := mustAppend(t, l, testMessage("R1", 0, 1000))
	if r.PhysOffset != cut || r.QueueOffset != l.QueueMaxOffset("R1", 0)-1 || r.QueueOffset != next["R1/0"] {
		t.Fatalf("append after the cut: at %d, queue offset %d; want %d, %d", r.PhysOffset, r.QueueOffset, cut, next["R1/0"])
	}
	readRecord(t, l, r.PhysOffset, r.WroteBytes)
	after := stateOf(t, l)
	checkReopen(t, l, after)

	// The image taken right after the cut recovers the cut log.
	cfg := testConfig(img)
	c := openLog(t, cfg)
	checkState(t, c, want, "crash image after the cut")
}

// TestTruncateAcrossSegments cuts a log of several segments: within a
// segment, at a segment start, at an end-of-segment blank and at MinOffset.
// The segments past the cut's go, the rest of its segment is zeros, and the
// store reopens (cleanly or after a crash) to the cut log.
func TestTruncateAcrossSegments(t *testing.T) {
	seg := testConfig("").SegmentSize
	cases := []struct {
		name string
		cut  func(rs []AppendResult) int64
	}{
		{"mid segment", func(rs []AppendResult) int64 {
			for _, r := range rs {
				if r.PhysOffset > seg+seg/3 {
					return r.PhysOffset
				}
			}
			return -1
		}},
		{"segment start", func([]AppendResult) int64 { return seg }},
		{"blank", func(rs []AppendResult) int64 {
			end := int64(-1)
			for _, r := range rs {
				if r.PhysOffset < seg {
					end = r.EndOffset()
				}
			}
			return end
		}},
		{"everything", func([]AppendResult) int64 { return 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, testConfig(t.TempDir()))
			rs := fillStore(t, l, 900)
			segs := len(*l.segs.Load())
			if segs < 4 {
				t.Fatalf("%d segments", segs)
			}
			cut := tc.cut(rs)
			if tc.name == "blank" && cut%seg == 0 {
				t.Fatalf("segment 0 ends without a blank (at %d)", cut)
			}
			before := stateOf(t, l)
			mustTruncate(t, l, cut)
			want := cutState(before, cut)
			checkState(t, l, want, "truncated")
			checkDisk(t, l.cfg.Dir, cut)
			st := l.Stats()
			if st.Segments != cut/seg+1 || st.Truncations != 1 || st.BytesTruncated != before.max-cut {
				t.Fatalf("stats after the cut: %d segments, %d truncations, %d bytes; want %d, 1, %d",
					st.Segments, st.Truncations, st.BytesTruncated, cut/seg+1, before.max-cut)
			}
			for s := (cut/seg + 2) * seg; s < before.max; s += seg {
				if _, err := os.Stat(segmentPath(l.cfg.Dir, s)); !os.IsNotExist(err) {
					t.Errorf("segment %d past the cut still there: %v", s, err)
				}
			}
			// A file made for a queue after the cut can only be the
			// one that follows its last file (Open refuses a gap).
			l.qmu.RLock()
			q := l.lookup("R1", 0)
			var far int64
			if q != nil {
				far = q.files[len(q.files)-1].start + 2*q.entries
			}
			l.qmu.RUnlock()
			if q != nil {
				if f := q.spare.Load(); f != nil && f.start != far-q.entries {
					t.Fatalf("a consume-queue file made ahead at %d survived the cut", f.start)
				}
				if data, err := l.makeQueueFile(q, far); data != nil || err != nil {
					t.Fatalf("made a consume-queue file at %d past the queue's end: %v", far, err)
				}
			}
			if tc.name == "everything" && len(l.Queues()) != 0 {
				t.Errorf("queues left after cutting everything: %v", l.Queues())
			}
			// A master appends on: past a segment end too.
			img := crashImage(t, l)
			more := fillStore(t, l, 400)
			if more[0].PhysOffset != cut && (tc.name != "blank" || more[0].PhysOffset != (cut/seg+1)*seg) {
				t.Fatalf("first append after the cut at %d, want %d", more[0].PhysOffset, cut)
			}
			for _, r := range more {
				readRecord(t, l, r.PhysOffset, r.WroteBytes)
			}
			checkReopen(t, l, stateOf(t, l))
			c := openLog(t, testConfig(img))
			checkState(t, c, want, "crash image after the cut")
		})
	}
}

// TestTruncatePinned: a pinned slice and a chunk of a segment the cut
// deletes stay valid until released; then the segment is unmapped.
func TestTruncatePinned(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.DeleteGrace = time.Nanosecond // only the pins protect
	clock := newFakeClock()
	cfg.now = clock.Now
	l := openLog(t, cfg)
	rs := fillSegments(t, l, 3)
	last := rs[len(rs)-1]
	var pin Pin
	b, err := l.ReadPinned(&pin, last.PhysOffset, last.WroteBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	f, pos, n, release, err := l.Chunk(last.PhysOffset, int(last.WroteBytes))
	if err != nil {
		t.Fatal(err)
	}
	dropped := (*l.segs.Load())[1:]
	cut := rs[3].PhysOffset
	mustTruncate(t, l, cut)
	if _, err := l.ReadPinned(new(Pin), last.PhysOffset, last.WroteBytes); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read past the cut: %v", err)
	}
	if _, _, _, _, err := l.Chunk(last.PhysOffset, 10); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("chunk past the cut: %v", err)
	}
	clock.Advance(time.Hour)
	poll(t, "the unpinned segment unmapped", func() bool { return l.Stats().Unmapped == int64(len(dropped)-1) })
	l.closeDoomed(clock.Now(), false)
	if buf := checkPinnedRead(t, b, want, f, pos, n); string(buf) != want {
		t.Fatal("the chunk's file reads another record")
	}
	if l.Stats().Unmapped != int64(len(dropped)-1) {
		t.Fatal("a pinned segment was unmapped")
	}
	release()
	pin.Release()
	poll(t, "unmap after the last pin", func() bool { return l.Stats().Unmapped == int64(len(dropped)) })
	for _, s := range dropped {
		if !s.unmapped {
			t.Fatalf("segment %d still mapped", s.start)
		}
	}
	// The log goes on from the cut.
	r := mustAppend(t, l, testMessage("Q", 0, 1))
	if r.PhysOffset != cut {
		t.Fatalf("append at %d, want %d", r.PhysOffset, cut)
	}
}

// TestTruncateOldMaster: an old master that appended records the new
// master never had cuts them at the last offset the two share and
// replicates from there; its topic that only the cut records had is gone.
func TestTruncateOldMaster(t *testing.T) {
	src, rs := sourceLog(t)
	full := stateOf(t, src)
	data := full.bytes
	shared := rs[300].PhysOffset
	old := openLog(t, testConfig(t.TempDir()))
	feed(t, old, 0, data[:shared], 1)
	// As master, it appended on its own: to known queues and a new topic.
	for i := range 200 {
		mustAppend(t, old, testMessage("R1", int32(i%3), 5000+i))
		mustAppend(t, old, testMessage("D", 0, i))
	}
	if n := len(*old.segs.Load()); n < int(shared/old.cfg.SegmentSize)+2 {
		t.Fatal("the old master's own records did not cross a segment end")
	}
	mustTruncate(t, old, shared)
	checkState(t, old, cutState(full, shared), "cut to the shared log")
	if n := old.QueueCount("D"); n != 0 {
		t.Fatalf("topic D of the cut records still has %d queues", n)
	}
	if _, err := os.Stat(filepath.Join(old.cfg.Dir, "consumequeue", "D")); !os.IsNotExist(err) {
		t.Fatalf("topic D's directory: %v", err)
	}
	feed(t, old, shared, data[shared:], 2)
	checkState(t, old, full, "replicated after the cut")
	checkReopen(t, old, full)
}

// TestTruncateReplicaTail: a replica whose stream ended within a record
// cuts within that record's bytes, or at the last complete record; it then
// replicates on, or appends as a master. A corrupt tail cut off stops
// blocking appends.
func TestTruncateReplicaTail(t *testing.T) {
	src, rs := sourceLog(t)
	full := stateOf(t, src)
	data := full.bytes
	last := rs[len(rs)-1]
	partial := last.PhysOffset + int64(last.WroteBytes)/2

	t.Run("within the partial record", func(t *testing.T) {
		r := openLog(t, testConfig(t.TempDir()))
		feed(t, r, 0, data[:partial], 3)
		if r.CompleteOffset() != last.PhysOffset || r.MaxOffset() != partial {
			t.Fatalf("complete %d, max %d; want %d, %d", r.CompleteOffset(), r.MaxOffset(), last.PhysOffset, partial)
		}
		mustTruncate(t, r, partial-10)
		if r.MaxOffset() != partial-10 || r.CompleteOffset() != last.PhysOffset {
			t.Fatalf("after the cut: max %d, complete %d", r.MaxOffset(), r.CompleteOffset())
		}
		feed(t, r, partial-10, data[partial-10:], 4)
		checkState(t, r, full, "replicated on")
	})

	t.Run("promoted", func(t *testing.T) {
		r := openLog(t, testConfig(t.TempDir()))
		feed(t, r, 0, data[:partial], 5)
		mustTruncate(t, r, r.CompleteOffset())
		want := cutState(full, last.PhysOffset)
		checkState(t, r, want, "cut at the last complete record")
		checkDisk(t, r.cfg.Dir, last.PhysOffset)
		rec := readRecord(t, src, last.PhysOffset, last.WroteBytes)
		res := mustAppend(t, r, testMessage(rec.Topic, rec.QueueID, 1))
		if res.PhysOffset != last.PhysOffset || res.QueueOffset != last.QueueOffset {
			t.Fatalf("promoted append at %d/%d, want %d/%d", res.PhysOffset, res.QueueOffset, last.PhysOffset, last.QueueOffset)
		}
		checkReopen(t, r, stateOf(t, r))
	})

	t.Run("corrupt tail", func(t *testing.T) {
		r := openLog(t, testConfig(t.TempDir()))
		good := rs[200].PhysOffset
		feed(t, r, 0, data[:good], 6)
		if err := r.AppendAt(good, bytes.Repeat([]byte{0xAB}, 300)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("garbage: %v, want ErrCorrupt", err)
		}
		if r.CompleteOffset() != good {
			t.Fatalf("complete %d, want %d", r.CompleteOffset(), good)
		}
		// A cut past the corrupt record's start leaves it in place.
		mustTruncate(t, r, good+100)
		if err := r.AppendAt(good+100, data[good+100:good+200]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("append after a cut within the corrupt bytes: %v, want ErrCorrupt", err)
		}
		mustTruncate(t, r, r.CompleteOffset())
		feed(t, r, good, data[good:], 7)
		checkState(t, r, full, "replicated after the corrupt tail was cut")
	})
}

// TestTruncateRejects: cuts outside the log or within a record fail with
// an error naming the offset and the log's range, and change nothing.
func TestTruncateRejects(t *testing.T) {
	seg := testConfig("").SegmentSize
	src, rs := sourceLog(t)
	data := stream(t, src, 0)
	// A replica that starts mid-segment has MinOffset > 0.
	start := rs[100].PhysOffset
	if start%seg == 0 {
		t.Fatal("the replica should start within a segment")
	}
	l := openLog(t, testConfig(t.TempDir()))
	feed(t, l, start, data[start:], 8)
	before := stateOf(t, l)
	bs := blanks(t, l)
	if len(bs) == 0 {
		t.Fatal("no blank in the log")
	}
	blank := bs[0]
	mid := rs[150]
	for _, c := range []struct {
		cut  int64
		want error
	}{
		{start - 1, ErrOutOfRange},
		{0, ErrOutOfRange},
		{-1, ErrOutOfRange},
		{l.MaxOffset() + 1, ErrOutOfRange},
		{math.MaxInt64, ErrOutOfRange},
		{mid.PhysOffset + 1, ErrOffsetMismatch},
		{mid.PhysOffset + int64(mid.WroteBytes) - 1, ErrOffsetMismatch},
		{mid.PhysOffset + 20, ErrOffsetMismatch},
		{blank + 4, ErrOffsetMismatch},
	} {
		err := l.Truncate(c.cut)
		if !errors.Is(err, c.want) {
			t.Errorf("Truncate(%d) = %v, want %v", c.cut, err, c.want)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, strconv.FormatInt(c.cut, 10)) || !strings.Contains(msg, fmt.Sprintf("[%d,%d)", before.min, before.max)) {
			t.Errorf("Truncate(%d): %q does not name the offset and the log's range", c.cut, msg)
		}
	}
	if err := l.Truncate(l.MaxOffset()); err != nil {
		t.Errorf("Truncate(MaxOffset) = %v", err)
	}
	checkState(t, l, before, "after rejected cuts")
	if n := l.Stats().Truncations; n != 0 {
		t.Fatalf("%d truncations counted", n)
	}
	// The blank's start itself, and the replica's first offset, are fine.
	mustTruncate(t, l, blank)
	checkState(t, l, cutState(before, blank), "cut at a blank")
	mustTruncate(t, l, start)
	checkState(t, l, cutState(before, start), "cut at MinOffset")
	feed(t, l, start, data[start:], 9)
	checkState(t, l, before, "replicated again")
	mustClose(t, l)
	if err := l.Truncate(start); !errors.Is(err, ErrClosed) {
		t.Fatalf("Truncate after Close: %v", err)
	}
}

// TestTruncateWaiters: a SYNC_FLUSH send waiting for bytes the cut removes
// hears ErrTruncated, even when the log has grown past them again and been
// flushed by the time the flusher answers it.
func TestTruncateWaiters(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Flush = SyncFlush
	l, ffs := openFaulty(t, cfg)
	mustAppend(t, l, testMessage("W", 0, 0))
	waitFlushed(t, l)
	arrived, release := ffs.Stall(faultfs.OpMsync, filepath.Join(dir, "commitlog"))
	defer release()
	wait := func(r AppendResult) chan error {
		done := make(chan error, 1)
		l.WaitDurable(r.EndOffset(), func(err error) { done <- err })
		return done
	}
	a := mustAppend(t, l, testMessage("W", 0, 1))
	aDone := wait(a)
	<-arrived // the flusher syncs a, holding its batch
	b := mustAppend(t, l, testMessage("W", 0, 2))
	bDone := wait(b)
	cut := a.PhysOffset
	truncated := make(chan error, 1)
	go func() { truncated <- l.Truncate(cut) }()
	poll(t, "the cut published", func() bool { return l.MaxOffset() == cut })
	release()
	if err := <-truncated; err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; !errors.Is(err, ErrTruncated) {
		t.Fatalf("waiter for cut bytes: %v, want ErrTruncated", err)
	}
	if err := <-aDone; err != nil && !errors.Is(err, ErrTruncated) {
		t.Fatalf("waiter for bytes flushed, then cut: %v", err)
	}
	// Bytes appended after the cut are acknowledged as usual.
	m := testMessage("W", 0, 3)
	r, err := sendSync(l, m)
	if err != nil || r.PhysOffset != cut || r.QueueOffset != a.QueueOffset {
		t.Fatalf("send after the cut: %+v, %v", r, err)
	}
}

// flushQueues has the flusher sync the consume queues now, and waits until
// the checkpoint says every record is in them.
func flushQueues(t *testing.T, l *Log) {
	t.Helper()
	l.forceCQ.Store(true)
	l.wakeFlusher()
	poll(t, "queues flushed", func() bool {
		l.ckpt.mu.Lock()
		defer l.ckpt.mu.Unlock()
		return l.ckpt.queueSafe == l.MaxOffset()
	})
}

// syncedFaultyLog opens a SYNC_FLUSH log on a fault-injecting file system
// in dir, appends 600 records to queues P/0 and P/1 with their queues
// flushed, and returns its state and the offset of record 150.
func syncedFaultyLog(t *testing.T, dir string) (*Log, *faultfs.FS, logState, int64) {
	t.Helper()
	cfg := testConfig(dir)
	cfg.Flush = SyncFlush
	l, ffs := openFaulty(t, cfg)
	var rs []AppendResult
	for i := range 600 {
		r, err := sendSync(l, testMessage("P", int32(i%2), i))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	flushQueues(t, l)
	return l, ffs, stateOf(t, l), rs[150].PhysOffset
}

// TestTruncatePowerLoss: what a power loss leaves right after a cut, and
// after appends that follow it, holds no record or queue entry of the cut
// bytes, though they had all been synced.
func TestTruncatePowerLoss(t *testing.T) {
	dir := t.TempDir()
	l, ffs, before, cut := syncedFaultyLog(t, dir)
	mustTruncate(t, l, cut)
	image := func(want logState, when string) {
		t.Helper()
		img := filepath.Join(t.TempDir(), "img")
		if err := ffs.Image(img); err != nil {
			t.Fatal(err)
		}
		checkDisk(t, img, want.max)
		c := openLog(t, testConfig(img))
		checkState(t, c, want, when)
		mustClose(t, c)
	}
	image(cutState(before, cut), "power loss after the cut")
	// The checkpoint on disk vouches for nothing past the cut.
	ck, err := openCheckpoint(OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.close(); !ck.valid || ck.queueSafe > cut || ck.flushed > cut {
		t.Fatalf("checkpoint after the cut at %d: valid %v, queues safe to %d, flushed to %d", cut, ck.valid, ck.queueSafe, ck.flushed)
	}
	// Fewer records than were cut (stale entries would follow theirs), and
	// a queue that only has records past the cut (recovery trusts the
	// queues up to its end when the checkpoint says they were synced).
	for i := range 120 {
		m := testMessage("P", int32(i%2), 1000+i)
		if i%3 == 2 {
			m = testMessage("X", 0, 1000+i)
		}
		if _, err := sendSync(l, m); err != nil {
			t.Fatal(err)
		}
	}
	flushQueues(t, l)
	image(stateOf(t, l), "power loss after appends past the cut")
}

// TestTruncateInterrupted: a power loss while Truncate zeroes the rest of
// the cut's segment, after the cut of one consume queue could not be
// synced, recovers a prefix of the old log no shorter than the cut, with
// every queue matching it.
func TestTruncateInterrupted(t *testing.T) {
	dir := t.TempDir()
	l, ffs, before, cut := syncedFaultyLog(t, dir)
	ffs.Inject(faultfs.OpMsync, filepath.Join(dir, "consumequeue", "P", "1"), syscall.EIO, 1)
	arrived, release := ffs.Stall(faultfs.OpMsync, filepath.Join(dir, "commitlog"))
	defer release()
	done := make(chan error, 1)
	go func() { done <- l.Truncate(cut) }()
	<-arrived
	img := filepath.Join(t.TempDir(), "img")
	if err := ffs.Image(img); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "P/1") {
		t.Fatalf("Truncate with a queue that cannot be synced: %v", err)
	}
	if l.MaxOffset() != cut {
		t.Fatalf("the cut was not made in memory: max %d", l.MaxOffset())
	}
	c := openLog(t, testConfig(img))
	end := c.MaxOffset()
	if end < cut || end > before.max {
		t.Fatalf("recovered to %d, want within [%d,%d]", end, cut, before.max)
	}
	checkState(t, c, cutState(before, end), "power loss during the cut")
}

// TestTruncateConcurrentReaders cuts and appends again and again while
// readers pull (run with -race): a pinned read gives an intact record, or
// ErrOutOfRange, or (bytes of the cut's own segment, zeroed) a record that
// a cut removed; never anything else.
func TestTruncateConcurrentReaders(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.DeleteGrace = time.Nanosecond
	l := openLog(t, cfg)
	rs := fillSegments(t, l, 3)
	var lowest atomic.Int64 // the lowest cut so far
	lowest.Store(math.MaxInt64)
	stop := make(chan struct{})
	done := make(chan error, 2)
	for range 2 {
		go pullLoop(l, func() int64 { return max(l.QueueMinOffset("Q", 0), l.QueueMaxOffset("Q", 0)-64) }, 64,
			func(e Entry, err error) error {
				if end := e.PhysOffset + int64(e.Size); end <= lowest.Load() {
					return fmt.Errorf("record ending at %d, below every cut: %w", end, err)
				}
				return nil
			}, stop, done)
	}
	cuts := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); cuts++ {
		// Cut at one of the Q records, append until there are three
		// segments again.
		k := len(rs)/4 + cuts%50
		cut := rs[k].PhysOffset
		lowest.Store(min(lowest.Load(), cut))
		mustTruncate(t, l, cut)
		rs = rs[:k]
		for i := 0; len(*l.segs.Load()) < 3; i++ {
			rs = append(rs, mustAppend(t, l, testMessage("Q", 0, cuts+i)))
		}
	}
	close(stop)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d cuts while reading", cuts)
	poll(t, "every deleted segment unmapped", func() bool {
		l.doomMu.Lock()
		defer l.doomMu.Unlock()
		return len(l.doomed) == 0
	})
}

// TestTruncateBatchedWaiters: waiters the flusher holds while a cut is made
// fail with ErrTruncated when their bytes were cut, even if by the time it
// answers them the log has grown past them again and been flushed.
func TestTruncateBatchedWaiters(t *testing.T) {
	l := &Log{cutFloor: noCut} // release and requeue need no files
	l.flushed.Store(1000)
	got := map[int64]error{}
	w := func(end int64) waiter {
		return waiter{end: end, deadline: time.Now().Add(time.Hour), done: func(err error) { got[end] = err }}
	}
	// The flusher flushed to 1000 after a cut at 800 and a regrowth.
	if keep := l.release([]waiter{w(500), w(900), w(1200)}, time.Now(), nil, 800); len(keep) != 0 ||
		got[500] != nil || !errors.Is(got[900], ErrTruncated) || !errors.Is(got[1200], ErrTruncated) {
		t.Fatalf("release after a cut at 800: kept %d, answers %v", len(keep), got)
	}
	// A cut while the flusher holds waiters it keeps.
	keep := l.release([]waiter{w(1100), w(1300)}, time.Now(), nil, noCut)
	if len(keep) != 2 {
		t.Fatalf("release kept %d of 2 waiters past the flushed offset", len(keep))
	}
	l.cutWaiters(1200)
	l.requeue(keep)
	if !errors.Is(got[1300], ErrTruncated) || len(l.waiters) != 1 || l.waiters[0].end != 1100 {
		t.Fatalf("requeue after a cut at 1200: answers %v, waiting %d", got, len(l.waiters))
	}
	if _, ok := got[1100]; ok {
		t.Fatal("a waiter below the cut was answered")
	}
}

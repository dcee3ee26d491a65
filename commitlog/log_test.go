package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestAppendRead(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	if l.MaxOffset() != 0 || l.MinOffset() != 0 {
		t.Fatalf("empty log: [%d,%d)", l.MinOffset(), l.MaxOffset())
	}
	var prev AppendResult
	next := map[int32]int64{}
	for i := range 50 {
		m := testMessage("TopicA", int32(i%3), i)
		r := mustAppend(t, l, m)
		if i > 0 && r.PhysOffset != prev.EndOffset() && r.PhysOffset%l.cfg.SegmentSize != 0 {
			t.Fatalf("record %d at %d, previous ended at %d", i, r.PhysOffset, prev.EndOffset())
		}
		if r.QueueOffset != next[m.QueueID] {
			t.Fatalf("record %d queue offset %d, want %d", i, r.QueueOffset, next[m.QueueID])
		}
		if r.StoreTimestamp < prev.StoreTimestamp || r.Count != 1 {
			t.Fatalf("record %d: %+v after %+v", i, r, prev)
		}
		next[m.QueueID]++
		got := readRecord(t, l, r.PhysOffset, r.WroteBytes)
		if got.Topic != m.Topic || got.QueueID != m.QueueID || !bytes.Equal(got.Body, m.Body) ||
			got.Properties != m.Properties || got.QueueOffset != r.QueueOffset || got.PhysOffset != r.PhysOffset ||
			got.StoreTimestamp != r.StoreTimestamp || got.BornHost != m.BornHost || got.StoreHost != m.StoreHost {
			t.Fatalf("record %d read back as %+v", i, got)
		}
		prev = r
	}
	if l.MaxOffset() != prev.EndOffset() {
		t.Errorf("MaxOffset %d, want %d", l.MaxOffset(), prev.EndOffset())
	}
	for _, bad := range []struct{ off, size int64 }{{-1, 10}, {0, -1}, {prev.PhysOffset, int64(prev.WroteBytes) + 1}, {l.MaxOffset(), 1}} {
		if _, err := l.Read(bad.off, int32(bad.size)); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Read(%d, %d) = %v, want ErrOutOfRange", bad.off, bad.size, err)
		}
	}
	if s := l.Stats(); s.Appends != 50 || s.BytesWritten != l.MaxOffset() {
		t.Errorf("stats %+v", s)
	}
}

func TestSegmentRollOver(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, testConfig(dir))
	size := l.cfg.SegmentSize
	var rs []AppendResult
	for i := range 1000 {
		m := testMessage("Roll", 0, i)
		m.Body = bytes.Repeat([]byte{byte(i)}, 100+(i*997)%3000)
		rs = append(rs, mustAppend(t, l, m))
	}
	segs := map[int64]bool{}
	for i, r := range rs {
		seg := r.PhysOffset / size
		segs[seg] = true
		if r.EndOffset()+blankLen > (seg+1)*size {
			t.Fatalf("record %d [%d,%d) leaves less than a blank before %d", i, r.PhysOffset, r.EndOffset(), (seg+1)*size)
		}
		if i == 0 {
			continue
		}
		p := rs[i-1]
		if p.EndOffset() == r.PhysOffset {
			continue
		}
		// A roll: the previous segment ends with a blank record.
		if r.PhysOffset != (p.PhysOffset/size+1)*size {
			t.Fatalf("record %d at %d after record ending at %d", i, r.PhysOffset, p.EndOffset())
		}
		left := r.PhysOffset - p.EndOffset()
		b, err := l.Read(p.EndOffset(), int32(left))
		if err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint32(b) != uint32(left) || binary.BigEndian.Uint32(b[4:]) != magicBlank {
			t.Fatalf("no blank record at %d: % x", p.EndOffset(), b[:8])
		}
		if _, err := l.Read(p.EndOffset(), int32(left+1)); err == nil {
			t.Fatalf("read across the segment end succeeded")
		}
	}
	if len(segs) < 20 {
		t.Fatalf("only %d segments", len(segs))
	}
	for seg := range segs {
		fi, err := os.Stat(segmentPath(dir, seg*size))
		if err != nil || fi.Size() != size {
			t.Fatalf("segment %d: %v", seg, err)
		}
	}
	if s := l.Stats(); s.Rolls != int64(len(segs)) {
		t.Errorf("Rolls %d, want %d", s.Rolls, len(segs))
	}
}

func TestAppendLimits(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	seg := l.cfg.SegmentSize
	fit := int(seg) - blankLen - fixedLen - 1 // body that exactly fits, topic "T"
	for _, tc := range []struct {
		name string
		m    Message
		want error
	}{
		{"topic 127", Message{Topic: strings.Repeat("t", 127)}, nil},
		{"topic 128", Message{Topic: strings.Repeat("t", 128)}, ErrMessageTooLarge},
		{"empty topic", Message{}, ErrInvalidMessage},
		{"slash topic", Message{Topic: "a/b"}, ErrInvalidMessage},
		{"dot topic", Message{Topic: ".."}, ErrInvalidMessage},
		{"negative queue", Message{Topic: "T", QueueID: -1}, ErrInvalidMessage},
		{"properties 32767", Message{Topic: "T", Properties: strings.Repeat("p", 32767)}, nil},
		{"properties 32768", Message{Topic: "T", Properties: strings.Repeat("p", 32768)}, ErrMessageTooLarge},
		{"exact fit", Message{Topic: "T", Body: make([]byte, fit)}, nil},
		{"one byte over", Message{Topic: "T", Body: make([]byte, fit+1)}, ErrMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := l.Append(&tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append = %v, want %v", err, tc.want)
			}
			if err == nil {
				readRecord(t, l, r.PhysOffset, r.WroteBytes)
			}
		})
	}
}

func TestConsumeQueueDispatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, testConfig(dir)) // 64 entries per queue file
	type key struct {
		topic string
		id    int32
	}
	want := map[key][]Entry{}
	for i := range 400 {
		k := key{[]string{"A", "B"}[i%2], int32(i % 3)}
		m := testMessage(k.topic, k.id, i)
		r := mustAppend(t, l, m)
		if r.QueueOffset != int64(len(want[k])) {
			t.Fatalf("message %d: queue offset %d, want %d", i, r.QueueOffset, len(want[k]))
		}
		tags, _ := Property(m.Properties, "TAGS")
		want[k] = append(want[k], Entry{r.PhysOffset, r.WroteBytes, TagsCode(tags)})
		// visible at once
		if got := l.QueueMaxOffset(k.topic, k.id); got != r.QueueOffset+1 {
			t.Fatalf("QueueMaxOffset right after Append = %d, want %d", got, r.QueueOffset+1)
		}
	}
	for k, es := range want {
		if got := l.QueueMinOffset(k.topic, k.id); got != 0 {
			t.Errorf("%v min %d", k, got)
		}
		got, err := l.QueueEntries(k.topic, k.id, 0, 1000, nil)
		if err != nil || len(got) != len(es) {
			t.Fatalf("%v: %d entries, %v; want %d", k, len(got), err, len(es))
		}
		for i := range es {
			if got[i] != es[i] {
				t.Fatalf("%v entry %d = %+v, want %+v", k, i, got[i], es[i])
			}
		}
		// windows that cross file boundaries (64 entries per file)
		for _, w := range []struct{ from, max int64 }{{60, 10}, {63, 1}, {64, 64}, {1, 200}, {int64(len(es)) - 1, 5}} {
			got, err := l.QueueEntries(k.topic, k.id, w.from, int(w.max), got)
			n := min(w.max, int64(len(es))-w.from)
			if err != nil || int64(len(got)) != n {
				t.Fatalf("%v window %v: %d entries, %v", k, w, len(got), err)
			}
			for i := range got {
				if got[i] != es[w.from+int64(i)] {
					t.Fatalf("%v window %v entry %d differs", k, w, i)
				}
			}
		}
		if got, _ := l.QueueEntries(k.topic, k.id, int64(len(es)), 10, nil); len(got) != 0 {
			t.Errorf("%v: entries past the end", k)
		}
	}
	if _, err := l.QueueEntries("A", 9, 0, 1, nil); !errors.Is(err, ErrNoQueue) {
		t.Errorf("missing queue: %v", err)
	}
	if l.QueueMaxOffset("nope", 0) != 0 || l.QueueMinOffset("nope", 0) != 0 {
		t.Errorf("missing queue offsets not 0")
	}
	// files are named by the byte offset of their first entry
	names, _ := os.ReadDir(filepath.Join(dir, "consumequeue", "A", "0"))
	var got []string
	for i, n := range names {
		got = append(got, n.Name())
		// A third file is being made ahead of need, maybe not sized yet.
		if fi, _ := n.Info(); i < 2 && fi.Size() != 64*cqEntrySize {
			t.Errorf("%s has %d bytes", n.Name(), fi.Size())
		}
	}
	// 67 entries: two files, and maybe the next one, created ahead of need
	if want := []string{fileName(0), fileName(1280)}; len(got) < 2 || strings.Join(got[:2], ",") != strings.Join(want, ",") ||
		len(got) > 3 || len(got) == 3 && got[2] != fileName(2560) {
		t.Errorf("queue files %v, want %v (and perhaps %s)", got, want, fileName(2560))
	}
}

func TestTransactionRecords(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	mustAppend(t, l, testMessage("Tx", 0, 0))
	for _, tc := range []struct {
		sysFlag   int32
		indexed   bool
		wantQueue int64
	}{
		{0x4, false, 0}, // PREPARED
		{0x8, true, 1},  // COMMIT
		{0xC, false, 0}, // ROLLBACK
		{0x0, true, 2},
	} {
		m := testMessage("Tx", 0, 1)
		m.SysFlag = tc.sysFlag
		before := l.QueueMaxOffset("Tx", 0)
		r := mustAppend(t, l, m)
		if r.QueueOffset != tc.wantQueue {
			t.Errorf("sysFlag %#x: queue offset %d, want %d", tc.sysFlag, r.QueueOffset, tc.wantQueue)
		}
		if grew := l.QueueMaxOffset("Tx", 0) > before; grew != tc.indexed {
			t.Errorf("sysFlag %#x: queue grew %v", tc.sysFlag, grew)
		}
		if got := readRecord(t, l, r.PhysOffset, r.WroteBytes); got.SysFlag != tc.sysFlag || got.QueueOffset != tc.wantQueue {
			t.Errorf("sysFlag %#x: stored %#x / %d", tc.sysFlag, got.SysFlag, got.QueueOffset)
		}
	}
	// A topic seen only in PREPARED records has no queue.
	m := testMessage("OnlyPrepared", 0, 0)
	m.SysFlag = 0x4
	mustAppend(t, l, m)
	if _, err := l.QueueEntries("OnlyPrepared", 0, 0, 1, nil); !errors.Is(err, ErrNoQueue) {
		t.Errorf("queue of prepared-only topic: %v", err)
	}
}

func TestAppendBatch(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	mustAppend(t, l, testMessage("B", 1, 0))
	var arrivals, wantArrivals []int64
	l.SetArrivalListener(func(topic string, qid int32, next, tags int64) {
		if topic == "B" && qid == 1 {
			arrivals = append(arrivals, next)
		}
	})
	var last AppendResult
	for round := range 30 {
		ms := make([]Message, 1+round%7)
		for i := range ms {
			ms[i] = *testMessage("B", 1, round*10+i)
			ms[i].Body = make([]byte, 500+round*100)
		}
		before := l.QueueMaxOffset("B", 1)
		r, offs, err := l.AppendBatch(ms)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != len(ms) || len(offs) != len(ms) || r.QueueOffset != before || offs[0] != r.PhysOffset {
			t.Fatalf("round %d: %+v %v", round, r, offs)
		}
		if r.PhysOffset/l.cfg.SegmentSize != (r.EndOffset()-1)/l.cfg.SegmentSize {
			t.Fatalf("round %d: batch [%d,%d) spans segments", round, r.PhysOffset, r.EndOffset())
		}
		es, _ := l.QueueEntries("B", 1, before, len(ms), nil)
		end := r.PhysOffset
		for i, off := range offs {
			if off != end {
				t.Fatalf("round %d record %d at %d, want %d (contiguous)", round, i, off, end)
			}
			rec := readRecord(t, l, off, es[i].Size)
			if rec.QueueOffset != before+int64(i) || es[i].PhysOffset != off || rec.StoreTimestamp != r.StoreTimestamp {
				t.Fatalf("round %d record %d: queue offset %d entry %+v", round, i, rec.QueueOffset, es[i])
			}
			end += int64(es[i].Size)
		}
		if end != r.EndOffset() {
			t.Fatalf("round %d: records end at %d, result says %d", round, end, r.EndOffset())
		}
		last = r
		wantArrivals = append(wantArrivals, before+int64(len(ms)))
	}
	if l.QueueMaxOffset("B", 1) != last.QueueOffset+int64(last.Count) {
		t.Errorf("queue max %d", l.QueueMaxOffset("B", 1))
	}
	// One arrival per batch, with the queue's next offset after it.
	if !slices.Equal(arrivals, wantArrivals) {
		t.Fatalf("arrivals %v, want %v", arrivals, wantArrivals)
	}
	for _, tc := range []struct {
		name string
		ms   []Message
		want error
	}{
		{"empty", nil, ErrInvalidMessage},
		{"mixed queues", []Message{{Topic: "B", QueueID: 1}, {Topic: "B", QueueID: 2}}, ErrInvalidMessage},
		{"mixed topics", []Message{{Topic: "B"}, {Topic: "C"}}, ErrInvalidMessage},
		{"prepared", []Message{{Topic: "B", SysFlag: 0x4}}, ErrInvalidMessage},
		{"too large", []Message{{Topic: "B", Body: make([]byte, 40000)}, {Topic: "B", Body: make([]byte, 40000)}}, ErrMessageTooLarge},
	} {
		if _, _, err := l.AppendBatch(tc.ms); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestArrivalListener(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	type call struct {
		topic      string
		qid        int32
		next, tags int64
	}
	var calls []call
	l.SetArrivalListener(func(topic string, qid int32, next, tags int64) {
		// The entry is visible when the listener runs.
		if l.QueueMaxOffset(topic, qid) < next {
			t.Errorf("listener ran before the entry was visible")
		}
		calls = append(calls, call{topic, qid, next, tags})
	})
	mustAppend(t, l, testMessage("L", 0, 0))
	mustAppend(t, l, testMessage("L", 1, 1))
	mustAppend(t, l, testMessage("L", 0, 2))
	prepared := testMessage("L", 0, 3)
	prepared.SysFlag = 0x4
	mustAppend(t, l, prepared)
	want := []call{{"L", 0, 1, TagsCode("tag0")}, {"L", 1, 1, TagsCode("tag1")}, {"L", 0, 2, TagsCode("tag2")}}
	if len(calls) != len(want) {
		t.Fatalf("calls %v", calls)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %v, want %v", i, calls[i], want[i])
		}
	}
	l.SetArrivalListener(nil)
	mustAppend(t, l, testMessage("L", 0, 4))
	if len(calls) != 3 {
		t.Errorf("listener called after removal")
	}
}

// TestConcurrentAppendRead runs appenders and readers together (run with -race).
func TestConcurrentAppendRead(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	const writers, per = 4, 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := l.Append(testMessage("C", int32(w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var rwg sync.WaitGroup
	for r := range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var buf []Entry
			for {
				select {
				case <-stop:
					return
				default:
				}
				qid := int32(r)
				lo := max(l.QueueMaxOffset("C", qid)-20, 0)
				es, err := l.QueueEntries("C", qid, lo, 20, buf)
				if err != nil && !errors.Is(err, ErrNoQueue) {
					t.Error(err)
					return
				}
				for i, e := range es {
					b, err := l.Read(e.PhysOffset, e.Size)
					if err != nil {
						t.Error(err)
						return
					}
					rec, _, err := DecodeRecord(b)
					if err != nil || rec.QueueOffset != lo+int64(i) || rec.QueueID != qid {
						t.Errorf("entry %d of queue %d: %+v %v", lo+int64(i), qid, rec.QueueOffset, err)
						return
					}
				}
				buf = es
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	for w := range writers {
		if got := l.QueueMaxOffset("C", int32(w)); got != per {
			t.Errorf("queue %d max %d", w, got)
		}
	}
}

func TestClosedLog(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	r := mustAppend(t, l, testMessage("X", 0, 0))
	mustClose(t, l)
	if _, err := l.Append(testMessage("X", 0, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, _, err := l.AppendBatch([]Message{*testMessage("X", 0, 1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendBatch after Close: %v", err)
	}
	if err := l.AppendAt(l.MaxOffset(), []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendAt after Close: %v", err)
	}
	if _, err := l.Read(r.PhysOffset, r.WroteBytes); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := l.QueueEntries("X", 0, 0, 1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("QueueEntries after Close: %v", err)
	}
	if err := l.DeleteTopic("X"); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteTopic after Close: %v", err)
	}
	var got error
	l.WaitDurable(r.EndOffset(), func(err error) { got = err })
	if got != nil { // AsyncFlush: at once
		t.Errorf("WaitDurable after Close (async): %v", got)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openLog(t, testConfig(dir))
	if _, err := Open(testConfig(dir)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{Dir: t.TempDir(), SegmentSize: 1000},
		{Dir: t.TempDir(), SegmentSize: 4097},
		{Dir: t.TempDir(), QueueFileEntries: -1},
		{Dir: t.TempDir(), Flush: 7},
	} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) succeeded", c)
		}
	}
}

package commitlog

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
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

func TestAppendAtSplitStream(t *testing.T) {
	src, _ := sourceLog(t)
	want := snapshotQueues(t, src)
	data := stream(t, src, 0)
	for _, seed := range []uint64{1, 2, 3} {
		cfg := testConfig(t.TempDir())
		r := openLog(t, cfg)
		arrivals := 0
		r.SetArrivalListener(func(string, int32, int64, int64) { arrivals++ })
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
		if arrivals != entries {
			t.Errorf("%d arrivals for %d entries", arrivals, entries)
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

package commitlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fillStore appends n messages over a few topics and queues.
func fillStore(tb testing.TB, l *Log, n int) []AppendResult {
	tb.Helper()
	var rs []AppendResult
	for i := range n {
		m := testMessage([]string{"R1", "R2"}[i%2], int32(i%3), i)
		if i%17 == 5 {
			m.SysFlag = 0x4 // a PREPARED record now and then
		}
		rs = append(rs, mustAppend(tb, l, m))
	}
	return rs
}

func TestReopenClean(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l := openLog(t, cfg)
	if _, err := os.Stat(filepath.Join(dir, "abort")); err != nil {
		t.Fatalf("abort file while open: %v", err)
	}
	rs := fillStore(t, l, 700)
	before := snapshotQueues(t, l)
	maxOff := l.MaxOffset()
	mustClose(t, l)
	if _, err := os.Stat(filepath.Join(dir, "abort")); !os.IsNotExist(err) {
		t.Fatalf("abort file after Close: %v", err)
	}
	// The unused pre-created segment is gone.
	if _, err := os.Stat(segmentPath(dir, (maxOff/cfg.SegmentSize+1)*cfg.SegmentSize)); !os.IsNotExist(err) {
		t.Errorf("spare segment left behind: %v", err)
	}

	l = openLog(t, cfg)
	if l.MaxOffset() != maxOff || l.MinOffset() != 0 {
		t.Fatalf("reopened [%d,%d), want [0,%d)", l.MinOffset(), l.MaxOffset(), maxOff)
	}
	if d := diffSnapshots(before, snapshotQueues(t, l)); d != "" {
		t.Fatal(d)
	}
	for _, r := range rs {
		readRecord(t, l, r.PhysOffset, r.WroteBytes)
	}
	// Appends continue where they stopped.
	for q := int32(0); q < 3; q++ {
		next := l.QueueMaxOffset("R1", q)
		r := mustAppend(t, l, testMessage("R1", q, 1000))
		if r.QueueOffset != next || r.PhysOffset != l.MaxOffset()-int64(r.WroteBytes) {
			t.Fatalf("append after reopen: %+v (queue next was %d)", r, next)
		}
	}
	if r := mustAppend(t, l, testMessage("R1", 0, 1)); r.PhysOffset < maxOff {
		t.Fatalf("append at %d overwrote the log (max was %d)", r.PhysOffset, maxOff)
	}
}

// crashImage copies an open store, as a killed process leaves it.
func crashImage(tb testing.TB, l *Log) string {
	tb.Helper()
	dst := tb.TempDir()
	copyStore(tb, l.cfg.Dir, dst)
	return dst
}

func TestReopenAfterCrash(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg)
	rs := fillStore(t, l, 500)
	before := snapshotQueues(t, l)
	img := crashImage(t, l)

	ccfg := cfg
	ccfg.Dir = img
	c := openLog(t, ccfg)
	if c.MaxOffset() != l.MaxOffset() {
		t.Fatalf("recovered max %d, want %d", c.MaxOffset(), l.MaxOffset())
	}
	if d := diffSnapshots(before, snapshotQueues(t, c)); d != "" {
		t.Fatal(d)
	}
	for _, r := range rs {
		readRecord(t, c, r.PhysOffset, r.WroteBytes)
	}
	r := mustAppend(t, c, testMessage("R1", 0, 1))
	if r.PhysOffset != l.MaxOffset() {
		t.Errorf("append after recovery at %d, want %d", r.PhysOffset, l.MaxOffset())
	}
}

// TestRebuildQueues: a crash image whose consume queues and checkpoint are
// gone gets them back from the log.
func TestRebuildQueues(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg)
	fillStore(t, l, 600)
	before := snapshotQueues(t, l)
	for _, tc := range []struct {
		name string
		mess func(dir string)
	}{
		{"no queues, no checkpoint", func(dir string) {
			os.RemoveAll(filepath.Join(dir, "consumequeue"))
			os.Remove(filepath.Join(dir, "checkpoint"))
		}},
		{"queue tails lost", func(dir string) {
			// zero the last 10 entries of one queue, as an unflushed page
			path := filepath.Join(dir, "consumequeue", "R1", "0", fileName(64*cqEntrySize))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Index(b, make([]byte, cqEntrySize))
			clear(b[n-10*cqEntrySize:])
			os.WriteFile(path, b, 0o644)
			os.Remove(filepath.Join(dir, "checkpoint"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := crashImage(t, l)
			tc.mess(img)
			ccfg := cfg
			ccfg.Dir = img
			c := openLog(t, ccfg)
			if d := diffSnapshots(before, snapshotQueues(t, c)); d != "" {
				t.Fatal(d)
			}
			mustClose(t, c)
			c = openLog(t, ccfg) // and it stays so after a clean restart
			if d := diffSnapshots(before, snapshotQueues(t, c)); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// tornStore is a crash image of a store whose last record is at last.
type tornStore struct {
	cfg     Config
	rs      []AppendResult
	queues  queueSnapshot
	lastMsg *Message
}

func makeTornSource(t *testing.T) (*Log, tornStore) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg)
	rs := fillStore(t, l, 300)
	queuesBefore := snapshotQueues(t, l)
	m := testMessage("R1", 0, 999)
	m.Body = bytes.Repeat([]byte("torn"), 60)
	rs = append(rs, mustAppend(t, l, m))
	return l, tornStore{cfg: cfg, rs: rs, queues: queuesBefore, lastMsg: m}
}

// checkTorn opens a damaged image and checks that exactly the last record is
// gone and that appends continue in its place.
func checkTorn(t *testing.T, s tornStore, img string) {
	t.Helper()
	cfg := s.cfg
	cfg.Dir = img
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	last := s.rs[len(s.rs)-1]
	if c.MaxOffset() != last.PhysOffset {
		t.Fatalf("max offset %d, want %d (the torn record's start)", c.MaxOffset(), last.PhysOffset)
	}
	if d := diffSnapshots(s.queues, snapshotQueues(t, c)); d != "" {
		t.Fatal(d)
	}
	for _, r := range s.rs[:len(s.rs)-1] {
		readRecord(t, c, r.PhysOffset, r.WroteBytes)
	}
	r, err := c.Append(s.lastMsg)
	if err != nil || r.PhysOffset != last.PhysOffset || r.QueueOffset != last.QueueOffset {
		t.Fatalf("append after the cut: %+v %v; want offset %d queue offset %d", r, err, last.PhysOffset, last.QueueOffset)
	}
	readRecord(t, c, r.PhysOffset, r.WroteBytes)
}

// TestTornTail cuts the last record at every byte offset: zeroing the bytes
// after the cut (a torn write into preallocated space) and, for some offsets,
// truncating the file itself.
func TestTornTail(t *testing.T) {
	l, s := makeTornSource(t)
	last := s.rs[len(s.rs)-1]
	img := crashImage(t, l)
	seg := last.PhysOffset / s.cfg.SegmentSize * s.cfg.SegmentSize
	pristine, err := os.ReadFile(segmentPath(img, seg))
	if err != nil {
		t.Fatal(err)
	}
	pos := last.PhysOffset - seg
	for cut := pos; cut < pos+int64(last.WroteBytes); cut++ {
		b := bytes.Clone(pristine)
		clear(b[cut : pos+int64(last.WroteBytes)])
		if err := os.WriteFile(segmentPath(img, seg), b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Each open of the image cuts and appends: restore the queues and
		// the abort file, too.
		work := t.TempDir()
		copyStore(t, img, work)
		checkTorn(t, s, work)
		if (cut-pos)%37 == 0 {
			os.Truncate(segmentPath(work, seg), 0) // fresh copy below
			work2 := t.TempDir()
			copyStore(t, img, work2)
			if err := os.Truncate(segmentPath(work2, seg), cut); err != nil {
				t.Fatal(err)
			}
			checkTorn(t, s, work2)
		}
		if t.Failed() {
			t.Fatalf("cut at byte %d of the record", cut-pos)
		}
	}
}

// TestCorruptTail flips one byte in the last record (its body CRC no longer
// matches, or a length field breaks): the record is cut.
func TestCorruptTail(t *testing.T) {
	l, s := makeTornSource(t)
	last := s.rs[len(s.rs)-1]
	img := crashImage(t, l)
	seg := last.PhysOffset / s.cfg.SegmentSize * s.cfg.SegmentSize
	pos := last.PhysOffset - seg
	for _, tc := range []struct {
		name string
		at   int64
	}{
		{"body byte", 100},
		{"last body byte", 88 + 240 - 1},
		{"crc field", 9},
		{"magic", 5},
		{"total size", 3},
		{"physical offset", 30},
		{"topic length", 88 + 240},
		{"properties length", 88 + 240 + 1 + 2 + 1},
		// Properties and topic bytes are not covered by any check (the CRC
		// covers the body only, as in RocketMQ).
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			copyStore(t, img, work)
			f, err := os.OpenFile(segmentPath(work, seg), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			f.ReadAt(b, pos+tc.at)
			b[0] ^= 0x5A
			f.WriteAt(b, pos+tc.at)
			f.Close()
			checkTorn(t, s, work)
		})
	}
}

// TestCutInTheMiddle: a corrupt record in the middle of the tail segment
// cuts everything after it, queues included, and stale records after the
// cut never come back.
func TestCutInTheMiddle(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg)
	rs := fillStore(t, l, 400)
	img := crashImage(t, l)
	// the middle record of the last segment
	lastSeg := rs[len(rs)-1].PhysOffset / cfg.SegmentSize
	var in []int
	for i, r := range rs {
		if r.PhysOffset/cfg.SegmentSize == lastSeg {
			in = append(in, i)
		}
	}
	victim := rs[in[len(in)/2]]
	f, _ := os.OpenFile(segmentPath(img, lastSeg*cfg.SegmentSize), os.O_RDWR, 0)
	f.WriteAt([]byte{0xEE}, victim.PhysOffset%cfg.SegmentSize+95)
	f.Close()

	ccfg := cfg
	ccfg.Dir = img
	c := openLog(t, ccfg)
	if c.MaxOffset() != victim.PhysOffset {
		t.Fatalf("max %d, want %d", c.MaxOffset(), victim.PhysOffset)
	}
	snap := snapshotQueues(t, c)
	for k, es := range snap {
		for _, e := range es {
			if e.PhysOffset >= victim.PhysOffset {
				t.Fatalf("queue %s keeps an entry at %d past the cut", k, e.PhysOffset)
			}
		}
	}
	// A small record where the big ones were, then a clean restart: none of
	// the old records after it may reappear.
	small := &Message{Topic: "R1", Body: []byte("x")}
	r := mustAppend(t, c, small)
	mustClose(t, c)
	c = openLog(t, ccfg)
	if c.MaxOffset() != r.EndOffset() {
		t.Fatalf("after restart max %d, want %d: stale records came back", c.MaxOffset(), r.EndOffset())
	}
}

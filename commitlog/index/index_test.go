package index

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/wire"
)

func openLog(tb testing.TB, dir string) *commitlog.Log {
	tb.Helper()
	l, err := commitlog.Open(commitlog.Config{Dir: dir, SegmentSize: 64 << 10, QueueFileEntries: 256})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// msg is record i of topic: UNIQ_KEY U<i> and KEYS "k<i> even|odd".
func msg(topic string, i int) *commitlog.Message {
	parity := []string{"even", "odd"}[i%2]
	return &commitlog.Message{
		Topic:         topic,
		QueueID:       int32(i % 2),
		Body:          fmt.Appendf(nil, "body-%d", i),
		Properties:    fmt.Sprintf("KEYS\x01k%d %s\x02UNIQ_KEY\x01U%d\x02", i, parity, i),
		BornTimestamp: 1700000000000,
		BornHost:      netip.MustParseAddrPort("10.0.0.1:5000"),
		StoreHost:     netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

func appendN(tb testing.TB, l *commitlog.Log, topic string, from, to int) []int64 {
	tb.Helper()
	var offs []int64
	for i := from; i < to; i++ {
		r, err := l.Append(msg(topic, i))
		if err != nil {
			tb.Fatal(err)
		}
		offs = append(offs, r.PhysOffset)
	}
	return offs
}

func openIndex(tb testing.TB, dir string, l Log, slots, entries int) *Index {
	tb.Helper()
	x, err := Open(Config{Dir: filepath.Join(dir, "index"), HashSlots: slots, MaxEntries: entries}, l)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { x.Close() })
	return x
}

// indexed is a log of n records of topic T and an index of them with
// the given geometry, caught up.
func indexed(tb testing.TB, n, slots, entries int) (string, *commitlog.Log, []int64, *Index) {
	tb.Helper()
	dir := tb.TempDir()
	l := openLog(tb, dir)
	offs := appendN(tb, l, "T", 0, n)
	x := openIndex(tb, dir, l, slots, entries)
	x.catchUp()
	return dir, l, offs, x
}

// lookup returns the candidates of topic#key, newest first.
func lookup(x *Index, topic, key string) []int64 {
	var out []int64
	x.Lookup(topic, key, 0, math.MaxInt64, func(phy int64) bool {
		out = append(out, phy)
		return true
	})
	return out
}

// found returns the distinct offsets of records in l that really carry
// key: what the broker's check keeps of the candidates.
func found(tb testing.TB, x *Index, l *commitlog.Log, topic, key string) []int64 {
	tb.Helper()
	var out []int64
	for _, phy := range lookup(x, topic, key) {
		if slices.Contains(out, phy) {
			continue
		}
		head, err := l.Read(phy, 4)
		if err != nil {
			continue
		}
		b, err := l.Read(phy, be32(head))
		if err != nil {
			continue
		}
		rec, _, err := commitlog.DecodeRecord(b)
		if err != nil || rec.Topic != topic || rec.PhysOffset != phy {
			continue
		}
		p := wire.ParseProperties(rec.Properties)
		if p[propUniqKey] == key || slices.Contains(strings.Split(p[propKeys], " "), key) {
			out = append(out, phy)
		}
	}
	return out
}

// checkAll checks that each record i in [0, n) is found by its unique key
// and its own key at offs[i], and only there.
func checkAll(tb testing.TB, x *Index, l *commitlog.Log, topic string, offs []int64) {
	tb.Helper()
	for i, off := range offs {
		for _, key := range []string{fmt.Sprintf("U%d", i), fmt.Sprintf("k%d", i)} {
			if got := found(tb, x, l, topic, key); len(got) != 1 || got[0] != off {
				tb.Fatalf("%s#%s: found %v, want [%d]", topic, key, got, off)
			}
		}
	}
}

func TestKeyHashIsJavas(t *testing.T) {
	// "a#b".hashCode() = (97·31 + 35)·31 + 98; "T#é" uses the UTF-16 unit 233.
	if h := keyHash("a", "b"); h != 94400 {
		t.Errorf("keyHash(a, b) = %d", h)
	}
	if h := keyHash("T", "é"); h != (84*31+35)*31+233 {
		t.Errorf("keyHash(T, é) = %d", h)
	}
	// "polygenelubricants".hashCode() is Integer.MIN_VALUE, whose
	// Math.abs stays negative: RocketMQ uses 0.
	h := wire.HashString(0, "polygenelubricants")
	if h != math.MinInt32 || positive(h) != 0 || positive(-5) != 5 {
		t.Fatalf("hash %d, positive %d", h, positive(h))
	}
}

// TestLayout checks the bytes of a file against RocketMQ's layout, and
// that a reopened index reads them back.
func TestLayout(t *testing.T) {
	dir, l, offs, x := indexed(t, 3, 7, 100)
	if x.IndexedTo() != l.MaxOffset() {
		t.Fatalf("indexed to %d, log ends at %d", x.IndexedTo(), l.MaxOffset())
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := listFiles(filepath.Join(dir, "index"))
	if len(names) != 1 {
		t.Fatalf("files %v", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 40+7*4+100*20 {
		t.Fatalf("file of %d bytes", len(b))
	}
	u64 := func(p int) int64 { return int64(binary.BigEndian.Uint64(b[p:])) }
	u32 := func(p int) int32 { return int32(binary.BigEndian.Uint32(b[p:])) }
	first, _ := storeTS(t, l, offs[0])
	lastTS, _ := storeTS(t, l, offs[2])
	if u64(0) != first || u64(8) != lastTS || u64(16) != offs[0] || u64(24) != offs[2] {
		t.Errorf("header times %d..%d phys %d..%d, want %d..%d %d..%d", u64(0), u64(8), u64(16), u64(24), first, lastTS, offs[0], offs[2])
	}
	if n := u32(36); n != 1+3*3 { // three keys each (UNIQ_KEY, k<i>, even|odd)
		t.Errorf("indexCount %d", n)
	}
	// Every key's slot leads to an entry that names the record.
	used := map[int32]bool{}
	for i, off := range offs {
		for _, key := range []string{fmt.Sprintf("U%d", i), fmt.Sprintf("k%d", i)} {
			h := keyHash("T", key)
			used[h%7] = true
			for n := u32(40 + 4*int(h%7)); ; {
				if n <= 0 {
					t.Fatalf("T#%s: not in its slot's chain", key)
				}
				e := 40 + 7*4 + 20*int(n)
				if u32(e) == h && u64(e+4) == off {
					if d := u32(e + 12); d < 0 || int64(d) > (lastTS-first)/1000 {
						t.Errorf("T#%s: timeDiff %d", key, d)
					}
					break
				}
				n = u32(e + 16)
			}
		}
	}
	used[keyHash("T", "even")%7], used[keyHash("T", "odd")%7] = true, true
	if n := u32(32); int(n) != len(used) {
		t.Errorf("hashSlotCount %d, want %d", n, len(used))
	}
	x = openIndex(t, dir, l, 7, 100)
	checkAll(t, x, l, "T", offs)
	if got := found(t, x, l, "T", "even"); !slices.Equal(got, []int64{offs[2], offs[0]}) {
		t.Errorf("T#even: %v, want newest first %v", got, []int64{offs[2], offs[0]})
	}
	if got := lookup(x, "Other", "k1"); len(found(t, x, l, "Other", "k1")) != 0 {
		t.Errorf("another topic's key found: %v", got)
	}
	// Entries are kept by the second, as RocketMQ's: a range ending
	// before the first store second finds nothing.
	var n int
	x.Lookup("T", "k0", 0, first-1000, func(int64) bool { n++; return true })
	if n != 0 {
		t.Errorf("a time range before every record found %d", n)
	}
}

func storeTS(tb testing.TB, l *commitlog.Log, off int64) (int64, int32) {
	tb.Helper()
	head, _ := l.Read(off, 4)
	b, err := l.Read(off, be32(head))
	if err != nil {
		tb.Fatal(err)
	}
	v, err := wire.ParseRecord(b)
	if err != nil {
		tb.Fatal(err)
	}
	return v.StoreTimestamp, int32(v.Size)
}

// TestCollisionsInOneSlot puts every key into one slot, including two keys
// whose Java hashes are equal ("Aa" and "BB").
func TestCollisionsInOneSlot(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	offs := appendN(t, l, "T", 0, 20)
	aa := &commitlog.Message{Topic: "T", Body: []byte("aa"), Properties: "KEYS\x01Aa\x02", BornHost: msg("T", 0).BornHost, StoreHost: msg("T", 0).StoreHost}
	rAa, _ := l.Append(aa)
	bb := *aa
	bb.Body, bb.Properties = []byte("bb"), "KEYS\x01BB\x02"
	rBB, _ := l.Append(&bb)
	if keyHash("T", "Aa") != keyHash("T", "BB") {
		t.Fatal("Aa and BB should collide")
	}
	x := openIndex(t, dir, l, 1, 1000)
	x.catchUp()
	checkAll(t, x, l, "T", offs)
	if got := lookup(x, "T", "Aa"); !slices.Equal(got, []int64{rBB.PhysOffset, rAa.PhysOffset}) {
		t.Errorf("candidates of T#Aa: %v, want both colliding records", got)
	}
	if got := found(t, x, l, "T", "Aa"); !slices.Equal(got, []int64{rAa.PhysOffset}) {
		t.Errorf("T#Aa found %v", got)
	}
	if got := found(t, x, l, "T", "odd"); len(got) != 10 {
		t.Errorf("T#odd found %d records, want 10", len(got))
	}
	// A lookup stops when fn says so.
	n := 0
	x.Lookup("T", "odd", 0, math.MaxInt64, func(int64) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("lookup went on after fn said stop: %d calls", n)
	}
}

// TestFullFileRolls fills files of 4 entries: each record's keys spread
// over files, and all are found, newest file first.
func TestFullFileRolls(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	offs := appendN(t, l, "T", 0, 10)
	x := openIndex(t, dir, l, 3, 5)
	x.cfg.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local) } // one name for all: they must still differ
	x.catchUp()
	if n := x.Files(); n != 30/4+1 {
		t.Fatalf("%d files for 30 keys of 4 entries each", n)
	}
	names, _ := listFiles(filepath.Join(dir, "index"))
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) || names[0] != "20260102030405000" || names[1] != "20260102030405001" {
		t.Fatalf("names %v", names)
	}
	for i, f := range x.files {
		if !f.full() && i < len(x.files)-1 {
			t.Errorf("file %d not full", i)
		}
		if i > 0 && f.beginPhy.Load() < x.files[i-1].endPhy.Load() {
			t.Errorf("file %d begins at %d, before the previous ends at %d", i, f.beginPhy.Load(), x.files[i-1].endPhy.Load())
		}
	}
	checkAll(t, x, l, "T", offs)
	want := []int64{offs[9], offs[7], offs[5], offs[3], offs[1]}
	if got := found(t, x, l, "T", "odd"); !slices.Equal(got, want) {
		t.Errorf("T#odd across files: %v, want %v", got, want)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = openIndex(t, dir, l, 3, 5)
	checkAll(t, x, l, "T", offs)
	offs = append(offs, appendN(t, l, "T", 10, 12)...)
	x.catchUp()
	checkAll(t, x, l, "T", offs)
}

// TestRecoveryAfterTornTail reopens an index whose newest file a crash
// left behind the log, with a lost end update, a slot pointing past the
// entry count and garbage past it.
func TestRecoveryAfterTornTail(t *testing.T) {
	dir, l, offs, x := indexed(t, 30, 11, 1000)
	f := x.last()
	// The last two records' end updates were lost (their keys are in),
	// garbage lies past the entry count, and a slot points into it.
	ts, _ := storeTS(t, l, offs[27])
	f.setEnd(offs[27], ts)
	n := f.count.Load()
	for i := n; i < n+5; i++ {
		copy(f.entry(i), "garbage-garbage-garb")
	}
	f.setSlot(keyHash("T", "U3")%11, n+2)
	// x is not closed: the files stay as a killed process leaves them.
	// More records reached the log while the index was down.
	offs = append(offs, appendN(t, l, "T", 30, 40)...)

	y := openIndex(t, dir, l, 11, 1000)
	if y.pos != offs[28] {
		t.Fatalf("resumed at %d, want the record after the last one processed, %d", y.pos, offs[28])
	}
	y.catchUp()
	checkAll(t, y, l, "T", offs)
	if c := lookup(y, "T", "U28"); len(c) != 2 {
		t.Errorf("T#U28: %d candidates, want 2 (indexed again after the crash)", len(c))
	}
	x.closeFiles()
}

// TestLogCut reopens an index ahead of its log (the log lost its tail):
// indexing goes on in a new file and no lost record's key finds a new one.
func TestLogCut(t *testing.T) {
	dir, cut := t.TempDir(), t.TempDir()
	l := openLog(t, dir)
	offs := appendN(t, l, "T", 0, 20)
	x := openIndex(t, dir, l, 11, 1000)
	x.catchUp()
	x.Close()
	l.Close()

	// The same first 15 records, then others.
	l2 := openLog(t, cut)
	if got := appendN(t, l2, "T", 0, 15); !slices.Equal(got, offs[:15]) {
		t.Fatalf("offsets differ: %v %v", got, offs[:15])
	}
	if err := os.Rename(filepath.Join(dir, "index"), filepath.Join(cut, "index")); err != nil {
		t.Fatal(err)
	}
	y := openIndex(t, cut, l2, 11, 1000)
	if y.pos != l2.MaxOffset() || !y.rollNext {
		t.Fatalf("resumed at %d (roll %v), want the log's end %d in a new file", y.pos, y.rollNext, l2.MaxOffset())
	}
	var later []int64
	for i := 0; i < 5; i++ {
		m := msg("T", 100+i)
		r, _ := l2.Append(m)
		later = append(later, r.PhysOffset)
	}
	y.catchUp()
	if y.Files() != 2 {
		t.Errorf("%d files, want a new one", y.Files())
	}
	checkAll(t, y, l2, "T", offs[:15])
	for i := 15; i < 20; i++ {
		if got := found(t, y, l2, "T", fmt.Sprintf("U%d", i)); len(got) != 0 {
			t.Errorf("lost record %d found at %v", i, got)
		}
	}
	for i, off := range later {
		if got := found(t, y, l2, "T", fmt.Sprintf("k%d", 100+i)); !slices.Equal(got, []int64{off}) {
			t.Errorf("k%d: %v, want [%d]", 100+i, got, off)
		}
	}
}

// TestOtherGeometryRebuilds reopens with other slot and entry numbers: the
// old files go and the log is indexed again.
func TestOtherGeometryRebuilds(t *testing.T) {
	dir, l, offs, x := indexed(t, 12, 11, 10)
	x.Close()
	y := openIndex(t, dir, l, 13, 1000)
	if y.Files() != 0 || y.pos != l.MinOffset() {
		t.Fatalf("%d files kept, resume at %d", y.Files(), y.pos)
	}
	y.catchUp()
	checkAll(t, y, l, "T", offs)
}

// minLog is a log whose min offset the test sets, as retention would.
type minLog struct {
	*commitlog.Log
	min int64
}

func (m *minLog) MinOffset() int64 { return max(m.min, m.Log.MinOffset()) }

// TestRetentionDeletesFiles deletes the files whose records are all below
// the log's min offset, never the newest.
func TestRetentionDeletesFiles(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	offs := appendN(t, l, "T", 0, 10)
	src := &minLog{Log: l}
	x := openIndex(t, dir, src, 3, 5)
	x.catchUp()
	files := x.Files()
	second := x.files[1]
	src.min = x.files[0].endPhy.Load() + 1
	x.trim()
	if x.Files() != files-1 || x.files[0] != second {
		t.Fatalf("%d files after the first one's records went, want %d", x.Files(), files-1)
	}
	src.min = l.MaxOffset()
	x.trim()
	if x.Files() != 1 {
		t.Fatalf("%d files: the newest must stay, and only it", x.Files())
	}
	names, _ := listFiles(filepath.Join(dir, "index"))
	if len(names) != 1 || names[0] != x.last().name {
		t.Fatalf("files on disk %v", names)
	}
	// Records appended after are indexed as before.
	offs = append(offs, appendN(t, l, "T", 10, 12)...)
	x.catchUp()
	if got := found(t, x, l, "T", "U11"); !slices.Equal(got, []int64{offs[11]}) {
		t.Errorf("U11: %v", got)
	}
}

// TestBuilderFollowsTheLog runs the builder goroutine: Kick wakes it.
func TestBuilderFollowsTheLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	x, err := Open(Config{Dir: filepath.Join(dir, "index"), HashSlots: 101, MaxEntries: 50, Interval: time.Hour}, l)
	if err != nil {
		t.Fatal(err)
	}
	l.SetArrivalListener(func(string, int32, int64, int64) { x.Kick() })
	x.Start()
	defer x.Close()
	var offs []int64
	for i := 0; i < 200; i++ { // across segments (blank records) and files
		offs = append(offs, appendN(t, l, "T", i, i+1)...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for x.IndexedTo() != l.MaxOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("indexed to %d, log at %d", x.IndexedTo(), l.MaxOffset())
		}
		time.Sleep(time.Millisecond)
	}
	checkAll(t, x, l, "T", offs)
	if ts, phy := x.LastUpdate(); phy != offs[199] || ts == 0 {
		t.Errorf("last update %d at %d, want %d", ts, phy, offs[199])
	}
}

func TestCheckGeometry(t *testing.T) {
	for _, c := range []struct {
		slots, entries int
		want           string
	}{
		{DefaultHashSlots, DefaultMaxEntries, ""},
		{1, 2, ""},
		{0, 10, "maxHashSlotNum=0"},
		{10, 1, "maxIndexNum=1"},
		{100_000_000, 100_000_000, "exceed"},
		{1, (math.MaxInt32 - 40 - 4) / 20, ""},
		{1, (math.MaxInt32-40-4)/20 + 1, "exceed"},
		{math.MaxInt64 / 2, 2, "exceed"},
	} {
		err := CheckGeometry(c.slots, c.entries)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckGeometry(%d, %d) = %v, want %q", c.slots, c.entries, err, c.want)
		}
	}
	if _, err := Open(Config{Dir: t.TempDir(), HashSlots: -1}, nil); err == nil || !strings.Contains(err.Error(), "maxHashSlotNum") {
		t.Errorf("Open with a bad geometry: %v", err)
	}
}

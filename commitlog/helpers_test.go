package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// testConfig is a small store: 64 KiB segments, 64-entry queue files.
func testConfig(dir string) Config {
	return Config{
		Dir:              dir,
		SegmentSize:      64 << 10,
		QueueFileEntries: 64,
		FlushInterval:    20 * time.Millisecond,
	}
}

func openLog(tb testing.TB, cfg Config) *Log {
	tb.Helper()
	l, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	tb.Cleanup(func() {
		if !l.closing.Load() {
			l.Close()
		}
	})
	return l
}

func mustClose(tb testing.TB, l *Log) {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

var (
	testBorn  = netip.MustParseAddrPort("10.0.0.1:50000")
	testStore = netip.MustParseAddrPort("127.0.0.1:10911")
)

// testMessage is message i of a topic queue, with a body whose size varies.
func testMessage(topic string, qid int32, i int) *Message {
	body := bytes.Repeat([]byte{byte('a' + i%26)}, 20+(i*37)%300)
	return &Message{
		Topic:         topic,
		QueueID:       qid,
		Flag:          int32(i),
		Body:          body,
		Properties:    fmt.Sprintf("TAGS\x01tag%d\x02KEYS\x01k%d\x02", i%3, i),
		BornTimestamp: 1700000000000 + int64(i),
		BornHost:      testBorn,
		StoreHost:     testStore,
	}
}

func mustAppend(tb testing.TB, l *Log, m *Message) AppendResult {
	tb.Helper()
	r, err := l.Append(m)
	if err != nil {
		tb.Fatalf("Append(%s/%d): %v", m.Topic, m.QueueID, err)
	}
	return r
}

// readRecord reads and decodes (with CRC) the record an entry points at.
func readRecord(tb testing.TB, l *Log, phys int64, size int32) Record {
	tb.Helper()
	b, err := l.Read(phys, size)
	if err != nil {
		tb.Fatalf("Read(%d, %d): %v", phys, size, err)
	}
	r, n, err := DecodeRecord(b)
	if err != nil || n != int(size) {
		tb.Fatalf("DecodeRecord at %d: n=%d err=%v", phys, n, err)
	}
	return r
}

// queueSnapshot is every entry of every queue.
type queueSnapshot map[string][]Entry

func snapshotQueues(tb testing.TB, l *Log) queueSnapshot {
	tb.Helper()
	l.qmu.RLock()
	var keys []struct {
		t  string
		id int32
	}
	for name, t := range l.topics {
		for id := range t.queues {
			keys = append(keys, struct {
				t  string
				id int32
			}{name, id})
		}
	}
	l.qmu.RUnlock()
	s := queueSnapshot{}
	for _, k := range keys {
		lo, hi := l.QueueMinOffset(k.t, k.id), l.QueueMaxOffset(k.t, k.id)
		es, err := l.QueueEntries(k.t, k.id, lo, int(hi-lo), nil)
		if err != nil {
			tb.Fatalf("QueueEntries(%s/%d): %v", k.t, k.id, err)
		}
		s[fmt.Sprintf("%s/%d@%d", k.t, k.id, lo)] = es
	}
	return s
}

func diffSnapshots(a, b queueSnapshot) string {
	for k, ea := range a {
		eb, ok := b[k]
		if !ok {
			return fmt.Sprintf("queue %s missing", k)
		}
		if len(ea) != len(eb) {
			return fmt.Sprintf("queue %s: %d vs %d entries", k, len(ea), len(eb))
		}
		for i := range ea {
			if ea[i] != eb[i] {
				return fmt.Sprintf("queue %s entry %d: %+v vs %+v", k, i, ea[i], eb[i])
			}
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return fmt.Sprintf("queue %s unexpected", k)
		}
	}
	return ""
}

// copyStore copies a store directory (a crash image when the source is
// open: the page cache is what a killed process leaves behind).
func copyStore(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		tb.Fatalf("copy store: %v", err)
	}
}

func segmentPath(dir string, start int64) string {
	return filepath.Join(dir, "commitlog", fileName(start))
}

// checkPinnedRead checks that a pinned slice b of a deleted segment still
// holds the record want, and that the n bytes at pos of a chunk's file f
// can still be read; it returns them.
func checkPinnedRead(tb testing.TB, b []byte, want string, f *os.File, pos int64, n int) []byte {
	tb.Helper()
	if string(b) != want {
		tb.Fatal("the record changed under a pinned reader")
	}
	if _, _, err := DecodeRecord(b); err != nil {
		tb.Fatalf("record of a deleted, pinned segment: %v", err)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, pos); err != nil {
		tb.Fatalf("pread of a deleted, pinned segment's file: %v", err)
	}
	return buf
}

// pullLoop reads queue Q/0 the way pulls do until stop is closed, then
// sends nil to done: up to max entries from from() on, their records
// pinned (ErrOutOfRange: deleted meanwhile, skipped) and decoded after a
// yield, so that deletions happen while the bytes are held. A record that
// does not decode goes to bad, which returns the error to stop with, or
// nil to go on; any other error is sent to done at once.
func pullLoop(l *Log, from func() int64, max int, bad func(Entry, error) error, stop <-chan struct{}, done chan<- error) {
	var dst []Entry
	for {
		select {
		case <-stop:
			done <- nil
			return
		default:
		}
		var err error
		dst, err = l.QueueEntries("Q", 0, from(), max, dst)
		if err != nil && !errors.Is(err, ErrNoQueue) {
			done <- err
			return
		}
		var pin Pin
		var parts [][]byte
		var entries []Entry
		for _, e := range dst {
			b, err := l.ReadPinned(&pin, e.PhysOffset, e.Size)
			if errors.Is(err, ErrOutOfRange) {
				continue
			}
			if err != nil {
				done <- err
				return
			}
			parts = append(parts, b)
			entries = append(entries, e)
		}
		runtime.Gosched()
		for i, b := range parts {
			if _, _, err := DecodeRecord(b); err != nil {
				if err := bad(entries[i], err); err != nil {
					done <- err
					return
				}
			}
		}
		pin.Release()
	}
}

// poll waits for cond, failing after a generous deadline.
func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func poll(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1700000000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

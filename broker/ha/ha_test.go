package ha

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWaitersReleaseInOffsetOrder(t *testing.T) {
	var ws waiters
	var mu sync.Mutex
	var order []int64
	record := func(end int64, want bool) func(bool) {
		return func(ok bool) {
			if ok != want {
				t.Errorf("waiter %d: ok=%v, want %v", end, ok, want)
			}
			mu.Lock()
			order = append(order, end)
			mu.Unlock()
		}
	}
	far := time.Now().Add(time.Hour)
	for _, end := range []int64{300, 100, 200, 400} {
		ws.add(end, far, record(end, end != 400))
	}
	ws.ack(250)
	ws.ack(300)
	if fmt.Sprint(order) != "[100 200 300]" {
		t.Fatalf("released %v", order)
	}
	ws.add(50, far, record(50, true)) // already acknowledged: at once
	if fmt.Sprint(order) != "[100 200 300 50]" {
		t.Fatalf("released %v", order)
	}
	ws.add(500, time.Now().Add(-time.Millisecond), record(500, false))
	ws.expire(time.Now())
	if fmt.Sprint(order) != "[100 200 300 50 500]" || ws.len() != 1 {
		t.Fatalf("after expire: %v, %d pending", order, ws.len())
	}
	ws.failAll()
	if ws.len() != 0 || len(order) != 6 {
		t.Fatalf("after failAll: %v, %d pending", order, ws.len())
	}
}

// fileSource serves a byte slice from a file as one segment.
type fileSource struct {
	f   *os.File
	max atomic.Int64
}

func newFileSource(t testing.TB, data []byte) *fileSource {
	path := filepath.Join(t.TempDir(), "00000000000000000000")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s := &fileSource{f: f}
	s.max.Store(int64(len(data)))
	return s
}

func (s *fileSource) MinOffset() int64 { return 0 }
func (s *fileSource) MaxOffset() int64 { return s.max.Load() }
func (s *fileSource) Chunk(from int64, max int) (*os.File, int64, int, func(), error) {
	if from >= s.max.Load() {
		return nil, 0, 0, nil, errors.New("out of range")
	}
	return s.f, from, int(min(int64(max), s.max.Load()-from)), func() {}, nil
}

func readFrame(t *testing.T, c net.Conn) (int64, []byte) {
	t.Helper()
	var hdr [12]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[8:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return int64(binary.BigEndian.Uint64(hdr[:])), body
}

func report(t *testing.T, c net.Conn, off int64) {
	t.Helper()
	if _, err := c.Write(binary.BigEndian.AppendUint64(nil, uint64(off))); err != nil {
		t.Fatal(err)
	}
}

func TestMasterStreamsAndAcks(t *testing.T) {
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	src := newFileSource(t, data)
	m := NewMaster(MasterConfig{Listen: "127.0.0.1:0", Source: src, BatchSize: 4096, FallbehindMax: 1 << 20, HeartbeatInterval: 200 * time.Millisecond})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var got error = errors.New("not called")
	m.Wait(10, time.Second, func(err error) { got = err })
	if !errors.Is(got, ErrNoSlave) {
		t.Fatalf("Wait without a slave: %v", got)
	}

	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	report(t, c, 1000) // resume mid-log
	var stream []byte
	next := int64(1000)
	for next < int64(len(data)) {
		off, body := readFrame(t, c)
		if off != next || len(body) == 0 || len(body) > 4096 {
			t.Fatalf("frame at %d with %d bytes, want offset %d", off, len(body), next)
		}
		stream = append(stream, body...)
		next += int64(len(body))
	}
	if !bytes.Equal(stream, data[1000:]) {
		t.Fatal("streamed bytes differ from the log")
	}
	eventually(t, "the slave counted", func() bool { return m.Stats().Slaves == 1 })

	done := make(chan error, 3)
	m.Wait(50_000, 5*time.Second, func(err error) { done <- err })
	m.Wait(60_000, 5*time.Second, func(err error) { done <- err })
	m.Wait(90_000, 50*time.Millisecond, func(err error) { done <- err })
	report(t, c, 60_000)
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatalf("acknowledged wait %d: %v", i, err)
		}
	}
	if err := <-done; !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("unacknowledged wait: %v", err)
	}
	m.Wait(60_000+2<<20, time.Second, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrSlaveBehind) {
		t.Fatalf("wait past haSlaveFallbehindMax: %v", err)
	}
	if st := m.Stats(); st.AckedOffset != 60_000 || st.BytesSendfile != int64(len(data)-1000) {
		t.Fatalf("stats %+v", st)
	}

	// More data: the sender wakes on Notify.
	src.max.Store(int64(len(data))) // unchanged length, but a heartbeat must come
	report(t, c, int64(len(data)))
	if off, body := readFrame(t, c); off != int64(len(data)) || len(body) != 0 {
		t.Fatalf("expected a heartbeat frame, got offset %d with %d bytes", off, len(body))
	}
}

// memSink is an in-memory log for the slave.
type memSink struct {
	mu   sync.Mutex
	base int64
	data []byte
}

func (s *memSink) MaxOffset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base + int64(len(s.data))
}

func (s *memSink) AppendAt(off int64, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if end := s.base + int64(len(s.data)); off != end {
		if len(s.data) != 0 {
			return fmt.Errorf("append at %d, log ends at %d", off, end)
		}
		s.base = off
	}
	s.data = append(s.data, b...)
	return nil
}

func frame(off int64, body []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(off))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

func TestSlaveReconnectsOnWrongOffset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink := &memSink{}
	s := NewSlave(SlaveConfig{MasterAddr: func() string { return ln.Addr().String() }, Sink: sink, HeartbeatInterval: time.Second, IdleTimeout: 3 * time.Second})
	s.Start()
	defer s.Close()

	readReport := func(c net.Conn) int64 {
		var b [8]byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatal(err)
		}
		return int64(binary.BigEndian.Uint64(b[:]))
	}
	// First session: a good frame, then one at a wrong offset.
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if off := readReport(c1); off != 0 {
		t.Fatalf("first report %d, want 0", off)
	}
	c1.Write(frame(0, []byte("hello ")))
	if off := readReport(c1); off != 6 {
		t.Fatalf("ack %d, want 6", off)
	}
	c1.Write(frame(100, []byte("garbage")))
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c1); err != nil {
		t.Fatalf("want the slave to close the connection: %v", err)
	}
	c1.Close()

	// It reconnects and asks for what it lacks; the log is untouched.
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if off := readReport(c2); off != 6 {
		t.Fatalf("report after reconnect %d, want 6", off)
	}
	c2.Write(frame(6, []byte("world")))
	if off := readReport(c2); off != 11 {
		t.Fatalf("ack %d, want 11", off)
	}
	sink.mu.Lock()
	got := string(sink.data)
	sink.mu.Unlock()
	if got != "hello world" {
		t.Fatalf("slave log %q", got)
	}
	if st := s.Stats(); st.Rejected != 1 || st.Reconnects < 1 || st.Bytes != 11 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMasterDropsSlaveThatDoesNotRead: a slave that keeps reporting but
// reads nothing is dropped after SendTimeout instead of holding the send
// loop forever.
func TestMasterDropsSlaveThatDoesNotRead(t *testing.T) {
	src := newFileSource(t, make([]byte, 32<<20))
	m := NewMaster(MasterConfig{Listen: "127.0.0.1:0", Source: src, BatchSize: 256 << 10,
		IdleTimeout: time.Hour, SendTimeout: 200 * time.Millisecond})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { // alive: it reports; stuck: it never reads
		for {
			if _, err := c.Write(binary.BigEndian.AppendUint64(nil, 0)); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	eventually(t, "the slave counted", func() bool { return m.Stats().Slaves == 1 })
	eventually(t, "the slave that does not read dropped", func() bool { return m.Stats().Slaves == 0 })
}

package remoting

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// waitFor polls cond every few milliseconds for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// flowServer serves testCode inline with a 1 KiB answer, under lim and a
// fake clock, logging to logs; closed receives each closed connection.
func flowServer(t *testing.T, lim Limits, logs *syncBuffer) (s *Server, clk *fakeClock, closed chan *Conn) {
	clk = newFakeClock()
	closed = make(chan *Conn, 16)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), nil))
	s = startServer(t, ServerConfig{Limits: lim, Log: log}, func(s *Server) {
		s.now = clk.Now
		s.HandleInline(testCode, func(_ *Conn, req *Command) *Command {
			resp := NewResponse(req, Success, "")
			resp.Body = make([]byte, 1<<10)
			return resp
		})
		s.OnClose(func(c *Conn) { closed <- c })
	})
	return s, clk, closed
}

// dial connects to addr; the connection is closed when the test ends. (Its
// receive buffer stays small while the test does not read: the kernel
// grows it only for a reader that keeps up.)
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc.(*net.TCPConn)
}

// pipelineUntilBlocked writes copies of frame, never reading, until a
// write has made no progress for a second, and returns how many whole
// frames went out and the bytes of the one cut short. It fails the test if
// the connection breaks, or if 128 MiB went out: the server never stopped
// reading.
func pipelineUntilBlocked(t *testing.T, nc net.Conn, frame []byte) (frames int, rest []byte) {
	t.Helper()
	batch := bytes.Repeat(frame, 64)
	total := 0
	for total < 128<<20 {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := nc.Write(batch)
		total += n
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %d bytes, the connection broke: %v", total, err)
			}
			_ = nc.SetWriteDeadline(time.Time{})
			return total / len(frame), frame[total%len(frame):]
		}
	}
	t.Fatalf("wrote %d bytes without blocking: the server never stopped reading", total)
	return 0, nil
}

// countFrames reads frames from nc until want have arrived.
func countFrames(t *testing.T, nc *net.TCPConn, want int) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReaderSize(nc, 64<<10)
	for got := 0; got < want; got++ {
		var head [4]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			t.Fatalf("after %d of %d answers: %v", got, want, err)
		}
		if _, err := br.Discard(int(binary.BigEndian.Uint32(head[:]))); err != nil {
			t.Fatalf("after %d of %d answers: %v", got, want, err)
		}
	}
}

// TestQueueOverHighWaterStopsReading: a client that pipelines requests and
// reads nothing is no longer read once its answers reach the high-water
// mark (its writes block: TCP backpressure), is not closed while the slow
// consumer timeout has not passed, and gets every answer once it reads.
func TestQueueOverHighWaterStopsReading(t *testing.T) {
	var logs syncBuffer
	s, _, closed := flowServer(t, Limits{HighWater: 64 << 10, SlowConsumerTimeout: time.Hour}, &logs)
	nc := dial(t, s.Addr())
	req := NewRequest(testCode, "pad", strings.Repeat("p", 900))
	frames, rest := pipelineUntilBlocked(t, nc, req.Encode(nil))

	done := make(chan error, 1)
	go func() { // the request cut short, then one more
		_, err := nc.Write(append(rest, req.Encode(nil)...))
		done <- err
	}()
	countFrames(t, nc, frames+2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Fatal("the server closed the connection")
	default:
	}
	if strings.Contains(logs.String(), "slow consumer") {
		t.Fatalf("logged a slow consumer:\n%s", logs.String())
	}
}

// TestSlowConsumerClosed: a client over the high-water mark that takes
// nothing for SlowConsumerTimeout is closed, with one Warn line naming it.
func TestSlowConsumerClosed(t *testing.T) {
	var logs syncBuffer
	s, clk, closed := flowServer(t, Limits{HighWater: 64 << 10, SlowConsumerTimeout: 10 * time.Second}, &logs)
	nc := dial(t, s.Addr())
	pipelineUntilBlocked(t, nc, NewRequest(testCode, "pad", strings.Repeat("p", 900)).Encode(nil))
	clk.Advance(9 * time.Second)
	good := newClient(t) // others are served meanwhile
	if _, err := good.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(testCode)); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-closed:
		t.Fatalf("%s closed before the timeout", c.RemoteAddr())
	default:
	}
	clk.Advance(2 * time.Second)
	var c *Conn
	select {
	case c = <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow consumer was not closed")
	}
	if c.RemoteAddr() != nc.LocalAddr().String() {
		t.Fatalf("closed %s, want the slow consumer %s", c.RemoteAddr(), nc.LocalAddr())
	}
	lines := strings.Count(logs.String(), "closing slow consumer")
	if lines != 1 || !strings.Contains(logs.String(), "addr="+nc.LocalAddr().String()) {
		t.Fatalf("want one slow-consumer line naming %s, got %d:\n%s", nc.LocalAddr(), lines, logs.String())
	}
}

// TestStalledPeerClosedBelowHighWater: a peer that takes nothing of an
// answer queued for it is closed after SlowConsumerTimeout even when the
// queue is below the high-water mark, so what the answer references is
// let go.
func TestStalledPeerClosedBelowHighWater(t *testing.T) {
	var logs syncBuffer
	clk := newFakeClock()
	closed := make(chan *Conn, 1)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), nil))
	released := make(chan struct{})
	body := make([]byte, 16<<20)
	s := startServer(t, ServerConfig{Log: log, Limits: Limits{HighWater: 64 << 20, SlowConsumerTimeout: 10 * time.Second}}, func(s *Server) {
		s.now = clk.Now
		s.HandleInline(testCode, func(c *Conn, req *Command) *Command {
			if err := c.AnswerBody(req, NewResponse(req, Success, ""), [][]byte{body}, func() { close(released) }); err != nil {
				t.Error(err)
			}
			return req.Answered()
		})
		s.OnClose(func(c *Conn) { closed <- c })
	})
	nc := dial(t, s.Addr())
	if _, err := nc.Write(NewRequest(testCode).Encode(nil)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-closed:
		default:
			if time.Now().After(deadline) {
				t.Fatal("a peer that reads nothing was not closed")
			}
			clk.Advance(time.Second) // the server's clock starts when the answer backs up
			continue
		}
		break
	}
	<-released
	if !strings.Contains(logs.String(), "closing slow consumer") {
		t.Fatalf("no slow-consumer line:\n%s", logs.String())
	}
}

// invokeAsync sends a testCode request with ext v and a body of n bytes;
// its answer goes to answers.
func invokeAsync(t *testing.T, cl *Client, addr, v string, n int, answers chan<- *Command) {
	t.Helper()
	req := NewRequest(testCode, "v", v)
	req.Body = make([]byte, n)
	if err := cl.InvokeAsync(ctxTimeout(t, 20*time.Second), addr, req, func(r *Command, err error) {
		if err != nil {
			t.Error(err)
			r = &Command{Code: -1}
		}
		answers <- r
	}); err != nil {
		t.Fatal(err)
	}
}

// TestInflightLimit: requests kept with Later count until answered; beyond
// MaxInflight the connection gets SYSTEM_BUSY naming the limit.
func TestInflightLimit(t *testing.T) {
	type kept struct {
		c   *Conn
		req *Command
	}
	held := make(chan kept, 8)
	s := startServer(t, ServerConfig{Limits: Limits{MaxInflight: 3}}, func(s *Server) {
		s.HandleScoped(testCode, func(c *Conn, req *Command) *Command {
			if req.ExtValue("v") == "hold" {
				held <- kept{c, req}
				return req.Later()
			}
			return echo(c, req)
		})
	})
	cl := newClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	answers := make(chan *Command, 8)
	for range 3 {
		invokeAsync(t, cl, s.Addr(), "hold", 0, answers)
	}
	var ks []kept
	for range 3 {
		ks = append(ks, <-held)
	}
	resp, err := cl.Invoke(ctx, s.Addr(), NewRequest(testCode, "v", "x"))
	if err != nil || resp.Code != SystemBusy || !strings.Contains(resp.Remark, "serverChannelMaxInflightRequests") {
		t.Fatalf("fourth request: %v %+v, want SYSTEM_BUSY naming the limit", err, resp)
	}
	if err := ks[0].c.Answer(ks[0].req, NewResponse(ks[0].req, Success, "")); err != nil {
		t.Fatal(err)
	}
	<-answers
	if resp, err := cl.Invoke(ctx, s.Addr(), NewRequest(testCode, "v", "x")); err != nil || resp.Code != Success {
		t.Fatalf("after one answer: %v %+v", err, resp)
	}
	for _, k := range ks[1:] {
		_ = k.c.Answer(k.req, NewResponse(k.req, Success, ""))
		<-answers
	}
}

// TestRequestBytesLimit: small requests waiting for a worker count against
// QueueBytes while they wait; beyond it they are answered SYSTEM_BUSY
// naming the limit.
func TestRequestBytesLimit(t *testing.T) {
	entered, unblock := make(chan struct{}), make(chan struct{})
	s := startServer(t, ServerConfig{Workers: 1, Limits: Limits{QueueBytes: 100 << 10}}, func(s *Server) {
		s.Handle(testCode, func(_ *Conn, req *Command) *Command {
			if req.ExtValue("v") == "block" {
				entered <- struct{}{}
				<-unblock
			}
			return NewResponse(req, Success, "")
		})
	})
	cl := newClient(t)
	answers := make(chan *Command, 4)
	send := func(v string) { invokeAsync(t, cl, s.Addr(), v, 40<<10, answers) }
	send("block")
	<-entered // the only worker is busy; its request has left the queue
	send("a")
	send("b")
	send("c") // 120 KiB waiting: one too many
	if r := <-answers; r.Code != SystemBusy || !strings.Contains(r.Remark, "serverWorkerQueueMaxBytes") {
		t.Fatalf("first answer %+v, want SYSTEM_BUSY naming the limit", r)
	}
	close(unblock)
	for range 3 {
		if r := <-answers; r.Code != Success {
			t.Fatalf("answer %+v", r)
		}
	}
}

// TestLargeRequestsWaitForRoom: a large request counts against QueueBytes
// from its first byte until it is answered; one that does not fit is not
// read until it does, and is then served.
func TestLargeRequestsWaitForRoom(t *testing.T) {
	type kept struct {
		c   *Conn
		req *Command
	}
	held := make(chan kept, 2)
	s := startServer(t, ServerConfig{Limits: Limits{QueueBytes: 300 << 10}}, func(s *Server) {
		s.Handle(testCode, func(c *Conn, req *Command) *Command {
			held <- kept{c, req}
			return req.Later()
		})
	})
	cl := newClient(t)
	answers := make(chan *Command, 2)
	send := func(v string) { invokeAsync(t, cl, s.Addr(), v, 200<<10, answers) }
	send("first")
	k := <-held
	if got := s.held.Load(); got < 200<<10 {
		t.Fatalf("a kept 200 KiB request holds %d bytes", got)
	}
	send("second") // does not fit beside the first
	waitFor(t, "the second request to wait", func() bool { return s.waits.Load() > 0 })
	select {
	case k2 := <-held:
		t.Fatalf("request %q was read while the first held the room", k2.req.ExtValue("v"))
	default:
	}
	resp := NewResponse(k.req, Success, "")
	resp.SetExt("v", "first")
	if err := k.c.Answer(k.req, resp); err != nil {
		t.Fatal(err)
	}
	if r := <-answers; r.ExtValue("v") != "first" {
		t.Fatalf("answer %+v, want the first", r)
	}
	k2 := <-held // read now that there is room
	resp = NewResponse(k2.req, Success, "")
	resp.SetExt("v", "second")
	_ = k2.c.Answer(k2.req, resp)
	if r := <-answers; r.ExtValue("v") != "second" {
		t.Fatalf("answer %+v, want the second", r)
	}
	// The room is given back once the answer is written, which the
	// client may see first.
	waitFor(t, "the held bytes to be given back", func() bool { return s.held.Load() == 0 })
}

// TestBigFramesArriveInPieces: requests larger than the pooled buffers,
// arriving a few bytes at a time or together with small ones, are decoded
// whole.
func TestBigFramesArriveInPieces(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.HandleInline(testCode, func(_ *Conn, req *Command) *Command { // answers in order
			resp := NewResponse(req, Success, "")
			resp.SetExt("remarkLen", strconv.Itoa(len(req.Remark)))
			resp.SetExt("sum", strconv.Itoa(sum(req.Body)))
			resp.SetExt("v", req.ExtValue("v"))
			return resp
		})
	})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	big := NewRequest(testCode, "v", "big")
	big.Remark = strings.Repeat("r", 3<<20)
	big.Body = make([]byte, 5<<20)
	for i := range big.Body {
		big.Body[i] = byte(i * 7)
	}
	small := NewRequest(testCode, "v", "small")
	var stream []byte
	for _, r := range []*Command{small, big, small, big, small} {
		stream = r.Encode(stream)
	}
	go func() {
		for i, step := 0, 1; len(stream) > 0; i++ { // 1, 2, 4 … 64 KiB pieces, then again
			n := min(len(stream), step)
			if _, err := nc.Write(stream[:n]); err != nil {
				t.Error(err)
				return
			}
			stream = stream[n:]
			if step *= 2; step > 64<<10 {
				step = 1
			}
		}
	}()
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, want := range []string{"small", "big", "small", "big", "small"} {
		cc := &clientConn{cl: &Client{maxFrame: DefaultMaxFrameSize}}
		resp, err := cc.readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExtValue("v") != want {
			t.Fatalf("answer for %q, want %q", resp.ExtValue("v"), want)
		}
		if want == "big" && (resp.ExtValue("remarkLen") != strconv.Itoa(3<<20) || resp.ExtValue("sum") != strconv.Itoa(sum(big.Body))) {
			t.Fatalf("big request arrived damaged: %+v", resp.Fields())
		}
	}
}

func sum(b []byte) int {
	n := 0
	for _, x := range b {
		n += int(x)
	}
	return n
}

// TestServerClosesIdleConnections: a connection silent for IdleTimeout is
// closed; one that talked meanwhile is not.
func TestServerClosesIdleConnections(t *testing.T) {
	clk := newFakeClock()
	var busyID atomic.Uint64
	s := startServer(t, ServerConfig{IdleTimeout: time.Hour}, func(s *Server) {
		s.now = clk.Now
		s.Handle(HeartBeat, func(c *Conn, req *Command) *Command {
			busyID.Store(c.ID())
			return NewResponse(req, Success, "")
		})
	})
	count := func() (n int) {
		s.conns.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy := newClient(t)
	beat := func() {
		t.Helper()
		if _, err := busy.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(HeartBeat)); err != nil {
			t.Fatal(err)
		}
	}
	beat()
	waitFor(t, "two connections", func() bool { return count() == 2 })
	first := busyID.Load()
	clk.Advance(40 * time.Minute)
	beat()
	clk.Advance(21 * time.Minute) // the idle one: 61 min; the busy one: 21 min
	s.closeIdle(clk.Now())
	_ = idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d, %v; want it closed", n, err)
	}
	beat()
	if busyID.Load() != first || count() != 1 {
		t.Fatalf("the busy connection was closed (ids %d, %d; %d open)", first, busyID.Load(), count())
	}
}

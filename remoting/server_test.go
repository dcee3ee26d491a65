package remoting

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testCode = 9000

// testLogger sends log lines to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func startServer(t testing.TB, cfg ServerConfig, setup func(s *Server)) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.Log == nil {
		if _, ok := t.(*testing.B); !ok {
			cfg.Log = testLogger(t)
		}
	}
	s := NewServer(cfg)
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClient(t testing.TB) *Client {
	var log *slog.Logger
	if _, ok := t.(*testing.B); !ok {
		log = testLogger(t)
	}
	c := NewClient(ClientConfig{Log: log})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func echo(_ *Conn, req *Command) *Command {
	resp := NewResponse(req, Success, "")
	resp.SetExt("echo", req.ExtValue("v"))
	resp.Body = req.Body
	return resp
}

func TestServerStartLogsAddr(t *testing.T) {
	var buf syncBuffer
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Name: "namesrv", Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.HasSuffix(s.Addr(), ":0") || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q", s.Addr())
	}
	line := buf.String()
	if !strings.Contains(line, "msg=listening") || !strings.Contains(line, "service=namesrv") || !strings.Contains(line, "addr="+s.Addr()) {
		t.Fatalf("log line %q", line)
	}
	if err := NewServer(ServerConfig{Addr: s.Addr()}).Start(); err == nil {
		t.Fatal("second server on the same address started")
	}
}

// TestServerStartPortInUse starts a server on an address another socket
// holds: the error names the address and the reason, with and without TLS
// (gnet used to report "setsockopt: bad file descriptor").
func TestServerStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	pki := tlsFixture(t)
	for _, tc := range []struct {
		name string
		tls  *ServerTLS
	}{{"plain", nil}, {"permissive", serverTLS(t, pki, "permissive", "none")}} {
		s := NewServer(ServerConfig{Addr: addr, Name: "test", Log: testLogger(t), TLS: tc.tls})
		err := s.Start()
		if err == nil {
			s.Close()
			t.Fatalf("%s: a server started on %s, which a listener holds", tc.name, addr)
		}
		if want := "listen " + addr + ": address already in use"; err.Error() != want {
			t.Errorf("%s: error %q, want %q", tc.name, err, want)
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("%s: error %q is not EADDRINUSE", tc.name, err)
		}
	}
	// The address is free again: the failed starts left nothing bound.
	ln.Close()
	s := startServer(t, ServerConfig{Addr: addr}, nil)
	if s.Addr() != addr {
		t.Fatalf("Addr() = %s, want %s", s.Addr(), addr)
	}
}

// TestServerKeepAlive checks that the listening socket, and so every
// connection it accepts, has TCP keep-alive on (set at boot, not by gnet).
func TestServerKeepAlive(t *testing.T) {
	s := startServer(t, ServerConfig{}, nil)
	fd, err := s.engine.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 60},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 12},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5},
	} {
		if v, err := unix.GetsockoptInt(fd, o.level, o.opt); err != nil || v != o.want {
			t.Errorf("%s = %d (%v), want %d", o.name, v, err, o.want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServerEcho(t *testing.T) {
	for _, typ := range []byte{SerializeJSON, SerializeRocketMQ} {
		s := startServer(t, ServerConfig{}, func(s *Server) { s.Handle(testCode, echo) })
		c := newClient(t)
		req := NewRequest(testCode, "v", "hello")
		req.SerializeType = typ
		req.Body = []byte("body")
		resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != Success || resp.ExtValue("echo") != "hello" || string(resp.Body) != "body" ||
			resp.Opaque != req.Opaque || !resp.IsResponse() || resp.SerializeType != typ {
			t.Fatalf("type %d: response %+v", typ, resp)
		}
	}
}

// TestServerOutOfOrder: a held request does not delay a later one on the
// same connection.
func TestServerOutOfOrder(t *testing.T) {
	held := make(chan func(), 1)
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(PullMessage, func(c *Conn, req *Command) *Command {
			held <- func() { _ = c.Answer(req, NewResponse(req, Success, "late")) }
			return req.Later() // long poll
		})
		s.Handle(SendMessage, echo)
	})
	c := newClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	pull := make(chan *Command, 1)
	err := c.InvokeAsync(ctx, s.Addr(), NewRequest(PullMessage), func(resp *Command, err error) {
		if err != nil {
			t.Error(err)
		}
		pull <- resp
	})
	if err != nil {
		t.Fatal(err)
	}
	release := <-held
	resp, err := c.Invoke(ctx, s.Addr(), NewRequest(SendMessage, "v", "x"))
	if err != nil || resp.ExtValue("echo") != "x" {
		t.Fatalf("send behind a held pull: %v %+v", err, resp)
	}
	select {
	case r := <-pull:
		t.Fatalf("pull answered before release: %+v", r)
	default:
	}
	release()
	if r := <-pull; r == nil || r.Remark != "late" {
		t.Fatalf("pull response %+v", r)
	}
}

func TestServerUnknownCode(t *testing.T) {
	s := startServer(t, ServerConfig{}, nil)
	resp, err := newClient(t).Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(9999))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RequestCodeNotSupported || resp.Remark != "request code 9999 is not supported" {
		t.Fatalf("response %+v", resp)
	}
}

func TestServerHandlerPanic(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(testCode, func(*Conn, *Command) *Command { panic("boom") })
		s.Handle(SendMessage, echo)
	})
	c := newClient(t)
	ctx := ctxTimeout(t, 5*time.Second)
	resp, err := c.Invoke(ctx, s.Addr(), NewRequest(testCode))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != SystemError || !strings.Contains(resp.Remark, "boom") {
		t.Fatalf("response %+v", resp)
	}
	if resp, err := c.Invoke(ctx, s.Addr(), NewRequest(SendMessage, "v", "after")); err != nil || resp.ExtValue("echo") != "after" {
		t.Fatalf("after panic: %v %+v", err, resp)
	}
}

func TestServerBusy(t *testing.T) {
	entered, unblock := make(chan struct{}), make(chan struct{})
	s := startServer(t, ServerConfig{Workers: 1, QueueSize: 1}, func(s *Server) {
		s.Handle(testCode, func(_ *Conn, req *Command) *Command {
			if req.ExtValue("v") == "block" {
				entered <- struct{}{}
				<-unblock
			}
			return echo(nil, req)
		})
	})
	c := newClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	results := make(chan *Command, 3)
	send := func(v string) {
		err := c.InvokeAsync(ctx, s.Addr(), NewRequest(testCode, "v", v), func(r *Command, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	send("block")
	<-entered // the only worker is busy
	send("queued")
	send("rejected")
	r := <-results
	if r.Code != SystemBusy || !strings.Contains(r.Remark, "busy") {
		t.Fatalf("first answer %+v, want SYSTEM_BUSY", r)
	}
	close(unblock)
	for range 2 {
		if r := <-results; r.Code != Success {
			t.Fatalf("answer %+v", r)
		}
	}
}

// rawFrame sends b on a fresh connection and reports whether the server
// closed it.
func expectClosed(t *testing.T, addr string, b []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, nc)
	if err != nil {
		t.Fatalf("want the server to close the connection, got %v", err)
	}
	if n != 0 {
		t.Fatalf("server answered %d bytes to a bad frame", n)
	}
}

func TestServerBadFramesCloseOnlyThatConnection(t *testing.T) {
	s := startServer(t, ServerConfig{MaxFrameSize: 1 << 16}, func(s *Server) { s.Handle(testCode, echo) })
	c := newClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := c.Invoke(ctx, s.Addr(), NewRequest(testCode)); err != nil {
		t.Fatal(err)
	}
	tooBig := binary.BigEndian.AppendUint32(nil, 1<<16)
	tooBig = binary.BigEndian.AppendUint32(tooBig, 10)
	badType := (&Command{}).Encode(nil)
	badType[4] = 7
	cases := map[string][]byte{
		"oversized":      tooBig,
		"bad type":       badType,
		"malformed json": jsonFrame(`{"code":`, ""),
		"header past end": append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 100),
			0, 0, 0, 0),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) { expectClosed(t, s.Addr(), frame) })
	}
	// The client's connection carries on.
	big := NewRequest(testCode, "v", "still here")
	big.Body = make([]byte, 60<<10)
	if resp, err := c.Invoke(ctx, s.Addr(), big); err != nil || resp.ExtValue("echo") != "still here" || len(resp.Body) != 60<<10 {
		t.Fatalf("after bad frames: %v %+v", err, resp)
	}
}

func TestConnInvokeAndOneway(t *testing.T) {
	conns := make(chan *Conn, 1)
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(HeartBeat, func(c *Conn, req *Command) *Command {
			c.SetValue("client-1")
			conns <- c
			return NewResponse(req, Success, "")
		})
	})
	c := newClient(t)
	oneway := make(chan *Command, 1)
	c.Handle(GetConsumerRunningInfo, func(addr string, req *Command) *Command {
		if addr != s.Addr() {
			t.Errorf("handler addr %q", addr)
		}
		resp := NewResponse(req, Success, "")
		resp.Body = []byte(`{"running":true}`)
		return resp
	})
	c.Handle(NotifyConsumerIdsChanged, func(_ string, req *Command) *Command {
		oneway <- req
		return NewResponse(req, Success, "must not be sent")
	})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := c.Invoke(ctx, s.Addr(), NewRequest(HeartBeat)); err != nil {
		t.Fatal(err)
	}
	conn := <-conns
	if conn.Value() != "client-1" || conn.ID() == 0 || !strings.HasPrefix(conn.RemoteAddr(), "127.0.0.1:") {
		t.Fatalf("conn %d %q %v", conn.ID(), conn.RemoteAddr(), conn.Value())
	}
	resp, err := conn.Invoke(ctx, NewRequest(GetConsumerRunningInfo, "consumerGroup", "g"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"running":true}` {
		t.Fatalf("response %+v", resp)
	}
	resp, err = conn.Invoke(ctx, NewRequest(12345))
	if err != nil || resp.Code != RequestCodeNotSupported {
		t.Fatalf("unknown code to client: %v %+v", err, resp)
	}
	if err := conn.Oneway(NewRequest(NotifyConsumerIdsChanged, "consumerGroup", "g")); err != nil {
		t.Fatal(err)
	}
	if req := <-oneway; !req.IsOneway() || req.ExtValue("consumerGroup") != "g" {
		t.Fatalf("oneway request %+v", req)
	}
	// A handler's answer to a oneway request is not sent: the next Invoke's
	// answer is the next frame the server sees, matched by opaque.
	if _, err := conn.Invoke(ctx, NewRequest(GetConsumerRunningInfo)); err != nil {
		t.Fatal(err)
	}
	// Invoke times out when the client does not answer.
	c.Handle(CheckTransactionState, func(string, *Command) *Command { return nil })
	_, err = conn.Invoke(ctxTimeout(t, 50*time.Millisecond), NewRequest(CheckTransactionState))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("unanswered invoke: %v", err)
	}
}

// TestConnInvokeAsync: the callback gets the client's answer, ErrTimeout
// when the client does not answer, ErrClosed when the connection closes
// first, and runs once in each case.
func TestConnInvokeAsync(t *testing.T) {
	conns := make(chan *Conn, 1)
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(HeartBeat, func(c *Conn, req *Command) *Command {
			conns <- c
			return NewResponse(req, Success, "")
		})
	})
	c := newClient(t)
	c.Handle(GetConsumerRunningInfo, func(_ string, req *Command) *Command {
		resp := NewResponse(req, Success, "")
		resp.Body = []byte("running")
		return resp
	})
	c.Handle(CheckTransactionState, func(string, *Command) *Command { return nil }) // never answers
	if _, err := c.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(HeartBeat)); err != nil {
		t.Fatal(err)
	}
	conn := <-conns
	type result struct {
		resp *Command
		err  error
	}
	invoke := func(code int32, timeout time.Duration) chan result {
		t.Helper()
		out := make(chan result, 2) // a second call would show as a second result
		if err := conn.InvokeAsync(NewRequest(code), timeout, func(resp *Command, err error) { out <- result{resp, err} }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	answered, unanswered, cut := invoke(GetConsumerRunningInfo, time.Minute), invoke(CheckTransactionState, 50*time.Millisecond), invoke(CheckTransactionState, time.Minute)
	if r := <-answered; r.err != nil || string(r.resp.Body) != "running" {
		t.Fatalf("answered: %+v", r)
	}
	if r := <-unanswered; !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("unanswered: %+v, want ErrTimeout", r)
	}
	_ = c.Close() // the client goes away with a request outstanding
	if r := <-cut; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("connection closed: %+v, want ErrClosed", r)
	}
	if err := conn.InvokeAsync(NewRequest(GetConsumerRunningInfo), time.Minute, func(*Command, error) { t.Error("callback after a failed InvokeAsync") }); !errors.Is(err, ErrClosed) {
		t.Fatalf("InvokeAsync on a closed connection: %v", err)
	}
	for name, ch := range map[string]chan result{"answered": answered, "unanswered": unanswered, "cut": cut} {
		select {
		case r := <-ch:
			t.Errorf("%s: a second callback %+v", name, r)
		default:
		}
	}
}

func TestConnWriteBodyAndClose(t *testing.T) {
	var dones atomic.Int32
	closed := make(chan *Conn, 1)
	var held atomic.Pointer[Conn]
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(PullMessage, func(c *Conn, req *Command) *Command {
			resp := NewResponse(req, Success, "")
			resp.SetExt("nextBeginOffset", "3")
			parts := [][]byte{[]byte("one,"), nil, []byte("two,"), bytes.Repeat([]byte("x"), 100<<10)}
			if err := c.AnswerBody(req, resp, parts, func() { dones.Add(1) }); err != nil {
				t.Error(err)
			}
			return req.Answered()
		})
		s.Handle(HeartBeat, func(c *Conn, req *Command) *Command {
			held.Store(c)
			return NewResponse(req, Success, "")
		})
		s.OnClose(func(c *Conn) { closed <- c })
	})
	c := newClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	resp, err := c.Invoke(ctx, s.Addr(), NewRequest(PullMessage))
	if err != nil {
		t.Fatal(err)
	}
	want := "one,two," + strings.Repeat("x", 100<<10)
	if string(resp.Body) != want || resp.ExtValue("nextBeginOffset") != "3" {
		t.Fatalf("body of %d bytes, ext %v", len(resp.Body), resp.Fields())
	}
	if _, err := c.Invoke(ctx, s.Addr(), NewRequest(HeartBeat)); err != nil {
		t.Fatal(err)
	}
	if n := dones.Load(); n != 1 {
		t.Fatalf("done ran %d times", n)
	}
	c.CloseAddr(s.Addr())
	conn := <-closed
	if conn != held.Load() {
		t.Fatal("OnClose got another connection")
	}
	if err := conn.Write(NewRequest(HeartBeat)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	var late atomic.Int32
	if err := conn.WriteBody(NewRequest(PullMessage), [][]byte{[]byte("x")}, func() { late.Add(1) }); !errors.Is(err, ErrClosed) || late.Load() != 1 {
		t.Fatalf("WriteBody after close: %v, done ran %d times", err, late.Load())
	}
	if _, err := conn.Invoke(ctx, NewRequest(HeartBeat)); !errors.Is(err, ErrClosed) {
		t.Fatalf("invoke after close: %v", err)
	}
}

// TestServerCloseReleasesEverything: pending bodies run done, handlers
// see ErrClosed, Close returns.
func TestServerCloseReleasesEverything(t *testing.T) {
	conns := make(chan *Conn, 1)
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Log: testLogger(t)})
	s.Handle(PullMessage, func(c *Conn, req *Command) *Command {
		conns <- c
		return req.Later()
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	errs := make(chan error, 1)
	if err := c.InvokeAsync(context.Background(), s.Addr(), NewRequest(PullMessage), func(_ *Command, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	conn := <-conns
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending request after server close: %v", err)
	}
	var dones atomic.Int32
	if err := conn.WriteBody(NewResponse(NewRequest(PullMessage), Success, ""), [][]byte{[]byte("x")}, func() { dones.Add(1) }); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBody after server close: %v", err)
	}
	if dones.Load() != 1 {
		t.Fatalf("done ran %d times", dones.Load())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestServerManyInFlight: answers out of order, matched by opaque, from many
// goroutines at once.
func TestServerManyInFlight(t *testing.T) {
	s := startServer(t, ServerConfig{Workers: 8}, func(s *Server) {
		s.Handle(testCode, func(c *Conn, req *Command) *Command {
			if req.ExtValue("v")[0]%2 == 0 {
				go func() { // answer later, from elsewhere
					_ = c.Answer(req, echo(c, req))
				}()
				return req.Later()
			}
			return echo(c, req)
		})
	})
	c := newClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := string(rune('a'+g)) + strings.Repeat("z", i%7)
				resp, err := c.Invoke(ctx, s.Addr(), NewRequest(testCode, "v", v))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.ExtValue("echo") != v {
					t.Errorf("sent %q, echo %q", v, resp.ExtValue("echo"))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestConnCloseFlushesFirst: a response written just before Close still
// reaches the client.
func TestConnCloseFlushesFirst(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(UnregisterClient, func(c *Conn, req *Command) *Command {
			resp := NewResponse(req, Success, "bye")
			resp.Body = make([]byte, 200<<10)
			if err := c.Answer(req, resp); err != nil {
				t.Error(err)
			}
			c.Close()
			c.Close()
			return req.Answered()
		})
	})
	c := newClient(t)
	for range 20 {
		resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(UnregisterClient))
		if err != nil || resp.Remark != "bye" || len(resp.Body) != 200<<10 {
			t.Fatalf("response before close: %v %+v", err, resp)
		}
		c.CloseAddr(s.Addr()) // do not race the server's close with the next request
	}
}

package remoting

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientTimeout(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(PullMessage, func(_ *Conn, req *Command) *Command { return req.Later() }) // never answers
		s.Handle(testCode, echo)
	})
	c := newClient(t)
	start := time.Now()
	_, err := c.Invoke(ctxTimeout(t, 50*time.Millisecond), s.Addr(), NewRequest(PullMessage))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	errs := make(chan error, 1)
	err = c.InvokeAsync(ctxTimeout(t, 50*time.Millisecond), s.Addr(), NewRequest(PullMessage), func(r *Command, err error) {
		if r != nil {
			t.Errorf("response %+v", r)
		}
		errs <- err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrTimeout) {
		t.Fatalf("InvokeAsync: %v, want ErrTimeout", err)
	}

	// Cancellation is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	err = c.InvokeAsync(ctx, s.Addr(), NewRequest(PullMessage), func(_ *Command, err error) { errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled InvokeAsync: %v", err)
	}

	// The connection is still good.
	if resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(testCode, "v", "ok")); err != nil || resp.ExtValue("echo") != "ok" {
		t.Fatalf("after timeouts: %v %+v", err, resp)
	}
}

func TestClientReconnectAfterServerRestart(t *testing.T) {
	handlers := func(s *Server) { s.Handle(testCode, echo) }
	s := startServer(t, ServerConfig{}, handlers)
	addr := s.Addr()
	c := newClient(t)
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := c.Invoke(ctx, addr, NewRequest(testCode)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The old connection is dead: requests fail rather than hang.
	for {
		_, err := c.Invoke(ctx, addr, NewRequest(testCode))
		if err == nil {
			continue // raced the close; try again
		}
		if errors.Is(err, ErrTimeout) {
			t.Fatalf("Invoke on a dead server: %v", err)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Fatalf("error %q does not name the address", err)
		}
		break
	}
	startServer(t, ServerConfig{Addr: addr}, handlers)
	for {
		resp, err := c.Invoke(ctx, addr, NewRequest(testCode, "v", "back"))
		if err == nil {
			if resp.ExtValue("echo") != "back" {
				t.Fatalf("response %+v", resp)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no reconnect: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll: the server may still be binding
	}
}

func TestClientDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newClient(t)
	_, err = c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(testCode))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dial error %v does not name %s", err, addr)
	}
	if err := c.InvokeOneway(addr, NewRequest(testCode)); err == nil {
		t.Fatal("oneway to nowhere succeeded")
	}
}

func TestClientPendingFailOnDrop(t *testing.T) {
	got := make(chan *Conn, 1)
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(PullMessage, func(c *Conn, req *Command) *Command {
			got <- c
			return req.Later()
		})
	})
	c := newClient(t)
	errs := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), s.Addr(), NewRequest(PullMessage))
		errs <- err
	}()
	(<-got).Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Invoke after the server dropped the connection: %v", err)
	}
}

func TestClientOnewayAndClose(t *testing.T) {
	seen := make(chan *Command, 1)
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.Handle(UpdateConsumerOffset, func(_ *Conn, req *Command) *Command {
			seen <- req
			return NewResponse(req, Success, "") // dropped: the request is oneway
		})
		s.Handle(testCode, echo)
	})
	c := NewClient(ClientConfig{Log: testLogger(t)})
	if err := c.InvokeOneway(s.Addr(), NewRequest(UpdateConsumerOffset, "commitOffset", "7")); err != nil {
		t.Fatal(err)
	}
	req := <-seen
	if !req.IsOneway() || req.ExtValue("commitOffset") != "7" || req.Language != "GO" || req.Version != Version {
		t.Fatalf("request %+v", req)
	}
	if _, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(testCode)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(context.Background(), s.Addr(), NewRequest(testCode)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Invoke after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClientLargeFrames(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) { s.Handle(testCode, echo) })
	c := newClient(t)
	req := NewRequest(testCode, "v", "big")
	req.Body = make([]byte, 3<<20)
	for i := range req.Body {
		req.Body[i] = byte(i * 7)
	}
	resp, err := c.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), req)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != string(req.Body) {
		t.Fatal("3 MiB body came back different")
	}

	small := NewClient(ClientConfig{MaxFrameSize: 1 << 20, Log: testLogger(t)})
	defer small.Close()
	_, err = small.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), req)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("response over the client's frame limit: %v", err)
	}
}

func TestClientAsyncMany(t *testing.T) {
	s := startServer(t, ServerConfig{}, func(s *Server) { s.Handle(testCode, echo) })
	c := newClient(t)
	const n = 2000
	var ok atomic.Int32
	done := make(chan struct{})
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range n {
		v := strings.Repeat("v", i%50)
		err := c.InvokeAsync(ctx, s.Addr(), NewRequest(testCode, "v", v), func(r *Command, err error) {
			if err != nil || r.ExtValue("echo") != v {
				t.Errorf("async %d: %v", i, err)
			}
			if ok.Add(1) == n {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

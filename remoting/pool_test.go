package remoting

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// A recycled request shows nothing of the one before it.
func TestDecodeRequestRecycledIsClean(t *testing.T) {
	for _, typ := range []byte{SerializeJSON, SerializeRocketMQ} {
		big := NewRequest(testCode, "a", "1", "b", "2", "c", "3")
		big.Remark = "remark"
		big.Body = bytes.Repeat([]byte("x"), 1000)
		big.SerializeType = typ
		small := NewRequest(testCode+1, "z", "9")
		small.SerializeType = typ
		for range 50 { // the pool may drop entries; try until one is reused
			c, err := decodeRequest(big.Encode(nil))
			if err != nil {
				t.Fatal(err)
			}
			sameCommand(t, c, big)
			c.release()
			d, err := decodeRequest(small.Encode(nil))
			if err != nil {
				t.Fatal(err)
			}
			sameCommand(t, d, small)
			if d.Remark != "" || d.Body != nil || len(d.Fields()) != 1 {
				t.Fatalf("recycled request kept old state: remark %q, body %d bytes, fields %v", d.Remark, len(d.Body), d.Fields())
			}
			d.release()
		}
	}
}

// A request whose decode fails is released and the error reported.
func TestDecodeRequestBadFrame(t *testing.T) {
	if _, err := decodeRequest(jsonFrame(`{"code":`, "")); err == nil {
		t.Fatal("decoded a broken header")
	}
	if _, err := decodeRequest([]byte{0, 0, 0, 9, 0, 0}); err == nil {
		t.Fatal("decoded a short frame")
	}
}

// Kept requests of a scoped handler survive the requests that come after
// them; requests of a plain handler are never recycled.
func TestServerScopedHandlerKeep(t *testing.T) {
	type parked struct {
		c   *Conn
		req *Command
		v   string // what the request said when it arrived
	}
	var mu sync.Mutex
	var held []parked
	s := startServer(t, ServerConfig{}, func(s *Server) {
		s.HandleScoped(testCode, func(c *Conn, req *Command) *Command {
			if req.ExtValue("park") == "1" {
				mu.Lock()
				held = append(held, parked{c, req, strings.Clone(req.ExtValue("v"))})
				mu.Unlock()
				return req.Later()
			}
			return echo(c, req)
		})
		s.Handle(testCode+1, echo)
	})
	cl := newClient(t)
	ctx := ctxTimeout(t, 10*time.Second)
	var parkedResp sync.WaitGroup
	for i := range 10 {
		parkedResp.Add(1)
		v := fmt.Sprintf("parked-%d", i)
		req := NewRequest(testCode, "park", "1", "v", v)
		req.Body = []byte(v)
		go func() {
			defer parkedResp.Done()
			resp, err := cl.Invoke(ctx, s.Addr(), req)
			if err != nil {
				t.Error(err)
				return
			}
			if got := resp.ExtValue("echo"); got != v || string(resp.Body) != v {
				t.Errorf("parked request answered with echo %q body %q, want %q", got, resp.Body, v)
			}
		}()
	}
	// Wait until all ten are parked, then churn the pool.
	for {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n == 10 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("requests were not parked")
		case <-time.After(time.Millisecond):
		}
	}
	for i := range 200 {
		v := strings.Repeat("y", i)
		code := int32(testCode + i%2)
		req := NewRequest(code, "v", v)
		req.Body = []byte(v)
		resp, err := cl.Invoke(ctx, s.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExtValue("echo") != v || string(resp.Body) != v {
			t.Fatalf("request %d: echo %q body %q, want %q", i, resp.ExtValue("echo"), resp.Body, v)
		}
	}
	mu.Lock()
	for _, p := range held {
		if p.req.ExtValue("v") != p.v || string(p.req.Body) != p.v {
			t.Errorf("kept request changed: v %q body %q, want %q", p.req.ExtValue("v"), p.req.Body, p.v)
		}
		if err := p.c.Answer(p.req, echo(p.c, p.req)); err != nil {
			t.Error(err)
		}
	}
	mu.Unlock()
	parkedResp.Wait()
}

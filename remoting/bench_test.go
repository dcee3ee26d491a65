package remoting

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkLoopbackSend sends SEND_MESSAGE_V2-shaped requests with a 1 KiB
// body through a Client to a Server on 127.0.0.1 whose handler answers at
// once, keeping 1 or 64 requests in flight.
func BenchmarkLoopbackSend(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			s := startServer(b, ServerConfig{}, handleSendV2)
			benchInvoke(b, newClient(b), s.Addr(), inflight)
		})
	}
}

// BenchmarkLoopbackTLS is BenchmarkLoopbackSend through a server with TLS
// disabled (gnet owns the port), a permissive one reached by a plain client
// (a Go listener hands the connection to gnet) and by a TLS client (bridged
// through a socketpair).
func BenchmarkLoopbackTLS(b *testing.B) {
	pki := tlsFixture(b)
	for _, tc := range []struct {
		name, mode string
		tls        bool
	}{
		{"disabled/plain", "disabled", false},
		{"permissive/plain", "permissive", false},
		{"permissive/tls", "permissive", true},
	} {
		for _, inflight := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/inflight=%d", tc.name, inflight), func(b *testing.B) {
				s := startServer(b, ServerConfig{TLS: serverTLS(b, pki, tc.mode, "none")}, handleSendV2)
				c := newClient(b)
				if tc.tls {
					c = tlsClient(b, pki.CACert, "", "")
				}
				benchInvoke(b, c, s.Addr(), inflight)
			})
		}
	}
}

// BenchmarkTLSIdleConnMemory reports the heap and stack memory an idle
// connection that has made one request takes, plain and TLS. The clients
// are bare connections in the same process: their share (a net.Conn, and
// for TLS a tls.Conn with its peer's certificate, some KiB) is included.
func BenchmarkTLSIdleConnMemory(b *testing.B) {
	pki := tlsFixture(b)
	const conns = 200
	for _, useTLS := range []bool{false, true} {
		b.Run(fmt.Sprintf("tls=%v", useTLS), func(b *testing.B) {
			s := startServer(b, ServerConfig{TLS: serverTLS(b, pki, "permissive", "none")}, handleSendV2)
			frame := sendV2Request().Encode(nil)
			for range b.N {
				before := heapAndStacks()
				open := make([]net.Conn, 0, conns)
				for range conns {
					var nc net.Conn
					var err error
					if useTLS {
						nc, err = tls.Dial("tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true})
					} else {
						nc, err = net.Dial("tcp", s.Addr())
					}
					if err != nil {
						b.Fatal(err)
					}
					open = append(open, nc)
					if _, err := nc.Write(frame); err != nil {
						b.Fatal(err)
					}
					var head [4]byte
					if _, err := io.ReadFull(nc, head[:]); err != nil {
						b.Fatal(err)
					}
					if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(head[:]))); err != nil {
						b.Fatal(err)
					}
				}
				after := heapAndStacks()
				b.ReportMetric(float64(after-before)/conns, "B/conn")
				for _, nc := range open {
					nc.Close()
				}
			}
		})
	}
}

// heapAndStacks returns the bytes of live heap and goroutine stacks after
// a collection. The clients of a benchmark run in the same process: their
// share is in it too.
func heapAndStacks() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

func handleSendV2(s *Server) {
	s.Handle(SendMessageV2, func(_ *Conn, req *Command) *Command {
		resp := NewResponse(req, Success, "")
		resp.SetExt("msgId", "7F000001000051AF00000000000003E8")
		resp.SetExt("queueId", req.ExtValue("e"))
		resp.SetExt("queueOffset", "1000")
		return resp
	})
}

// benchInvoke sends SEND_MESSAGE_V2-shaped requests with a 1 KiB body to
// addr, keeping inflight of them in flight, and reports throughput and
// latency percentiles.
func benchInvoke(b *testing.B, c *Client, addr string, inflight int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Invoke(ctx, addr, sendV2Request()); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	slots := make(chan *Command, inflight)
	for range inflight {
		slots <- sendV2Request()
	}
	lat := make([]time.Duration, b.N)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if inflight == 1 {
		req := <-slots
		for i := range b.N {
			t0 := time.Now()
			resp, err := c.Invoke(ctx, addr, req)
			lat[i] = time.Since(t0)
			if err != nil || resp.Code != Success {
				b.Fatal(err, resp)
			}
		}
		slots <- req
	} else {
		for i := range b.N {
			req := <-slots
			t0 := time.Now()
			err := c.InvokeAsync(ctx, addr, req, func(resp *Command, err error) {
				lat[i] = time.Since(t0)
				if err != nil || resp.Code != Success {
					b.Error(err, resp)
				}
				slots <- req
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for range inflight { // wait for the last answers
		<-slots
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkLoopbackOpenLoop sends at a fixed 2000 requests/s (open loop:
// each request leaves at its scheduled time whatever happened to the ones
// before) through a Client to a Server whose inline handler answers at once,
// and reports the latency percentiles. This is where threads asleep between
// requests show: the event loops block in epoll_wait, and every wake-up of
// a goroutine goes through the scheduler (see internal/procs).
func BenchmarkLoopbackOpenLoop(b *testing.B) {
	const rate = 2000
	s := startServer(b, ServerConfig{}, func(s *Server) {
		s.HandleInline(SendMessageV2, func(_ *Conn, req *Command) *Command {
			return NewResponse(req, Success, "")
		})
	})
	c := newClient(b)
	addr := s.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Invoke(ctx, addr, sendV2Request()); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	done := make(chan struct{}, b.N)
	interval := time.Second / rate
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		t0 := time.Now()
		err := c.InvokeAsync(ctx, addr, sendV2Request(), func(resp *Command, err error) {
			lat[i] = time.Since(t0)
			if err != nil || resp.Code != Success {
				b.Error(err, resp)
			}
			done <- struct{}{}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		<-done
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(0.999), "p99.9-µs")
}

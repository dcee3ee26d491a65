package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSendAsync measures asynchronous send throughput of 1 KiB
// messages through a real namesrv and broker (ASYNC_MASTER, ASYNC_FLUSH),
// over the 4 queues of one broker connection, with a window of 1 and 256.
// ns/op is wall time per message; allocs/op and client-cpu-µs/op count
// this process only (the producer and its remoting client, responses
// included), not the broker.
func BenchmarkSendAsync(b *testing.B) {
	c := startCluster(b, 1)
	const topic = "Bench"
	c.createTopic(topic, 4)
	for _, inflight := range []int{1, 256} {
		for _, h := range []struct {
			name   string
			binary bool
		}{{"json", false}, {"binary", true}} {
			b.Run(fmt.Sprintf("inflight=%d/header=%s", inflight, h.name), func(b *testing.B) {
				benchSendAsync(b, c, topic, inflight, h.binary)
			})
		}
	}
}

func benchSendAsync(b *testing.B, c *cluster, topic string, inflight int, binary bool) {
	p := newTestProducer(b, c.nsAddrs, InFlight(inflight), BinaryHeaders(binary), SendTimeout(30*time.Second))
	ctx := context.Background()
	qs, err := p.Queues(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	msg := &Message{Body: make([]byte, 1024)}
	if _, err := p.SendTo(ctx, qs[0], msg); err != nil { // connect
		b.Fatal(err)
	}
	var done, failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	finished := make(chan struct{})
	n := int64(b.N)
	cb := func(_ SendResult, err error) {
		if err != nil && failed.Add(1) == 1 {
			errMu.Lock()
			firstErr = err
			errMu.Unlock()
		}
		if done.Add(1) == n {
			close(finished)
		}
	}
	b.SetBytes(int64(len(msg.Body)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		if err := p.SendAsync(ctx, qs[i%len(qs)], msg, cb); err != nil {
			b.Fatal(err)
		}
	}
	<-finished
	elapsed, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "client-cpu-µs/op")
	if f := failed.Load(); f > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		b.Fatalf("%d of %d sends failed, first: %v", f, b.N, firstErr)
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/namesrv"
	"github.com/rocketgo/rocketgo/remoting"
)

// instantBroker answers sends at once and stores nothing: what loadgen
// achieves against it is loadgen's own ceiling.
type instantBroker struct {
	srv    *remoting.Server
	rpc    *remoting.Client
	ns     string
	mu     sync.Mutex
	topics map[string]int32
	sent   int64
}

func startInstantBroker(tb testing.TB, ns string) *instantBroker {
	b := &instantBroker{ns: ns, topics: map[string]int32{}, rpc: remoting.NewClient(remoting.ClientConfig{})}
	b.srv = remoting.NewServer(remoting.ServerConfig{Addr: "127.0.0.1:0", Name: "instant", Log: slog.New(slog.DiscardHandler)})
	b.srv.Handle(remoting.UpdateAndCreateTopic, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		n, _ := req.Int32("writeQueueNums")
		b.mu.Lock()
		b.topics[req.ExtValue("topic")] = n
		b.mu.Unlock()
		if err := b.register(); err != nil {
			return remoting.Errorf(req, remoting.SystemError, "register: %v", err)
		}
		return remoting.NewResponse(req, remoting.Success, "")
	})
	var seq int64
	send := func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.Success, "")
		b.mu.Lock()
		seq++
		b.sent++
		s := seq
		b.mu.Unlock()
		resp.SetExt("msgId", fmt.Sprintf("7F000001000027%018X", s))
		resp.SetExt("queueId", req.ExtValue("e"))
		resp.SetExt("queueOffset", strconv.FormatInt(s, 10))
		return resp
	}
	b.srv.Handle(remoting.SendMessageV2, send)
	b.srv.Handle(remoting.SendMessage, send)
	b.srv.Handle(remoting.HeartBeat, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.Success, "")
	})
	if err := b.srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.srv.Close(); b.rpc.Close() })
	if err := b.register(); err != nil {
		tb.Fatal(err)
	}
	return b
}

func (b *instantBroker) register() error {
	table := map[string]any{}
	b.mu.Lock()
	for t, n := range b.topics {
		table[t] = map[string]any{"topicName": t, "readQueueNums": n, "writeQueueNums": n, "perm": 6}
	}
	b.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"topicConfigSerializeWrapper": map[string]any{
		"topicConfigTable": table, "dataVersion": map[string]any{"timestamp": time.Now().UnixNano(), "counter": len(table)}}})
	req := remoting.NewRequest(remoting.RegisterBroker, "brokerName", "instant", "brokerAddr", b.srv.Addr(), "clusterName", "C",
		"brokerId", "0", "haServerAddr", "", "bodyCrc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10))
	req.Body = body
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := b.rpc.Invoke(ctx, b.ns, req)
	if err == nil && resp.Code != remoting.Success {
		err = fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
	}
	return err
}

// BenchmarkLoadgenOverhead measures the highest rate loadgen generates
// against a broker that answers instantly: closed loop (as fast as a window
// of 1024 sends allows) and paced at 100 000 msg/s.
func BenchmarkLoadgenOverhead(b *testing.B) {
	ns := namesrv.New(namesrv.Config{Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err := ns.Start(); err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	startInstantBroker(b, ns.Addr())
	for _, rate := range []float64{0, 100_000} {
		b.Run(fmt.Sprintf("rate=%s", map[bool]string{true: "max", false: strconv.Itoa(int(rate))}[rate == 0]), func(b *testing.B) {
			w := loadgen.Workload{Topics: 1, QueuesPerTopic: 8, MessageSize: 1024, ProducersPerTopic: 2, Rate: rate,
				InFlight: 1024, BatchSize: 1, Duration: 3 * time.Second, Warmup: 500 * time.Millisecond, SendTimeout: 5 * time.Second}
			var achieved, p99 float64
			for b.Loop() {
				out, err := loadgen.Execute(context.Background(), loadgen.RunSpec{Namesrvs: []string{ns.Addr()}, Workload: w, Label: "overhead", Group: "instant"})
				if err != nil {
					b.Fatal(err)
				}
				achieved, p99 = out.Run.AchievedRate, float64(out.Run.Send.P99)
			}
			b.ReportMetric(achieved, "msg/s")
			b.ReportMetric(p99, "p99-µs")
		})
	}
}

package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

var binDir string

func TestMain(m *testing.M) { proctest.Main(m, &binDir) }

// group is one namesrv and a broker group of a master and one slave.
type group struct {
	master, slave       string
	masterPid, slavePid int
	rpc                 *remoting.Client
}

func startGroup(tb testing.TB, role string, masterArgs ...string) *group {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts real processes")
	}
	ns := proctest.Start(tb, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0").Addr("namesrv")
	common := []string{"-namesrvAddr", ns, "-brokerName", "bench-a", "-listenPort", "0", "-mappedFileSizeCommitLog", strconv.Itoa(1 << 30)}
	m := proctest.Start(tb, filepath.Join(binDir, "broker"), append(append(common,
		"-brokerRole", role, "-storePathRootDir", tb.TempDir(), "-haListenPort", "0"), masterArgs...)...)
	s := proctest.Start(tb, filepath.Join(binDir, "broker"), append(common,
		"-brokerRole", "SLAVE", "-brokerId", "1", "-storePathRootDir", tb.TempDir())...)
	g := &group{master: m.Addr("broker"), slave: s.Addr("broker"), masterPid: m.Pid(), slavePid: s.Pid(), rpc: remoting.NewClient(remoting.ClientConfig{})}
	tb.Cleanup(func() { g.rpc.Close() })
	g.call(tb, remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", "Bench", "readQueueNums", "4", "writeQueueNums", "4"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := g.call(tb, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
		if strings.Contains(string(resp.Body), `"haConnections":"1"`) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the slave did not connect: %s", resp.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g
}

// sendLoop sends the requests req makes (n counts from 0), each carrying
// a body of size bytes, to addr with inflight of them in flight, for the
// benchmark's iterations, and reports throughput and latency percentiles
// (µs).
func sendLoop(b *testing.B, rpc *remoting.Client, addr string, inflight, size int, req func(n int) *remoting.Command) {
	b.SetBytes(int64(size))
	rate, h := sendMany(b, rpc, addr, inflight, b.Loop, req)
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99.9)), "p99.9-µs")
}

// sendMany sends the requests req makes (n counts from 0) to addr while
// more() says so, with inflight of them in flight, and returns the rate
// answered and the latency histogram (µs). A failed send fails tb.
func sendMany(tb testing.TB, rpc *remoting.Client, addr string, inflight int, more func() bool, req func(n int) *remoting.Command) (float64, *hdrhistogram.Histogram) {
	tb.Helper()
	h := hdrhistogram.New(1, 60_000_000, 3)
	var mu sync.Mutex
	var failed int
	sem := make(chan struct{}, inflight)
	ctx := context.Background()
	start := time.Now()
	n := 0
	for more() {
		sem <- struct{}{}
		r := req(n)
		t0 := time.Now()
		err := rpc.InvokeAsync(ctx, addr, r, func(resp *remoting.Command, err error) {
			d := time.Since(t0)
			mu.Lock()
			h.RecordValue(d.Microseconds())
			if err != nil || resp.Code != remoting.Success {
				failed++
			}
			mu.Unlock()
			<-sem
		})
		if err != nil {
			tb.Fatal(err)
		}
		n++
	}
	for i := 0; i < inflight; i++ {
		sem <- struct{}{}
	}
	elapsed := time.Since(start)
	if failed > 0 {
		tb.Fatalf("%d of %d sends failed", failed, n)
	}
	return float64(n) / elapsed.Seconds(), h
}

// kib is the 1 KiB body the send benchmarks use.
func kib() []byte {
	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	return body
}

func (g *group) call(tb testing.TB, req *remoting.Command) *remoting.Command {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := g.rpc.Invoke(ctx, g.master, req)
	if err != nil || resp.Code != remoting.Success {
		tb.Fatalf("request %d: %v %+v", req.Code, err, resp)
	}
	return resp
}

func sendRequest(body []byte, queue int) *remoting.Command {
	req := remoting.NewRequest(remoting.SendMessageV2,
		"a", "PG_bench", "b", "Bench", "c", "TBW102", "d", "4", "e", strconv.Itoa(queue), "f", "0",
		"g", strconv.FormatInt(time.Now().UnixMilli(), 10), "h", "0", "i", "", "j", "0", "k", "false", "l", "16", "m", "false")
	req.Body = body
	return req
}

// BenchmarkReplicatedSend sends 1 KiB messages to a master with one slave,
// ASYNC_MASTER versus SYNC_MASTER, with 1 and 64 requests in flight, and
// reports throughput and latency percentiles (µs).
func BenchmarkReplicatedSend(b *testing.B) {
	for _, role := range []string{"ASYNC_MASTER", "SYNC_MASTER"} {
		for _, inflight := range []int{1, 64} {
			b.Run(fmt.Sprintf("role=%s/inflight=%d", role, inflight), func(b *testing.B) {
				g := startGroup(b, role)
				body := kib()
				sendLoop(b, g.rpc, g.master, inflight, len(body), func(n int) *remoting.Command { return sendRequest(body, n%4) })
			})
		}
	}
}

// BenchmarkMetricsOverhead: the send throughput of an ASYNC_MASTER (one
// slave, 1 KiB, 64 in flight) with metricsExporterType=DISABLE against
// PROM, both groups up at once and measured in alternating rounds of
// 50 000 sends (which goes first alternates too), so drift on a shared
// machine hits both alike; and the master's CPU per message in each
// round (/proc), which interference from other processes moves less.
// Issue 9 asks on/off >= 0.97 (median of the rounds). Run it with
//
//	go test ./bench -run '^$' -bench MetricsOverhead -benchtime 1x
func BenchmarkMetricsOverhead(b *testing.B) {
	const rounds, perRound = 10, 50_000
	off := startGroup(b, "ASYNC_MASTER", "-metricsExporterType", "DISABLE")
	on := startGroup(b, "ASYNC_MASTER", "-metricsExporterType", "PROM", "-metricsPromExporterPort", "0")
	body := kib()
	var offRates, onRates, ratios, offCPU, onCPU []float64
	for b.Loop() {
		for r := range rounds {
			// rate sends a round to g and returns msg/s and the master's CPU µs per message.
			rate := func(g *group) (float64, float64) {
				c0, _, err := loadgen.ProcUsage(g.masterPid)
				if err != nil {
					b.Fatal(err)
				}
				left := perRound
				v, _ := sendMany(b, g.rpc, g.master, 64, func() bool { left--; return left >= 0 },
					func(n int) *remoting.Command { return sendRequest(body, n%4) })
				c1, _, err := loadgen.ProcUsage(g.masterPid)
				if err != nil {
					b.Fatal(err)
				}
				return v, (c1 - c0) * 1e6 / perRound
			}
			var a, c, ac, cc float64
			if r%2 == 0 {
				a, ac = rate(off)
				c, cc = rate(on)
			} else {
				c, cc = rate(on)
				a, ac = rate(off)
			}
			offRates, onRates, ratios = append(offRates, a), append(onRates, c), append(ratios, c/a)
			offCPU, onCPU = append(offCPU, ac), append(onCPU, cc)
			b.Logf("round %d: off %.0f msg/s %.1f µs/msg, on %.0f msg/s %.1f µs/msg, on/off %.3f", r, a, ac, c, cc, c/a)
		}
	}
	b.ReportMetric(median(offRates), "off-msg/s")
	b.ReportMetric(median(onRates), "on-msg/s")
	b.ReportMetric(median(ratios), "on/off")
	b.ReportMetric(median(offCPU), "off-cpu-µs/msg")
	b.ReportMetric(median(onCPU), "on-cpu-µs/msg")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

// Issue 12's shape of load: 1 KiB bodies from a pipelining client over 4
// connections × 16 in flight; latency with one send in flight.
const (
	groupConns, groupPerConn = 4, 16
	groupRoundSends          = 60_000
	groupLatencySends        = 5_000
)

// groupMode is one of the three groups and what its rounds measured.
type groupMode struct {
	name                      string
	g                         *group
	rate, masterCPU, slaveCPU []float64 // per round: msg/s, CPU µs per message
	p50, p99                  []float64 // per round, one in flight (µs)
}

// threeGroups are three groups up at once, each a master and one slave:
// ASYNC_MASTER, SYNC_MASTER, and ASYNC_MASTER with SYNC_FLUSH.
type threeGroups struct {
	modes   []*groupMode
	clients []*remoting.Client
	body    []byte
}

func startThreeGroups(b *testing.B) *threeGroups {
	t := &threeGroups{body: kib(), modes: []*groupMode{
		{name: "async", g: startGroup(b, "ASYNC_MASTER")},
		{name: "sync", g: startGroup(b, "SYNC_MASTER")},
		{name: "syncflush", g: startGroup(b, "ASYNC_MASTER", "-flushDiskType", "SYNC_FLUSH")},
	}}
	for range groupConns {
		c := remoting.NewClient(remoting.ClientConfig{})
		b.Cleanup(func() { c.Close() })
		t.clients = append(t.clients, c)
	}
	return t
}

// round measures each group once, in an order that rotates with r so that
// drift on a shared machine hits all three alike: throughput and CPU per
// message under the pipelined load, then latency at one in flight.
func (t *threeGroups) round(b *testing.B, r int) {
	cpu := func(pid int) float64 {
		c, _, err := loadgen.ProcUsage(pid)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	for k := range t.modes {
		m := t.modes[(r+k)%len(t.modes)]
		m0, s0 := cpu(m.g.masterPid), cpu(m.g.slavePid)
		start := time.Now()
		var wg sync.WaitGroup
		for _, c := range t.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				left := groupRoundSends / groupConns
				sendMany(b, c, m.g.master, groupPerConn, func() bool { left--; return left >= 0 },
					func(n int) *remoting.Command { return sendRequest(t.body, n%4) })
			}()
		}
		wg.Wait()
		m.rate = append(m.rate, groupRoundSends/time.Since(start).Seconds())
		m.masterCPU = append(m.masterCPU, (cpu(m.g.masterPid)-m0)*1e6/groupRoundSends)
		m.slaveCPU = append(m.slaveCPU, (cpu(m.g.slavePid)-s0)*1e6/groupRoundSends)
		b.Logf("round %d %s: %.0f msg/s, master %.1f µs/msg, slave %.1f µs/msg", r, m.name, m.rate[len(m.rate)-1],
			m.masterCPU[len(m.masterCPU)-1], m.slaveCPU[len(m.slaveCPU)-1])
	}
	for _, m := range t.modes {
		left := groupLatencySends
		_, h := sendMany(b, t.clients[0], m.g.master, 1, func() bool { left--; return left >= 0 },
			func(n int) *remoting.Command { return sendRequest(t.body, n%4) })
		m.p50, m.p99 = append(m.p50, float64(h.ValueAtQuantile(50))), append(m.p99, float64(h.ValueAtQuantile(99)))
	}
}

// report reports each group's medians over the rounds.
func (t *threeGroups) report(b *testing.B) {
	for _, m := range t.modes {
		b.ReportMetric(median(m.rate), m.name+"-msg/s")
		b.ReportMetric(median(m.masterCPU), m.name+"-master-cpu-µs/msg")
		b.ReportMetric(median(m.slaveCPU), m.name+"-slave-cpu-µs/msg")
		b.ReportMetric(median(m.p50), m.name+"-1inflight-p50-µs")
		b.ReportMetric(median(m.p99), m.name+"-1inflight-p99-µs")
	}
	b.ReportMetric(median(t.modes[1].rate)/median(t.modes[0].rate), "sync/async(goal>=0.85)")
	b.ReportMetric(median(t.modes[2].rate)/median(t.modes[0].rate), "syncflush/async(goal>=0.8)")
}

// BenchmarkThreeGroups is rocketgo's side of issue 12's measurement: the
// three groups in 5 interleaved rounds; every figure is a median over the
// rounds, the ratios are of the medians. Run it with
//
//	go test ./bench -run '^$' -bench ThreeGroups -benchtime 1x
func BenchmarkThreeGroups(b *testing.B) {
	t := startThreeGroups(b)
	for b.Loop() {
		for r := range 5 {
			t.round(b, r)
		}
	}
	t.report(b)
}

// BenchmarkVersusNATS is issue 12's whole measurement in one run: rounds
// of the three groups alternate with rounds of NATS JetStream's own
// benchmark on the same machine (R1 async publish at 4 clients × 16 in
// flight; sync publish latency, one client, R1 and R3), and it reports
// DESIGN §6's seven ratios of the medians, each with its goal in the
// metric's name. `make peerbench` installs the peer and runs it.
func BenchmarkVersusNATS(b *testing.B) {
	peer := startNATSPeer(b)
	t := startThreeGroups(b)
	var r1Async, r1P50, r1P99, r3P50, r3P99 []float64
	for b.Loop() {
		for r := range 3 {
			t.round(b, r)
			rate, _, _ := peer.bench(peer.r1, "async", "r1async", 1, groupConns, groupPerConn, groupRoundSends)
			_, p50, p99 := peer.bench(peer.r1, "sync", "r1sync", 1, 1, 0, groupLatencySends)
			_, q50, q99 := peer.bench(peer.r3, "sync", "r3sync", 3, 1, 0, groupLatencySends)
			r1Async, r1P50, r1P99, r3P50, r3P99 = append(r1Async, rate), append(r1P50, p50), append(r1P99, p99), append(r3P50, q50), append(r3P99, q99)
			b.Logf("round %d NATS: R1 async %.0f msg/s; R1 sync p50 %.0f p99 %.0f µs; R3 sync p50 %.0f p99 %.0f µs", r, rate, p50, p99, q50, q99)
		}
	}
	t.report(b)
	async, sync := t.modes[0], t.modes[1]
	b.ReportMetric(median(r1Async), "nats-r1-async-msg/s")
	b.ReportMetric(median(r1P50), "nats-r1-sync-p50-µs")
	b.ReportMetric(median(r1P99), "nats-r1-sync-p99-µs")
	b.ReportMetric(median(r3P50), "nats-r3-sync-p50-µs")
	b.ReportMetric(median(r3P99), "nats-r3-sync-p99-µs")
	b.ReportMetric(median(async.rate)/median(r1Async), "async/nats-r1(goal>=2)")
	b.ReportMetric(median(async.p50)/median(r1P50), "async-p50/nats-r1(goal<=0.5)")
	b.ReportMetric(median(async.p99)/median(r1P99), "async-p99/nats-r1(goal<=0.75)")
	b.ReportMetric(median(sync.p50)/median(r3P50), "sync-p50/nats-r3(goal<=0.4)")
	b.ReportMetric(median(sync.p99)/median(r3P99), "sync-p99/nats-r3(goal<=0.5)")
}

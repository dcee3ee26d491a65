package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// launchOneGroup starts a namesrv and a broker group "g" of one master,
// stopped when the test ends; it skips the test with -short.
func launchOneGroup(t *testing.T) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	c, err := Launch(context.Background(), TopologySpec{Namesrvs: 1, SegmentSize: 64 << 20, Groups: []GroupSpec{{Name: "g"}}}, binDir, t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// TestStallShowsInTopPercentiles pauses the broker (SIGSTOP) for 500 ms
// under open-loop load: latency measured from intended send times must
// show the stall (no coordinated omission), and nothing acknowledged may
// be lost.
func TestStallShowsInTopPercentiles(t *testing.T) {
	c := launchOneGroup(t)
	w := Workload{Topics: 1, QueuesPerTopic: 2, MessageSize: 256, ProducersPerTopic: 1, ConsumersPerTopic: 1,
		Rate: 2000, InFlight: 1024, BatchSize: 1, Duration: 3 * time.Second, Warmup: 500 * time.Millisecond,
		Drain: 10 * time.Second, SendTimeout: 10 * time.Second}
	out, err := Execute(context.Background(), RunSpec{
		Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "stall", Group: "g", Cluster: c,
		Faults: []FaultPlan{{At: time.Second, Action: "pause", Target: "g/master"}, {At: 1500 * time.Millisecond, Action: "resume", Target: "g/master"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Run
	t.Logf("sent %d acked %d errors %d consumed %d lost %d dup %d; send p50 %dµs p99 %dµs p99.99 %dµs max %dµs; service p99.99 %dµs",
		r.Sent, r.Acked, r.Errors, r.Consumed, r.Lost, r.Duplicates, r.Send.P50, r.Send.P99, r.Send.P9999, r.Send.Max, r.Service.P9999)
	if r.Send.Max < 500_000 || r.Send.P9999 < 500_000 {
		t.Fatalf("a 500 ms stall shows as max %dµs, p99.99 %dµs: coordinated omission", r.Send.Max, r.Send.P9999)
	}
	if r.Acked < r.Sent*9/10 || r.Lost != 0 || r.Duplicates != 0 {
		t.Fatalf("acked %d of %d, lost %d, duplicates %d", r.Acked, r.Sent, r.Lost, r.Duplicates)
	}
	if got := r.AchievedRate; got < 1800 || got > 2200 {
		t.Fatalf("achieved %.0f msg/s, want about 2000", got)
	}
	if len(r.Faults) != 2 || len(r.Intervals) != 3 {
		t.Fatalf("faults %+v, %d intervals", r.Faults, len(r.Intervals))
	}
}

// TestBatchedSends drives SEND_BATCH_MESSAGE: every message of every batch
// is acknowledged and consumed once.
func TestBatchedSends(t *testing.T) {
	c := launchOneGroup(t)
	w := Workload{Topics: 1, QueuesPerTopic: 2, MessageSize: 512, ProducersPerTopic: 2, ConsumersPerTopic: 1,
		Rate: 4000, InFlight: 16, BatchSize: 8, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
		Drain: 10 * time.Second, SendTimeout: 5 * time.Second}
	out, err := Execute(context.Background(), RunSpec{Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "batch", Group: "g", Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Run
	if r.Sent < 7500 || r.Acked != r.Sent || r.Consumed != r.Acked || r.Lost != 0 || r.Duplicates != 0 {
		t.Fatalf("sent %d acked %d consumed %d lost %d duplicates %d", r.Sent, r.Acked, r.Consumed, r.Lost, r.Duplicates)
	}
	// The resource table: the master's cost per message, from its
	// endpoint and /proc.
	checkMasterResources(t, r.Resources, "g-master", "proc", w.MessageSize)

	// The same from an existing cluster's endpoints (-metrics).
	var eps []string
	for _, n := range c.Nodes() {
		eps = append(eps, n.MetricsAddr)
	}
	w.Duration = time.Second
	out, err = Execute(context.Background(), RunSpec{Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "batch", Group: "g", Metrics: eps})
	if err != nil {
		t.Fatal(err)
	}
	checkMasterResources(t, out.Run.Resources, "g-master (", "metrics", w.MessageSize)
}

// checkMasterResources finds the master's row (name prefix) and checks
// its per-message figures are plausible for size-byte messages.
func checkMasterResources(t *testing.T, rs []NodeResources, name, source string, size int) {
	t.Helper()
	for _, r := range rs {
		if !strings.HasPrefix(r.Node, name) {
			continue
		}
		if r.Role != "master" || r.CPUSource != source || r.CPUPerMsgUs <= 0 || r.CPUCores <= 0 ||
			r.LogBytesPerMsg < float64(size) || r.NetBytesPerMsg < float64(size) || r.RSSMaxBytes < 1<<20 {
			t.Fatalf("master resources: %+v", r)
		}
		return
	}
	t.Fatalf("no %s in the resources: %+v", name, rs)
}

// TestLinkLatencyFaults slows one link through its proxy for one second:
// that second's sends wait, the seconds around it do not. The replication
// link matters to a SYNC_MASTER (it waits for the slave's ack); the client
// link to everyone.
func TestLinkLatencyFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name   string
		spec   TopologySpec
		target string
	}{
		{"replication", TopologySpec{ProxyLinks: true, Groups: []GroupSpec{{Name: "g", Role: "SYNC_MASTER", Slaves: 1}}}, "g/slave-1-link"},
		{"client", TopologySpec{ProxyClients: true, Groups: []GroupSpec{{Name: "g"}}}, "g/client-link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Namesrvs, tc.spec.SegmentSize = 1, 64<<20
			c, err := Launch(context.Background(), tc.spec, binDir, t.TempDir(), quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			w := Workload{Topics: 1, QueuesPerTopic: 2, MessageSize: 256, ProducersPerTopic: 1, Rate: 500, InFlight: 1024,
				BatchSize: 1, Duration: 3 * time.Second, Warmup: 500 * time.Millisecond, SendTimeout: 10 * time.Second}
			out, err := Execute(context.Background(), RunSpec{
				Namesrvs: c.NamesrvAddrs(), Workload: w, Label: tc.name, Group: "g", Cluster: c,
				Faults: []FaultPlan{{At: time.Second, Action: "latency", Target: tc.target, Value: 25},
					{At: 2 * time.Second, Action: "clear", Target: tc.target}},
			})
			if err != nil {
				t.Fatal(err)
			}
			iv := out.Run.Intervals
			t.Logf("p50 per second: %d %d %d µs", iv[0].SendP50, iv[1].SendP50, iv[2].SendP50)
			if iv[1].SendP50 < 50_000 || iv[0].SendP50 >= 25_000 || iv[2].SendP50 >= 25_000 {
				t.Fatalf("25 ms each way on %s: p50 per second %d, %d, %d µs", tc.target, iv[0].SendP50, iv[1].SendP50, iv[2].SendP50)
			}
		})
	}
}

// TestTopicChurnFaults: the createTopics and autoCreateTopics actions
// create the topics they are asked for on the target master, and the run
// records how long each took.
func TestTopicChurnFaults(t *testing.T) {
	c := launchOneGroup(t)
	w := Workload{Topics: 1, QueuesPerTopic: 2, MessageSize: 256, ProducersPerTopic: 1, Rate: 200, InFlight: 64,
		BatchSize: 1, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond, SendTimeout: 10 * time.Second}
	out, err := Execute(context.Background(), RunSpec{
		Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "churn", Group: "g", Cluster: c,
		Faults: []FaultPlan{{At: 0, Action: "createTopics", Target: "g/master", Value: 7},
			{At: 0, Action: "autoCreateTopics", Target: "g/master", Value: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, c.Groups[0].Master.Addr, remoting.NewRequest(remoting.GetAllTopicConfig))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(resp.Body), `"topicName":"churn-`); n != 12 {
		t.Fatalf("the master has %d churn topics, want 12", n)
	}
	if len(out.Run.Faults) != 2 || out.Run.Faults[0].Took <= 0 || out.Run.Faults[1].Took <= 0 {
		t.Fatalf("faults %+v", out.Run.Faults)
	}
}

// TestIntervalParts: each second's send p99 comes with the part the tool
// added (pacing: actual − intended send), the servers' part (service: ack −
// actual send) and the machine's worst stall in that second.
func TestIntervalParts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := newRecorder(1, t0, t0.Add(2*time.Second))
	for i, p := range []struct{ pacing, service time.Duration }{{3 * time.Millisecond, 200 * time.Microsecond}, {50 * time.Microsecond, 9 * time.Millisecond}} {
		intended := t0.Add(time.Duration(i)*time.Second + 100*time.Millisecond)
		sent := intended.Add(p.pacing)
		r.done(0, int64(i), intended, sent, sent.Add(p.service), "SEND_OK", true)
	}
	out := r.output(RunSpec{Workload: Workload{Duration: 2 * time.Second}}, nil, newHist(), []int64{40, 2500})
	if len(out.Run.Intervals) != 2 {
		t.Fatalf("intervals %+v", out.Run.Intervals)
	}
	near := func(got, want int64) bool { return got >= want && got <= want+want/50 } // HdrHistogram rounds up, by < 1 %
	for i, want := range []Interval{{PacingP99: 3000, ServiceP99: 200, SendP99: 3200, HiccupMax: 40}, {PacingP99: 50, ServiceP99: 9000, SendP99: 9050, HiccupMax: 2500}} {
		got := out.Run.Intervals[i]
		if !near(got.PacingP99, want.PacingP99) || !near(got.ServiceP99, want.ServiceP99) || !near(got.SendP99, want.SendP99) || got.HiccupMax != want.HiccupMax {
			t.Errorf("second %d: pacing %d service %d send %d hiccup %d µs, want %d %d %d %d", i,
				got.PacingP99, got.ServiceP99, got.SendP99, got.HiccupMax, want.PacingP99, want.ServiceP99, want.SendP99, want.HiccupMax)
		}
	}
}

// TestSendBetween: a window takes every second of the measured window it
// overlaps, and only those.
func TestSendBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := newRecorder(1, t0, t0.Add(3*time.Second))
	for i, lat := range []time.Duration{time.Millisecond, 100 * time.Millisecond, 10 * time.Millisecond} {
		intended := t0.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		r.done(0, int64(i), intended, intended, intended.Add(lat), "SEND_OK", true)
	}
	out := r.output(RunSpec{Workload: Workload{Duration: 3 * time.Second}}, nil, newHist(), nil)
	for _, tc := range []struct {
		from, to time.Duration
		count    int64
		max      int64 // µs
	}{
		{0, time.Second, 1, 1000},
		{900 * time.Millisecond, 1100 * time.Millisecond, 2, 100_000},
		{2 * time.Second, 3 * time.Second, 1, 10_000},
		{0, 3 * time.Second, 3, 100_000},
	} {
		p := out.SendBetween(tc.from, tc.to)
		if p.Count != tc.count || p.Max < tc.max*99/100 || p.Max > tc.max*101/100 {
			t.Errorf("SendBetween(%v, %v): %d sends, max %d µs; want %d, %d µs", tc.from, tc.to, p.Count, p.Max, tc.count, tc.max)
		}
	}
}

package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOutage(t *testing.T) {
	tick := func(n int) time.Duration { return time.Duration(n) * okTick }
	for _, tc := range []struct {
		name        string
		ok          []int32
		from, to    time.Duration
		last, first time.Duration
		recovered   bool
	}{
		// answers in ticks 0-1, silence 2-4, answers from 5
		{"kill", []int32{5, 5, 0, 0, 0, 5, 5}, tick(1), tick(7), tick(2), tick(5), true},
		// the fault in a silent tick: the outage began at the last answer
		{"silent at the fault", []int32{5, 0, 0, 0, 5}, tick(2), tick(5), tick(1), tick(4), true},
		// a short gap, then the long one later (a partition: answers go on
		// until the election)
		{"longest later", []int32{5, 0, 5, 5, 0, 0, 0, 0, 5}, tick(0), tick(9), tick(4), tick(8), true},
		// a gap beginning at or after to is the next fault's
		{"bounded by the next fault", []int32{5, 0, 5, 5, 0, 0, 0, 0, 5}, tick(0), tick(2), tick(1), tick(2), true},
		// nor is one that begins just before it, when an earlier one
		// ended before it
		{"the next fault's own", []int32{5, 0, 0, 5, 5, 0, 0, 0, 0, 0, 5}, tick(0), tick(5), tick(1), tick(3), true},
		// an outage still going when the next fault comes runs into it
		{"into the next fault", []int32{5, 0, 0, 0, 0, 0, 5}, tick(0), tick(3), tick(1), tick(6), true},
		{"never again", []int32{5, 5, 0, 0}, tick(1), tick(4), tick(2), tick(4), false},
		{"nothing before", []int32{0, 0, 0, 5}, tick(0), tick(4), 0, tick(3), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last, first, rec := outage(tc.ok, tc.from, tc.to)
			if last != tc.last || first != tc.first || rec != tc.recovered {
				t.Fatalf("outage = %v, %v, %v; want %v, %v, %v", last, first, rec, tc.last, tc.first, tc.recovered)
			}
		})
	}
}

func TestRunTarget(t *testing.T) {
	for in, want := range map[string]string{
		"master": "g/master", "slave-1": "g/slave-1", "broker-2": "g/broker-2",
		"other/master": "other/master", "namesrv-0": "namesrv-0", "controller-leader": "controller-leader",
	} {
		if got := runTarget(in, "g"); got != want {
			t.Errorf("runTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestControllerTopologyValidation(t *testing.T) {
	on := true
	bad := TopologySpec{Namesrvs: 1, Groups: []GroupSpec{{Name: "g", Controller: &on}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "controller: true on the topology") {
		t.Fatalf("a controller group without controllers: %v", err)
	}
	bad = TopologySpec{Namesrvs: 1, Controller: true, ProxyLinks: true, Groups: []GroupSpec{{Name: "g", Role: "SYNC_MASTER", Slaves: 1}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "proxyLinks") {
		t.Fatalf("proxied links in controller mode: %v", err)
	}
}

// TestControllerFailoverRun starts a controller topology, cuts the
// master off from the namesrvs and controllers under load, and then kills
// the master it elected: each time the controllers elect another broker,
// producers get SEND_OK again within seconds, and no acknowledged message
// is lost — the partitioned master acknowledged nothing the new master
// lacks, and its consumers read nothing it then cut.
func TestControllerFailoverRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	spec := TopologySpec{Namesrvs: 3, Controller: true, SegmentSize: 64 << 20, Groups: []GroupSpec{
		{Name: "g", Role: "SYNC_MASTER", Slaves: 2, Extra: map[string]string{"allAckInSyncStateSet": "true"}}}}
	dir := t.TempDir()
	c, err := Launch(context.Background(), spec, binDir, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	first, err := c.currentMaster(context.Background(), "g")
	if err != nil || first.Name != "g-broker-0" {
		t.Fatalf("first master %v, %v; want g-broker-0", first, err)
	}
	w := Workload{Topics: 1, QueuesPerTopic: 4, MessageSize: 512, ProducersPerTopic: 1, ConsumersPerTopic: 1,
		Rate: 500, InFlight: 256, BatchSize: 1, Duration: 16 * time.Second, Warmup: time.Second,
		Drain: 15 * time.Second, SendTimeout: 5 * time.Second}
	out, err := Execute(context.Background(), RunSpec{
		Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "controller", Group: "g", Cluster: c,
		Faults: []FaultPlan{
			{At: time.Second, Action: "partition", Target: "master"}, {At: 6 * time.Second, Action: "heal", Target: "master"},
			{At: 9 * time.Second, Action: "kill", Target: "master"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Run
	t.Logf("sent %d acked %d errors %d consumed %d lost %d duplicates %d statuses %v", r.Sent, r.Acked, r.Errors, r.Consumed, r.Lost, r.Duplicates, r.Statuses)
	if len(r.Failovers) != 2 {
		t.Fatalf("failovers %+v, want the partition and the kill", r.Failovers)
	}
	hit := map[string]bool{}
	for _, f := range r.Failovers {
		t.Logf("%s of %s at %v: new master %s, elected after %v, routed after %v, no SEND_OK for %v (%v → %v)",
			f.Kind, f.Node, f.At, f.NewMaster, f.Elected, f.Routed, f.Unavailable, f.LastOK, f.FirstOK)
		if !f.Controller || f.Elected <= 0 || f.Routed <= 0 || f.NewMaster == f.Node || !f.Recovered {
			t.Errorf("failover %+v: want an election of another broker and SEND_OK after it", f)
		}
		hit[f.Node] = true
	}
	if r.Failovers[0].Node != "g-broker-0" || len(hit) != 2 {
		t.Errorf("the partition hit %s and the kill %s: want g-broker-0, then the master elected after it",
			r.Failovers[0].Node, r.Failovers[1].Node)
	}
	if r.Lost != 0 || r.Acked < r.Sent/2 {
		t.Fatalf("acked %d of %d, lost %d", r.Acked, r.Sent, r.Lost)
	}
	if len(r.OKPer100ms) == 0 {
		t.Fatal("no SEND_OK timeline for the failover chart")
	}

	// The report and its chart show the failovers.
	res := t.TempDir()
	sum := &Summary{Scenario: "failover-test", Runs: []Run{r}}
	charts, err := WriteCharts(res, sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(charts, " "), ChartFailover) {
		t.Fatalf("charts %v lack %s", charts, ChartFailover)
	}
	if err := WriteReport(res, sum, charts); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(res, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Failover", "| partition | g-broker-0 |", "**Failover, controller**"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

package bench

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rocketgo/rocketgo/loadgen"
)

// A Scenario builds a loadgen plan for a profile ("quick" or "full").
type Scenario struct {
	Name        string
	Description string
	Plan        func(profile string) (loadgen.Plan, error)
}

// Scenarios are the named benchmarks `loadgen scenario NAME` runs.
var Scenarios = map[string]Scenario{
	"sync-vs-async": {
		Name:        "sync-vs-async",
		Description: "2 namesrvs; ASYNC_MASTER and SYNC_MASTER groups (each master + 1 slave), with ASYNC_FLUSH and SYNC_FLUSH; 1 KiB messages at rising rates",
		Plan:        syncVsAsync,
	},
	"capacity": {
		Name:        "capacity",
		Description: "SLO search: the highest rate an ASYNC_MASTER and a SYNC_MASTER group sustain with p99 ≤ 10 ms and a flat backlog (step up, bisect, confirm)",
		Plan:        capacity,
	},
	"failover": {
		Name:        "failover",
		Description: "a SYNC_MASTER group under steady load; its master is killed and restarted mid-run; time to recover, acked-but-lost and duplicates",
		Plan:        failover,
	},
}

// Names lists the scenarios.
func Names() []string {
	var out []string
	for n := range Scenarios {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func profileOf(profile string) (quick bool, err error) {
	switch profile {
	case "", "quick":
		return true, nil
	case "full":
		return false, nil
	}
	return false, fmt.Errorf("unknown profile %q: want quick or full", profile)
}

func baseWorkload(quick bool) loadgen.Workload {
	w := loadgen.Workload{
		Name: "1KiB", Topics: 1, QueuesPerTopic: 4, MessageSize: 1024, RandomBytesRatio: 0.5,
		ProducersPerTopic: 1, ConsumersPerTopic: 1, InFlight: 256, BatchSize: 1,
		Duration: 20 * time.Second, Warmup: 5 * time.Second, Drain: 10 * time.Second, SendTimeout: 5 * time.Second,
	}
	if quick {
		w.Duration, w.Warmup, w.Drain = 4*time.Second, time.Second, 5*time.Second
	}
	return w
}

func syncVsAsync(profile string) (loadgen.Plan, error) {
	quick, err := profileOf(profile)
	if err != nil {
		return loadgen.Plan{}, err
	}
	groups := []loadgen.GroupSpec{
		{Name: "async-af", Role: "ASYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1},
		{Name: "sync-af", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1},
		{Name: "async-sf", Role: "ASYNC_MASTER", Flush: "SYNC_FLUSH", Slaves: 1},
		{Name: "sync-sf", Role: "SYNC_MASTER", Flush: "SYNC_FLUSH", Slaves: 1},
	}
	p := loadgen.Plan{
		Scenario: "sync-vs-async", Profile: orQuick(profile),
		Topology:    loadgen.TopologySpec{Namesrvs: 2, Cluster: "BenchCluster", Groups: groups, SegmentSize: 1 << 30},
		Workload:    baseWorkload(quick),
		Rates:       []float64{1000, 5000, 10000, 20000, 40000},
		Repetitions: 3,
		Notes: []string{
			"Every process (two namesrvs, four masters, four slaves and the load generator) shares this machine's CPUs; idle groups cost little, but the numbers are those of a single host, not of a network.",
		},
	}
	if quick {
		p.Rates = []float64{1000, 5000, 15000, 30000}
		p.Repetitions = 2
	}
	for _, g := range groups {
		p.Targets = append(p.Targets, loadgen.Target{Group: g.Name, Label: g.Role + "+" + g.Flush, Mode: g.Role, Flush: g.Flush})
	}
	return p, nil
}

func failover(profile string) (loadgen.Plan, error) {
	quick, err := profileOf(profile)
	if err != nil {
		return loadgen.Plan{}, err
	}
	w := baseWorkload(quick)
	w.Duration, w.Warmup, w.Drain = 30*time.Second, 3*time.Second, 15*time.Second
	faults := []loadgen.FaultPlan{{At: 8 * time.Second, Action: "kill", Target: "ha/master"}, {At: 14 * time.Second, Action: "restart", Target: "ha/master"}}
	if quick {
		w.Duration = 16 * time.Second
		faults = []loadgen.FaultPlan{{At: 4 * time.Second, Action: "kill", Target: "ha/master"}, {At: 8 * time.Second, Action: "restart", Target: "ha/master"}}
	}
	return loadgen.Plan{
		Scenario: "failover", Profile: orQuick(profile),
		Topology: loadgen.TopologySpec{Namesrvs: 2, Cluster: "BenchCluster", SegmentSize: 1 << 30,
			Groups: []loadgen.GroupSpec{{Name: "ha", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1}}},
		Workload:    w,
		Targets:     []loadgen.Target{{Group: "ha", Label: "SYNC_MASTER+ASYNC_FLUSH", Mode: "SYNC_MASTER", Flush: "ASYNC_FLUSH"}},
		Rates:       []float64{2000},
		Repetitions: 2,
		Faults:      faults,
		Notes: []string{
			"While the master is down, sends fail (the group has no other master) and consumers read what replicated from the slave; the report counts what was acknowledged but never consumed.",
		},
	}, nil
}

func capacity(profile string) (loadgen.Plan, error) {
	quick, err := profileOf(profile)
	if err != nil {
		return loadgen.Plan{}, err
	}
	w := baseWorkload(quick)
	search := &loadgen.CapacitySearch{
		SLO:   loadgen.SLO{P99: 10 * time.Millisecond, MaxBacklogGrowth: 0.05},
		Start: 2000, Factor: 2, Precision: 0.05, Confirmations: 2, MaxRuns: 14,
	}
	if quick {
		w.Duration, w.Warmup = 3*time.Second, time.Second
		search.Precision, search.Confirmations, search.MaxRuns = 0.1, 1, 10
	}
	groups := []loadgen.GroupSpec{
		{Name: "async-af", Role: "ASYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1},
		{Name: "sync-af", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1},
	}
	p := loadgen.Plan{
		Scenario: "capacity", Profile: orQuick(profile),
		Topology:    loadgen.TopologySpec{Namesrvs: 2, Cluster: "BenchCluster", Groups: groups, SegmentSize: 1 << 30},
		Workload:    w,
		Repetitions: 1,
		Capacity:    search,
		Notes: []string{
			"A rate passes when p99 send latency (from the intended send time) stays within the SLO, at least 98% of it is achieved, fewer than 0.1% of sends fail, and consumers are no more than 5% of the acknowledged messages behind when sending stops.",
		},
	}
	for _, g := range groups {
		p.Targets = append(p.Targets, loadgen.Target{Group: g.Name, Label: g.Role + "+" + g.Flush, Mode: g.Role, Flush: g.Flush})
	}
	return p, nil
}

func orQuick(p string) string {
	if strings.TrimSpace(p) == "" {
		return "quick"
	}
	return p
}

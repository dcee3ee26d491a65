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
		Description: "a master lost under steady load, twice per run: a RocketMQ 4 group restarted by hand against a controller-mode group (kill -9, with the controller leader killed too, and a partition); unavailability, time to elect, acked-but-lost and duplicates",
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
	w.Duration, w.Warmup, w.Drain = 28*time.Second, 3*time.Second, 15*time.Second
	// Two losses of the master per run, 12 s apart; the lost broker comes
	// back 5 s after each (restarted, or its links healed).
	var kill, withLeader, partition, manual []loadgen.FaultPlan
	for _, at := range []time.Duration{4 * time.Second, 16 * time.Second} {
		back := at + 5*time.Second
		kill = append(kill, loadgen.FaultPlan{At: at, Action: "kill", Target: "master"}, loadgen.FaultPlan{At: back, Action: "restart", Target: "master"})
		manual = append(manual, loadgen.FaultPlan{At: at, Action: "kill", Target: "master"}, loadgen.FaultPlan{At: back, Action: "restart", Target: "master"})
		withLeader = append(withLeader, loadgen.FaultPlan{At: at, Action: "kill", Target: "master"}, loadgen.FaultPlan{At: at, Action: "kill", Target: "controller-leader"},
			loadgen.FaultPlan{At: back, Action: "restart", Target: "master"}, loadgen.FaultPlan{At: back, Action: "restart", Target: "controller-leader"})
		partition = append(partition, loadgen.FaultPlan{At: at, Action: "partition", Target: "master"}, loadgen.FaultPlan{At: back, Action: "heal", Target: "master"})
	}
	manualMode := false
	groups := []loadgen.GroupSpec{
		{Name: "manual", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 2, Controller: &manualMode},
		{Name: "ctl", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 2, Extra: map[string]string{"allAckInSyncStateSet": "true"}},
	}
	target := func(group, label string, faults []loadgen.FaultPlan) loadgen.Target {
		return loadgen.Target{Group: group, Label: label, Mode: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Faults: faults}
	}
	p := loadgen.Plan{
		Scenario: "failover", Profile: orQuick(profile),
		Topology: loadgen.TopologySpec{Namesrvs: 3, Cluster: "BenchCluster", SegmentSize: 1 << 30, Controller: true, Groups: groups},
		Workload: w,
		Targets: []loadgen.Target{
			target("manual", "manual: kill -9, restart 5 s later", manual),
			target("ctl", "controller: kill -9", kill),
			target("ctl", "controller: kill -9 of master and controller leader", withLeader),
			target("ctl", "controller: master partitioned from namesrvs and controllers", partition),
		},
		Rates:       []float64{2000},
		Repetitions: 3,
		Notes: []string{
			"Three namesrvs run the controllers (one Raft group). Group `manual` is a RocketMQ 4 group: master and two slaves; when its master dies, sends fail until the master is restarted (here 5 s after the kill, as a supervisor would). " +
				"Group `ctl` has three brokers in controller mode with allAckInSyncStateSet=true: the controllers elect a new master from the SyncStateSet and the killed broker returns as a slave, cutting any tail the new master lacks.",
			"The partition cuts the master's connections to every namesrv and controller (through a proxy), not to its clients or slaves: it keeps taking sends but can acknowledge only what every replica of its SyncStateSet holds, until the controllers elect another master and its slaves leave it.",
			"Default broker settings: a broker is declared lost after controllerHeartBeatTimeoutMills (3 s) without a heartbeat. loadgen's producers refetch a topic's route when a broker stops answering; the official Go client refreshes routes every 30 s, so with it producers resume up to 30 s after the election.",
		},
	}
	if quick {
		p.Repetitions = 1
	}
	return p, nil
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

package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fakeMeasure models a system whose p99 stays at 1 ms up to capacity and
// explodes above it.
func fakeMeasure(capacity float64, flakyAt float64) func(context.Context, float64, string) (*Run, error) {
	flaked := false
	return func(_ context.Context, rate float64, phase string) (*Run, error) {
		r := &Run{TargetRate: rate, Sent: int64(rate), Acked: int64(rate), AchievedRate: rate}
		r.Send.P99 = 1000
		if rate > capacity {
			r.Send.P99 = 50_000
			r.AchievedRate = capacity
		}
		if rate == flakyAt && phase == "confirm" && !flaked {
			flaked = true
			r.Send.P99 = 40_000
		}
		return r, nil
	}
}

func TestCapacitySearch(t *testing.T) {
	cs := CapacitySearch{SLO: SLO{P99: 10 * time.Millisecond, MaxBacklogGrowth: 0.05}, Start: 1000}
	res, err := cs.Run(context.Background(), fakeMeasure(23_000, -1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sustained < 23_000*0.95 || res.Sustained > 23_000 {
		t.Fatalf("sustained %.0f, want within 5%% below 23000; steps %+v", res.Sustained, res.Steps)
	}
	var phases []string
	for _, s := range res.Steps {
		phases = append(phases, s.Phase)
	}
	if phases[0] != "step" || phases[len(phases)-1] != "confirm" || res.Steps[len(res.Steps)-1].Rate != res.Sustained {
		t.Fatalf("steps %v", res.Steps)
	}

	// A best rate that fails its confirmation is not reported.
	res, err = cs.Run(context.Background(), fakeMeasure(23_000, 23_000))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sustained >= 23_000 || res.Sustained == 0 {
		t.Fatalf("after a failed confirmation at 23000 the search settled on %.0f: %+v", res.Sustained, res.Steps)
	}
	// It went on from the next lower rate that had passed, not from half.
	if res.Sustained < 23_000*0.9 {
		t.Fatalf("after one noisy confirmation the search fell back to %.0f: %+v", res.Sustained, res.Steps)
	}

	// Nothing passes.
	res, err = cs.Run(context.Background(), fakeMeasure(500, -1))
	if err != nil || res.Sustained != 0 {
		t.Fatalf("a system below the start rate: sustained %.0f, %v", res.Sustained, err)
	}
}

func TestSLOVerdict(t *testing.T) {
	slo := SLO{P99: time.Millisecond, MaxBacklogGrowth: 0.1}
	good := Run{TargetRate: 1000, AchievedRate: 1000, Sent: 1000, Acked: 1000}
	good.Send.P99 = 900
	if ok, why := slo.Verdict(&good); !ok {
		t.Fatalf("good run failed: %s", why)
	}
	for name, mutate := range map[string]func(*Run){
		"slow":    func(r *Run) { r.Send.P99 = 2000 },
		"short":   func(r *Run) { r.AchievedRate = 900 },
		"errors":  func(r *Run) { r.Errors = 10 },
		"backlog": func(r *Run) { r.Backlog = 500 },
		"nothing": func(r *Run) { r.Acked = 0 },
	} {
		r := good
		mutate(&r)
		if ok, why := slo.Verdict(&r); ok || why == "" {
			t.Errorf("%s run passed", name)
		}
	}
}

// A system whose verdicts keep flipping near the edge exhausts the run
// budget: the result says so and keeps the bounds instead of failing.
func TestCapacitySearchExhausted(t *testing.T) {
	n := 0
	flip := func(_ context.Context, rate float64, phase string) (*Run, error) {
		n++
		r := &Run{TargetRate: rate, Sent: int64(rate), Acked: int64(rate), AchievedRate: rate}
		r.Send.P99 = 1000
		if rate > 8000 || (phase == "confirm" && n%2 == 0) {
			r.Send.P99 = 50_000
		}
		return r, nil
	}
	cs := CapacitySearch{SLO: SLO{P99: 10 * time.Millisecond}, Start: 1000, MaxRuns: 6}
	res, err := cs.Run(context.Background(), flip)
	if err != nil {
		t.Fatalf("an exhausted search is an error: %v", err)
	}
	if !res.Exhausted || res.Sustained != 0 || len(res.Steps) != 6 || res.LastPass <= 0 || res.FirstFail <= res.LastPass {
		t.Fatalf("exhausted result %+v", res)
	}
}

// TestCapacitySearchRealRun searches a real broker group (a namesrv and a
// master started from bin/) through RunPlan: with a generous SLO and a cap
// of 1000 msg/s, it steps 500 → 1000, confirms 1000 once, and the result
// folder's summary and report carry the search.
func TestCapacitySearchRealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	w := Workload{Name: "small", Topics: 1, QueuesPerTopic: 2, MessageSize: 256, ProducersPerTopic: 1, ConsumersPerTopic: 1,
		InFlight: 64, BatchSize: 1, Warmup: 300 * time.Millisecond, Duration: time.Second, Drain: 5 * time.Second, SendTimeout: 5 * time.Second}
	plan := Plan{Scenario: "capacity-real", Topology: TopologySpec{Namesrvs: 1, SegmentSize: 64 << 20, Groups: []GroupSpec{{Name: "g"}}},
		Workload: w, Repetitions: 1, Targets: []Target{{Group: "g", Label: "ASYNC_MASTER+ASYNC_FLUSH", Mode: roleAsync, Flush: "ASYNC_FLUSH"}},
		Capacity: &CapacitySearch{SLO: SLO{P99: time.Second, MaxBacklogGrowth: 0.5}, Start: 500, Factor: 2, Max: 1000, Confirmations: 1, MaxRuns: 5}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := RunPlan(ctx, plan, PlanOptions{BinDir: binDir, WorkDir: t.TempDir(), ResultsDir: t.TempDir(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Capacity) != 1 {
		t.Fatalf("capacity results %+v", s.Capacity)
	}
	res := s.Capacity[0].Result
	var steps []string
	for _, st := range res.Steps {
		steps = append(steps, fmt.Sprintf("%s %.0f %v %s", st.Phase, st.Rate, st.Pass, st.Why))
	}
	want := []string{"step 500 true ", "step 1000 true ", "confirm 1000 true "}
	if res.Sustained != 1000 || !slices.Equal(steps, want) || len(s.Runs) != 3 {
		t.Fatalf("sustained %.0f, steps %q, %d runs; want 1000, %q, 3", res.Sustained, steps, len(s.Runs), want)
	}
	for i, r := range s.Runs {
		if r.Repetition != i+1 || r.Lost != 0 || r.Errors != 0 {
			t.Errorf("run %d: repetition %d, %d lost, %d errors", i, r.Repetition, r.Lost, r.Errors)
		}
	}
	report, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{"**ASYNC_MASTER+ASYNC_FLUSH** sustains **1000 msg/s**", "| 3 | confirm | 1000 | pass |", "### Sizing (what-if)"} {
		if !bytes.Contains(report, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, report)
		}
	}
}

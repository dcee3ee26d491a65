package loadgen

import (
	"context"
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

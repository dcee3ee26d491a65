package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// SLO is what a sustainable rate must meet.
type SLO struct {
	P99 time.Duration `json:"p99Ns"` // send latency from the intended time
	// MaxBacklogGrowth is the largest fraction of the acknowledged
	// messages that may be left unconsumed at the end of the measured
	// window before the drain (a growing backlog means consumers cannot
	// keep up).
	MaxBacklogGrowth float64 `json:"maxBacklogGrowth"`
}

// Verdict says whether one measured run met the SLO, and why not.
func (s SLO) Verdict(r *Run) (ok bool, why string) {
	switch {
	case r.Acked == 0:
		return false, "nothing acknowledged"
	case r.AchievedRate < 0.98*r.TargetRate:
		return false, fmt.Sprintf("achieved %.0f of %.0f msg/s", r.AchievedRate, r.TargetRate)
	case r.Errors > r.Sent/1000:
		return false, fmt.Sprintf("%d errors of %d sends", r.Errors, r.Sent)
	case time.Duration(r.Send.P99)*time.Microsecond > s.P99:
		return false, fmt.Sprintf("p99 %v over the SLO %v", time.Duration(r.Send.P99)*time.Microsecond, s.P99)
	case r.Backlog > int64(s.MaxBacklogGrowth*float64(r.Acked)):
		return false, fmt.Sprintf("backlog of %d messages at the end of the window", r.Backlog)
	}
	return true, ""
}

// CapacitySearch finds the highest rate that meets an SLO: it steps the
// rate up ×Factor from Start until a run fails, bisects between the last
// pass and the first failure until they are within Precision of each other,
// then confirms the best passing rate Confirmations more times (each must
// pass; a failed confirmation moves the search below it).
type CapacitySearch struct {
	SLO           SLO
	Start         float64 // msg/s
	Factor        float64 // step-up multiplier, default 2
	Precision     float64 // relative, default 0.05
	Max           float64 // never offer more than this (0 = no limit)
	Confirmations int     // default 2
	MaxRuns       int     // give up after this many runs, default 20
}

// CapacityStep is one run of the search.
type CapacityStep struct {
	Phase string  `json:"phase"` // step, bisect, confirm
	Rate  float64 `json:"rate"`
	Pass  bool    `json:"pass"`
	Why   string  `json:"why,omitempty"`
}

// CapacityResult is the outcome of a search.
type CapacityResult struct {
	SLO       SLO            `json:"slo"`
	Sustained float64        `json:"sustainedRate"` // 0 when even Start failed, or nothing was confirmed
	Steps     []CapacityStep `json:"steps"`
	// Exhausted is set when the search used up MaxRuns before it could
	// confirm a rate: around the SLO's edge the runs disagree. LastPass and
	// FirstFail are then the tightest bounds it had.
	Exhausted bool    `json:"exhausted,omitempty"`
	LastPass  float64 `json:"lastPass,omitempty"`
	FirstFail float64 `json:"firstFail,omitempty"`
}

// errExhausted ends a search that used up its runs.
var errExhausted = errors.New("capacity search: out of runs")

// Run performs the search, measuring each offered rate with measure. A
// search that runs out of runs before it confirms a rate is not an error:
// its result says so (Exhausted) and gives the bounds it reached.
func (cs CapacitySearch) Run(ctx context.Context, measure func(ctx context.Context, rate float64, phase string) (*Run, error)) (CapacityResult, error) {
	factor := cs.Factor
	if factor <= 1 {
		factor = 2
	}
	prec := cs.Precision
	if prec <= 0 {
		prec = 0.05
	}
	confirms := cs.Confirmations
	if confirms <= 0 {
		confirms = 2
	}
	maxRuns := cs.MaxRuns
	if maxRuns <= 0 {
		maxRuns = 20
	}
	res := CapacityResult{SLO: cs.SLO}
	lo, hi := 0.0, math.Inf(1) // lo passes, hi fails
	var passed []float64       // every rate that passed once
	try := func(rate float64, phase string) (bool, error) {
		if len(res.Steps) >= maxRuns {
			return false, errExhausted
		}
		r, err := measure(ctx, rate, phase)
		if err != nil {
			return false, err
		}
		ok, why := cs.SLO.Verdict(r)
		res.Steps = append(res.Steps, CapacityStep{Phase: phase, Rate: rate, Pass: ok, Why: why})
		if ok {
			passed = append(passed, rate)
		}
		return ok, nil
	}
	search := func() error {
		for rate := cs.Start; ; rate *= factor {
			if cs.Max > 0 && rate > cs.Max {
				rate = cs.Max
			}
			ok, err := try(rate, "step")
			if err != nil {
				return err
			}
			if !ok {
				hi = rate
				break
			}
			lo = rate
			if cs.Max > 0 && rate >= cs.Max {
				break
			}
		}
		for {
			for !math.IsInf(hi, 1) && (hi-lo)/hi > prec && lo > 0 {
				mid := math.Round((lo + hi) / 2)
				ok, err := try(mid, "bisect")
				if err != nil {
					return err
				}
				if ok {
					lo = mid
				} else {
					hi = mid
				}
			}
			if lo == 0 {
				return nil // even the starting rate failed
			}
			confirmed := true
			for i := 0; i < confirms; i++ {
				ok, err := try(lo, "confirm")
				if err != nil {
					return err
				}
				if !ok {
					confirmed = false
					break
				}
			}
			if confirmed {
				res.Sustained = lo
				return nil
			}
			// The best pass did not hold up: it becomes the failing bound,
			// and the search goes on from the next lower rate that passed
			// (one noisy run near the edge does not send it back to the
			// start), or a step down when there is none.
			hi, lo = lo, 0
			for _, p := range passed {
				if p < hi && p > lo {
					lo = p
				}
			}
			if lo > 0 {
				continue
			}
			lo = hi / factor
			if lo < cs.Start/factor {
				lo = 0
				return nil
			}
			ok, err := try(lo, "step")
			if err != nil {
				return err
			}
			if !ok {
				hi, lo = lo, 0
				return nil
			}
		}
	}
	err := search()
	if errors.Is(err, errExhausted) {
		res.Exhausted, res.LastPass = true, lo
		if !math.IsInf(hi, 1) {
			res.FirstFail = hi
		}
		return res, nil
	}
	return res, err
}

// measured is the search's capacity: the confirmed rate, else the last
// pass of an exhausted search (confirmed false); 0 when there is neither.
func (r CapacityResult) measured() (rate float64, confirmed bool) {
	switch {
	case r.Sustained > 0:
		return r.Sustained, true
	case r.Exhausted && r.LastPass > 0:
		return r.LastPass, false
	}
	return 0, false
}

package loadgen

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// What the report flags in a row of the results table, and the verdict
// says about it: the thresholds below.
const (
	// saturatedRate: a row whose median achieved rate is below this share
	// of its target did not get the load it was offered (SLO.Verdict's
	// rule).
	saturatedRate = 0.98
	// saturatedP50: a row whose median send p50 is this many times the
	// same mode's p50 at its lowest rate waits in a queue at the median.
	saturatedP50 = 10.0
	// saturatedBacklog: consumers this share of the acknowledged messages
	// behind when sending stopped could not keep up.
	saturatedBacklog = 0.05
	// disagreeP99: repetitions whose highest p99 is this many times their
	// lowest do not agree on what the row measured.
	disagreeP99 = 2.0
)

// saturation says why a row is saturated ("" when it is not): it did not
// reach its target, its median send queued, or its consumers fell behind.
func saturation(g runGroup, groups []runGroup) string {
	if g.Rate == 0 { // closed loop: saturated by design
		return ""
	}
	var why []string
	if xs := g.samples(achieved); len(xs) > 0 {
		if a := medianOf(xs); a < saturatedRate*g.Rate {
			why = append(why, fmt.Sprintf("achieved %s of %s msg/s", rateNum(a), rateNum(g.Rate)))
		}
	}
	if low := lowestRate(groups, g.Label); low != nil && low.Rate != g.Rate {
		base, p50 := medianOf(low.samples(sendP50)), medianOf(g.samples(sendP50))
		if base > 0 && p50 >= saturatedP50*base {
			why = append(why, fmt.Sprintf("p50 %s µs, %.0f× its p50 at %s", us(p50), p50/base, rateTitle(low.Rate)))
		}
	}
	behind := g.samples(func(r *Run) (float64, bool) {
		return float64(r.Backlog) / float64(r.Acked), r.Acked > 0 && r.Backlog > 0
	})
	if len(behind) > 0 && len(behind)*2 > len(g.Runs) && medianOf(behind) >= saturatedBacklog {
		why = append(why, fmt.Sprintf("consumers %.0f%% behind", 100*medianOf(behind)))
	}
	if len(why) == 0 {
		return ""
	}
	if p := g.samples(brokerTotalP99); len(p) > 0 {
		why = append(why, fmt.Sprintf("in the broker p99 %s µs", us(medianOf(p))))
	}
	return strings.Join(why, ", ")
}

func brokerTotalP99(r *Run) (float64, bool) {
	p, ok := r.Broker[StageTotal]
	return float64(p.P99), ok && enough(p.Count, q99)
}

// lowestRate is label's group at its lowest paced rate with a send p50.
func lowestRate(groups []runGroup, label string) *runGroup {
	for i := range groups { // rates ascend within a label
		g := &groups[i]
		if g.Label == label && g.Rate > 0 && len(g.samples(sendP50)) > 0 {
			return g
		}
	}
	return nil
}

// disagreement gives a row's p99 range when its repetitions disagree
// (highest ≥ disagreeP99 × lowest), "" when they agree or are too few.
func disagreement(g runGroup) string {
	p99 := g.samples(sendP99)
	if len(p99) < 2 {
		return ""
	}
	lo, hi := spanOf(p99)
	if lo <= 0 || hi < disagreeP99*lo {
		return ""
	}
	return fmt.Sprintf("p99 %s–%s µs", us(lo), us(hi))
}

// calibrationAt is the tool's own floor measured at rate, nil when the
// calibration did not cover it.
func calibrationAt(s *Summary, rate float64) *CalibrationPoint {
	for i := range s.Calibration {
		if rate > 0 && s.Calibration[i].Rate == rate {
			return &s.Calibration[i]
		}
	}
	return nil
}

// floorLevel is the tool's own send latency at a percentile level (q99 or
// q999) against the null target: its send histogram when the calibration
// kept one, else pacing lag plus round trip, each at that level (an upper
// bound: the two tails seldom meet in one send). ok is false without
// enough samples.
func (p *CalibrationPoint) floorLevel(q int64) (v float64, ok bool) {
	pick := func(x Percentiles) int64 {
		if q == q999 {
			return x.P999
		}
		return x.P99
	}
	if p.Send.Count > 0 {
		return float64(pick(p.Send)), enough(p.Send.Count, q)
	}
	return float64(pick(p.Pacing) + pick(p.RoundTrip)), enough(p.Pacing.Count, q) && enough(p.RoundTrip.Count, q)
}

// floorCell is the results table's "tool floor p99 / p99.9" cell.
func floorCell(s *Summary, rate float64) string {
	cp := calibrationAt(s, rate)
	if cp == nil {
		return "—"
	}
	cellAt := func(q int64) string {
		v, ok := cp.floorLevel(q)
		if !ok {
			return "too few"
		}
		return us(v)
	}
	return cellAt(q99) + " / " + cellAt(q999)
}

// withinFloor reports whether a row's median send p99 is no higher than
// the tool's own send p99 at its rate, and the floor.
func withinFloor(s *Summary, g runGroup) (floor float64, within, known bool) {
	cp := calibrationAt(s, g.Rate)
	p99 := g.samples(sendP99)
	if cp == nil || len(p99) == 0 {
		return 0, false, false
	}
	f, ok := cp.floorLevel(q99)
	if !ok || f <= 0 {
		return 0, false, false
	}
	return f, medianOf(p99) <= f, true
}

// rowFlags are the notes of a results row: saturated, repetitions that
// disagree, a p99 within the tool's own floor.
func rowFlags(s *Summary, g runGroup, groups []runGroup) string {
	var flags []string
	if saturation(g, groups) != "" {
		flags = append(flags, "saturated")
	}
	if disagreement(g) != "" {
		flags = append(flags, "reps disagree")
	}
	if _, within, _ := withinFloor(s, g); within {
		flags = append(flags, "at the tool's floor")
	}
	if len(flags) == 0 {
		return ""
	}
	return strings.Join(flags, ", ")
}

// flagSentences are the verdict's bullets on saturated rows and rows
// whose repetitions disagree.
func flagSentences(groups []runGroup) []string {
	var sat, dis []string
	for _, g := range groups {
		if why := saturation(g, groups); why != "" {
			sat = append(sat, fmt.Sprintf("%s at %s (%s)", g.Label, rateTitle(g.Rate), why))
		}
		if span := disagreement(g); span != "" {
			dis = append(dis, fmt.Sprintf("%s at %s (%s over %d repetitions)", g.Label, rateTitle(g.Rate), span, len(g.samples(sendP99))))
		}
	}
	var out []string
	if len(sat) > 0 {
		out = append(out, fmt.Sprintf("**Saturated** (achieved < %.0f%% of the target, p50 ≥ %.0f× the mode's p50 at its lowest rate, or consumers ≥ %.0f%% behind): %s. "+
			"These rows measure queues, not the time a send takes.", 100*saturatedRate, saturatedP50, 100*saturatedBacklog, someOf(sat)))
	}
	if len(dis) > 0 {
		out = append(out, fmt.Sprintf("**Repetitions disagree** (highest p99 ≥ %.0f× the lowest): %s. Quote these rows only with their range, "+
			"or measure more repetitions.", disagreeP99, someOf(dis)))
	}
	return out
}

// toolFloorSentences say, from the calibration, which rows the tool's own
// floor explains: their p99 is within what loadgen alone measured at that
// rate against the null target, or the floor is at least half of it.
func toolFloorSentences(s *Summary, groups []runGroup) []string {
	paced := slices.ContainsFunc(groups, func(g runGroup) bool { return g.Rate > 0 && len(g.samples(sendP99)) > 0 })
	if !paced {
		return nil
	}
	if len(s.Calibration) == 0 {
		return []string{"**The tool's own floor** was not measured (no calibration), so the report cannot tell what loadgen adds to these latencies."}
	}
	var within, half []string
	known, largest := 0, 0.0
	for _, g := range groups {
		floor, in, ok := withinFloor(s, g)
		if !ok {
			continue
		}
		known++
		p99 := medianOf(g.samples(sendP99))
		share := floor / p99
		largest = math.Max(largest, share)
		switch {
		case in:
			within = append(within, fmt.Sprintf("%s at %s (p99 %s µs; the tool alone %s µs)", g.Label, rateTitle(g.Rate), us(p99), us(floor)))
		case share >= 0.5:
			half = append(half, fmt.Sprintf("%s at %s (%s of %s µs)", g.Label, rateTitle(g.Rate), us(floor), us(p99)))
		}
	}
	if known == 0 {
		return []string{"**The tool's own floor** was measured at none of the runs' rates with enough samples for a p99, so the report cannot tell what loadgen adds to these latencies."}
	}
	var out []string
	if len(within) > 0 {
		out = append(out, fmt.Sprintf("**Within the tool's own floor**: %s. At these rates loadgen alone, against a target that answers at once, "+
			"measures as much: their p99 is the tool's, not the broker's.", someOf(within)))
	}
	if len(half) > 0 {
		out = append(out, fmt.Sprintf("**Half or more the tool's**: loadgen alone measures at least half the p99 of %s; "+
			"read those p99s as upper bounds on what the broker takes.", someOf(half)))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("**The tool's own floor** is at most %.0f%% of any run's p99 at the same rate, so these latencies are the servers' and the machine's, not loadgen's.", 100*largest))
	}
	return out
}

// listedRows is how many rows a verdict point names before it refers to
// the flags column for the rest, so that it stays short.
const listedRows = 4

// someOf joins the first listedRows items and counts the rest, which
// the flags column names.
func someOf(items []string) string { return firstOf(items, "the flags column") }

// firstOf joins the first listedRows items and counts the rest, which
// where names.
func firstOf(items []string, where string) string {
	if len(items) <= listedRows {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more (see %s)", strings.Join(items[:listedRows], "; "), len(items)-listedRows, where)
}

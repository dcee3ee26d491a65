package loadgen

import (
	"math"
	"slices"
	"strconv"
)

// Histogram kinds: the suffixes of HistKey and the keys of Run.HgrmFiles.
const (
	HistSend     = "send"
	HistService  = "service"
	HistPacing   = "pacing"
	HistEndToEnd = "endToEnd"
	HistHiccup   = "hiccup" // the machine's stalls during the run (hiccup.go)
)

// HistKey is the key of a histogram in the map WriteCharts takes:
// "<run label>/<target rate>/<kind>", the rate spelled as strconv's
// shortest form ("20000", "2.5") or "max" for 0 (closed loop), the kind one
// of HistSend, HistService, HistPacing, HistEndToEnd. The histogram under a
// key holds every repetition of that label and rate merged.
func HistKey(label string, targetRate float64, kind string) string {
	return label + "/" + rateSpelling(targetRate) + "/" + kind
}

func rateSpelling(rate float64) string {
	if rate == 0 {
		return "max"
	}
	return strconv.FormatFloat(rate, 'f', -1, 64)
}

// rateTitle names a target rate for people: "20000 msg/s", or "max" for
// the closed loop.
func rateTitle(rate float64) string {
	if rate == 0 {
		return "max"
	}
	return rateSpelling(rate) + " msg/s"
}

// runGroup is the repetitions of one label at one target rate.
type runGroup struct {
	Label string
	Rate  float64
	Runs  []*Run
}

// groupRuns groups runs by (label, target rate): labels in the order they
// first appear, rates ascending with 0 (closed loop, the fastest) last,
// repetitions in order.
func groupRuns(runs []Run) []runGroup {
	var labels []string
	byLabel := map[string][]runGroup{}
	for i := range runs {
		r := &runs[i]
		gs, seen := byLabel[r.Label]
		if !seen {
			labels = append(labels, r.Label)
		}
		j := slices.IndexFunc(gs, func(g runGroup) bool { return g.Rate == r.TargetRate })
		if j < 0 {
			gs = append(gs, runGroup{Label: r.Label, Rate: r.TargetRate})
			j = len(gs) - 1
		}
		gs[j].Runs = append(gs[j].Runs, r)
		byLabel[r.Label] = gs
	}
	var out []runGroup
	for _, l := range labels {
		gs := byLabel[l]
		slices.SortStableFunc(gs, func(a, b runGroup) int { return compareRates(a.Rate, b.Rate) })
		for i := range gs {
			slices.SortStableFunc(gs[i].Runs, func(a, b *Run) int { return a.Repetition - b.Repetition })
		}
		out = append(out, gs...)
	}
	return out
}

func compareRates(a, b float64) int {
	switch {
	case a == b:
		return 0
	case a == 0:
		return 1
	case b == 0:
		return -1
	case a < b:
		return -1
	}
	return 1
}

// labelsOf lists the labels of groups in order, once each.
func labelsOf(groups []runGroup) []string {
	var out []string
	for _, g := range groups {
		if !slices.Contains(out, g.Label) {
			out = append(out, g.Label)
		}
	}
	return out
}

// samples collects one value per repetition; a repetition without data
// (f reports false) or with a NaN or infinite value is left out.
func (g runGroup) samples(f func(*Run) (float64, bool)) []float64 {
	var out []float64
	for _, r := range g.Runs {
		if v, ok := f(r); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// minBeyond is how many samples a percentile needs above it before the
// report prints it: the p99 of 500 sends is the 5th largest, which one
// scheduler hiccup decides. A percentile short of them is "too few".
const minBeyond = 10

// Percentile levels in thousandths of a percent, for exact arithmetic.
const (
	q50  = 50_000
	q90  = 90_000
	q99  = 99_000
	q999 = 99_900
)

// enough reports whether count samples put at least minBeyond above the
// percentile q (in thousandths of a percent).
func enough(count int64, q int64) bool { return count*(100_000-q) >= minBeyond*100_000 }

// minSamples is the fewest samples that make a percentile printable.
func minSamples(q int64) int64 { return (minBeyond*100_000 + 100_000 - q - 1) / (100_000 - q) }

// Metrics of a run, reporting false when the run has no data for them or,
// for a percentile, too few samples beyond it (enough).
func sendP50(r *Run) (float64, bool)  { return float64(r.Send.P50), enough(r.Send.Count, q50) }
func sendP90(r *Run) (float64, bool)  { return float64(r.Send.P90), enough(r.Send.Count, q90) }
func sendP99(r *Run) (float64, bool)  { return float64(r.Send.P99), enough(r.Send.Count, q99) }
func sendP999(r *Run) (float64, bool) { return float64(r.Send.P999), enough(r.Send.Count, q999) }
func sendMax(r *Run) (float64, bool)  { return float64(r.Send.Max), r.Send.Count > 0 }
func e2eP50(r *Run) (float64, bool)   { return float64(r.EndToEnd.P50), enough(r.EndToEnd.Count, q50) }
func hicP99(r *Run) (float64, bool)   { return float64(r.Hiccup.P99), enough(r.Hiccup.Count, q99) }
func hicP999(r *Run) (float64, bool)  { return float64(r.Hiccup.P999), enough(r.Hiccup.Count, q999) }
func hicMax(r *Run) (float64, bool)   { return float64(r.Hiccup.Max), r.Hiccup.Count > 0 }
func e2eP99(r *Run) (float64, bool)   { return float64(r.EndToEnd.P99), enough(r.EndToEnd.Count, q99) }
func achieved(r *Run) (float64, bool) { return r.AchievedRate, r.Measured > 0 || r.Sent > 0 }

// hasSend, hasE2E and hasHiccup report whether a run has any samples of
// the histogram, printable or not.
func hasSend(r *Run) bool   { return r.Send.Count > 0 }
func hasE2E(r *Run) bool    { return r.EndToEnd.Count > 0 }
func hasHiccup(r *Run) bool { return r.Hiccup.Count > 0 }

// medianOf is the median of xs (the mean of the middle two for an even
// count), NaN for none.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spanOf is the smallest and largest of xs, NaN for none.
func spanOf(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Comparison is the change from one result (A, the baseline) to another
// (B), metric by metric, for every label and target rate.
type Comparison struct {
	A, B string // what was compared: scenario and start time of each
	Rows []ComparisonRow
}

// ComparisonRow compares one metric of one label at one target rate.
// Each Run with that label and rate is one sample; A and B are the
// medians of the samples.
type ComparisonRow struct {
	Label      string
	TargetRate float64
	Metric     string  // e.g. "send p99 µs", "achieved msg/s"
	A, B       float64 // medians over repetitions; NaN where a side has no data
	ARuns      int     // samples on each side
	BRuns      int
	Change     float64 // (B−A)/A in %; NaN when it is undefined
	// Threshold is the change in % that counted as beyond noise:
	// max(5%, the larger relative spread (max−min)/median of either side),
	// or 10% when each side is a single run.
	Threshold   float64
	Significant bool // sample sets do not overlap and |Change| > Threshold
	Worse       bool // significant and in the bad direction (slower, or fewer msg/s)
	Note        string
}

// Significance rules (see Compare).
const (
	minThreshold       = 5.0  // %
	singleRunThreshold = 10.0 // %
)

// Notes of a ComparisonRow.
const (
	NoteSingleRun = "single run"
	NoteOnlyA     = "only in A"
	NoteOnlyB     = "only in B"
	NoteNoData    = "no data"
)

type metric struct {
	name         string
	value        func(*Run) (float64, bool)
	higherBetter bool
}

var compareMetrics = []metric{
	{"achieved msg/s", achieved, true},
	{"send p50 µs", sendP50, false},
	{"send p90 µs", sendP90, false},
	{"send p99 µs", sendP99, false},
	{"send p99.9 µs", sendP999, false},
	{"send max µs", sendMax, false},
	{"end-to-end p50 µs", e2eP50, false},
	{"end-to-end p99 µs", e2eP99, false},
}

// Compare compares b against the baseline a for every (label, target
// rate) either has, over achieved rate, send p50/p90/p99/p99.9/max and
// end-to-end p50/p99. A change counts as significant only if it is beyond
// run-to-run noise: the two sample sets (one sample per repetition) must
// not overlap AND the relative change of the medians must exceed
// max(5%, the larger relative spread (max−min)/median of either side). With
// a single run on each side there is no spread to judge by, so the
// threshold is 10% and the row says "single run". Metrics neither side has
// data for (end-to-end without consumers) are left out.
func Compare(a, b *Summary) Comparison {
	var c Comparison
	if a != nil {
		c.A = describeSummary(a)
	}
	if b != nil {
		c.B = describeSummary(b)
	}
	var ga, gb []runGroup
	if a != nil {
		ga = groupRuns(a.Runs)
	}
	if b != nil {
		gb = groupRuns(b.Runs)
	}
	type key struct {
		label string
		rate  float64
	}
	find := func(gs []runGroup, k key) *runGroup {
		for i := range gs {
			if gs[i].Label == k.label && gs[i].Rate == k.rate {
				return &gs[i]
			}
		}
		return nil
	}
	var keys []key
	for _, gs := range [][]runGroup{ga, gb} {
		for _, g := range gs {
			if k := (key{g.Label, g.Rate}); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		pa, pb := find(ga, k), find(gb, k)
		if pa == nil || pb == nil {
			note := NoteOnlyA
			if pa == nil {
				note = NoteOnlyB
			}
			c.Rows = append(c.Rows, ComparisonRow{Label: k.label, TargetRate: k.rate, Metric: "runs",
				A: math.NaN(), B: math.NaN(), Change: math.NaN(), Note: note,
				ARuns: groupLen(pa), BRuns: groupLen(pb)})
			continue
		}
		for _, m := range compareMetrics {
			sa, sb := pa.samples(m.value), pb.samples(m.value)
			if len(sa) == 0 && len(sb) == 0 {
				continue
			}
			c.Rows = append(c.Rows, compareSamples(k.label, k.rate, m, sa, sb))
		}
	}
	return c
}

func groupLen(g *runGroup) int {
	if g == nil {
		return 0
	}
	return len(g.Runs)
}

func compareSamples(label string, rate float64, m metric, sa, sb []float64) ComparisonRow {
	row := ComparisonRow{Label: label, TargetRate: rate, Metric: m.name,
		A: medianOf(sa), B: medianOf(sb), ARuns: len(sa), BRuns: len(sb), Change: math.NaN()}
	if len(sa) == 0 || len(sb) == 0 {
		row.Note = NoteNoData
		return row
	}
	switch {
	case row.A != 0:
		row.Change = 100 * (row.B - row.A) / math.Abs(row.A)
	case row.B == 0:
		row.Change = 0
	}
	if len(sa) == 1 && len(sb) == 1 {
		row.Threshold = singleRunThreshold
		row.Note = NoteSingleRun
	} else {
		row.Threshold = math.Max(minThreshold, 100*math.Max(relSpread(sa), relSpread(sb)))
	}
	loA, hiA := spanOf(sa)
	loB, hiB := spanOf(sb)
	apart := hiA < loB || hiB < loA
	beyond := math.IsNaN(row.Change) || math.Abs(row.Change) > row.Threshold // NaN: from 0 to something
	row.Significant = apart && beyond
	if row.Significant {
		up := row.B > row.A
		row.Worse = up != m.higherBetter
	}
	return row
}

// relSpread is (max−min)/median, 0 for a single sample; a zero median
// with a spread counts as infinitely noisy.
func relSpread(xs []float64) float64 {
	lo, hi := spanOf(xs)
	med := medianOf(xs)
	switch {
	case len(xs) < 2 || hi == lo:
		return 0
	case med == 0:
		return math.Inf(1)
	}
	return (hi - lo) / math.Abs(med)
}

func describeSummary(s *Summary) string {
	d := s.Scenario
	if d == "" {
		d = "(unnamed)"
	}
	if !s.Started.IsZero() {
		d += " " + s.Started.UTC().Format("2006-01-02 15:04:05Z")
	}
	if s.Versions.Rocketgo != "" {
		d += " (" + s.Versions.Rocketgo + ")"
	}
	return d
}

// WriteComparison writes c as an aligned text table, one row per label,
// rate and metric, ending with a line that counts the significant changes.
func WriteComparison(w io.Writer, c Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "A: %s\nB: %s\n\n", orDash(c.A), orDash(c.B))
	fmt.Fprintln(tw, "label\ttarget\tmetric\tA\tB\tchange\tthreshold\truns A/B\tverdict")
	var better, worse int
	for _, r := range c.Rows {
		verdict := "~ within noise"
		switch {
		case r.Note == NoteOnlyA || r.Note == NoteOnlyB || r.Note == NoteNoData:
			verdict = r.Note
		case r.Significant && r.Worse:
			verdict = "WORSE"
			worse++
		case r.Significant:
			verdict = "better"
			better++
		}
		if r.Note == NoteSingleRun {
			verdict += " (single run)"
		}
		threshold := "—"
		if r.Threshold > 0 {
			threshold = "±" + formatPct(r.Threshold)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.Label, rateTitle(r.TargetRate), r.Metric,
			formatNum(r.A), formatNum(r.B), formatChange(r), threshold, r.ARuns, r.BRuns, verdict)
	}
	fmt.Fprintf(tw, "\n%d significant changes: %d worse, %d better.\n", better+worse, worse, better)
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func formatNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func formatPct(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + "%"
}

func formatChange(r ComparisonRow) string {
	switch {
	case math.IsNaN(r.Change) && r.A == 0 && r.B != 0:
		return "from 0"
	case math.IsNaN(r.Change):
		return "—"
	case r.Change > 0:
		return "+" + formatPct(r.Change)
	}
	return formatPct(r.Change)
}

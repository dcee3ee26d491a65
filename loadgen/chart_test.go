package loadgen

import (
	"bytes"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"
)

// legendColor is the colour of a legend entry's first line or glyph.
func legendColor(t *testing.T, e legendEntry) color.Color {
	t.Helper()
	switch th := e.thumbs[0].(type) {
	case *plotter.Line:
		return th.Color
	case *plotter.Scatter:
		return th.Color
	}
	t.Fatalf("legend entry %q: thumbnail %T", e.name, e.thumbs[0])
	return nil
}

// TestKneeNamedInTheLegend: the knee is ringed on its curve and named in
// the legend, not written over the plot.
func TestKneeNamedInTheLegend(t *testing.T) {
	s, hists := syntheticSummary(t)
	p := vsRateChart(groupRuns(s.Runs))[0]
	var knees []string
	for _, e := range p.legend {
		if strings.HasPrefix(e.name, "knee of ") {
			knees = append(knees, e.name)
		}
	}
	if len(knees) != 2 || !strings.HasPrefix(knees[0], "knee of "+asyncLabel+": 19,") || !strings.HasSuffix(knees[0], " msg/s") {
		t.Errorf("knee legend entries %q, want one per mode, at about 19,9xx msg/s first", knees)
	}
	dir := t.TempDir()
	if _, err := WriteCharts(dir, s, hists); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(filepath.Join(dir, ChartVsRate))
	if n := bytes.Count(svg, []byte("knee")); n != 2 {
		t.Errorf("the chart writes %d knee texts, want the 2 in the legend", n)
	}
}

// TestOverTimeNeedsMoreThanFourPoints: a panel over time is drawn only
// when a run has more than four points, its x axis ends at the last one,
// and the report says why the chart is missing.
func TestOverTimeNeedsMoreThanFourPoints(t *testing.T) {
	withIntervals := func(n int) *Summary {
		s := &Summary{Scenario: "short"}
		for _, rate := range []float64{1000, 2000} {
			r := modeRun(roleAsync, "ASYNC_FLUSH", rate, 1, 200, 1000, 20000)
			for i := -1; i < n; i++ {
				r.Intervals = append(r.Intervals, Interval{Start: time.Duration(i) * time.Second, Acked: 1000, SendP99: 900, SendMax: 2000})
			}
			s.Runs = append(s.Runs, r)
		}
		return s
	}
	s := withIntervals(4)
	if panels := overTimeChart(groupRuns(s.Runs)); len(panels) != 0 {
		t.Errorf("%d panels over time for 4 points per run", len(panels))
	}
	dir := t.TempDir()
	charts, err := WriteCharts(dir, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(charts, ChartOverTime) {
		t.Errorf("charts %v: over time with 4 points", charts)
	}
	if err := WriteReport(dir, s, charts); err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !bytes.Contains(report, []byte("No chart over time: each run's measured window gave at most 4 one-second points")) {
		t.Errorf("the report does not say why there is no chart over time:\n%s", report)
	}

	panels := overTimeChart(groupRuns(withIntervals(5).Runs))
	if len(panels) != 2 {
		t.Fatalf("%d panels over time for 5 points per run at 2 rates", len(panels))
	}
	for _, p := range panels {
		if p.X.Min != 0 || p.X.Max != 4 {
			t.Errorf("%s: x axis %v..%v, want 0..4, the first and last points", p.Title.Text, p.X.Min, p.X.Max)
		}
	}
}

// TestPercentileAxisEndsWithTheData: the percentile chart's x axis ends
// at the last percentile the histograms reach, not at the next decade.
func TestPercentileAxisEndsWithTheData(t *testing.T) {
	s, hists := syntheticSummary(t)
	groups := groupRuns(s.Runs)
	last := 0.0
	for _, g := range groups {
		xys, _, _ := plottable(percentileCurve(hists[HistKey(g.Label, g.Rate, HistSend)]), true)
		last = max(last, xys[len(xys)-1].X)
	}
	p := percentileChart(groups, hists, HistSend)[0]
	if p.X.Max != last || last >= 1e5 {
		t.Errorf("x axis ends at %v, the data at %v", p.X.Max, last)
	}
}

// TestLabelColoursStable: a label has one colour in every chart and
// panel, also where another label is left out of a chart (here A, whose
// runs have too few sends for the p99 the throughput chart plots).
func TestLabelColoursStable(t *testing.T) {
	s := &Summary{Scenario: "colours"}
	for _, rate := range []float64{1000, 2000} {
		for _, label := range []string{"A", "B"} {
			n := int64(20000)
			if label == "A" {
				n = 500
			}
			r := modeRun(roleAsync, "ASYNC_FLUSH", rate, 1, 200, 1000+int64(rate), n)
			r.Label = label
			for i := 0; i < 6; i++ {
				r.Intervals = append(r.Intervals, Interval{Start: time.Duration(i) * time.Second, Acked: 100, SendP99: 900, SendMax: 2000})
			}
			s.Runs = append(s.Runs, r)
		}
	}
	groups := groupRuns(s.Runs)
	seen := map[string]color.Color{}
	charts := map[string][]*panel{
		ChartPercentiles: percentileChart(groups, nil, HistSend),
		ChartOverTime:    overTimeChart(groups),
		ChartVsRate:      vsRateChart(groups),
	}
	for name, panels := range charts {
		if len(panels) == 0 {
			t.Fatalf("no %s", name)
		}
		for _, p := range panels {
			for _, e := range p.legend {
				label, _, _ := strings.Cut(strings.TrimPrefix(e.name, "knee of "), " ")
				label = strings.TrimSuffix(label, ":")
				if label != "A" && label != "B" {
					continue
				}
				c := legendColor(t, e)
				if prev, ok := seen[label]; ok && prev != c {
					t.Errorf("%s: %q has colour %v, elsewhere %v", name, e.name, c, prev)
				}
				seen[label] = c
			}
		}
	}
	if seen["A"] == nil || seen["B"] == nil || seen["A"] == seen["B"] {
		t.Errorf("colours %v: want A and B each in one colour of its own", seen)
	}
}

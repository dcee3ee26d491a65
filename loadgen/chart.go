package loadgen

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The charts WriteCharts writes, by file name.
const (
	ChartPercentiles = "latency-percentiles.svg"
	ChartOverTime    = "latency-over-time.svg"
	ChartVsRate      = "latency-vs-throughput.svg"
	ChartEndToEnd    = "end-to-end.svg"
)

// Chart geometry: one panel; charts with several panels stack them.
const (
	chartWidth       = 9 * vg.Inch
	chartPanelHeight = 5.5 * vg.Inch
	logDecades       = 2 // a y range wider than this many decades gets a log axis
)

// WriteCharts writes SVG charts of s into dir and returns their file
// names, relative to dir, in the order below. A chart with no data to show
// is not written.
//
//   - latency-percentiles.svg: the send latency percentile distribution of
//     each label (and rate, when several were measured), x on
//     HdrHistogram's 1/(1−p) log scale;
//   - latency-over-time.svg: per-interval send p99 (max dotted) of every
//     run, one panel per target rate, faults marked and shaded until
//     recovery;
//   - latency-vs-throughput.svg: send p50 and p99 against achieved msg/s,
//     one curve per label, min–max error bars over repetitions, the knee
//     (see Knee) circled;
//   - end-to-end.svg: the end-to-end latency percentile distribution, when
//     consumers ran.
//
// hists holds the merged histograms of each label and rate under HistKey
// keys; the percentile charts use them and fall back to the Percentiles in
// the summary (the repetition with the median p99) where a key is missing,
// so that charts can be redrawn from summary.json alone.
func WriteCharts(dir string, s *Summary, hists map[string]*hdrhistogram.Histogram) ([]string, error) {
	if s == nil {
		return nil, fmt.Errorf("write charts in %s: nil summary", dir)
	}
	groups := groupRuns(s.Runs)
	charts := []struct {
		name   string
		panels []*panel
	}{
		{ChartPercentiles, percentileChart(groups, hists, HistSend)},
		{ChartOverTime, overTimeChart(groups)},
		{ChartVsRate, vsRateChart(groups)},
		{ChartEndToEnd, percentileChart(groups, hists, HistEndToEnd)},
		{ChartFailover, failoverChart(groups)},
	}
	var written []string
	for _, c := range charts {
		if len(c.panels) == 0 {
			continue
		}
		if err := saveSVG(filepath.Join(dir, c.name), c.panels); err != nil {
			return written, err
		}
		written = append(written, c.name)
	}
	return written, nil
}

// RedrawSummaryCharts redraws the charts drawn from the summary alone
// (over time, against throughput, failover), so that `loadgen report`
// gives a result folder this loadgen's charts with its report, and
// returns every chart the folder has, in report order. The percentile
// charts need the runs' histograms and are kept as they are.
func RedrawSummaryCharts(dir string, s *Summary) ([]string, error) {
	groups := groupRuns(s.Runs)
	for _, c := range []struct {
		name   string
		panels []*panel
	}{
		{ChartOverTime, overTimeChart(groups)},
		{ChartVsRate, vsRateChart(groups)},
		{ChartFailover, failoverChart(groups)},
	} {
		if len(c.panels) == 0 {
			continue
		}
		if err := saveSVG(filepath.Join(dir, c.name), c.panels); err != nil {
			return nil, err
		}
	}
	var charts []string
	for _, name := range []string{ChartPercentiles, ChartOverTime, ChartVsRate, ChartEndToEnd, ChartFailover} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			charts = append(charts, name)
		}
	}
	return charts, nil
}

// saveSVG draws panels stacked in one column, each with its legend below
// it so that the legend hides no data, and writes the SVG to path.
func saveSVG(path string, panels []*panel) (err error) {
	defer func() {
		// gonum/plot panics on some degenerate input; the charts filter
		// it out, and this keeps a miss from taking the run down.
		if r := recover(); r != nil {
			err = fmt.Errorf("draw chart %s: %v", path, r)
		}
	}()
	height := chartPanelHeight * vg.Length(len(panels))
	c := vgsvg.New(chartWidth, height)
	dc := draw.New(c)
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: chartWidth, Y: 0}, {X: chartWidth, Y: height}, {X: 0, Y: height}})

	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: 6 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p.Plot}
	}
	for i, cv := range plot.Align(grid, tiles, dc) {
		panels[i].Draw(panels[i].drawLegend(cv[0]))
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("draw chart %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

// panel is one plot of a chart and the entries of its legend.
type panel struct {
	*plot.Plot
	legend []legendEntry
}

type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

func (p *panel) addLegend(name string, thumbs ...plot.Thumbnailer) {
	p.legend = append(p.legend, legendEntry{name, thumbs})
}

// drawLegend draws the legend at the bottom of c, in as many columns as
// fit (up to three), and returns the part of c above it for the plot.
func (p *panel) drawLegend(c draw.Canvas) draw.Canvas {
	if len(p.legend) == 0 {
		return c
	}
	newLegend := func() plot.Legend {
		l := plot.NewLegend()
		l.TextStyle.Font.Variant = "Sans"
		l.TextStyle.Font.Size = vg.Points(10)
		l.Top, l.Left = true, true
		l.Padding = vg.Points(2)
		return l
	}
	probe := newLegend()
	for _, e := range p.legend {
		probe.Add(e.name, e.thumbs...)
	}
	entryW := probe.Rectangle(c).Size().X + vg.Points(18)
	width := c.Max.X - c.Min.X - vg.Points(40)
	cols := max(1, min(3, int(width/entryW), len(p.legend)))
	rows := (len(p.legend) + cols - 1) / cols
	legends := make([]plot.Legend, cols)
	for i := range legends {
		legends[i] = newLegend()
	}
	for i, e := range p.legend {
		legends[i/rows].Add(e.name, e.thumbs...)
	}
	band := legends[0].Rectangle(c).Size().Y + vg.Points(10)
	area := draw.Crop(c, vg.Points(40), 0, 0, -(c.Max.Y - c.Min.Y - band))
	colW := (area.Max.X - area.Min.X) / vg.Length(cols)
	for i := range legends {
		legends[i].Draw(draw.Crop(area, vg.Length(i)*colW, -(vg.Length(cols-i-1) * colW), 0, -vg.Points(4)))
	}
	return draw.Crop(c, 0, 0, band, 0)
}

// numberTicks relabels another ticker's major ticks as plain numbers with
// thousands separated ("20,000", "1,000,000").
type numberTicks struct{ plot.Ticker }

func (t numberTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := t.Ticker.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = groupDigits(ticks[i].Value)
		}
	}
	return ticks
}

func groupDigits(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	digits := strconv.FormatInt(int64(math.Abs(v)), 10)
	var b []byte
	if v < 0 {
		b = append(b, '-')
	}
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return string(b)
}

var (
	chartPalette = []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
		color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, // cyan
		color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
	}
	chartDashes = [][]vg.Length{
		nil,
		{vg.Points(6), vg.Points(3)},
		{vg.Points(10), vg.Points(3), vg.Points(2), vg.Points(3)},
		{vg.Points(2), vg.Points(2)},
		{vg.Points(12), vg.Points(4)},
	}
	dotted     = []vg.Length{vg.Points(1), vg.Points(2.5)}
	faultColor = color.RGBA{R: 0xc0, G: 0x10, B: 0x10, A: 0xff}
	faultShade = color.NRGBA{R: 0xe0, G: 0x40, B: 0x40, A: 0x30}
)

func paletteColor(i int) color.Color { return chartPalette[i%len(chartPalette)] }
func dashes(i int) []vg.Length       { return chartDashes[i%len(chartDashes)] }

// labelColor is label's colour in every chart and panel: its place among
// all the summary's labels, whatever a chart leaves out.
func labelColor(groups []runGroup, label string) color.Color {
	return paletteColor(slices.Index(labelsOf(groups), label))
}

// newPlot makes a plot with sans-serif text, a grid and number ticks;
// saveSVG draws its legend below it.
func newPlot(title, xLabel, yLabel string) *panel {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, f := range []*plot.Axis{&p.X, &p.Y} {
		f.Label.TextStyle.Font.Variant = "Sans"
		f.Tick.Label.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Variant = "Sans"
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Tick.Marker = numberTicks{plot.DefaultTicks{}}
	p.Y.Tick.Marker = numberTicks{plot.DefaultTicks{}}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 0xe0}
	g.Horizontal.Color = color.Gray{Y: 0xe0}
	p.Add(g)
	return &panel{Plot: p}
}

// setLatencyAxis gives the y axis a log scale when [lo, hi] spans more
// than logDecades decades, else a linear one from 0.
func setLatencyAxis(a *plot.Axis, lo, hi float64) {
	if lo > 0 && hi/lo > math.Pow10(logDecades) {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = numberTicks{plot.LogTicks{Prec: -1}}
		a.Min = math.Pow10(int(math.Floor(math.Log10(lo))))
		a.Max = math.Pow10(int(math.Ceil(math.Log10(hi))))
		return
	}
	a.Min = 0
	a.Max = hi * 1.05
	if a.Max <= 0 {
		a.Max = 1
	}
}

// series is one line of a chart.
type series struct {
	name  string
	xys   plotter.XYs
	color color.Color
	dash  []vg.Length
	width vg.Length
}

// plottable keeps the points whose y is a positive finite number (a log
// axis needs it) and whose x is finite and not negative (positive with
// logX), and reports the y range.
func plottable(xys plotter.XYs, logX bool) (out plotter.XYs, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range xys {
		okX := p.X > 0 || (!logX && p.X == 0)
		if okX && p.Y > 0 && !math.IsInf(p.X, 0) && !math.IsInf(p.Y, 0) {
			out = append(out, p)
			lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
		}
	}
	return out, lo, hi
}

// percentileTicks label HdrHistogram's percentile axis: x = 1/(1−p).
var percentileTicks = plot.ConstantTicks{
	{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"}, {Value: 100, Label: "99%"},
	{Value: 1e3, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"}, {Value: 1e5, Label: "99.999%"},
	{Value: 1e6, Label: "99.9999%"}, {Value: 1e7, Label: "99.99999%"},
}

// percentileChart plots the percentile distribution of kind for every
// group with data; nil when none has any.
func percentileChart(groups []runGroup, hists map[string]*hdrhistogram.Histogram, kind string) []*panel {
	var rates []float64
	for _, g := range groups {
		if !slices.Contains(rates, g.Rate) {
			rates = append(rates, g.Rate)
		}
	}
	var lines []series
	ylo, yhi, xhi := math.Inf(1), math.Inf(-1), 10.0
	for _, g := range groups {
		xys := percentileCurve(hists[HistKey(g.Label, g.Rate, kind)])
		if xys == nil {
			xys = percentileCurveOf(g, kind)
		}
		xys, lo, hi := plottable(xys, true)
		if len(xys) == 0 {
			continue
		}
		ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
		xhi = math.Max(xhi, xys[len(xys)-1].X)
		name := g.Label
		if len(rates) > 1 {
			name += " @ " + rateTitle(g.Rate)
		}
		lines = append(lines, series{name: name, xys: xys, width: vg.Points(1.6),
			color: labelColor(groups, g.Label), dash: dashes(slices.Index(rates, g.Rate))})
	}
	if len(lines) == 0 {
		return nil
	}
	if kind == HistSend {
		// The machine's own stalls over all runs, for scale: the floor
		// under every curve above.
		var stalls *hdrhistogram.Histogram
		for _, g := range groups {
			if h := hists[HistKey(g.Label, g.Rate, HistHiccup)]; h != nil && h.TotalCount() > 0 {
				if stalls == nil {
					stalls = hdrhistogram.Import(h.Export())
				} else {
					stalls.Merge(h)
				}
			}
		}
		if xys, lo, hi := plottable(percentileCurve(stalls), true); len(xys) > 0 {
			ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
			lines = append(lines, series{name: "machine stalls (1 ms sleeper, all runs)", xys: xys, width: vg.Points(1),
				color: color.Gray{Y: 0x88}, dash: []vg.Length{vg.Points(2), vg.Points(2)}})
		}
	}
	title, yLabel := "Send latency by percentile (from intended send time)", "send latency (µs)"
	if kind == HistEndToEnd {
		title, yLabel = "End-to-end latency by percentile (intended send → consumed)", "end-to-end latency (µs)"
	}
	p := newPlot(title, "percentile", yLabel)
	addLines(p, lines)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks
	p.X.Min, p.X.Max = 1, xhi // the axis ends where the data does
	setLatencyAxis(&p.Y, ylo, yhi)
	return []*panel{p}
}

func addLines(p *panel, lines []series) {
	for _, s := range lines {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			continue // NewLine rejects non-finite points, which plottable removed
		}
		l.Color, l.Dashes, l.Width = s.color, s.dash, s.width
		p.Add(l)
		if s.name != "" {
			p.addLegend(s.name, l)
		}
	}
}

// percentileCurve is a histogram's percentile distribution as the .hgrm
// rows give it (5 ticks per half-distance), x = 1/(1−p); nil when empty.
func percentileCurve(h *hdrhistogram.Histogram) plotter.XYs {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	var xys plotter.XYs
	for _, r := range viewOf(h).percentileRows(HgrmTicksPerHalf) {
		if r.level < 100 {
			xys = append(xys, plotter.XY{X: 100 / (100 - r.level), Y: float64(r.value)})
		}
	}
	return xys
}

// percentileCurveOf approximates the distribution from the summary's
// percentiles of the repetition with the median p99: min, p50, p90, p99,
// p99.9, p99.99, and the max at 1/(1−p) = count, where the largest of
// count samples sits.
func percentileCurveOf(g runGroup, kind string) plotter.XYs {
	pick := func(r *Run) Percentiles {
		if kind == HistEndToEnd {
			return r.EndToEnd
		}
		return r.Send
	}
	var reps []Percentiles
	for _, r := range g.Runs {
		if p := pick(r); p.Count > 0 {
			reps = append(reps, p)
		}
	}
	if len(reps) == 0 {
		return nil
	}
	slices.SortFunc(reps, func(a, b Percentiles) int { return int(a.P99 - b.P99) })
	p := reps[(len(reps)-1)/2]
	xys := plotter.XYs{{X: 1, Y: float64(p.Min)}, {X: 2, Y: float64(p.P50)}, {X: 10, Y: float64(p.P90)},
		{X: 100, Y: float64(p.P99)}, {X: 1e3, Y: float64(p.P999)}, {X: 1e4, Y: float64(p.P9999)}}
	if p.Count > 1e4 {
		xys = append(xys, plotter.XY{X: float64(p.Count), Y: float64(p.Max)})
	}
	return xys
}

// overTimeMinPoints: a panel over time whose runs have no more points
// than this shows no trend, and is left out.
const overTimeMinPoints = 4

// overTimeChart plots per-interval send p99 and max of every run, one
// panel per target rate with more than overTimeMinPoints points in some
// run, with the faults marked. The x axis ends at the last point.
func overTimeChart(groups []runGroup) []*panel {
	var rates []float64
	for _, g := range groups {
		if !slices.Contains(rates, g.Rate) {
			rates = append(rates, g.Rate)
		}
	}
	var panels []*panel
	for _, rate := range rates {
		var lines []series
		var faults []Fault
		ylo, yhi, xhi := math.Inf(1), math.Inf(-1), 0.0
		reps, points := 0, 0
		for _, g := range groups {
			if g.Rate == rate {
				reps = max(reps, len(g.Runs))
			}
		}
		for _, g := range groups {
			if g.Rate != rate {
				continue
			}
			c := labelColor(groups, g.Label)
			for ri, r := range g.Runs {
				p99, mx := intervalSeries(r)
				n := 0
				name := g.Label + " p99"
				if reps > 1 {
					name = fmt.Sprintf("%s rep %d p99", g.Label, r.Repetition)
				}
				named := false
				for _, seg := range p99 {
					seg, lo, hi := plottable(seg, false)
					if len(seg) == 0 {
						continue
					}
					ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
					xhi, n = math.Max(xhi, seg[len(seg)-1].X), n+len(seg)
					s := series{xys: seg, color: c, dash: dashes(ri), width: vg.Points(1.6)}
					if !named {
						s.name, named = name, true
					}
					lines = append(lines, s)
				}
				points = max(points, n)
				for _, seg := range mx {
					seg, lo, hi := plottable(seg, false)
					if len(seg) == 0 {
						continue
					}
					ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
					lines = append(lines, series{xys: seg, color: c, dash: dotted, width: vg.Points(0.9)})
				}
				for _, f := range r.Faults {
					if !slices.ContainsFunc(faults, func(x Fault) bool { return x.At == f.At && x.Kind == f.Kind && x.Target == f.Target }) {
						faults = append(faults, f)
					}
				}
			}
		}
		if len(lines) == 0 || points <= overTimeMinPoints {
			continue
		}
		title := "Send latency per interval"
		if len(rates) > 1 || rate != 0 {
			title += " at " + rateTitle(rate)
		}
		p := newPlot(title, "time since the measured window began (s)", "send latency (µs)")
		setLatencyAxis(&p.Y, ylo, yhi)
		addFaults(p, faults, p.Y.Min, p.Y.Max, xhi)
		addLines(p, lines)
		maxThumb, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: p.Y.Max}})
		if maxThumb != nil {
			maxThumb.Color, maxThumb.Dashes, maxThumb.Width = color.Gray{Y: 0x60}, dotted, vg.Points(0.9)
			p.addLegend("per-interval max (dotted)", maxThumb)
		}
		p.X.Min, p.X.Max = 0, xhi
		panels = append(panels, p)
	}
	return panels
}

// intervalSeries splits a run's measured intervals into line segments of
// p99 and max, broken where an interval acknowledged nothing.
func intervalSeries(r *Run) (p99, mx []plotter.XYs) {
	var cur99, curMax plotter.XYs
	flush := func() {
		if len(cur99) > 0 {
			p99, mx = append(p99, cur99), append(mx, curMax)
		}
		cur99, curMax = nil, nil
	}
	for _, iv := range r.Intervals {
		if iv.Start < 0 {
			continue
		}
		if iv.Acked == 0 && iv.SendP99 == 0 {
			flush()
			continue
		}
		x := iv.Start.Seconds()
		cur99 = append(cur99, plotter.XY{X: x, Y: float64(iv.SendP99)})
		curMax = append(curMax, plotter.XY{X: x, Y: float64(iv.SendMax)})
	}
	flush()
	return p99, mx
}

// addFaults draws each fault as a vertical line at its start, shaded until
// it recovered (to the last point when it did not), labelled with
// its kind and target.
func addFaults(p *panel, faults []Fault, ylo, yhi, xEnd float64) {
	if len(faults) == 0 || !(yhi > ylo) {
		return
	}
	var marks plotter.XYLabels
	for _, f := range faults {
		at := f.At.Seconds()
		if at < 0 {
			continue
		}
		until := xEnd
		label := f.Kind
		if f.Target != "" {
			label += " " + f.Target
		}
		if f.RecoveredAt > f.At {
			until = f.RecoveredAt.Seconds()
			label += fmt.Sprintf(", recovered after %s s", strconv.FormatFloat((f.RecoveredAt-f.At).Seconds(), 'f', 1, 64))
		} else {
			label += ", not recovered"
		}
		if shade, err := plotter.NewPolygon(plotter.XYs{{X: at, Y: ylo}, {X: until, Y: ylo}, {X: until, Y: yhi}, {X: at, Y: yhi}}); err == nil && until > at {
			shade.Color = faultShade
			shade.LineStyle.Width = 0
			p.Add(shade)
		}
		if line, err := plotter.NewLine(plotter.XYs{{X: at, Y: ylo}, {X: at, Y: yhi}}); err == nil {
			line.Color, line.Width = faultColor, vg.Points(1.2)
			p.Add(line)
		}
		marks.XYs = append(marks.XYs, plotter.XY{X: at, Y: yhi})
		marks.Labels = append(marks.Labels, label)
	}
	if len(marks.XYs) == 0 {
		return
	}
	if l, err := plotter.NewLabels(marks); err == nil {
		for i := range l.TextStyle {
			l.TextStyle[i].Color = faultColor
			l.TextStyle[i].Font.Variant = "Sans"
			l.TextStyle[i].Font.Size = vg.Points(9)
			l.TextStyle[i].YAlign = draw.YTop
		}
		l.Offset = vg.Point{X: vg.Points(3), Y: -vg.Points(2)}
		p.Add(l)
	}
}

// curvePoint is one (label, rate) of the latency–throughput curve with the
// spread of its repetitions.
type curvePoint struct {
	Point
	rateLo, rateHi, p50Lo, p50Hi, p99Lo, p99Hi float64
	reps                                       int
	target                                     float64
}

// throughputCurves are the latency–throughput points of each label, in
// order of target rate; medians over repetitions.
func throughputCurves(groups []runGroup) (labels []string, curves map[string][]curvePoint) {
	curves = map[string][]curvePoint{}
	for _, g := range groups {
		p50, p99, rate := g.samples(sendP50), g.samples(sendP99), g.samples(achieved)
		if len(p99) == 0 || len(rate) == 0 {
			continue
		}
		cp := curvePoint{Point: Point{Rate: medianOf(rate), P50: medianOf(p50), P99: medianOf(p99)}, reps: len(p99), target: g.Rate}
		cp.rateLo, cp.rateHi = spanOf(rate)
		cp.p50Lo, cp.p50Hi = spanOf(p50)
		cp.p99Lo, cp.p99Hi = spanOf(p99)
		if _, ok := curves[g.Label]; !ok {
			labels = append(labels, g.Label)
		}
		curves[g.Label] = append(curves[g.Label], cp)
	}
	return labels, curves
}

// errPoints gives gonum's error bars absolute low and high ends.
type errPoints struct {
	plotter.XYs
	xlo, xhi, ylo, yhi []float64
}

func (e errPoints) XError(i int) (float64, float64) {
	return e.XYs[i].X - e.xlo[i], e.xhi[i] - e.XYs[i].X
}
func (e errPoints) YError(i int) (float64, float64) {
	return e.XYs[i].Y - e.ylo[i], e.yhi[i] - e.XYs[i].Y
}

// vsRateChart plots send p50 and p99 against achieved throughput, one
// curve per label, with min–max error bars and the knee.
func vsRateChart(groups []runGroup) []*panel {
	labels, curves := throughputCurves(groups)
	if len(labels) == 0 {
		return nil
	}
	p := newPlot("Send latency against achieved throughput", "achieved throughput (msg/s)", "send latency (µs)")
	ylo, yhi, xhi := math.Inf(1), math.Inf(-1), 0.0
	for _, l := range labels {
		for _, cp := range curves[l] {
			for _, v := range []float64{cp.P50, cp.P99, cp.p50Lo, cp.p99Hi} {
				if v > 0 && !math.IsNaN(v) {
					ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
				}
			}
			xhi = math.Max(xhi, cp.rateHi)
		}
	}
	if math.IsInf(yhi, -1) {
		return nil
	}
	setLatencyAxis(&p.Y, ylo, yhi)
	_, logY := p.Y.Scale.(plot.LogScale)
	for _, l := range labels {
		c := labelColor(groups, l)
		for qi, q := range []struct {
			name  string
			y     func(curvePoint) (v, lo, hi float64)
			dash  []vg.Length
			glyph draw.GlyphDrawer
		}{
			{"p50", func(cp curvePoint) (float64, float64, float64) { return cp.P50, cp.p50Lo, cp.p50Hi }, nil, draw.CircleGlyph{}},
			{"p99", func(cp curvePoint) (float64, float64, float64) { return cp.P99, cp.p99Lo, cp.p99Hi }, chartDashes[1], draw.TriangleGlyph{}},
		} {
			var e errPoints
			spread := false
			for _, cp := range curves[l] {
				v, lo, hi := q.y(cp)
				if !(v > 0) || math.IsNaN(v) || (logY && !(lo > 0)) {
					continue
				}
				e.XYs = append(e.XYs, plotter.XY{X: cp.Rate, Y: v})
				e.xlo, e.xhi, e.ylo, e.yhi = append(e.xlo, cp.rateLo), append(e.xhi, cp.rateHi), append(e.ylo, lo), append(e.yhi, hi)
				spread = spread || cp.reps > 1
			}
			if len(e.XYs) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(e.XYs)
			if err != nil {
				continue
			}
			line.Color, line.Dashes, line.Width = c, q.dash, vg.Points(1.6)
			points.Color, points.Shape, points.Radius = c, q.glyph, vg.Points(3)
			p.Add(line, points)
			p.addLegend(l+" "+q.name, line, points)
			if spread {
				if yb, err := plotter.NewYErrorBars(e); err == nil {
					yb.Color, yb.Width = c, vg.Points(0.8)
					p.Add(yb)
				}
				if qi == 1 {
					if xb, err := plotter.NewXErrorBars(e); err == nil {
						xb.Color, xb.Width = c, vg.Points(0.8)
						p.Add(xb)
					}
				}
			}
		}
		pts := make([]Point, len(curves[l]))
		for i, cp := range curves[l] {
			pts[i] = cp.Point
		}
		// The knee is ringed on the curve and named in the legend, where
		// its words cover no data.
		if k, ok := Knee(pts); ok {
			kp := curves[l][k]
			ring, err := plotter.NewScatter(plotter.XYs{{X: kp.Rate, Y: kp.P99}})
			if err == nil {
				ring.Color, ring.Shape, ring.Radius = c, draw.RingGlyph{}, vg.Points(9)
				p.Add(ring)
				name := fmt.Sprintf("knee of %s: %s msg/s", l, groupDigits(math.Round(kp.Rate)))
				if k == 0 {
					name = fmt.Sprintf("knee of %s: at or below %s msg/s", l, groupDigits(math.Round(kp.Rate)))
				}
				p.addLegend(name, ring)
			}
		}
	}
	p.X.Min, p.X.Max = 0, math.Max(xhi*1.08, 1)
	return []*panel{p}
}

package loadgen

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ChartFailover shows, by mode, how long each failover left the
// producers without SEND_OK, how long election and routing took, the
// SEND_OK rate around each failover, and the acknowledged messages lost
// and delivered twice.
const ChartFailover = "failover.svg"

// failoverStats are one label's failovers.
type failoverStats struct {
	label                        string
	unavailable, elected, routed []time.Duration
	unrecovered                  int
	lost, dups                   int64
	runs                         int
}

// failoverByLabel gathers the failovers of every run, by label in report
// order; labels without one are left out.
func failoverByLabel(groups []runGroup) []*failoverStats {
	var out []*failoverStats
	for _, g := range groups {
		var st *failoverStats
		for _, r := range g.Runs {
			if len(r.Failovers) == 0 {
				continue
			}
			if st == nil {
				i := slices.IndexFunc(out, func(s *failoverStats) bool { return s.label == g.Label })
				if i < 0 {
					out = append(out, &failoverStats{label: g.Label})
					i = len(out) - 1
				}
				st = out[i]
			}
			st.runs++
			st.lost += r.Lost
			st.dups += r.Duplicates
			for _, f := range r.Failovers {
				if f.Recovered {
					st.unavailable = append(st.unavailable, f.Unavailable)
				} else {
					st.unrecovered++
				}
				if f.Elected > 0 {
					st.elected = append(st.elected, f.Elected)
				}
				if f.Routed > 0 {
					st.routed = append(st.routed, f.Routed)
				}
			}
		}
	}
	return out
}

// durationStats returns the median and the maximum.
func durationStats(ds []time.Duration) (p50, mx time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

func p50MaxCell(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	p50, mx := durationStats(ds)
	return fmt.Sprintf("%s / %s", formatSeconds2(p50), formatSeconds2(mx))
}

// formatSeconds2 spells d in seconds to the hundredth.
func formatSeconds2(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// failoverSentences are the verdict's points on failover.
func failoverSentences(groups []runGroup) []string {
	var out []string
	for _, st := range failoverByLabel(groups) {
		n := len(st.unavailable) + st.unrecovered
		sent := fmt.Sprintf("**Failover, %s**: over %d loss(es) of the master", st.label, n)
		if len(st.unavailable) > 0 {
			p50, mx := durationStats(st.unavailable)
			sent += fmt.Sprintf(", producers went without SEND_OK for %s at the median and %s at most", formatSeconds2(p50), formatSeconds2(mx))
		}
		if st.unrecovered > 0 {
			sent += fmt.Sprintf("; %d never got SEND_OK again within the run", st.unrecovered)
		}
		if len(st.elected) > 0 {
			p50, _ := durationStats(st.elected)
			sent += fmt.Sprintf("; the controllers named a new master after %s (median)", formatSeconds2(p50))
		}
		sent += fmt.Sprintf("; %d acknowledged message(s) lost and %d delivered twice in those %d run(s).", st.lost, st.dups, st.runs)
		out = append(out, sent)
	}
	return out
}

// writeFailovers writes the failover section: a line per label, then a
// row per failover.
func writeFailovers(b *strings.Builder, groups []runGroup) {
	stats := failoverByLabel(groups)
	if len(stats) == 0 {
		return
	}
	b.WriteString("## Failover\n\n")
	b.WriteString("A failover is a fault that took the group's master (kill -9, stop, pause, or a partition from the namesrvs and controllers). " +
		"*Unavailable*: from the last SEND_OK the producers heard before the longest silence that follows the fault to the first SEND_OK after it " +
		"(measured on the answers' arrival, to 10 ms). *Elected*: from the fault until the controllers named another master (controller mode). " +
		"*Routed*: until every live namesrv routed a running master again — another broker, or the one hit once it was restarted. " +
		"Lost (acknowledged, never consumed) and duplicates count whole runs. Times are median / max.\n\n")
	b.WriteString("| mode | failovers | unavailable | elected | routed | not recovered | lost | duplicates |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, st := range stats {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %d | %d | %d |\n", cell(st.label), len(st.unavailable)+st.unrecovered,
			p50MaxCell(st.unavailable), p50MaxCell(st.elected), p50MaxCell(st.routed), st.unrecovered, st.lost, st.dups)
	}
	b.WriteString("\nEach failover:\n\n")
	b.WriteString("| mode | rep | at | fault | hit | new master | last SEND_OK | first SEND_OK | unavailable | elected | routed |\n")
	b.WriteString("|---|--:|--:|---|---|---|--:|--:|--:|--:|--:|\n")
	for _, g := range groups {
		for _, r := range g.Runs {
			for _, f := range r.Failovers {
				first, unavail := formatSeconds2(f.FirstOK), formatSeconds2(f.Unavailable)
				if !f.Recovered {
					first, unavail = "none", "≥ "+unavail
				}
				fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(g.Label), r.Repetition, formatSeconds2(f.At),
					cell(f.Kind), cell(f.Node), cell(orDash(f.NewMaster)), formatSeconds2(f.LastOK), first, unavail,
					orDash(nonZero(f.Elected)), orDash(nonZero(f.Routed)))
			}
		}
	}
	b.WriteString("\n")
}

func nonZero(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return formatSeconds2(d)
}

// failoverChart draws the failover panels; nil without failovers.
func failoverChart(groups []runGroup) []*panel {
	stats := failoverByLabel(groups)
	if len(stats) == 0 {
		return nil
	}
	var labels, names []string // names: the labels wrapped to fit under their category
	for _, st := range stats {
		labels = append(labels, st.label)
		names = append(names, wrapWords(st.label, 22))
	}
	colorOf := func(label string) int { return slices.Index(labels, label) }

	// Unavailability, election and routing per failover, by mode.
	times := newPlot("Time without a master, per failover", "", "seconds")
	times.NominalX(names...)
	kinds := []struct {
		name  string
		get   func(*failoverStats) []time.Duration
		shape draw.GlyphDrawer
		shift float64
	}{
		{"unavailable (last → first SEND_OK)", func(s *failoverStats) []time.Duration { return s.unavailable }, draw.CircleGlyph{}, -0.2},
		{"elected (fault → controllers name a master)", func(s *failoverStats) []time.Duration { return s.elected }, draw.TriangleGlyph{}, 0},
		{"routed (fault → namesrvs route a master)", func(s *failoverStats) []time.Duration { return s.routed }, draw.SquareGlyph{}, 0.2},
	}
	hi := 0.0
	for ki, k := range kinds {
		var pts plotter.XYs
		for i, st := range stats {
			for _, d := range k.get(st) {
				pts = append(pts, plotter.XY{X: float64(i) + k.shift, Y: d.Seconds()})
				hi = math.Max(hi, d.Seconds())
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			continue
		}
		sc.GlyphStyle.Shape, sc.GlyphStyle.Color, sc.GlyphStyle.Radius = k.shape, paletteColor(ki), vg.Points(3)
		times.Add(sc)
		times.addLegend(k.name, sc)
	}
	times.X.Min, times.X.Max = -0.6, float64(len(names))-0.4
	times.Y.Min, times.Y.Max = 0, math.Max(hi*1.1, 1)
	panels := []*panel{times}

	// SEND_OK answers around each failover, aligned at the fault.
	rate := newPlot("SEND_OK answers around each failover", "seconds since the fault", "SEND_OK per 100 ms")
	named := map[string]bool{}
	var yhi float64
	for _, g := range groups {
		for ri, r := range g.Runs {
			for _, f := range r.Failovers {
				var pts plotter.XYs
				for i, n := range r.OKPer100ms {
					x := (time.Duration(i)*100*time.Millisecond - f.At).Seconds()
					if x < -2 || x > 20 {
						continue
					}
					pts = append(pts, plotter.XY{X: x, Y: float64(n)})
					yhi = math.Max(yhi, float64(n))
				}
				if len(pts) < 2 {
					continue
				}
				s := series{xys: pts, color: paletteColor(colorOf(g.Label)), dash: dashes(ri), width: vg.Points(1.1)}
				if !named[g.Label] {
					s.name, named[g.Label] = g.Label, true
				}
				addLines(rate, []series{s})
			}
		}
	}
	if yhi > 0 {
		rate.X.Min, rate.X.Max = -2, 20
		// A burst of answers right after a failover (sends queued
		// meanwhile) would flatten the rest: show up to 3× the usual rate.
		rate.Y.Min, rate.Y.Max = 0, min(yhi, 3*usualRate(groups))*1.1
		panels = append(panels, rate)
	}

	// Acknowledged loss and duplicates, by mode.
	title := "Acknowledged messages lost and delivered twice, by mode (whole runs)"
	if !slices.ContainsFunc(stats, func(s *failoverStats) bool { return s.lost > 0 || s.dups > 0 }) {
		title += ": none"
	}
	loss := newPlot(title, "", "messages")
	loss.NominalX(names...)
	var lost, dups plotter.Values
	top := 0.0
	for _, st := range stats {
		lost, dups = append(lost, float64(st.lost)), append(dups, float64(st.dups))
		top = math.Max(top, math.Max(float64(st.lost), float64(st.dups)))
	}
	for i, v := range []struct {
		name string
		vals plotter.Values
	}{{"acknowledged, never consumed", lost}, {"delivered more than once", dups}} {
		bars, err := plotter.NewBarChart(v.vals, vg.Points(14))
		if err != nil {
			continue
		}
		bars.Color, bars.LineStyle.Width = paletteColor(3+i), 0
		bars.Offset = vg.Points(float64(i*16 - 8))
		loss.Add(bars)
		loss.addLegend(v.name, bars)
	}
	loss.X.Min, loss.X.Max = -0.6, float64(len(names))-0.4
	loss.Y.Min, loss.Y.Max = 0, math.Max(top*1.2, 1)
	panels = append(panels, loss)
	return panels
}

// usualRate is the median of the non-zero SEND_OK counts per 100 ms of
// the runs with failovers; +Inf without any.
func usualRate(groups []runGroup) float64 {
	var xs []float64
	for _, g := range groups {
		for _, r := range g.Runs {
			if len(r.Failovers) == 0 {
				continue
			}
			for _, n := range r.OKPer100ms {
				if n > 0 {
					xs = append(xs, float64(n))
				}
			}
		}
	}
	if len(xs) == 0 {
		return math.Inf(1)
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// wrapWords breaks s into lines of at most width bytes at spaces.
func wrapWords(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines, line = append(lines, line), w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

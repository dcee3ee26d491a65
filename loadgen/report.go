package loadgen

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReportFile is the name of the report in a result folder.
const ReportFile = "report.md"

// Broker roles and flush types as the summary spells them.
const (
	roleSync  = "SYNC_MASTER"
	roleAsync = "ASYNC_MASTER"
	flushSync = "SYNC_FLUSH"
)

// WriteReport writes dir/report.md: a verdict in words computed from s,
// the machine, topology and workload, tables of latency and delivery per
// label and rate, the faults, the charts (file names relative to dir, as
// WriteCharts returns them), the notes and the command that reproduces the
// run. Runs without samples show "no data".
func WriteReport(dir string, s *Summary, charts []string) error {
	path := filepath.Join(dir, ReportFile)
	if s == nil {
		return fmt.Errorf("write %s: nil summary", path)
	}
	var b strings.Builder
	writeReport(&b, s, dir, charts)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func writeReport(b *strings.Builder, s *Summary, dir string, charts []string) {
	groups := groupRuns(s.Runs)
	title := "Load test report"
	if s.Scenario != "" {
		title = s.Scenario + ": load test report"
	}
	fmt.Fprintf(b, "# %s\n\n", title)
	var head []string
	if !s.Started.IsZero() {
		head = append(head, "Started "+s.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if s.Profile != "" {
		head = append(head, "profile "+s.Profile)
	}
	if s.Duration > 0 {
		head = append(head, formatDuration(s.Duration)+" in all")
	}
	if s.Versions.Rocketgo != "" {
		head = append(head, "rocketgo "+s.Versions.Rocketgo)
	}
	if s.Versions.Loadgen != "" && s.Versions.Loadgen != s.Versions.Rocketgo {
		head = append(head, "loadgen "+s.Versions.Loadgen)
	}
	if len(head) > 0 {
		fmt.Fprintf(b, "%s.\n\n", strings.Join(head, " · "))
	}

	b.WriteString("## Verdict\n\n")
	for _, v := range verdict(s, groups) {
		fmt.Fprintf(b, "- %s\n", v)
	}
	b.WriteString("\n")

	writeSetup(b, s)
	writeCalibration(b, s)
	writeCapacity(b, s)
	writeModel(b, s)
	writeSizing(b, s)
	writeResults(b, s, groups)
	writeFaults(b, groups)
	writeFailovers(b, groups)

	if len(charts) > 0 {
		b.WriteString("## Charts\n\n")
		for _, c := range charts {
			rel := chartLink(dir, c)
			caption, about := chartCaption(filepath.Base(c))
			fmt.Fprintf(b, "### %s\n\n![%s](%s)\n\n", caption, caption, rel)
			if about != "" {
				fmt.Fprintf(b, "%s\n\n", about)
			}
		}
		if n := mostIntervals(s.Runs); n > 0 && n <= overTimeMinPoints && !slices.ContainsFunc(charts, func(c string) bool { return filepath.Base(c) == ChartOverTime }) {
			points := "points"
			if n == 1 {
				points = "point"
			}
			fmt.Fprintf(b, "No chart over time: each run's measured window gave at most %d one-second %s, too few to show a trend "+
				"(it takes more than %d; measure windows longer than %d s).\n\n", n, points, overTimeMinPoints, overTimeMinPoints)
		}
	}

	if len(s.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range s.Notes {
			fmt.Fprintf(b, "- %s\n", oneLine(n))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Files\n\n")
	hgrms := 0
	for _, r := range s.Runs {
		hgrms += len(r.HgrmFiles)
	}
	fmt.Fprintf(b, "- `%s`: everything in this report, machine-readable (compare two folders with `loadgen compare`).\n", SummaryFile)
	if hgrms > 0 {
		fmt.Fprintf(b, "- %d `.hgrm` files: the full latency percentile distribution of each run in HdrHistogram's text format (µs); "+
			"HdrHistogram's online plotter reads them. `summary.json` names them under `runs[].hgrmFiles`.\n", hgrms)
	}
	b.WriteString("\n## Reproduce\n\n")
	if s.Command != "" {
		fmt.Fprintf(b, "```sh\n%s\n```\n", s.Command)
	} else {
		b.WriteString("The command line was not recorded.\n")
	}
}

// mostIntervals is the most measured intervals with acknowledged sends in
// any run: the points its line over time has.
func mostIntervals(runs []Run) int {
	most := 0
	for _, r := range runs {
		n := 0
		for _, iv := range r.Intervals {
			if iv.Start >= 0 && (iv.Acked > 0 || iv.SendP99 > 0) {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

func chartLink(dir, c string) string {
	if filepath.IsAbs(c) || strings.HasPrefix(filepath.Clean(c), filepath.Clean(dir)+string(filepath.Separator)) {
		if rel, err := filepath.Rel(dir, c); err == nil {
			c = rel
		}
	}
	return filepath.ToSlash(c)
}

func chartCaption(name string) (caption, about string) {
	switch name {
	case ChartPercentiles:
		return "Send latency percentile distribution", "Latency from the intended send time at each percentile; " +
			"the x axis stretches the tail (1/(1−p) on a log scale), as HdrHistogram plots do."
	case ChartOverTime:
		return "Send latency over time", "Per-interval p99 (solid) and max (dotted) of each run; " +
			"red lines mark faults, shaded until p99 and rate recovered."
	case ChartVsRate:
		return "Latency against throughput", "Median p50 and p99 over repetitions at each offered load, " +
			"bars from the fastest to the slowest repetition; a ring marks the knee, which the legend names."
	case ChartEndToEnd:
		return "End-to-end latency percentile distribution", "From the intended send time to consumption, on one host clock."
	case ChartFailover:
		return "Failover", "Top: for each loss of a master, how long producers went without SEND_OK (circles), and when the controllers " +
			"named a new master (triangles) and the namesrvs routed one (squares), from the fault. Middle: SEND_OK answers per 100 ms " +
			"around each failover, aligned at the fault. Bottom: acknowledged messages never consumed and messages delivered twice, by mode."
	}
	return strings.TrimSuffix(name, filepath.Ext(name)), ""
}

// verdict is the report's opening list, one short point each, every
// number computed from s.
func verdict(s *Summary, groups []runGroup) []string {
	if len(groups) == 0 {
		return []string{"**Nothing measured**: no runs were measured, so there is nothing to judge."}
	}
	var out []string
	switch {
	case !slices.ContainsFunc(s.Runs, func(r Run) bool { return hasSend(&r) }):
		out = append(out, "**No latency**: no send was acknowledged in any run, so there is no latency to report.")
	case !slices.ContainsFunc(groups, func(g runGroup) bool { return len(g.samples(sendP99)) > 0 }):
		out = append(out, fmt.Sprintf("**No tail latency**: no run acknowledged the %d sends a p99 needs (%d beyond it), so none is judged; "+
			"measure longer windows or higher rates.", minSamples(q99), minBeyond))
	default:
		out = append(out, modeSentences(s, groups)...)
		out = append(out, kneeSentences(s, groups)...)
		out = append(out, flagSentences(groups)...)
		out = append(out, toolFloorSentences(s, groups)...)
		out = append(out, peakSentence(s, groups))
	}
	out = append(out, hiccupSentence(groups))
	out = append(out, floorSentence(s, groups))
	out = append(out, diskSentence(s, groups))
	out = append(out, deliverySentences(s, groups)...)
	out = append(out, faultSentences(groups)...)
	out = append(out, failoverSentences(groups)...)
	return slices.DeleteFunc(out, func(x string) bool { return x == "" })
}

// baselineLabel is the label the others are compared with: the first
// ASYNC_MASTER one, else the first.
func baselineLabel(s *Summary, labels []string) string {
	for _, l := range labels {
		if r := firstRun(s, l); r != nil && r.Mode == roleAsync {
			return l
		}
	}
	return labels[0]
}

func firstRun(s *Summary, label string) *Run {
	for i := range s.Runs {
		if s.Runs[i].Label == label {
			return &s.Runs[i]
		}
	}
	return nil
}

func findGroup(groups []runGroup, label string, rate float64) *runGroup {
	for i := range groups {
		if groups[i].Label == label && groups[i].Rate == rate {
			return &groups[i]
		}
	}
	return nil
}

// modeSentences compare every label with a reference at the highest
// target rate both measured: the baseline, or, for a label that differs
// from it in both replication and flush, an earlier label that differs in
// one, so that a difference belongs to one setting.
func modeSentences(s *Summary, groups []runGroup) []string {
	labels := labelsOf(groups)
	if len(labels) < 2 {
		return nil
	}
	base := baselineLabel(s, labels)
	knees := kneeTargets(groups)
	var out []string
	for li, l := range labels {
		if l == base {
			continue
		}
		ref, axes := base, settingsApart(s, base, l)
		if axes > 1 {
			for _, o := range labels[:li] {
				if o != l && settingsApart(s, o, l) == 1 {
					ref, axes = o, 1
					break
				}
			}
		}
		// Compare at the highest paced rate both sustain (at or below both
		// knees), else the highest paced rate in common, else flat out:
		// the closed loop (0) compares different loads.
		var ga, gb *runGroup
		best := -1
		for _, g := range groups {
			if g.Label != l || len(g.samples(sendP99)) == 0 {
				continue
			}
			other := findGroup(groups, ref, g.Rate)
			if other == nil || len(other.samples(sendP99)) == 0 {
				continue
			}
			rank := 0
			if g.Rate != 0 {
				rank = 1
				if sustained(knees, ref, g.Rate) && sustained(knees, l, g.Rate) {
					rank = 2
				}
			}
			if rank >= best {
				ga, gb, best = other, findGroup(groups, l, g.Rate), rank
			}
		}
		if ga == nil {
			out = append(out, fmt.Sprintf("**%s vs %s**: no target rate in common with data, so they cannot be compared.", l, ref))
			continue
		}
		out = append(out, compareModes(s, *ga, *gb, axes))
	}
	return out
}

// settingsApart counts the settings (replication, flush) in which the
// runs of two labels differ.
func settingsApart(s *Summary, a, b string) int {
	ra, rb := firstRun(s, a), firstRun(s, b)
	if ra == nil || rb == nil {
		return 0
	}
	n := 0
	if ra.Mode != rb.Mode {
		n++
	}
	if ra.Flush != rb.Flush {
		n++
	}
	return n
}

// compareModes is the verdict's point on label gb against the reference
// ga at one rate; axes is how many settings they differ in.
func compareModes(s *Summary, ga, gb runGroup, axes int) string {
	ref, l := ga.Label, gb.Label
	sa, sb := ga.samples(sendP99), gb.samples(sendP99)
	a50, b50 := medianOf(ga.samples(sendP50)), medianOf(gb.samples(sendP50))
	a99, b99 := medianOf(sa), medianOf(sb)
	d50, d99 := b50-a50, b99-a99
	head := fmt.Sprintf("**%s vs %s** at %s: ", l, ref, rateTitle(ga.Rate))
	if ga.Rate == 0 {
		head = fmt.Sprintf("**%s vs %s** flat out (closed loop): ", l, ref)
	}
	if fa, ina, oka := withinFloor(s, ga); oka && ina {
		if _, inb, _ := withinFloor(s, gb); inb {
			return head + fmt.Sprintf("both within the tool's own floor (p99 %s and %s µs; loadgen alone %s µs), so no difference between them is the broker's.",
				us(a99), us(b99), us(fa))
		}
	}
	// Run-to-run noise is known only with two repetitions on each side.
	known := len(sa) >= 2 && len(sb) >= 2
	row := compareSamples(l, ga.Rate, metric{"send p99 µs", sendP99, false}, sa, sb)
	sig := known && row.Significant
	noise := "single runs, so run-to-run noise is unknown"
	if known {
		noise = "within run-to-run noise"
		if sig {
			noise = "beyond run-to-run noise"
		}
	}
	detail := fmt.Sprintf("p50 %s → %s µs, p99 %s → %s µs, %s", us(a50), us(b50), us(a99), us(b99), noise)
	if axes > 1 {
		detail += "; the two differ in both replication and flush"
	}
	lr, rr := firstRun(s, l), firstRun(s, ref)
	expectSlower := axes == 1 && lr != nil && rr != nil &&
		((lr.Mode == roleSync && rr.Mode != roleSync) || (lr.Flush == flushSync && rr.Flush != flushSync))
	var sent string
	switch {
	case d50 >= 0 && d99 > 0 && (sig || !known || !expectSlower):
		sent = fmt.Sprintf("+%s µs at p50, +%s µs at p99 (%s).", us(d50), us(d99), detail)
	case expectSlower && d99 <= 0:
		sent = fmt.Sprintf("%s is not slower (%s).", l, detail)
		if why := slowerReason(s, lr); why != "" {
			sent += " " + why
		}
	case expectSlower && !sig:
		sent = fmt.Sprintf("%s is not measurably slower (%s).", l, detail)
		if why := slowerReason(s, lr); why != "" {
			sent += " " + why
		}
	case d50 <= 0 && d99 <= 0:
		sent = fmt.Sprintf("%s is %s µs faster at p50 and %s µs faster at p99 (%s).", l, us(-d50), us(-d99), detail)
	default:
		sent = fmt.Sprintf("p50 %s µs, p99 %s µs (%s).", signedUs(d50), signedUs(d99), detail)
	}
	return head + sent
}

// kneeTargets maps each label with a knee to the target rate of its knee
// point.
func kneeTargets(groups []runGroup) map[string]float64 {
	labels, curves := throughputCurves(groups)
	knees := map[string]float64{}
	for _, l := range labels {
		pts := make([]Point, len(curves[l]))
		for i, cp := range curves[l] {
			pts[i] = cp.Point
		}
		if k, ok := Knee(pts); ok {
			knees[l] = curves[l][k].target
		}
	}
	return knees
}

// sustained reports whether label runs at rate at or below its knee (or
// has no knee).
func sustained(knees map[string]float64, label string, rate float64) bool {
	k, ok := knees[label]
	return !ok || compareRates(rate, k) <= 0
}

// slowerReason points at why a mode expected to be slower is not: a SYNC
// group with no slave, or a note that names a reason; "" when nothing
// recorded says.
func slowerReason(s *Summary, r *Run) string {
	if r.Mode == roleSync {
		for _, g := range s.Topology.Groups {
			if g.Role == roleSync && g.Slaves == 0 {
				return fmt.Sprintf("The likely reason: group %s is a SYNC_MASTER without a slave, so no send waits for replication.", g.Name)
			}
		}
	}
	for _, n := range s.Notes {
		low := strings.ToLower(n)
		for _, w := range []string{"sync", "slave", "replica", "flush", "slower"} {
			if strings.Contains(low, w) {
				return "The notes give the likely reason: " + strings.TrimSuffix(oneLine(n), ".") + "."
			}
		}
	}
	return ""
}

// kneeDefinition says what the report calls the knee (Knee's rules).
var kneeDefinition = fmt.Sprintf("The *knee* of a mode is the last target rate before its p99 turns sharply upward: the next rate's p99 "+
	"is more than %.0f× the p99 at the lowest rate, or rises at least %.0f× as steeply as the steps before, or rises while the "+
	"achieved rate stops growing (rises smaller than %.0f%% of the lowest rate's p99 are noise). When the first step up already turns, "+
	"the mode is *over budget already at the lowest rate*: its knee is at or below that rate, and only lower rates can place it.",
	kneeBaseFactor, kneeSlopeFactor, 100*kneeMinRise)

// kneeSentences is the verdict's point on each mode's knee; the modes
// over budget already at the same lowest rate are named together.
func kneeSentences(s *Summary, groups []runGroup) []string {
	labels, curves := throughputCurves(groups)
	var parts []string
	over := map[float64][]string{} // lowest rate → modes over budget there
	var overRates []float64
	multi := false
	for _, l := range labels {
		c := curves[l]
		if len(c) < 2 {
			continue
		}
		multi = true
		pts := make([]Point, len(c))
		for i, cp := range c {
			pts[i] = cp.Point
		}
		last := c[len(c)-1]
		k, ok := Knee(pts)
		if !ok {
			parts = append(parts, fmt.Sprintf("%s shows none up to %s (p99 %s µs)", l, rateTitle(last.target), us(last.P99)))
			continue
		}
		kp := c[k]
		rise := fmt.Sprintf("p99 %s µs", us(kp.P99))
		if k+1 < len(c) {
			next := c[k+1]
			rise = fmt.Sprintf("p99 %s → %s µs at %s", us(kp.P99), us(next.P99), rateTitle(next.target))
			if cp := calibrationAt(s, next.target); cp != nil {
				if f, ok := cp.floorLevel(q99); ok && next.P99 <= f {
					rise += fmt.Sprintf(", within the tool's own %s µs there, so the turn is loadgen's", us(f))
				}
			}
		}
		if k == 0 {
			if over[kp.target] == nil {
				overRates = append(overRates, kp.target)
			}
			over[kp.target] = append(over[kp.target], fmt.Sprintf("%s (%s)", l, rise))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s at %s (%s)", l, rateTitle(kp.target), rise))
	}
	if !multi {
		if len(labels) > 0 {
			return []string{"**Knee**: only one rate was measured per mode, so no knee can be located."}
		}
		return nil
	}
	var heads []string
	for _, r := range overRates {
		heads = append(heads, fmt.Sprintf("over budget already at the lowest rate, %s: %s", rateTitle(r), firstOf(over[r], "the knee marks in the results table")))
	}
	if len(parts) > 0 {
		heads = append(heads, firstOf(parts, "the knee marks in the results table"))
	}
	return []string{"**Knee** (the last rate before p99 turns sharply upward; see Results): " + strings.Join(heads, "; ") + "."}
}

func peakSentence(s *Summary, groups []runGroup) string {
	var best *runGroup
	bestRate := -1.0
	for i := range groups {
		if r := medianOf(groups[i].samples(achieved)); r > bestRate {
			best, bestRate = &groups[i], r
		}
	}
	if best == nil {
		return ""
	}
	sent := fmt.Sprintf("**Peak**: the highest throughput was %s msg/s", rateNum(bestRate))
	if s.Machine.Cores > 0 {
		sent += fmt.Sprintf(" (%s msg/s per core of %d)", rateNum(bestRate/float64(s.Machine.Cores)), s.Machine.Cores)
	}
	sent += fmt.Sprintf(", by %s at a target of %s", best.Label, rateTitle(best.Rate))
	if p99 := best.samples(sendP99); len(p99) > 0 {
		sent += fmt.Sprintf(" with p99 %s µs", us(medianOf(p99)))
	}
	if saturation(*best, groups) != "" {
		sent += ", saturated (see above)"
	}
	return sent + "."
}

func deliverySentences(s *Summary, groups []runGroup) []string {
	var sent, acked, errs, consumed, lost, dups int64
	other := map[string]int64{}
	consumers := s.Workload.ConsumersPerTopic > 0
	for _, r := range s.Runs {
		sent, acked, errs, consumed, lost, dups = sent+r.Sent, acked+r.Acked, errs+r.Errors, consumed+r.Consumed, lost+r.Lost, dups+r.Duplicates
		consumers = consumers || r.Consumed > 0 || r.EndToEnd.Count > 0
		for k, v := range r.Statuses {
			if k != "SEND_OK" && v > 0 {
				other[k] += v
			}
		}
	}
	var out []string
	switch {
	case errs == 0 && len(other) == 0:
		out = append(out, fmt.Sprintf("**Sends**: all %d acknowledged sends (of %d) returned SEND_OK, with no transport errors or timeouts.", acked, sent))
	default:
		msg := fmt.Sprintf("**Sends**: of %d, %d were acknowledged", sent, acked)
		if errs > 0 {
			msg += fmt.Sprintf(", %d failed with transport errors or timeouts", errs)
		}
		if len(other) > 0 {
			msg += " and these statuses came back: " + formatStatuses(other)
		}
		out = append(out, msg+".")
	}
	if consumers {
		if lost == 0 {
			out = append(out, fmt.Sprintf("**Delivery**: no acknowledged message was lost (%d consumed)", consumed))
		} else {
			var where []string
			for _, g := range groups {
				var n int64
				for _, r := range g.Runs {
					n += r.Lost
				}
				if n > 0 {
					where = append(where, fmt.Sprintf("%d in %s at %s", n, g.Label, rateTitle(g.Rate)))
				}
			}
			out = append(out, fmt.Sprintf("**Delivery**: %d acknowledged messages were never consumed (%s)", lost, strings.Join(where, ", ")))
		}
		last := &out[len(out)-1]
		if dups > 0 {
			*last += fmt.Sprintf(", and %d were delivered more than once.", dups)
		} else {
			*last += ", and none was delivered twice."
		}
	}
	return out
}

func faultSentences(groups []runGroup) []string {
	type seen struct {
		f   Fault
		run *Run
	}
	var all []seen
	for _, g := range groups {
		for _, r := range g.Runs {
			for _, f := range r.Faults {
				all = append(all, seen{f, r})
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	if len(all) > 3 {
		recovered, slowest := 0, time.Duration(0)
		for _, x := range all {
			if x.f.RecoveredAt > x.f.At {
				recovered++
				slowest = max(slowest, x.f.RecoveredAt-x.f.At)
			}
		}
		sent := fmt.Sprintf("**Faults**: of %d injected, %d recovered", len(all), recovered)
		if recovered > 0 {
			sent += ", the slowest after " + formatSeconds(slowest)
		}
		if n := len(all) - recovered; n > 0 {
			sent += fmt.Sprintf("; %d did not recover within the measured window", n)
		}
		return []string{sent + "."}
	}
	var out []string
	for _, x := range all {
		what := x.f.Kind
		if x.f.Target != "" {
			what += " of " + x.f.Target
		}
		sent := fmt.Sprintf("**Fault**: the %s at %s into %s (repetition %d at %s) ", what, formatSeconds(x.f.At), x.run.Label, x.run.Repetition, rateTitle(x.run.TargetRate))
		if x.f.RecoveredAt > x.f.At {
			sent += "recovered after " + formatSeconds(x.f.RecoveredAt-x.f.At)
		} else {
			sent += "did not recover within the measured window"
		}
		sent += fmt.Sprintf(", with %d acknowledged messages lost and %d duplicated in that run.", x.run.Lost, x.run.Duplicates)
		out = append(out, sent)
	}
	return out
}

func writeSetup(b *strings.Builder, s *Summary) {
	b.WriteString("## Setup\n\n")
	m := s.Machine
	var mach []string
	if m.CPUModel != "" {
		mach = append(mach, m.CPUModel)
	}
	if m.Cores > 0 {
		mach = append(mach, fmt.Sprintf("%d cores", m.Cores))
	}
	if m.MemoryBytes > 0 {
		mach = append(mach, fmt.Sprintf("%.1f GiB RAM", float64(m.MemoryBytes)/(1<<30)))
	}
	if m.Kernel != "" {
		mach = append(mach, "kernel "+m.Kernel)
	}
	if m.GoVersion != "" {
		mach = append(mach, m.GoVersion)
	}
	if m.Hostname != "" {
		mach = append(mach, "host "+m.Hostname)
	}
	line := strings.Join(mach, ", ")
	if line == "" {
		line = "not recorded"
	}
	machine := "Machine"
	if existing(s) {
		machine = "Load generator's machine" // the brokers' is not known
	}
	fmt.Fprintf(b, "- **%s:** %s; %.0f%% idle and load average %.2f at the start.\n", machine, line, 100*m.IdleAtStart, m.Load1)
	if f := m.Floors; f != nil {
		fmt.Fprintf(b, "- **Hardware floors** (measured before the runs): 4 KiB write + fdatasync on the brokers' disk p50 %d µs, p99 %d µs; "+
			"1 KiB loopback TCP round trip p50 %d µs, p99 %d µs.\n", f.FsyncP50, f.FsyncP99, f.RTTP50, f.RTTP99)
	}
	switch {
	case existing(s):
		fmt.Fprintf(b, "- **CPU placement:** load generator on %s; the brokers' is not known.\n", orDash(s.Placement.Loadgen))
	case s.Placement.Brokers != "" || s.Placement.Loadgen != "":
		fmt.Fprintf(b, "- **CPU placement:** brokers on %s, load generator on %s.\n", orDash(s.Placement.Brokers), orDash(s.Placement.Loadgen))
	}
	writeWorkers(b, s)

	if existing(s) {
		topo := "an existing cluster, not started by loadgen"
		if len(s.Existing) > 0 {
			topo += " (namesrvs " + strings.Join(s.Existing, ";") + ")"
		}
		fmt.Fprintf(b, "- **Topology:** %s; broker group(s) measured: %s. Its roles, slaves, flush settings and machines are not known to loadgen "+
			"and not recorded here.\n", topo, strings.Join(labelsOf(groupRuns(s.Runs)), ", "))
		writeWorkload(b, s)
		return
	}
	t := s.Topology
	topo := fmt.Sprintf("%d name server(s)", t.Namesrvs)
	if t.Cluster != "" {
		topo += ", cluster " + t.Cluster
	}
	var gs []string
	for _, g := range t.Groups {
		d := fmt.Sprintf("`%s` %s/%s with %d slave(s)", g.Name, g.Role, g.Flush, g.Slaves)
		if len(g.Extra) > 0 {
			keys := make([]string, 0, len(g.Extra))
			for k := range g.Extra {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+g.Extra[k])
			}
			d += " (" + strings.Join(kv, ", ") + ")"
		}
		gs = append(gs, d)
	}
	if len(gs) > 0 {
		topo += "; groups " + strings.Join(gs, "; ")
	}
	if t.SegmentSize > 0 {
		topo += fmt.Sprintf("; CommitLog segments of %s", formatBytes(t.SegmentSize))
	}
	fmt.Fprintf(b, "- **Topology:** %s.\n", topo)
	writeWorkload(b, s)
}

// existing reports whether s measured a cluster loadgen did not start
// (older summaries name it cluster "(existing)").
func existing(s *Summary) bool { return len(s.Existing) > 0 || s.Topology.Cluster == "(existing)" }

// writeWorkload is the setup's workload line.
func writeWorkload(b *strings.Builder, s *Summary) {
	w := s.Workload
	name := ""
	if w.Name != "" {
		name = " (" + w.Name + ")"
	}
	payload := fmt.Sprintf("%d-byte messages", w.MessageSize)
	if w.PayloadFile != "" {
		payload = "messages from " + w.PayloadFile
	}
	if w.RandomBytesRatio > 0 {
		payload += fmt.Sprintf(" (%.0f%% random bytes)", 100*w.RandomBytesRatio)
	}
	fmt.Fprintf(b, "- **Workload%s:** %d topic(s) × %d queue(s), %s, %d producer(s) per topic with %d send(s) in flight each, batches of %d, %d consumer(s) per topic; ",
		name, w.Topics, w.QueuesPerTopic, payload, w.ProducersPerTopic, w.InFlight, max(w.BatchSize, 1), w.ConsumersPerTopic)
	fmt.Fprintf(b, "warm-up %s, measured %s, drain %s, send timeout %s. Target rates are per run (see below); 0 or \"max\" means a closed loop at the in-flight window.\n\n",
		formatDuration(w.Warmup), formatDuration(w.Duration), formatDuration(w.Drain), formatDuration(w.SendTimeout))
}

func writeResults(b *strings.Builder, s *Summary, groups []runGroup) {
	b.WriteString("## Results\n\n")
	if len(groups) == 0 {
		b.WriteString("No runs were measured.\n\n")
		return
	}
	b.WriteString("Send latency in µs, from the intended send time (open loop, no coordinated omission). " +
		"Each row is the median of its repetitions; *p99 range* is the lowest to the highest p99 among them. " +
		"*Tool floor* is the send latency loadgen measured at the same rate against the null target (see The tool's own floor): " +
		"a row at or below it measures loadgen, not the broker. " + tooFewNote + "\n\n")
	knee := kneeTargets(groups)
	_, curves := throughputCurves(groups)
	b.WriteString("| mode | target | achieved msg/s | reps | p50 | p90 | p99 | p99.9 | max | p99 range | e2e p50 | e2e p99 | tool floor p99 / p99.9 | flags |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, g := range groups {
		target := rateTitle(g.Rate)
		if k, ok := knee[g.Label]; ok && k == g.Rate {
			if c := curves[g.Label]; len(c) > 0 && c[0].target == k {
				target += " (knee or below)"
			} else {
				target += " (knee)"
			}
		}
		cells := []string{cell(g.Label), target, medianCell(g.samples(achieved), rateNum), strconv.Itoa(len(g.Runs))}
		for _, f := range []func(*Run) (float64, bool){sendP50, sendP90, sendP99, sendP999, sendMax} {
			cells = append(cells, pctCell(g, f, hasSend))
		}
		p99 := g.samples(sendP99)
		switch {
		case len(p99) > 1:
			lo, hi := spanOf(p99)
			cells = append(cells, us(lo)+"–"+us(hi))
		case len(p99) == 1:
			cells = append(cells, "single run")
		default:
			cells = append(cells, pctCell(g, sendP99, hasSend))
		}
		cells = append(cells, pctCell(g, e2eP50, hasE2E), pctCell(g, e2eP99, hasE2E), floorCell(s, g.Rate), orDash(rowFlags(s, g, groups)))
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\n" + kneeDefinition + " *Flags*: **saturated** when the achieved rate fell below " +
		fmt.Sprintf("%.0f%% of the target, the send p50 reached %.0f× the mode's p50 at its lowest rate, or consumers were %.0f%% behind; ", 100*saturatedRate, saturatedP50, 100*saturatedBacklog) +
		fmt.Sprintf("**reps disagree** when the highest p99 of the repetitions is %.0f× the lowest or more; ", disagreeP99) +
		"**at the tool's floor** when the p99 is no higher than the tool floor's.\n")
	b.WriteString("\nDelivery, summed over repetitions (lost: acknowledged but never consumed by the end of the drain):\n\n")
	b.WriteString("| mode | target | sent | acked | errors | statuses | consumed | lost | duplicates | backlog |\n")
	b.WriteString("|---|---|--:|--:|--:|---|--:|--:|--:|--:|\n")
	for _, g := range groups {
		var sent, acked, errs, consumed, lost, dups, backlog int64
		st := map[string]int64{}
		for _, r := range g.Runs {
			sent, acked, errs = sent+r.Sent, acked+r.Acked, errs+r.Errors
			consumed, lost, dups, backlog = consumed+r.Consumed, lost+r.Lost, dups+r.Duplicates, backlog+r.Backlog
			for k, v := range r.Statuses {
				st[k] += v
			}
		}
		statuses := formatStatuses(st)
		if statuses == "" {
			statuses = "—"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %s | %d | %d | %d | %d |\n", cell(g.Label), rateTitle(g.Rate),
			sent, acked, errs, cell(statuses), consumed, lost, dups, backlog)
	}
	b.WriteString("\n")
	writeHiccups(b, groups)
	writeBrokerStages(b, groups)
	writeResources(b, groups)
}

// writeBrokerStages tables the master's own send stages (p50 / p99, µs,
// medians of the repetitions) beside what the clients saw.
func writeBrokerStages(b *strings.Builder, groups []runGroup) {
	has := func(g runGroup, stage string) bool {
		return len(g.samples(func(r *Run) (float64, bool) { p, ok := r.Broker[stage]; return 0, ok && p.Count > 0 })) > 0
	}
	if !slices.ContainsFunc(groups, func(g runGroup) bool { return has(g, StageTotal) }) {
		return
	}
	cellOf := func(g runGroup, stage string) string {
		if !has(g, stage) {
			return "—"
		}
		has := func(r *Run) bool { return r.Broker[stage].Count > 0 }
		p50 := pctCell(g, func(r *Run) (float64, bool) {
			p, ok := r.Broker[stage]
			return float64(p.P50), ok && enough(p.Count, q50)
		}, has)
		p99 := pctCell(g, func(r *Run) (float64, bool) {
			p, ok := r.Broker[stage]
			return float64(p.P99), ok && enough(p.Count, q99)
		}, has)
		return p50 + " / " + p99
	}
	b.WriteString("Inside the broker: the master's own time per send in µs, p50 / p99 (medians of the repetitions), from the " +
		"histograms it keeps per stage — *store*: request decoded to message appended; *flush wait*: appended to durable " +
		"(SYNC_FLUSH); *slave wait*: appended to held by a slave (SYNC_MASTER); *in broker*: decoded to answer queued. " +
		"The rest of *send* (measured by the clients from the intended send time) is the network, the clients and the scheduler.\n\n")
	b.WriteString("| mode | target | store | flush wait | slave wait | in broker | send |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|\n")
	for _, g := range groups {
		if !has(g, StageTotal) {
			continue
		}
		send := pctCell(g, sendP50, hasSend) + " / " + pctCell(g, sendP99, hasSend)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(g.Label), rateTitle(g.Rate),
			cellOf(g, StageStore), cellOf(g, StageFlushWait), cellOf(g, StageSlaveWait), cellOf(g, StageTotal), send)
	}
	b.WriteString("\n")
}

// writeResources tables what each server process used per run, per
// acknowledged message (medians of the repetitions).
func writeResources(b *strings.Builder, groups []runGroup) {
	if !slices.ContainsFunc(groups, func(g runGroup) bool {
		return slices.ContainsFunc(g.Runs, func(r *Run) bool { return len(r.Resources) > 0 })
	}) {
		return
	}
	b.WriteString("## Resources per node\n\n")
	when := "when the window opened and when its sends were answered"
	for _, g := range groups {
		for _, r := range g.Runs {
			if len(r.Resources) > 0 && r.ScrapeEvery > 0 {
				when = "every " + formatDuration(r.ScrapeEvery) + " (each scrape costs the servers and loadgen a little CPU at that instant; " +
					"`-scrape 0` scrapes only at the window's edges)"
			}
		}
	}
	b.WriteString("What each server process used over the measured window, from its metrics endpoint scraped " + when + " " +
		"(CPU and RSS of processes loadgen started from /proc), medians of the repetitions. Per-message figures divide " +
		"by the messages acknowledged in the window: *CPU µs/msg* is the figure a capacity plan carries to other hardware " +
		"(the CPU a message costs the master and each slave); *log B/msg* the CommitLog bytes written, *net B/msg* the " +
		"client and replication bytes in and out. Rows with role loadgen are the load workers loadgen started on this host " +
		"(their CPU, from /proc): what the tool itself took from the machine.\n\n")
	b.WriteString("| mode | target | node | CPU cores | CPU µs/msg | RSS max | GC pause ms (GCs) | log B/msg | net B/msg | fsyncs/s | repl. lag max |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, g := range groups {
		var nodes []string
		for _, r := range g.Runs {
			for _, nr := range r.Resources {
				if !slices.Contains(nodes, nr.Node) {
					nodes = append(nodes, nr.Node)
				}
			}
		}
		for _, node := range nodes {
			values := func(f func(NodeResources) float64) []float64 {
				var xs []float64
				for _, r := range g.Runs {
					for _, nr := range r.Resources {
						if v := f(nr); nr.Node == node && v >= 0 {
							xs = append(xs, v)
						}
					}
				}
				return xs
			}
			pick := func(f func(NodeResources) float64) string {
				xs := values(f)
				if len(xs) == 0 {
					return "—"
				}
				v := medianOf(xs)
				return strconv.FormatFloat(v, 'f', decimals(v), 64)
			}
			count := func(f func(NodeResources) float64) string {
				xs := values(f)
				if len(xs) == 0 {
					return "—"
				}
				return strconv.FormatFloat(medianOf(xs), 'f', 0, 64)
			}
			bytesCell := func(f func(NodeResources) float64) string {
				xs := values(f)
				if len(xs) == 0 {
					return "—"
				}
				return humanBytes(medianOf(xs))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s |\n", cell(g.Label), rateTitle(g.Rate), cell(node),
				pick(func(n NodeResources) float64 { return n.CPUCores }),
				pick(func(n NodeResources) float64 { return n.CPUPerMsgUs }),
				bytesCell(func(n NodeResources) float64 { return float64(n.RSSMaxBytes) }),
				pick(func(n NodeResources) float64 { return n.GCPauseMs }),
				count(func(n NodeResources) float64 { return float64(n.GCs) }),
				pick(func(n NodeResources) float64 { return n.LogBytesPerMsg }),
				pick(func(n NodeResources) float64 { return n.NetBytesPerMsg }),
				pick(func(n NodeResources) float64 { return n.FsyncsPerSec }),
				bytesCell(func(n NodeResources) float64 { return float64(n.ReplLagMaxB) }))
		}
	}
	b.WriteString("\n")
}

// decimals is how many decimals a table cell gives v: three
// significant-ish digits.
func decimals(v float64) int {
	switch {
	case v == 0 || v >= 100:
		return 0
	case v >= 10:
		return 1
	case v >= 1:
		return 2
	}
	return 3
}

// writeHiccups tables the machine's own stalls beside the send tails.
func writeHiccups(b *strings.Builder, groups []runGroup) {
	if !slices.ContainsFunc(groups, func(g runGroup) bool { return len(g.samples(hicMax)) > 0 }) {
		return
	}
	b.WriteString("Machine stalls during each run, in µs (medians of the repetitions): how late a load-generator thread " +
		"that only sleeps 1 ms at a time woke up, next to the send latency at the same percentiles. Nothing that thread " +
		"does waits for a broker; its lateness is the scheduler's and the hypervisor's, a floor under every latency above. " +
		"It wakes about 1000 times a second, so a window shorter than 10 s has too few wake-ups for its p99.9.\n\n")
	b.WriteString("| mode | target | stall p99 | send p99 | stall p99.9 | send p99.9 | stall max | send max |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	for _, g := range groups {
		if len(g.samples(hicMax)) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(g.Label), rateTitle(g.Rate),
			pctCell(g, hicP99, hasHiccup), pctCell(g, sendP99, hasSend),
			pctCell(g, hicP999, hasHiccup), pctCell(g, sendP999, hasSend),
			pctCell(g, hicMax, hasHiccup), pctCell(g, sendMax, hasSend))
	}
	b.WriteString("\n")
}

// diskSentence sizes retention from what the runs wrote: the CommitLog
// bytes per acknowledged message (median over runs that report them) and
// the disk that the highest throughput measured fills per hour and over
// RocketMQ's default fileReservedTime.
func diskSentence(s *Summary, groups []runGroup) string {
	bpm := bytesPerMessage(s)
	if bpm <= 0 {
		return ""
	}
	peak := 0.0
	for _, g := range groups {
		if xs := g.samples(achieved); len(xs) > 0 {
			peak = max(peak, medianOf(xs))
		}
	}
	if peak <= 0 {
		return ""
	}
	copies := "each slave holds the same again"
	if existing(s) {
		copies = "a slave, if the group has any, holds the same again"
	}
	const reserveHours = 72             // fileReservedTime's default
	perHour := (bpm + 20) * peak * 3600 // + one 20-byte consume-queue entry
	return fmt.Sprintf("**Disk**: each message took %.0f bytes of CommitLog (body, header, topic and properties) and 20 bytes of consume queue; "+
		"at the highest throughput measured, %s msg/s, a broker group's master fills %s per hour, %s over the default fileReservedTime of %d h "+
		"(%s).", bpm, rateNum(peak), humanBytes(perHour), humanBytes(perHour*reserveHours), reserveHours, copies)
}

// bytesPerMessage is the median CommitLog bytes per acknowledged message
// over the runs that report them, or 0.
func bytesPerMessage(s *Summary) float64 {
	var per []float64
	for _, r := range s.Runs {
		if r.LogBytes > 0 && r.Acked > 0 {
			per = append(per, float64(r.LogBytes)/float64(r.Acked))
		}
	}
	if len(per) == 0 {
		return 0
	}
	return medianOf(per)
}

// sizingLoads are the loads the sizing table plans for, msg/s.
var sizingLoads = []float64{10_000, 100_000, 1_000_000}

// writeSizing extrapolates each confirmed capacity to larger loads: how
// many broker groups, machines and CommitLog disk they would take.
func writeSizing(b *strings.Builder, s *Summary) {
	bpm := bytesPerMessage(s)
	var rows []string
	modelled := false
	for _, c := range s.Capacity {
		per := c.Result.Sustained
		if mc := modelCapacity(s, c.Label); mc > 0 {
			per, modelled = mc, true
		}
		if per <= 0 {
			continue
		}
		slaves := 0
		if existing(s) {
			slaves = -1 // not known
		} else if run := firstRun(s, c.Label); run != nil {
			for _, g := range s.Topology.Groups {
				if g.Role == run.Mode && g.Flush == run.Flush {
					slaves = g.Slaves
					break
				}
			}
		}
		for _, load := range sizingLoads {
			groups := int(math.Ceil(load / per))
			disk, machines := "—", "—"
			if bpm > 0 {
				disk = humanBytes((bpm + 20) * load / float64(groups) * 72 * 3600 * float64(1+max(slaves, 0)))
				if slaves < 0 {
					disk += " (the master's copy)"
				}
			}
			if slaves >= 0 {
				machines = strconv.Itoa((groups + 1) * (1 + slaves))
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %d + 1 | %s | %s |", cell(c.Label), rateNum(load), groups, machines, disk))
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("### Sizing (what-if)\n\n")
	if modelled {
		fmt.Fprintf(b, "Each group's rate within the SLO on `%s` from the capacity model (its maximum times the SLO headroom "+
			"measured here; a mode the model could not check here keeps its capacity measured here), scaled out: ", s.Hardware)
	} else {
		b.WriteString("The confirmed capacities above, scaled out: ")
	}
	b.WriteString("broker groups needed for each load (plus one spare for " +
		"failover), machines if each broker (master or slave) gets one like this, and the CommitLog one group keeps " +
		"over the default fileReservedTime of 72 h, all its copies included. This assumes groups add up linearly " +
		"(separate machines and disks, load spread evenly over their queues) and no more headroom than the SLO search " +
		"left: measure on the target hardware before buying it.\n\n")
	b.WriteString("| mode | load msg/s | broker groups | machines | CommitLog per group, 72 h |\n|---|--:|--:|--:|--:|\n")
	b.WriteString(strings.Join(rows, "\n"))
	b.WriteString("\n\n")
}

// humanBytes spells a size for capacity planning: MiB, GiB or TiB with one
// decimal.
func humanBytes(n float64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", n/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", n/(1<<20))
}

// floorSentence compares each mode's p50 at its lowest rate with the
// hardware floor that bounds it: one fdatasync for SYNC_FLUSH, a loopback
// round trip otherwise.
func floorSentence(s *Summary, groups []runGroup) string {
	f := s.Machine.Floors
	if f == nil || f.RTTP50 <= 0 || f.FsyncP50 <= 0 {
		return ""
	}
	var parts []string
	seen := map[string]bool{}
	for _, g := range groups { // rates ascend within a label
		if seen[g.Label] || g.Rate == 0 || len(g.samples(sendP50)) == 0 || len(g.Runs) == 0 {
			continue
		}
		seen[g.Label] = true
		p50 := medianOf(g.samples(sendP50))
		if g.Runs[0].Flush == "SYNC_FLUSH" {
			parts = append(parts, fmt.Sprintf("%s %.1f× one fdatasync", g.Label, p50/float64(f.FsyncP50)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %.1f× a loopback round trip", g.Label, p50/float64(f.RTTP50)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("**Hardware floors** (fdatasync p50 %d µs, loopback round trip p50 %d µs): the send p50 at each mode's lowest rate is %s.",
		f.FsyncP50, f.RTTP50, strings.Join(parts, "; "))
}

// hiccupSentence says when the machine's stalls explain much of the
// tail: at p99.9 (p99 when no run has the samples for p99.9), the largest
// stall in the stall table, and the largest share of a row's send
// percentile that its stall reaches, if that is at least a quarter.
func hiccupSentence(groups []runGroup) string {
	level, stall, send := "p99.9", hicP999, sendP999
	if !slices.ContainsFunc(groups, func(g runGroup) bool { return len(g.samples(stall)) > 0 && len(g.samples(send)) > 0 }) {
		level, stall, send = "p99", hicP99, sendP99
	}
	var top, worst *runGroup
	share := 0.0
	for i := range groups {
		g := &groups[i]
		h, sp := g.samples(stall), g.samples(send)
		if len(h) == 0 {
			continue
		}
		if top == nil || medianOf(h) > medianOf(top.samples(stall)) {
			top = g
		}
		if len(sp) == 0 || medianOf(sp) <= 0 {
			continue
		}
		if x := medianOf(h) / medianOf(sp); x > share {
			share, worst = x, g
		}
	}
	if worst == nil || share < 0.25 {
		return ""
	}
	sent := fmt.Sprintf("**Machine stalls**: a thread that only sleeps woke up to %s µs late at %s (%s at %s, the largest in the stall table)",
		us(medianOf(top.samples(stall))), level, top.Label, rateTitle(top.Rate))
	return sent + fmt.Sprintf("; in %s at %s the stall is %.0f%% of the send %s of %s µs, so tails at and beyond %s here measure this host's "+
		"scheduling as much as the broker.", worst.Label, rateTitle(worst.Rate), 100*min(share, 1), level, us(medianOf(worst.samples(send))), level)
}

func writeFaults(b *strings.Builder, groups []runGroup) {
	var rows []string
	for _, g := range groups {
		for _, r := range g.Runs {
			for _, f := range r.Faults {
				rec := "not recovered"
				if f.RecoveredAt > f.At {
					rec = formatSeconds(f.RecoveredAt - f.At)
				}
				rows = append(rows, fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %s | %d | %d |", cell(g.Label), rateTitle(g.Rate),
					r.Repetition, formatSeconds(f.At), cell(f.Kind), cell(orDash(f.Target)), rec, r.Lost, r.Duplicates))
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Faults\n\n")
	b.WriteString("Time to recover: from the fault until p99 and rate were back to their level before it. " +
		"Lost and duplicates count the whole run.\n\n")
	b.WriteString("| mode | target | rep | at | fault | target | time to recover | lost | duplicates |\n")
	b.WriteString("|---|---|--:|--:|---|---|--:|--:|--:|\n")
	b.WriteString(strings.Join(rows, "\n"))
	b.WriteString("\n\n")
}

// tooFewNote explains the "too few" cells.
var tooFewNote = fmt.Sprintf("A percentile is printed only with at least %d samples beyond it (p99 needs %d, p99.9 %d); "+
	"*too few* marks one that had fewer.", minBeyond, minSamples(q99), minSamples(q999))

// pctCell is the median of a percentile over a group's repetitions with
// enough samples for it, "too few" when some have samples but none
// enough, and "no data" when none has any.
func pctCell(g runGroup, f func(*Run) (float64, bool), has func(*Run) bool) string {
	if xs := g.samples(f); len(xs) > 0 {
		return us(medianOf(xs))
	}
	if slices.ContainsFunc(g.Runs, has) {
		return "too few"
	}
	return "no data"
}

func medianCell(xs []float64, f func(float64) string) string {
	if len(xs) == 0 {
		return "no data"
	}
	return f(medianOf(xs))
}

// us spells a latency in whole microseconds.
func us(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

func signedUs(v float64) string {
	if v > 0 {
		return "+" + us(v)
	}
	return us(v)
}

// rateNum spells a rate in whole msg/s.
func rateNum(v float64) string { return us(v) }

func formatStatuses(st map[string]int64) string {
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, st[k]))
	}
	return strings.Join(parts, ", ")
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.String()
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// writeCapacity reports SLO searches: the sustained rate and every step.
func writeCapacity(b *strings.Builder, s *Summary) {
	if len(s.Capacity) == 0 {
		return
	}
	b.WriteString("## Capacity\n\n")
	for _, c := range s.Capacity {
		r := c.Result
		slo := fmt.Sprintf("p99 ≤ %v, backlog ≤ %.0f%% of acknowledged", r.SLO.P99, 100*r.SLO.MaxBacklogGrowth)
		switch {
		case r.Sustained > 0:
			fmt.Fprintf(b, "**%s** sustains **%s msg/s** (%.0f msg/s per core) within the SLO (%s), confirmed by repeated runs.\n\n",
				c.Label, rateNum(r.Sustained), r.Sustained/float64(max(s.Machine.Cores, 1)), slo)
		case r.Exhausted && r.LastPass > 0:
			bound := "no failing rate was found"
			if r.FirstFail > 0 {
				bound = "the lowest failing rate was " + rateNum(r.FirstFail) + " msg/s"
			}
			fmt.Fprintf(b, "**%s**: no rate was confirmed within the SLO (%s) in %d runs — repeated runs near the edge disagreed. "+
				"The last rate that passed was %s msg/s (not confirmed); %s. Plan below the last pass, or search with more runs.\n\n",
				c.Label, slo, len(r.Steps), rateNum(r.LastPass), bound)
		case slices.ContainsFunc(r.Steps, func(st CapacityStep) bool { return st.Pass }):
			fmt.Fprintf(b, "**%s**: no rate was confirmed within the SLO (%s): every rate that passed once failed when repeated. "+
				"This machine's noise is as large as the margin; see the steps below.\n\n", c.Label, slo)
		default:
			fmt.Fprintf(b, "**%s** met the SLO (%s) at no rate tried.\n\n", c.Label, slo)
		}
		b.WriteString("| step | phase | offered msg/s | verdict |\n|--:|---|--:|---|\n")
		for i, st := range r.Steps {
			v := "pass"
			if !st.Pass {
				v = "fail: " + cell(st.Why)
			}
			fmt.Fprintf(b, "| %d | %s | %s | %s |\n", i+1, st.Phase, rateNum(st.Rate), v)
		}
		b.WriteString("\n")
	}
}

// writeCalibration is the "The tool's own floor" section: what loadgen
// adds by itself at each rate, against a null target.
func writeCalibration(b *strings.Builder, s *Summary) {
	if len(s.Calibration) == 0 {
		return
	}
	b.WriteString("## The tool's own floor\n\n")
	fmt.Fprintf(b, "Before the runs, loadgen drove the same workload at each rate against a *null target*: a process that answers every "+
		"send SEND_OK as soon as it is decoded and stores nothing. Pacing lag is how late loadgen's sends left their intended time, "+
		"the round trip is the client's send with no broker behind the port, and the stalls are the 1 ms sleeper's over the same "+
		"window. A broker's figure at or below these is loadgen's, not the broker's. Target: pacing lag p99.9 within the stalls' "+
		"p99.9 + %d µs.\n\n", CalibrationTarget)
	b.WriteString("The *send* columns are what a run's send latency reads at that rate with no broker behind the port: the " +
		"*tool floor* the results table sets beside each row. " + tooFewNote + "\n\n")
	b.WriteString("| rate (msg/s) | achieved | pacing p50 | p99 | p99.9 | round trip p50 | p99 | p99.9 | send p99 | p99.9 | stalls p99.9 | target |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	at := func(p Percentiles, q int64) string {
		if p.Count == 0 {
			return "—"
		}
		if !enough(p.Count, q) {
			return "too few"
		}
		switch q {
		case q50:
			return us(float64(p.P50))
		case q99:
			return us(float64(p.P99))
		}
		return us(float64(p.P999))
	}
	for _, p := range s.Calibration {
		verdict := "met"
		switch {
		case p.Errors > 0 || p.Achieved < 0.98*p.Rate:
			verdict = "**not met**"
		case !enough(p.Pacing.Count, q999) || !enough(p.Hiccup.Count, q999):
			verdict = "too few samples to tell"
		case !p.MeetsTarget:
			verdict = "**not met**"
		}
		fmt.Fprintf(b, "| %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.Rate, p.Achieved,
			at(p.Pacing, q50), at(p.Pacing, q99), at(p.Pacing, q999), at(p.RoundTrip, q50), at(p.RoundTrip, q99), at(p.RoundTrip, q999),
			at(p.Send, q99), at(p.Send, q999), at(p.Hiccup, q999), verdict)
	}
	b.WriteString("\n")
	b.WriteString(toolCeiling(s.Calibration) + "\n\n")
}

// toolCeiling says up to which rate the tool met its target on this
// machine: the highest calibrated rate at and below which every point met
// it.
func toolCeiling(points []CalibrationPoint) string {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b CalibrationPoint) int { return cmp.Compare(a.Rate, b.Rate) })
	ceiling := 0.0
	for _, p := range ps {
		if !p.MeetsTarget || !enough(p.Pacing.Count, q999) || !enough(p.Hiccup.Count, q999) {
			break
		}
		ceiling = p.Rate
	}
	switch {
	case ceiling == 0:
		return fmt.Sprintf("**The tool's ceiling on this machine:** none of the rates measured (the lowest, %s msg/s, missed the target "+
			"or had too few samples to tell): at every rate, tails near the tool's floor above are partly the tool's.", rateNum(ps[0].Rate))
	case ceiling == ps[len(ps)-1].Rate:
		return fmt.Sprintf("**The tool's ceiling on this machine:** at least %s msg/s, the highest rate measured: the tool met its "+
			"target at every rate.", rateNum(ceiling))
	}
	return fmt.Sprintf("**The tool's ceiling on this machine:** %s msg/s: the tool met its target at every rate up to it, not above.", rateNum(ceiling))
}

// writeWorkers describes the load workers: where producers and consumers
// ran, and how far apart their clocks may be (which bounds the accuracy of
// end-to-end latency between them).
func writeWorkers(b *strings.Builder, s *Summary) {
	if len(s.Workers) == 0 {
		return
	}
	var ws []string
	var worst time.Duration
	local := true
	for _, w := range s.Workers {
		local = local && w.Local
		d := fmt.Sprintf("%s (%s, %s, %d cores", w.Addr, orDash(w.Machine.Hostname), orDash(w.Version), w.Machine.Cores)
		if !w.Local {
			d += fmt.Sprintf(", clock offset %v ± %v", w.ClockOffset.Round(time.Microsecond), w.ClockUncertainty.Round(time.Microsecond))
		}
		ws = append(ws, d+")")
		worst = max(worst, w.ClockUncertainty)
	}
	kind := "remote"
	if local {
		kind = "local processes started by loadgen, apart from the one that drives the run"
	}
	fmt.Fprintf(b, "- **Load workers** (%s): %s. With consumers, the first half of the workers send and the rest consume.", kind, strings.Join(ws, "; "))
	if !local {
		fmt.Fprintf(b, " End-to-end latency between two workers is corrected by their clock offsets; it is uncertain by up to %v (the sum of two workers' uncertainties).", (2 * worst).Round(time.Microsecond))
	}
	b.WriteString("\n")
	for _, r := range s.Runs {
		for _, lw := range r.LostWorkers {
			fmt.Fprintf(b, "- **Worker lost** in %s at %s msg/s (repetition %d): %s. Its sends are missing from that run, and messages of the topics it consumed are not counted as lost.\n",
				r.Label, rateNum(r.TargetRate), r.Repetition, lw)
		}
	}
}

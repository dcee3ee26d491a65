package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// modeRun is a run of one of the four modes of sync-vs-async with the given
// send percentiles (µs) over n samples and an achieved rate of 99.9 % of
// the target.
func modeRun(mode, flush string, rate float64, rep int, p50, p99 int64, n int64) Run {
	return Run{Label: mode + "+" + flush, Mode: mode, Flush: flush, TargetRate: rate, Repetition: rep,
		Measured: 4 * time.Second, Sent: n, Acked: n, AchievedRate: 0.999 * rate, Statuses: map[string]int64{"SEND_OK": n},
		Send: Percentiles{Count: n, P50: p50, P90: (p50 + p99) / 2, P99: p99, P999: 2 * p99, Max: 3 * p99}}
}

// reportOf writes s's report and returns it.
func reportOf(t *testing.T, s *Summary) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// section returns the report's section under heading, without it.
func section(report, heading string) string {
	_, rest, ok := strings.Cut(report, "## "+heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest)
}

// expect fails the test for every want the report lacks and every not it
// has, and logs the report once if anything failed.
func expect(t *testing.T, report string, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(report, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	for _, w := range not {
		if strings.Contains(report, w) {
			t.Errorf("report.md has %q", w)
		}
	}
	if t.Failed() {
		t.Logf("report.md:\n%s", report)
	}
}

// TestVerdictIsAShortList: the verdict is a bulleted list a reader can
// scan, each point short, even with many flagged rows.
func TestVerdictIsAShortList(t *testing.T) {
	s, _ := syntheticSummary(t)
	// Eight labels that all saturate at 40000 msg/s: the point on them
	// names four and counts the rest.
	for i := range s.Runs {
		if s.Runs[i].TargetRate == 40000 {
			s.Runs[i].AchievedRate = 20000
		}
	}
	base := len(s.Runs)
	for k := 0; k < 6; k++ {
		for _, r := range s.Runs[:base] {
			if r.Label == asyncLabel {
				r.Label += strings.Repeat("'", k+1)
				s.Runs = append(s.Runs, r)
			}
		}
	}
	v := section(reportOf(t, s), "Verdict")
	lines := strings.Split(v, "\n")
	if len(lines) < 5 {
		t.Fatalf("verdict has %d lines:\n%s", len(lines), v)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "- **") {
			t.Errorf("verdict line is not a bullet with a bold lead: %q", l)
		}
		if n := len(strings.Fields(l)); n > 90 {
			t.Errorf("verdict point of %d words: %q", n, l)
		}
	}
	if !strings.Contains(v, "; and 4 more (see the flags column)") {
		t.Errorf("the saturated point does not cut its list:\n%s", v)
	}
}

// TestReportKneeAtLowestRate: a p99 that turns upward on the first step
// up is "over budget already at the lowest rate", not a knee at it.
func TestReportKneeAtLowestRate(t *testing.T) {
	s := &Summary{Scenario: "knee"}
	for rep := 1; rep <= 2; rep++ {
		for i, rate := range []float64{1000, 5000, 15000} {
			s.Runs = append(s.Runs, modeRun(roleAsync, "ASYNC_FLUSH", rate, rep, 200, []int64{1000, 6500, 19000}[i], 20000))
			s.Runs = append(s.Runs, modeRun(roleSync, "ASYNC_FLUSH", rate, rep, 400, []int64{3000, 3300, 12000}[i], 20000))
		}
	}
	expect(t, reportOf(t, s), []string{
		"- **Knee** (the last rate before p99 turns sharply upward; see Results): over budget already at the lowest rate, 1000 msg/s: " +
			"ASYNC_MASTER+ASYNC_FLUSH (p99 1000 → 6500 µs at 5000 msg/s); SYNC_MASTER+ASYNC_FLUSH at 5000 msg/s (p99 3300 → 12000 µs at 15000 msg/s).",
		"| ASYNC_MASTER+ASYNC_FLUSH | 1000 msg/s (knee or below) |",
		"| SYNC_MASTER+ASYNC_FLUSH | 5000 msg/s (knee) |",
		"*over budget already at the lowest rate*: its knee is at or below that rate",
	}, []string{"ASYNC_MASTER+ASYNC_FLUSH at 1000 msg/s (p99", "| ASYNC_MASTER+ASYNC_FLUSH | 1000 msg/s (knee) |"})
}

// TestReportFlagsSaturatedAndDisagreeing: a row whose median send queued
// and whose repetitions are 10× apart is flagged in the table and named
// in the verdict, with what the broker itself took.
func TestReportFlagsSaturatedAndDisagreeing(t *testing.T) {
	s := &Summary{Scenario: "flags"}
	for rep := 1; rep <= 2; rep++ {
		for _, rate := range []float64{1000, 30000} {
			s.Runs = append(s.Runs, modeRun(roleAsync, "ASYNC_FLUSH", rate, rep, 200, 1000, 20000))
			r := modeRun(roleSync, "ASYNC_FLUSH", rate, rep, 470, 3000, 20000)
			if rate == 30000 {
				// p50 207 ms; p99 40 ms in one repetition, 400 ms in the other.
				r = modeRun(roleSync, "ASYNC_FLUSH", rate, rep, 207_000, []int64{40_000, 400_000}[rep-1], 120000)
				r.Broker = map[string]Percentiles{StageTotal: {Count: 120000, P50: 100, P99: 900}}
			}
			s.Runs = append(s.Runs, r)
		}
	}
	expect(t, reportOf(t, s), []string{
		"- **Saturated** (achieved < 98% of the target, p50 ≥ 10× the mode's p50 at its lowest rate, or consumers ≥ 5% behind): " +
			"SYNC_MASTER+ASYNC_FLUSH at 30000 msg/s (p50 207000 µs, 440× its p50 at 1000 msg/s, in the broker p99 900 µs).",
		"- **Repetitions disagree** (highest p99 ≥ 2× the lowest): SYNC_MASTER+ASYNC_FLUSH at 30000 msg/s (p99 40000–400000 µs over 2 repetitions).",
		"| 40000–400000 | no data | no data | — | saturated, reps disagree |",
		"| ASYNC_MASTER+ASYNC_FLUSH | 30000 msg/s | 29970 | 2 | 200 | 600 | 1000 | 2000 | 3000 | 1000–1000 | no data | no data | — | — |",
		"by ASYNC_MASTER+ASYNC_FLUSH at a target of 30000 msg/s with p99 1000 µs.",
	}, nil)
}

// TestReportComparesOneSettingAtATime: with a single repetition per row
// nothing is "beyond run-to-run noise"; a mode that differs from the
// baseline in both replication and flush is compared with one that
// differs in one; and no sentence cites notes nobody wrote.
func TestReportComparesOneSettingAtATime(t *testing.T) {
	s := &Summary{Scenario: "modes"}
	for _, rate := range []float64{1000, 2000} {
		s.Runs = append(s.Runs,
			modeRun(roleAsync, "ASYNC_FLUSH", rate, 1, 200, 1000, 20000),
			modeRun(roleSync, "ASYNC_FLUSH", rate, 1, 450, 3600, 20000),
			modeRun(roleAsync, flushSync, rate, 1, 2800, 10000, 20000),
			modeRun(roleSync, flushSync, rate, 1, 2800, 9800, 20000))
	}
	expect(t, reportOf(t, s), []string{
		"- **SYNC_MASTER+ASYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 2000 msg/s: +250 µs at p50, +2600 µs at p99 (p50 200 → 450 µs, p99 1000 → 3600 µs, single runs, so run-to-run noise is unknown).",
		"- **ASYNC_MASTER+SYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 2000 msg/s: +",
		// Both settings apart from the baseline: compared with SYNC_MASTER+ASYNC_FLUSH (flush only).
		"- **SYNC_MASTER+SYNC_FLUSH vs SYNC_MASTER+ASYNC_FLUSH** at 2000 msg/s: +2350 µs at p50, +6200 µs at p99",
	}, []string{"beyond run-to-run noise", "**SYNC_MASTER+SYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH", "No reason was recorded", "notes"})

	// SYNC_FLUSH no slower than ASYNC_FLUSH, with nothing to explain it:
	// the point says so and stops.
	s = &Summary{Scenario: "modes"}
	for rep := 1; rep <= 2; rep++ {
		s.Runs = append(s.Runs, modeRun(roleAsync, "ASYNC_FLUSH", 1000, rep, 200, 1000+int64(rep), 20000),
			modeRun(roleAsync, flushSync, 1000, rep, 200, 990+int64(rep), 20000))
	}
	expect(t, reportOf(t, s), []string{
		"- **ASYNC_MASTER+SYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 1000 msg/s: ASYNC_MASTER+SYNC_FLUSH is not slower (p50 200 → 200 µs, p99 1002 → 992 µs, within run-to-run noise).\n",
	}, []string{"No reason was recorded", "notes"})
}

// TestReportStallsUpToTheLargest: "stalled by up to X" quotes the largest
// stall of the stall table, whichever row's tail it explains most of.
func TestReportStallsUpToTheLargest(t *testing.T) {
	s := &Summary{Scenario: "stalls"}
	for _, rate := range []float64{1000, 5000} {
		for rep := 1; rep <= 2; rep++ {
			r := modeRun(roleAsync, "ASYNC_FLUSH", rate, rep, 200, 1000, 20000)
			r.Send.P999 = 2000 // the stall is half of it
			r.Hiccup = Percentiles{Count: 20000, P50: 60, P99: 300, P999: 1000, Max: 1500}
			if rate == 5000 {
				r.Send.P999 = 100_000 // the stall is 5% of it, and the largest
				r.Hiccup = Percentiles{Count: 20000, P50: 60, P99: 900, P999: 5000, Max: 6000}
			}
			s.Runs = append(s.Runs, r)
		}
	}
	expect(t, reportOf(t, s), []string{
		"- **Machine stalls**: a thread that only sleeps woke up to 5000 µs late at p99.9 (ASYNC_MASTER+ASYNC_FLUSH at 5000 msg/s, the largest in the stall table); " +
			"in ASYNC_MASTER+ASYNC_FLUSH at 1000 msg/s the stall is 50% of the send p99.9 of 2000 µs",
		"| ASYNC_MASTER+ASYNC_FLUSH | 5000 msg/s | 900 | 1000 | 5000 | 100000 | 6000 | 3000 |",
	}, []string{"up to 1000 µs"})
}

// TestReportTooFewSamples: a percentile with fewer than 10 samples beyond
// it is not printed; the report says "too few" instead, and the verdict
// judges stalls at the highest percentile the samples support.
func TestReportTooFewSamples(t *testing.T) {
	s := &Summary{Scenario: "short"}
	for _, rate := range []float64{1000, 2000} {
		// 4 s at 1000 msg/s: 4000 sends, 4000 wake-ups; enough for a p99,
		// not for a p99.9.
		r := modeRun(roleAsync, "ASYNC_FLUSH", rate, 1, 200, 1000, 4000)
		r.Hiccup = Percentiles{Count: 4000, P50: 60, P99: 700, P999: 3000, Max: 4000}
		r.EndToEnd = Percentiles{Count: 15, P50: 300, P99: 900}
		s.Runs = append(s.Runs, r)
	}
	expect(t, reportOf(t, s), []string{
		"| ASYNC_MASTER+ASYNC_FLUSH | 1000 msg/s | 999 | 1 | 200 | 600 | 1000 | too few | 3000 | single run | too few | too few | — | — |",
		"| ASYNC_MASTER+ASYNC_FLUSH | 1000 msg/s | 700 | 1000 | too few | too few | 4000 | 3000 |",
		"p99 needs 1000, p99.9 10000",
		"woke up to 700 µs late at p99 (",
	}, []string{"at p99.9 ("})

	// 500 sends: not even a p99.
	s = &Summary{Scenario: "tiny", Runs: []Run{modeRun(roleAsync, "ASYNC_FLUSH", 100, 1, 200, 1000, 500)}}
	expect(t, reportOf(t, s), []string{
		"- **No tail latency**: no run acknowledged the 1000 sends a p99 needs (10 beyond it), so none is judged;",
		"| 200 | 600 | too few | too few | 3000 | too few |",
	}, []string{"No send was acknowledged"})
}

// TestReportExistingCluster: against a cluster loadgen did not start, the
// report says so, and invents neither its topology nor its slaves.
func TestReportExistingCluster(t *testing.T) {
	s, _ := syntheticSummary(t)
	s.Topology, s.Existing, s.Placement.Brokers = TopologySpec{}, []string{"10.0.0.1:9876", "10.0.0.2:9876"}, ""
	for i := range s.Runs {
		s.Runs[i].LogBytes = s.Runs[i].Acked * 1200
	}
	s.Capacity = []Capacity{{Label: syncLabel, Result: CapacityResult{SLO: SLO{P99: 10 * time.Millisecond}, Sustained: 20000,
		Steps: []CapacityStep{{Phase: "confirm", Rate: 20000, Pass: true}}}}}
	expect(t, reportOf(t, s), []string{
		"- **Topology:** an existing cluster, not started by loadgen (namesrvs 10.0.0.1:9876;10.0.0.2:9876); broker group(s) measured: " +
			asyncLabel + ", " + syncLabel + ".",
		"- **Load generator's machine:** Test CPU",
		"- **CPU placement:** load generator on 1; the brokers' is not known.",
		"(a slave, if the group has any, holds the same again)",
		// 100000 msg/s at 20000 per group: 5 groups + 1 spare; machines
		// and copies not known.
		"| " + syncLabel + " | 100000 | 5 + 1 | — | 5.8 TiB (the master's copy) |",
	}, []string{"slave(s)", "each slave", "name server(s)", "**Machine:**", "brokers on"})
}

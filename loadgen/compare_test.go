package loadgen

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// repSummary builds a summary of one label at one rate whose repetitions
// have the given send p99s (µs) and achieved rates.
func repSummary(name string, p99s []int64, rate float64) *Summary {
	s := &Summary{Scenario: name, Started: time.Date(2025, 11, 26, 6, 0, 0, 0, time.UTC)}
	for i, p99 := range p99s {
		s.Runs = append(s.Runs, Run{Label: "SYNC_MASTER+ASYNC_FLUSH", TargetRate: 20000, Repetition: i + 1,
			Measured: 30 * time.Second, Sent: 600000, Acked: 600000, AchievedRate: rate,
			Send: Percentiles{Count: 600000, P50: p99 / 3, P90: p99 / 2, P99: p99, P999: 2 * p99, Max: 5 * p99}})
	}
	return s
}

func row(t *testing.T, c Comparison, metric string) ComparisonRow {
	t.Helper()
	for _, r := range c.Rows {
		if r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no %q row in %+v", metric, c.Rows)
	return ComparisonRow{}
}

func TestCompare(t *testing.T) {
	base := []int64{1000, 1030, 985}
	scale := func(xs []int64, f float64) []int64 {
		out := make([]int64, len(xs))
		for i, x := range xs {
			out[i] = int64(math.Round(float64(x) * f))
		}
		return out
	}
	cases := []struct {
		name        string
		a, b        *Summary
		significant bool
		worse       bool
		note        string
	}{
		{"2x slowdown", repSummary("a", base, 20000), repSummary("b", scale(base, 2), 20000), true, true, ""},
		{"2% slowdown", repSummary("a", base, 20000), repSummary("b", scale(base, 1.02), 20000), false, false, ""},
		{"2x speedup", repSummary("a", base, 20000), repSummary("b", scale(base, 0.5), 20000), true, false, ""},
		// 15% apart and not overlapping, but A spreads 20%: noise.
		{"change within spread", repSummary("a", []int64{900, 1000, 1100}, 20000), repSummary("b", []int64{1110, 1150, 1300}, 20000), false, false, ""},
		// Overlapping sets never count, however far the medians are.
		{"overlapping sets", repSummary("a", []int64{500, 1000, 3000}, 20000), repSummary("b", []int64{2900, 3000, 3100}, 20000), false, false, ""},
		{"single run 2x", repSummary("a", []int64{1000}, 20000), repSummary("b", []int64{2000}, 20000), true, true, NoteSingleRun},
		{"single run 2%", repSummary("a", []int64{1000}, 20000), repSummary("b", []int64{1020}, 20000), false, false, NoteSingleRun},
		{"single run 12%", repSummary("a", []int64{1000}, 20000), repSummary("b", []int64{1120}, 20000), true, true, NoteSingleRun},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := row(t, Compare(c.a, c.b), "send p99 µs")
			if r.Significant != c.significant || r.Worse != c.worse || r.Note != c.note {
				t.Errorf("p99 %v → %v (%.1f%%, threshold %.1f%%): significant %v worse %v note %q; want %v %v %q",
					r.A, r.B, r.Change, r.Threshold, r.Significant, r.Worse, r.Note, c.significant, c.worse, c.note)
			}
		})
	}

	// Throughput: fewer msg/s is worse.
	c := Compare(repSummary("a", base, 20000), repSummary("b", base, 10000))
	if r := row(t, c, "achieved msg/s"); !r.Significant || !r.Worse || r.Change != -50 {
		t.Errorf("halved throughput: %+v", r)
	}
	// Runs only one side has, and metrics neither side has.
	a, b := repSummary("a", base, 20000), repSummary("b", base, 20000)
	b.Runs[0].Label = "ASYNC_MASTER+ASYNC_FLUSH"
	c = Compare(a, b)
	var onlyB bool
	for _, r := range c.Rows {
		onlyB = onlyB || (r.Label == "ASYNC_MASTER+ASYNC_FLUSH" && r.Note == NoteOnlyB)
		if strings.HasPrefix(r.Metric, "end-to-end") {
			t.Errorf("end-to-end row without consumers: %+v", r)
		}
	}
	if !onlyB {
		t.Errorf("no %q row: %+v", NoteOnlyB, c.Rows)
	}
	if got := Compare(nil, nil); len(got.Rows) != 0 {
		t.Errorf("Compare(nil, nil) has rows: %+v", got.Rows)
	}
}

func TestWriteComparison(t *testing.T) {
	c := Compare(repSummary("before", []int64{1000}, 20000), repSummary("after", []int64{2000}, 20000))
	var out bytes.Buffer
	if err := WriteComparison(&out, c); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, w := range []string{"A: before 2025-11-26 06:00:00Z", "B: after", "send p99 µs", "+100%", "WORSE (single run)", "±10%", "1/1"} {
		if !strings.Contains(text, w) {
			t.Errorf("comparison lacks %q:\n%s", w, text)
		}
	}
	if err := WriteComparison(&failWriter{}, c); err == nil {
		t.Error("failing writer: no error")
	}
}

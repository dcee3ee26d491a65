package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCalibrate: against the null target (a child process), a paced run
// reaches its rate with no errors, and the point carries the tool's pacing
// lag, the round trip and the machine's stalls.
func TestCalibrate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	w := Workload{Name: "cal", Topics: 1, QueuesPerTopic: 8, MessageSize: 256, ProducersPerTopic: 1, ConsumersPerTopic: 1,
		InFlight: 64, BatchSize: 1, Warmup: 200 * time.Millisecond, Duration: time.Second, SendTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	points, err := Calibrate(ctx, w, []float64{400, 800}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 {
		t.Fatalf("%d points for 2 rates", len(points))
	}
	for _, p := range points {
		if p.Errors != 0 || p.Achieved < 0.9*p.Rate || p.Achieved > 1.1*p.Rate {
			t.Errorf("at %.0f msg/s: achieved %.0f, %d errors", p.Rate, p.Achieved, p.Errors)
		}
		if n := int64(p.Rate * w.Duration.Seconds()); p.Pacing.Count < n*9/10 || p.RoundTrip.Count != p.Pacing.Count || p.RoundTrip.P50 <= 0 {
			t.Errorf("at %.0f msg/s: pacing %+v, round trip %+v", p.Rate, p.Pacing, p.RoundTrip)
		}
		if p.Hiccup.Count == 0 {
			t.Errorf("at %.0f msg/s: no hiccup samples", p.Rate)
		}
	}
	if _, err := Calibrate(ctx, w, []float64{0}, t.TempDir(), nil); err == nil {
		t.Error("a rate of 0 was taken")
	}
}

// TestToolCeiling: the ceiling is the highest rate at and below which
// every point met the target with samples enough to tell.
func TestToolCeiling(t *testing.T) {
	pt := func(rate float64, met bool, n int64) CalibrationPoint {
		return CalibrationPoint{Rate: rate, MeetsTarget: met, Pacing: Percentiles{Count: n}, Hiccup: Percentiles{Count: 11000}}
	}
	for _, tc := range []struct {
		points []CalibrationPoint
		want   string
	}{
		{[]CalibrationPoint{pt(20000, false, 2e5), pt(1000, true, 11000), pt(5000, true, 55000)}, "5000 msg/s: the tool met its target at every rate up to it"},
		{[]CalibrationPoint{pt(1000, true, 11000), pt(5000, true, 55000)}, "at least 5000 msg/s"},
		{[]CalibrationPoint{pt(1000, false, 11000), pt(5000, true, 55000)}, "none of the rates measured (the lowest, 1000 msg/s"},
		{[]CalibrationPoint{pt(1000, true, 3000), pt(5000, true, 55000)}, "none of the rates measured"},
	} {
		if got := toolCeiling(tc.points); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.points, got, tc.want)
		}
	}
}

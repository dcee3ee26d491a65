package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"
)

// CalibrationTarget is what the tool may add to the machine's own stalls:
// its pacing lag p99.9 must stay within the hiccup meter's p99.9 plus this.
const CalibrationTarget = 100 // µs

// CalibrationPoint is the tool's own floor at one rate, measured against
// the null target: what it adds before any broker does.
type CalibrationPoint struct {
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achievedRate"`
	// Pacing is how late sends left (actual − intended); RoundTrip is the
	// client's send round trip with nothing behind the port but an
	// immediate SEND_OK; Hiccup is the machine's own stalls meanwhile.
	// Send is what a run's send latency (intended send → acknowledgement)
	// reads at this rate with no broker behind the port: the floor under
	// the results' send percentiles.
	Pacing    Percentiles `json:"pacing"`
	RoundTrip Percentiles `json:"roundTrip"`
	Hiccup    Percentiles `json:"hiccup"`
	Send      Percentiles `json:"send"`
	Errors    int64       `json:"errors"`
	// MeetsTarget: pacing p99.9 ≤ hiccup p99.9 + CalibrationTarget, and
	// the rate was reached (98 %) without errors.
	MeetsTarget bool `json:"meetsTarget"`
}

// Calibrate runs w at each rate against a null target it starts (its log
// under dir) and returns the tool's floor at each. w's consumers are
// dropped (the null target stores nothing to consume) and its queues capped
// at the null target's four.
func Calibrate(ctx context.Context, w Workload, rates []float64, dir string, log *slog.Logger) ([]CalibrationPoint, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("calibrate: no rates")
	}
	for _, r := range rates {
		if r <= 0 {
			return nil, fmt.Errorf("calibrate: rate %v: want a positive msg/s", r)
		}
	}
	n, err := StartNullTarget(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	defer n.Stop(5 * time.Second)
	w.ConsumersPerTopic = 0
	w.QueuesPerTopic = min(max(w.QueuesPerTopic, 1), nullQueues) // it routes every topic to nullQueues queues
	var points []CalibrationPoint
	for _, r := range rates {
		w.Rate = r
		out, err := Execute(ctx, RunSpec{Namesrvs: []string{n.Addr}, Workload: w, Group: NullGroup,
			Label: fmt.Sprintf("calibration %.0f msg/s", r), Log: log})
		if err != nil {
			return points, fmt.Errorf("calibrate at %.0f msg/s: %w", r, err)
		}
		run := out.Run
		p := CalibrationPoint{Rate: r, Achieved: run.AchievedRate, Pacing: run.Pacing, RoundTrip: run.Service,
			Hiccup: run.Hiccup, Send: run.Send, Errors: run.Errors}
		p.MeetsTarget = p.Errors == 0 && p.Achieved >= 0.98*r && p.Pacing.P999 <= p.Hiccup.P999+CalibrationTarget
		points = append(points, p)
	}
	return points, nil
}

// calibrationWindow is the measured window of each calibration point:
// long enough for a p99.9 with 10 samples beyond it from the stall meter
// (one sample a little over every millisecond) and from the pacing at
// 1000 msg/s, short enough to leave the plan's time to the brokers.
const calibrationWindow = 11 * time.Second

// calibratePlan measures the tool's floor at each positive rate of plan
// (closed-loop runs have no pacing to calibrate) into sum.Calibration.
func calibratePlan(ctx context.Context, plan Plan, sum *Summary, log *slog.Logger) error {
	var rates []float64
	for _, r := range plan.Rates {
		if r > 0 && !slices.Contains(rates, r) {
			rates = append(rates, r)
		}
	}
	if len(rates) == 0 {
		return nil
	}
	w := plan.Workload
	w.Duration = calibrationWindow
	w.Warmup = min(w.Warmup, 500*time.Millisecond)
	dir, err := os.MkdirTemp("", "loadgen-calibrate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log.Info("calibration", "rates", rates)
	points, err := Calibrate(ctx, w, rates, dir, log)
	if err != nil {
		return err
	}
	sum.Calibration = points
	return nil
}

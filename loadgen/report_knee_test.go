package loadgen

import (
	"math"
	"testing"
)

// curve samples p99(rate) at rates 1000, 2000, … n×1000, with p50 = p99/2.
func curve(n int, p99 func(rate float64) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		r := float64(i+1) * 1000
		pts[i] = Point{Rate: r, P50: p99(r) / 2, P99: p99(r)}
	}
	return pts
}

func TestKnee(t *testing.T) {
	// Linear up to 6000 msg/s, exponential beyond: the knee is 6000.
	linearThenExp := func(base, slope float64) func(float64) float64 {
		return func(r float64) float64 {
			lin := base + slope*math.Min(r, 6000)
			if r <= 6000 {
				return lin
			}
			return lin + base*(math.Exp((r-6000)/1000)-1)
		}
	}
	cases := []struct {
		name   string
		points []Point
		want   int
		wantOK bool
	}{
		{"linear then exponential", curve(10, linearThenExp(100, 0.01)), 5, true},
		// A high base keeps p99 below 2× the base for one more step: the
		// slope rule finds the turn.
		{"linear then exponential, high base", curve(10, func(r float64) float64 {
			if r <= 6000 {
				return 2000 + 0.01*r
			}
			return 2060 + 400*(math.Exp((r-6000)/1000)-1)
		}), 5, true},
		{"linear only", curve(10, func(r float64) float64 { return 100 + 0.01*r }), 0, false},
		{"flat with noise", curve(10, func(r float64) float64 { return 500 + 20*math.Sin(r) }), 0, false},
		{"saturated: rate stops growing", []Point{
			{Rate: 10000, P99: 400}, {Rate: 20000, P99: 420}, {Rate: 29000, P99: 450},
			{Rate: 29100, P99: 600}, {Rate: 29050, P99: 700},
		}, 2, true},
		{"first step already doubles", []Point{{Rate: 1000, P99: 100}, {Rate: 2000, P99: 250}}, 0, true},
		{"single point", []Point{{Rate: 1000, P99: 100}}, 0, false},
		{"empty", nil, 0, false},
		{"unusable points skipped", []Point{
			{Rate: 0, P99: 100}, {Rate: 1000, P99: 100}, {Rate: 2000, P99: math.NaN()}, {Rate: 3000, P99: 105},
			{Rate: 4000, P99: 0}, {Rate: 5000, P99: 400},
		}, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Knee(c.points)
			if ok != c.wantOK || (ok && got != c.want) {
				t.Errorf("Knee = %d, %v; want %d, %v", got, ok, c.want, c.wantOK)
			}
		})
	}
}

package loadgen

import "math"

// Point is one point of a latency–throughput curve: the achieved rate
// (msg/s) and the send latency percentiles (µs) at one offered load.
type Point struct{ Rate, P50, P99 float64 }

// The thresholds of Knee.
const (
	kneeBaseFactor  = 2.0  // p99 more than this × the lowest-load p99
	kneeSlopeFactor = 3.0  // slope more than this × the median earlier slope
	kneeMinRise     = 0.25 // a rise that small a share of the base p99 is noise
	kneeFlatRate    = 0.01 // a rate that grew less than this share did not grow
)

// Knee returns the index of the last point before latency turns sharply
// upward. points are in order of increasing offered load (target rate),
// each with the rate it achieved; points whose rate or p99 is not a
// positive finite number are skipped. The base is the p99 of the first
// usable point. Walking up the load, the segment from the previous usable
// point to point j turns sharply upward when any of these holds:
//
//  1. p99 at j exceeds 2× the base;
//  2. there are earlier segments, the slope Δp99/Δrate (µs per msg/s)
//     exceeds 3× the median slope of the earlier segments (a negative
//     median counts as 0), and p99 rose by at least 25% of the base, so that
//     noise on a flat curve does not count;
//  3. the achieved rate grew by less than 1% (or fell) while p99 rose by at
//     least 25% of the base: the system is saturated and more offered load
//     only queues.
//
// The knee is the point before the first such segment. ok is false with
// fewer than two usable points or when no segment turns upward, which
// means the knee lies beyond the loads measured.
func Knee(points []Point) (i int, ok bool) {
	usable := func(p Point) bool {
		return p.Rate > 0 && p.P99 > 0 && !math.IsInf(p.Rate, 0) && !math.IsInf(p.P99, 0)
	}
	prev := -1
	var base float64
	var slopes []float64
	for j, p := range points {
		if !usable(p) {
			continue
		}
		if prev < 0 {
			prev, base = j, p.P99
			continue
		}
		q := points[prev]
		rise := p.P99 - q.P99
		grew := p.Rate - q.Rate
		material := rise >= kneeMinRise*base
		switch {
		case p.P99 > kneeBaseFactor*base:
			return prev, true
		case grew <= kneeFlatRate*q.Rate:
			if material {
				return prev, true
			}
		default:
			slope := rise / grew
			if len(slopes) > 0 && material && slope > kneeSlopeFactor*math.Max(medianOf(slopes), 0) {
				return prev, true
			}
			slopes = append(slopes, slope)
		}
		prev = j
	}
	return 0, false
}

package loadgen

import (
	"testing"
	"time"
)

// The meter wakes about every millisecond and records only inside its window.
func TestHiccupMeterWindow(t *testing.T) {
	start := time.Now()
	from, to := start.Add(50*time.Millisecond), start.Add(250*time.Millisecond)
	m := startHiccupMeter(from, to)
	time.Sleep(time.Until(to.Add(50 * time.Millisecond))) // the meter measures time: let the window pass
	h, perSec := m.finish()
	if n := h.TotalCount(); n < 20 || n > 200 {
		t.Fatalf("%d wake-ups recorded in a 200 ms window of 1 ms sleeps", n)
	}
	// The histogram's max is the top of the worst wake-up's bucket (< 1 % above it).
	if len(perSec) != 1 || perSec[0] > h.Max() || perSec[0] < h.Max()*99/100 {
		t.Fatalf("worst wake-up per second %v, histogram max %d µs", perSec, h.Max())
	}
}

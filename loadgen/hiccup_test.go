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
	h := m.finish()
	if n := h.TotalCount(); n < 20 || n > 200 {
		t.Fatalf("%d wake-ups recorded in a 200 ms window of 1 ms sleeps", n)
	}
}

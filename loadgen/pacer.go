package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// pacer hands out intended send times at a fixed rate: the i-th send is
// due at start + i/rate, whatever happened to the ones before it, so a
// stalled broker shows up as latency measured from these times instead of
// as a lower send rate (no coordinated omission).
//
// It waits with clock_nanosleep on its own locked OS thread (time.Sleep
// overshoots sub-millisecond waits by about a millisecond here, nanosleep by
// tens of microseconds) and never sleeps when a send is already due: a late
// pacer catches up by sending every due message at once, so the rate holds
// over any window even when the waits are coarse.
//
// How it meets a due time depends on the interval. A slow pacer (an
// interval of at least spinShare × early) wakes early and spins the last
// few microseconds, so it is never early and rarely late; the spin costs at
// most 1/spinShare of a core. A fast one would spin all the time, a core
// taken from what it measures: it sleeps to the due time and sends what is
// due when it wakes, each send a few tens of microseconds late at most
// (the sleep's overshoot). At 20 000 msg/s against the null target, the
// spin took most of a core of the 2-vCPU development machine and tripled
// the round trip's p99 (2.3–3.7 ms; 0.7–1.3 ms without it).
type pacer struct {
	start    time.Time
	interval time.Duration // between intended sends; 0 = unpaced
	n        int64         // sends handed out
	early    time.Duration // wake this much before a due time (the typical overshoot); 0: no spin
}

// Pacing constants: the typical nanosleep overshoot, and how many times
// longer than it an interval must be for the pacer to spin.
const (
	pacerEarly = 40 * time.Microsecond
	spinShare  = 5
)

func newPacer(start time.Time, rate float64) *pacer {
	p := &pacer{start: start}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
		if p.interval >= spinShare*pacerEarly {
			p.early = pacerEarly
		}
	}
	return p
}

// lock pins the calling goroutine to its thread and asks the kernel for
// precise timer wake-ups on it. Call it once from the goroutine that calls
// next.
func (p *pacer) lock() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
}

// next waits until the next send is due (or until stop), and returns its
// intended time. ok is false when stop closed first.
func (p *pacer) next(stop <-chan struct{}) (intended time.Time, ok bool) {
	if p.interval == 0 {
		select {
		case <-stop:
			return time.Time{}, false
		default:
		}
		p.n++
		return time.Now(), true
	}
	due := p.start.Add(time.Duration(p.n) * p.interval)
	for {
		select {
		case <-stop:
			return time.Time{}, false
		default:
		}
		wait := time.Until(due) - p.early
		if wait <= 0 {
			break
		}
		// Sleep in slices of at most 10 ms so stop is noticed.
		ts := unix.NsecToTimespec(int64(min(wait, 10*time.Millisecond)))
		unix.Nanosleep(&ts, nil)
	}
	// Never send early: spin out the last few microseconds (a slow pacer;
	// a fast one slept until due).
	for time.Now().Before(due) {
	}
	p.n++
	return due, true
}

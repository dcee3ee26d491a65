package loadgen

import (
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// hiccupPeriod is how long the hiccup meter asks to sleep each time.
const hiccupPeriod = time.Millisecond

// hiccupMeter measures the machine's own stalls while a run goes on, the way
// jHiccup does: a thread that only ever asks to sleep hiccupPeriod records how
// late each wake-up came. Nothing it does waits on the broker, so its lateness
// is the scheduler's and the hypervisor's (a preempted vCPU, a busy core, a
// timer coalesced): a floor under every latency of the run. A send latency
// near the meter's figure at the same percentile says more about the machine
// than about the broker.
type hiccupMeter struct {
	h      *hdrhistogram.Histogram
	perSec []int64 // the latest wake-up (µs) in each second from the start
	stop   chan struct{}
	done   chan struct{}
}

// startHiccupMeter records wake-ups that happen in [from, to).
func startHiccupMeter(from, to time.Time) *hiccupMeter {
	m := &hiccupMeter{h: newHist(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		runtime.LockOSThread() // the thread dies with the goroutine: the timer slack stays with it
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		ts := unix.NsecToTimespec(int64(hiccupPeriod))
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			t0 := time.Now()
			unix.Nanosleep(&ts, nil)
			now := time.Now()
			if !now.Before(from) && now.Before(to) {
				late := max(now.Sub(t0)-hiccupPeriod, 0)
				recordUs(m.h, late)
				sec := int(now.Sub(from) / time.Second)
				for len(m.perSec) <= sec {
					m.perSec = append(m.perSec, 0)
				}
				m.perSec[sec] = max(m.perSec[sec], late.Microseconds())
			}
		}
	}()
	return m
}

// finish stops the meter and returns what it recorded: the histogram and
// the worst wake-up of each second.
func (m *hiccupMeter) finish() (*hdrhistogram.Histogram, []int64) {
	close(m.stop)
	<-m.done
	return m.h, m.perSec
}

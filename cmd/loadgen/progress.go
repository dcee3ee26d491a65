package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/loadgen"
)

// progress shows one bar per run on a terminal (mpb), or a line every few
// seconds when stderr is not a terminal.
type progress struct {
	tty bool
	p   *mpb.Progress

	mu    sync.Mutex
	bar   *mpb.Bar
	label string
	last  loadgen.Progress
	shown time.Time
}

func newProgress() *progress {
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	pr := &progress{tty: err == nil}
	if pr.tty {
		pr.p = mpb.New(mpb.WithOutput(os.Stderr), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return pr
}

func (pr *progress) update(s loadgen.Progress) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	newRun := s.Label != pr.label || s.Elapsed < pr.last.Elapsed
	pr.last = s
	if !pr.tty {
		if time.Since(pr.shown) >= 5*time.Second || newRun {
			pr.label, pr.shown = s.Label, time.Now()
			fmt.Fprintf(os.Stderr, "%s\n", line(s))
		}
		return
	}
	if newRun || pr.bar == nil {
		if pr.bar != nil {
			pr.bar.SetTotal(-1, true)
		}
		pr.label = s.Label
		pr.bar = pr.p.AddBar(int64(s.Total/time.Millisecond),
			mpb.PrependDecorators(decor.Name(s.Label, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				pr.mu.Lock()
				defer pr.mu.Unlock()
				return line(pr.last)
			})))
	}
	pr.bar.SetCurrent(int64(min(s.Elapsed, s.Total) / time.Millisecond))
}

func line(s loadgen.Progress) string {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Acked) / s.Elapsed.Seconds()
	}
	left := (s.Total - s.Elapsed).Round(time.Second)
	if left < 0 {
		left = 0
	}
	return fmt.Sprintf("%s  %6.0f msg/s  p99 %v  errors %d  consumed %d  left %v", s.Label, rate, s.P99, s.Errors, s.Consumed, left)
}

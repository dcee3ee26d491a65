package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/loadgen"
)

// progress shows one bar per run on a terminal (mpb). Off a terminal (a
// log, CI) it writes one line per phase before the runs and one per
// finished run, and nothing while a run goes: a snapshot taken as a run
// starts says nothing.
type progress struct {
	w   io.Writer
	tty bool
	p   *mpb.Progress

	mu    sync.Mutex
	bar   *mpb.Bar
	label string
	last  loadgen.Progress
}

// newProgress writes to stderr, with bars when it is a terminal.
func newProgress() *progress {
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	return newProgressTo(os.Stderr, err == nil)
}

func newProgressTo(w io.Writer, tty bool) *progress {
	pr := &progress{w: w, tty: tty}
	if tty {
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return pr
}

// options hooks the progress into a plan's options.
func (pr *progress) options(o *loadgen.PlanOptions) {
	o.Progress, o.Phase, o.RunDone = pr.update, pr.phase, pr.runDone
}

// println writes a line: above the bars on a terminal.
func (pr *progress) println(line string) {
	if pr.tty {
		fmt.Fprintln(pr.p, line)
		return
	}
	fmt.Fprintln(pr.w, line)
}

func (pr *progress) phase(line string) { pr.println(line) }

func (pr *progress) runDone(r loadgen.Run) { pr.println(loadgen.RunLine(r)) }

func (pr *progress) update(s loadgen.Progress) {
	if !pr.tty {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	newRun := s.Label != pr.label || s.Elapsed < pr.last.Elapsed
	pr.last = s
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
	p99 := "—"
	if s.P99 > 0 {
		p99 = s.P99.String()
	}
	return fmt.Sprintf("%s  %6.0f msg/s  p99 %s  errors %d  consumed %d  left %v", s.Label, rate, p99, s.Errors, s.Consumed, left)
}

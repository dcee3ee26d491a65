package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/loadgen"
)

// TestProgressOffTerminal: off a terminal, progress is one line per phase
// and one per finished run (mode, rate, repetition, achieved rate, p99),
// and nothing from the snapshots taken while a run goes.
func TestProgressOffTerminal(t *testing.T) {
	var out bytes.Buffer
	pr := newProgressTo(&out, false)
	var o loadgen.PlanOptions
	pr.options(&o)
	o.Phase("hardware floors: 4 KiB write + fdatasync p50 250 µs")
	o.Phase("topology started: 3 processes")
	for rep := 1; rep <= 2; rep++ {
		for i := 0; i < 10; i++ { // a run's snapshots, the first with no p99 yet
			o.Progress(loadgen.Progress{Label: "SYNC_MASTER+ASYNC_FLUSH", Elapsed: time.Duration(i) * 500 * time.Millisecond,
				Total: 5 * time.Second, Acked: int64(i) * 500, P99: time.Duration(i) * time.Millisecond})
		}
		o.RunDone(loadgen.Run{Label: "SYNC_MASTER+ASYNC_FLUSH", TargetRate: 1000, Repetition: rep, AchievedRate: 999.6,
			Send: loadgen.Percentiles{Count: 4000, P99: 3687}})
	}
	o.RunDone(loadgen.Run{Label: "A", TargetRate: 0, Repetition: 1, AchievedRate: 50, Errors: 3,
		Send: loadgen.Percentiles{Count: 200, P99: 100}})
	want := []string{
		"hardware floors: 4 KiB write + fdatasync p50 250 µs",
		"topology started: 3 processes",
		"SYNC_MASTER+ASYNC_FLUSH at 1000 msg/s, repetition 1: achieved 1000 msg/s, send p99 3.687ms",
		"SYNC_MASTER+ASYNC_FLUSH at 1000 msg/s, repetition 2: achieved 1000 msg/s, send p99 3.687ms",
		"A at max, repetition 1: achieved 50 msg/s, send p99 too few samples, 3 errors",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress off a terminal:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
}

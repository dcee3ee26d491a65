package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/loadgen"
)

// TestRunOnWorker drives a short run through a `loadgen worker` process
// named with -workers: the worker logs its listening line, the run's
// sends and consumption happen there, and summary.json lists it with its
// version and clock offset.
func TestRunOnWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := binDir // TestMain built namesrv, broker and loadgen
	worker := proctest.Start(t, filepath.Join(bin, "loadgen"), "worker", "-listen", "127.0.0.1:0")
	addr := worker.Addr("loadgen-worker")
	results := t.TempDir()
	var stderr bytes.Buffer
	args := []string{"run", "-bin", bin, "-results", results, "-quiet", "-calibrate=false", "-workers", addr,
		"-rate", "300", "-duration", "1s", "-warmup", "300ms", "-name", "onworker"}
	if code := run(args, &stderr); code != 0 {
		t.Fatalf("loadgen %v: exit %d: %s", args, code, stderr.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(results, "*-onworker"))
	if len(dirs) != 1 {
		t.Fatalf("result folders %v", dirs)
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s loadgen.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Workers) != 1 || s.Workers[0].Addr != addr || s.Workers[0].Version == "" || s.Workers[0].Local || s.Workers[0].PID != worker.Pid() {
		t.Fatalf("summary.json workers %+v, want the worker at %s (pid %d)", s.Workers, addr, worker.Pid())
	}
	if len(s.Runs) != 1 || s.Runs[0].Acked < 250 || s.Runs[0].Lost != 0 || s.Runs[0].Consumed < s.Runs[0].Acked {
		t.Fatalf("runs %+v", s.Runs)
	}
	if err := worker.Stop(); err != nil {
		t.Fatalf("the worker did not stop cleanly: %v\n%s", err, worker.Log())
	}
}

// TestWorkerAndHardwareBadInput: bad -listen, -workers and -hardware
// values stop loadgen with a message naming them.
func TestWorkerAndHardwareBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker"}, "-listen"},
		{[]string{"worker", "-listen", "nohost"}, "nohost"},
		{[]string{"worker", "-listen", "127.0.0.1:0", "extra"}, "extra"},
		{[]string{"run", "-hardware", "cores=0", "-results", dir}, "cores must be > 0"},
		{[]string{"run", "-hardware", "cores=4,gpus=1", "-results", dir}, "gpus"},
		{[]string{"report", "-hardware", "cores=x", dir}, "cores=\"x\""},
		{[]string{"run", "-workers", "127.0.0.1:1", "-namesrv", "127.0.0.1:1", "-group", "g", "-results", dir, "-quiet", "-calibrate=false"}, "127.0.0.1:1"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("loadgen %v: exit %d, stderr %q; want a failure naming %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

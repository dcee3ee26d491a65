package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/internal/procs"
)

// Work that loadgen injects into a run but does not measure (creating
// topics by the thousand) runs in a child process: in the measuring
// process it would take CPU time and scheduler turns from the pacers and
// show up as pacing lag, which the report would blame on the servers. The
// child is the running binary itself, started again with childEnv set: the
// init below runs the job and exits before the program's own main, so
// the loadgen command, its tests and benchmarks all have it.
const childEnv = "ROCKETGO_LOADGEN_CHILD"

// childJob is what a child is asked to do, passed in childEnv as JSON.
type childJob struct {
	Kind     string   `json:"kind"`             // "churn", "null", "worker"
	Listen   string   `json:"listen,omitempty"` // null, worker: the address to serve
	Auto     bool     `json:"auto"`             // churn: by sending to each new topic instead of UPDATE_AND_CREATE_TOPIC
	Master   string   `json:"master"`
	Namesrvs []string `json:"namesrvs"`
	Topics   []string `json:"topics"`
	Queues   int      `json:"queues"`
}

func init() {
	spec, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := runChild(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// yieldCPU gives every thread of this process the lowest priority (nice
// 19; Linux keeps one per thread, and threads started later inherit it
// from the thread that starts them), so the measured processes and the
// pacers win the CPU whenever they want it. Failures are ignored.
func yieldCPU() {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
		}
	}
}

// runChild does the job described by spec (childJob as JSON).
func runChild(ctx context.Context, spec string) error {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		return fmt.Errorf("%s: %w", childEnv, err)
	}
	switch job.Kind {
	case "churn":
		yieldCPU() // injected load, not measured: it gives way to the measured
		return churnHere(ctx, job, slog.New(slog.DiscardHandler))
	case "null":
		return serveNull(job.Listen)
	case "worker":
		lessGC()
		ln, err := net.Listen("tcp", job.Listen)
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		// Its log goes to standard output: the parent reads the address
		// from the listening line.
		return ServeWorker(ctx, ln, slog.New(slog.NewTextHandler(os.Stdout, nil)))
	}
	return fmt.Errorf("%s: unknown job kind %q", childEnv, job.Kind)
}

// inChild runs job in a child process (the running binary, see childEnv),
// started from procs' spawning thread so that it dies with this process,
// and returns the child's error, its last line of standard error.
func inChild(ctx context.Context, job childJob) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start a child process: %w", err)
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := procs.OnSpawnThread(cmd.Start); err != nil {
		return fmt.Errorf("start a child process for %s: %w", job.Kind, err)
	}
	if err := cmd.Wait(); err != nil {
		if msg := lastLine(stderr.String()); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("child process for %s: %w", job.Kind, err)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// churnJob describes creating n new topics on master with 4 queues each.
func churnJob(c *Cluster, master *Node, auto bool, n int) childJob {
	return childJob{Kind: "churn", Auto: auto, Master: master.Addr, Namesrvs: c.NamesrvAddrs(), Topics: churnNames(n), Queues: 4}
}

// lessGC has the collector run less often than Go's default, unless GOGC
// says otherwise: a worker's garbage is short-lived payloads and client
// requests, and every collection stops its pacers for a moment.
func lessGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

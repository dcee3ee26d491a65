package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
)

var binDir string

func TestMain(m *testing.M) { proctest.Main(m, &binDir) }

var quiet = slog.New(slog.DiscardHandler)

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestLaunchAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	spec := TopologySpec{Namesrvs: 2, SegmentSize: 16 << 20, Groups: []GroupSpec{
		{Name: "a", Role: "SYNC_MASTER", Slaves: 1}, {Name: "b", Role: "ASYNC_MASTER", Flush: "SYNC_FLUSH"},
	}}
	c, err := Launch(context.Background(), spec, binDir, t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, n := range c.Nodes() {
		if !n.Running() || n.Addr == "" {
			t.Fatalf("%s not running with an address", n.Name)
		}
		pids = append(pids, n.Pid())
	}
	if len(pids) != 5 || len(c.NamesrvAddrs()) != 2 {
		t.Fatalf("%d nodes, %d namesrvs", len(pids), len(c.NamesrvAddrs()))
	}
	// Kill and restart a master: same address, the topology is whole again.
	m := c.Group("a").Master
	addr := m.Addr
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Addr != addr {
		t.Fatalf("restarted master moved from %s to %s", addr, m.Addr)
	}
	if err := c.WaitReady(context.Background(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	pids = append(pids, m.Pid())
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still alive after Stop", pid)
		}
	}
}

func TestLaunchFailureLeavesNoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	spec := TopologySpec{Namesrvs: 2, Groups: []GroupSpec{
		{Name: "ok", Slaves: 1},
		{Name: "bad", Extra: map[string]string{"defaultTopicQueueNums": "lots"}},
	}}
	_, err := Launch(context.Background(), spec, binDir, t.TempDir(), quiet)
	if err == nil || !strings.Contains(err.Error(), "bad-master") || !strings.Contains(err.Error(), "defaultTopicQueueNums") {
		t.Fatalf("want an error naming the node and the key, got %v", err)
	}
	// Every process Launch started is gone: no child of this process runs
	// one of the binaries.
	var children []string
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		out, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		children = append(children, strings.Fields(string(out))...)
	}
	for _, f := range children {
		var pid int
		fmt.Sscan(f, &pid)
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), binDir) {
			t.Errorf("process %d (%s) left behind", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}

	_, err = Launch(context.Background(), spec, t.TempDir(), t.TempDir(), quiet)
	if !errors.Is(err, ErrBinaryMissing) {
		t.Fatalf("missing binaries: %v", err)
	}
	bad := TopologySpec{Namesrvs: 0, Groups: []GroupSpec{{Name: "x y", Role: "LEADER", Slaves: -1}}}
	err = bad.Validate()
	for _, want := range []string{"namesrvs", "x y", "LEADER", "slaves"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error %v does not mention %s", err, want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

// TestMultiHost runs the multi-host path end to end on one machine: a
// namesrv and a broker in one network namespace, a loadgen worker in each
// of two others, and the driver (loadgen run -namesrv … -workers …) in
// the root namespace. The namespaces hang off a bridge with addresses
// from 198.18.0.0/24 (the range reserved for benchmark tests) and have no
// route beyond it; the test creates and removes all of it. The run must
// split over both workers (one sends, one consumes), lose nothing, and
// name both workers, with their clock offsets, in summary.json.
func TestMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes in network namespaces")
	}
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs iproute2's ip to create network namespaces:", err)
	}
	ip := func(args ...string) error {
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	bridge := "rgbr" + id
	if err := ip("link", "add", bridge, "type", "bridge"); err != nil {
		t.Skip("cannot create network namespaces and links here (needs root or CAP_NET_ADMIN):", err)
	}
	t.Cleanup(func() { ip("link", "del", bridge) })
	namespaces := []string{"rgb" + id, "rgw1" + id, "rgw2" + id}
	addrs := []string{"198.18.0.2", "198.18.0.3", "198.18.0.4"}
	for _, step := range [][]string{
		{"addr", "add", "198.18.0.1/24", "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if err := ip(step...); err != nil {
			t.Fatal(err)
		}
	}
	for i, ns := range namespaces {
		if err := ip("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ip("netns", "del", ns) })
		inside, outside := fmt.Sprintf("rgv%d%s", i, id), fmt.Sprintf("rgp%d%s", i, id)
		for _, step := range [][]string{
			{"link", "add", inside, "type", "veth", "peer", "name", outside},
			{"link", "set", outside, "master", bridge},
			{"link", "set", outside, "up"},
			{"link", "set", inside, "netns", ns},
			{"-n", ns, "addr", "add", addrs[i] + "/24", "dev", inside},
			{"-n", ns, "link", "set", inside, "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		} {
			if err := ip(step...); err != nil {
				t.Fatal(err)
			}
		}
	}

	bin := binDir // TestMain built namesrv, broker and loadgen
	in := func(ns, prog string, args ...string) *proctest.Proc {
		return proctest.Start(t, ipCmd, append([]string{"netns", "exec", ns, filepath.Join(bin, prog)}, args...)...)
	}
	namesrv := in(namespaces[0], "namesrv", "-listen", addrs[0]+":0").Addr("namesrv")
	in(namespaces[0], "broker", "-namesrvAddr", namesrv, "-brokerName", "g", "-brokerIP1", addrs[0],
		"-listenPort", "0", "-haListenPort", "0", "-storePathRootDir", t.TempDir(), "-mappedFileSizeCommitLog", strconv.Itoa(64<<20)).Addr("broker")
	workers := []string{
		in(namespaces[1], "loadgen", "worker", "-listen", addrs[1]+":0").Addr("loadgen-worker"),
		in(namespaces[2], "loadgen", "worker", "-listen", addrs[2]+":0").Addr("loadgen-worker"),
	}
	waitRouted(t, namesrv, "g")

	results := t.TempDir()
	var stderr bytes.Buffer
	args := []string{"run", "-namesrv", namesrv, "-group", "g", "-workers", strings.Join(workers, ","), "-results", results,
		"-quiet", "-calibrate=false", "-rate", "500", "-duration", "2s", "-warmup", "500ms", "-name", "multihost"}
	if code := run(args, &stderr); code != 0 {
		t.Fatalf("loadgen %v: exit %d: %s", args, code, stderr.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(results, "*-multihost"))
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
	if len(s.Workers) != 2 {
		t.Fatalf("workers %+v", s.Workers)
	}
	for i, w := range s.Workers {
		if w.Addr != workers[i] || w.Local || w.Version == "" || w.ClockUncertainty <= 0 || w.ClockUncertainty > 50*time.Millisecond {
			t.Errorf("worker %d: %+v", i, w)
		}
	}
	if len(s.Runs) != 1 {
		t.Fatalf("runs %+v", s.Runs)
	}
	r := s.Runs[0]
	t.Logf("acked %d consumed %d lost %d; send p50 %d µs, end-to-end p50 %d µs; clock offsets %v, %v",
		r.Acked, r.Consumed, r.Lost, r.Send.P50, r.EndToEnd.P50, s.Workers[0].ClockOffset, s.Workers[1].ClockOffset)
	if r.Acked < 900 || r.Lost != 0 || r.Duplicates != 0 || r.Consumed < r.Acked || r.EndToEnd.Count == 0 || len(r.LostWorkers) > 0 {
		t.Fatalf("run %+v", r)
	}
}

// waitRouted polls the namesrv until broker group group is registered.
func waitRouted(t *testing.T, namesrv, group string) {
	t.Helper()
	rpc := remoting.NewClient(remoting.ClientConfig{})
	defer rpc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := rpc.Invoke(ctx, namesrv, remoting.NewRequest(remoting.GetBrokerClusterInfo))
		cancel()
		if err == nil && resp.Code == remoting.Success {
			var info wire.ClusterInfo
			if wire.Unmarshal(resp.Body, &info) == nil {
				if _, ok := info.BrokerAddrTable[group]; ok {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker group %s not registered with %s after 15 s (last: %v)", group, namesrv, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

var binDir string

func TestMain(m *testing.M) {
	proctest.Main(m, &binDir, "./cmd/namesrv", "./cmd/broker", "./cmd/loadgen")
}

// names lists the keys of a JSON table in a response body: the topics of
// GET_ALL_TOPIC_CONFIG ("topicConfigTable"), the groups of
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG ("subscriptionGroupTable"), or the
// topicList of a namesrv's GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
func names(t *testing.T, addr string, code int32, field string) []string {
	t.Helper()
	rpc := remoting.NewClient(remoting.ClientConfig{})
	defer rpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rpc.Invoke(ctx, addr, remoting.NewRequest(code))
	if err != nil || resp.Code != remoting.Success {
		t.Fatalf("request %d to %s: %v %+v", code, addr, err, resp)
	}
	if field == "topicList" {
		var list wire.TopicList
		if err := wire.Unmarshal(resp.Body, &list); err != nil {
			t.Fatal(err)
		}
		return list.TopicList
	}
	var table map[string]map[string]any
	if err := wire.Unmarshal(resp.Body, &table); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range table[field] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRealRuns drives an existing cluster (one namesrv, one master, started
// here) with short real runs of the commands: a scenario, a run that keeps
// its topics, compare of the two result folders, and report rewriting one.
// The scenario's report says what was measured ("an existing cluster")
// and invents no slaves, and the scenario leaves no topic or consumer
// group behind.
func TestRealRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := loadgen.Launch(ctx, loadgen.TopologySpec{Namesrvs: 1, SegmentSize: 64 << 20, Groups: []loadgen.GroupSpec{{Name: "g"}}},
		binDir, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	ns := c.NamesrvAddrs()[0]
	master := c.Group("g").Master.Addr
	loadgenNames := func() (topics, groups []string) {
		for _, tp := range append(names(t, master, remoting.GetAllTopicConfig, "topicConfigTable"), names(t, ns, remoting.GetAllTopicListFromNameserver, "topicList")...) {
			if strings.HasPrefix(tp, "lg-") || strings.HasPrefix(tp, "%RETRY%GID_") {
				topics = append(topics, tp)
			}
		}
		for _, g := range names(t, master, remoting.GetAllSubscriptionGroupConfig, "subscriptionGroupTable") {
			if strings.HasPrefix(g, "GID_") {
				groups = append(groups, g)
			}
		}
		return topics, groups
	}
	results := t.TempDir()
	loadgenCmd := func(args ...string) string {
		t.Helper()
		var stderr bytes.Buffer
		if code := run(args, &stderr); code != 0 {
			t.Fatalf("loadgen %v: exit %d: %s", args, code, stderr.String())
		}
		return stderr.String()
	}
	folder := func(scenario string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(results, "*-"+scenario))
		if len(m) != 1 {
			t.Fatalf("result folders of %s: %v", scenario, m)
		}
		return m[0]
	}

	// A scenario, shortened, against the existing cluster.
	loadgenCmd("scenario", "-namesrv", ns, "-group", "g", "-rates", "1000", "-reps", "1", "-duration", "1s",
		"-results", results, "-quiet", "sync-vs-async")
	scen := folder("sync-vs-async")
	s, err := loadgen.ReadSummary(scen)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 1 || s.Runs[0].Label != "g" || s.Runs[0].TargetRate != 1000 || s.Runs[0].Acked < 950 || s.Runs[0].Lost != 0 ||
		len(s.Existing) != 1 || s.Existing[0] != ns || len(s.Calibration) != 1 || len(s.Notes) != 0 {
		t.Fatalf("scenario summary: runs %+v, existing %v, calibration %d points, notes %q", s.Runs, s.Existing, len(s.Calibration), s.Notes)
	}
	report, _ := os.ReadFile(filepath.Join(scen, loadgen.ReportFile))
	for _, w := range []string{"**Topology:** an existing cluster, not started by loadgen (namesrvs " + ns + "); broker group(s) measured: g.",
		"**Load generator's machine:**", "the brokers' is not known", "## The tool's own floor"} {
		if !bytes.Contains(report, []byte(w)) {
			t.Errorf("scenario report lacks %q", w)
		}
	}
	for _, w := range []string{"slave(s)", "each slave", "four masters", "name server(s)"} {
		if bytes.Contains(report, []byte(w)) {
			t.Errorf("scenario report against an existing cluster has %q", w)
		}
	}
	if t.Failed() {
		t.Logf("report.md:\n%s", report)
	}
	if topics, groups := loadgenNames(); len(topics)+len(groups) != 0 {
		t.Errorf("the scenario left topics %v and consumer groups %v on the cluster", topics, groups)
	}

	// A run that keeps its topics, at the same rate, for compare.
	loadgenCmd("run", "-namesrv", ns, "-group", "g", "-rate", "1000", "-duration", "1s", "-warmup", "500ms",
		"-results", results, "-quiet", "-calibrate=false", "-keep-topics", "-name", "kept")
	kept := folder("kept")
	if topics, groups := loadgenNames(); len(topics) != 4 || len(groups) != 1 {
		t.Errorf("-keep-topics: topics %v and consumer groups %v on the broker and the namesrv, want the run's topic and its retry topic on each, and its group", topics, groups)
	}

	var out bytes.Buffer
	if err := compareCmd([]string{scen, kept}, &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"A: sync-vs-async ", "B: kept ", "significant changes:"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("compare output lacks %q:\n%s", w, out.String())
		}
	}
	rows := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[0] == "g" && f[1] == "1000" && f[2] == "msg/s" {
			rows++
		}
	}
	if rows < 4 { // achieved, p50, p90, p99 at least
		t.Errorf("compare compared %d metrics of g at 1000 msg/s:\n%s", rows, out.String())
	}

	// report rewrites report.md from summary.json alone.
	os.Remove(filepath.Join(kept, loadgen.ReportFile))
	out.Reset()
	if err := reportCmd([]string{kept}, &out); err != nil {
		t.Fatal(err)
	}
	rewritten, err := os.ReadFile(filepath.Join(kept, loadgen.ReportFile))
	if err != nil || !strings.Contains(out.String(), "rewrote "+filepath.Join(kept, loadgen.ReportFile)) ||
		!bytes.Contains(rewritten, []byte("## Verdict\n\n- **")) || !bytes.Contains(rewritten, []byte("](latency-percentiles.svg)")) {
		t.Errorf("report: %v; said %q; wrote:\n%s", err, out.String(), rewritten)
	}
}

package loadgen

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseHardware(t *testing.T) {
	h, err := ParseHardware("cores=16, diskMBps=800,netGbps=10")
	if err != nil || h != (Hardware{16, 800, 10}) {
		t.Fatalf("got %+v, %v", h, err)
	}
	file := filepath.Join(t.TempDir(), "hw.yaml")
	os.WriteFile(file, []byte("cores: 8\nnetGbps: 25\n"), 0o644)
	if h, err := ParseHardware(file); err != nil || h != (Hardware{Cores: 8, NetGbps: 25}) {
		t.Fatalf("file: got %+v, %v", h, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("cores: 8\nram: 64\n"), 0o644)
	for in, want := range map[string]string{
		"cores=16,gpus=2":    "gpus",
		"cores=lots":         "lots",
		"diskMBps=100":       "cores must be > 0",
		"cores=4,netGbps=-1": "≥ 0",
		"cores":              "neither",
		bad:                  "ram",
		"cores=NaN":          "NaN",
	} {
		if _, err := ParseHardware(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseHardware(%q) = %v, want an error naming %q", in, err, want)
		}
	}
}

func TestPredict(t *testing.T) {
	c := MessageCost{MasterCPUUs: 10, SlaveCPUUs: 5, Slaves: 1, LogBytes: 1000, NetBytes: 4000, OtherCPUUs: 20}
	p := Predict(c, Hardware{Cores: 16, DiskMBps: 800, NetGbps: 10})
	want := map[string]float64{"master CPU": 1.6e6, "slave CPU": 3.2e6, "disk": 800e6 / 1020, "network": 1.25e9 / 4000}
	if len(p.Bounds) != len(want) {
		t.Fatalf("bounds %+v", p.Bounds)
	}
	for _, b := range p.Bounds {
		if math.Abs(b.Rate-want[b.Resource]) > 1e-6*want[b.Resource] {
			t.Errorf("%s: %v, want %v", b.Resource, b.Rate, want[b.Resource])
		}
	}
	if p.Binding != "network" || p.Max != 312500 {
		t.Errorf("binds %s at %v, want network at 312500", p.Binding, p.Max)
	}
	// Without disk and network figures, CPU binds: the master's.
	if p := Predict(c, Hardware{Cores: 4}); p.Binding != "master CPU" || p.Max != 4e5 {
		t.Errorf("cores only: %s at %v", p.Binding, p.Max)
	}
	// Everything on one 2-core host: 2e6 µs/s over 10+5+20 µs a message.
	if p := PredictHere(c, 2); math.Abs(p.Max-2e6/35) > 1e-6 {
		t.Errorf("here: %v", p.Max)
	}
}

// TestCapacityModelReport: costs come from the runs at the capacity the
// search measured, with the group's own master and slave told apart from
// the other processes; the report checks the model against the capacity
// and predicts for the hardware profile, and the sizing uses it.
func TestCapacityModelReport(t *testing.T) {
	s := &Summary{Scenario: "capacity", Machine: Machine{Cores: 2},
		Topology: TopologySpec{Groups: []GroupSpec{{Name: "a", Role: roleAsync, Flush: "ASYNC_FLUSH", Slaves: 1}, {Name: "s", Role: roleSync, Flush: "ASYNC_FLUSH", Slaves: 1}}}}
	run := func(rate float64, masterCores float64) Run {
		return Run{Label: "ASYNC", Mode: roleAsync, Flush: "ASYNC_FLUSH", Group: "a", TargetRate: rate, AchievedRate: rate,
			Acked: int64(rate) * 3, Measured: 3 * time.Second, Repetition: 1,
			Resources: []NodeResources{
				{Node: "a-master", Role: "master", CPUCores: masterCores, CPUPerMsgUs: masterCores * 1e6 / rate, LogBytesPerMsg: 1200, NetBytesPerMsg: 4000},
				{Node: "a-slave-1", Role: "slave", CPUCores: 0.2, CPUPerMsgUs: 0.2 * 1e6 / rate},
				{Node: "s-master", Role: "master", CPUCores: 0.01, CPUPerMsgUs: 0.01 * 1e6 / rate},
				{Node: "loadgen-worker-0", Role: "loadgen", CPUCores: 0.79, CPUPerMsgUs: 0.79 * 1e6 / rate},
			}}
	}
	s.Runs = []Run{run(10000, 0.5), run(20000, 0.8), run(20000, 0.8), run(40000, 0.6)}
	s.Capacity = []Capacity{{Label: "ASYNC", Result: CapacityResult{Sustained: 20000}}}
	costs := costsOf(s)
	if len(costs) != 1 {
		t.Fatalf("costs %+v", costs)
	}
	c := costs[0]
	if c.Rate != 20000 || c.MasterCPUUs != 40 || c.SlaveCPUUs != 10 || c.Slaves != 1 || c.OtherCPUUs != 40 || c.HostCores != 1.8 {
		t.Fatalf("cost %+v", c)
	}
	hw := Hardware{Cores: 16, DiskMBps: 800, NetGbps: 10}
	s.Hardware = &hw
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	// Here: 2e6 / (40+10+40) = 22222 predicted against 20000 measured.
	for _, w := range []string{"## Capacity model", "| ASYNC | 20000 | 40.0 | 10.0 (1) | 40.0 | 1200 | 4000 |",
		"| ASYNC | 22222 | 20000 | +11% | 90% | 0.90 |",
		"| ASYNC | 312500 | network | 400000 | 1600000 | 655738 | 312500 | 281250 |",
		"from the capacity model", "| ASYNC | 1000000 | 4 + 1 | 10 |"} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
}

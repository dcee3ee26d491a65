package loadgen

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	asyncLabel = "ASYNC_MASTER+ASYNC_FLUSH"
	syncLabel  = "SYNC_MASTER+ASYNC_FLUSH"
)

// syntheticSummary builds a result of 2 modes × 3 rates × 2 repetitions:
// SYNC is 150 µs slower at p50, ASYNC's p99 explodes at 40000 msg/s (its
// knee is 20000), SYNC saturates at 40000; consumers ran; one SYNC run has
// a slave kill at 10 s that recovered at 14 s with two silent intervals.
func syntheticSummary(t testing.TB) (*Summary, map[string]*hdrhistogram.Histogram) {
	t.Helper()
	rng := rand.New(rand.NewSource(3))
	s := &Summary{
		Scenario: "replication", Profile: "quick",
		Started:  time.Date(2025, 11, 26, 6, 0, 0, 0, time.UTC),
		Duration: 6 * time.Minute,
		Machine: Machine{CPUModel: "Test CPU @ 2.0GHz", Cores: 2, MemoryBytes: 8 << 30, Kernel: "6.1.0",
			GoVersion: "go1.26", Hostname: "bench", IdleAtStart: 0.97, Load1: 0.12},
		Versions: Versions{Rocketgo: "v0.1.0-3-gabc", Loadgen: "v0.1.0-3-gabc"},
		Workload: Workload{Name: "1k", Topics: 1, QueuesPerTopic: 8, MessageSize: 1024, ProducersPerTopic: 4,
			ConsumersPerTopic: 1, InFlight: 64, BatchSize: 1, Duration: 30 * time.Second, Warmup: 5 * time.Second,
			Drain: 5 * time.Second, SendTimeout: 3 * time.Second},
		Topology: TopologySpec{Namesrvs: 1, Cluster: "bench", SegmentSize: 256 << 20, Groups: []GroupSpec{
			{Name: "async", Role: "ASYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1},
			{Name: "sync", Role: "SYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1, Extra: map[string]string{"haSendHeartbeatInterval": "1000"}},
		}},
		Placement: Placement{Brokers: "0", Loadgen: "1"},
		Notes:     []string{"Both modes ran on one host; replication goes over loopback."},
		Command:   "bin/loadgen bench -scenario replication -profile quick",
	}
	hists := map[string]*hdrhistogram.Histogram{}
	for rep := 1; rep <= 2; rep++ {
		for _, rate := range []float64{10000, 20000, 40000} {
			for _, label := range []string{asyncLabel, syncLabel} {
				mode, p50 := "ASYNC_MASTER", 200.0
				if label == syncLabel {
					mode, p50 = "SYNC_MASTER", 350.0
				}
				tail := 1.0 + rate/40000
				achievedRate := rate * (0.99 + 0.01*rng.Float64())
				if rate == 40000 {
					tail = 12
					if label == syncLabel {
						achievedRate = 21000 + 500*rng.Float64()
					}
				}
				send, e2e := hdrhistogram.New(1, 60_000_000, 3), hdrhistogram.New(1, 60_000_000, 3)
				for range 20000 {
					v := p50 * math.Exp(0.35*rng.NormFloat64())
					if rng.Float64() < 0.02 {
						v *= tail * (1 + rng.Float64())
					}
					send.RecordValue(int64(v))
					e2e.RecordValue(int64(v + 120))
				}
				r := Run{Label: label, Mode: mode, Flush: "ASYNC_FLUSH", TargetRate: rate, Repetition: rep,
					Warmup: 5 * time.Second, Measured: 30 * time.Second,
					Sent: 300000, Acked: 300000, Statuses: map[string]int64{"SEND_OK": 300000},
					AchievedRate: achievedRate, Consumed: 300000,
					Send: PercentilesOf(send), Service: PercentilesOf(send), Pacing: Percentiles{Count: 300000, P50: 3, P99: 40, Max: 900},
					EndToEnd: PercentilesOf(e2e),
					HgrmFiles: map[string]string{
						HistSend:     label + "-send.hgrm",
						HistEndToEnd: label + "-endToEnd.hgrm",
					}}
				for i := -5; i < 30; i++ {
					iv := Interval{Start: time.Duration(i) * time.Second, Sent: 10000, Acked: 10000, Consumed: 10000,
						SendP50: int64(p50), SendP99: r.Send.P99 + int64(rng.Intn(50)), SendMax: r.Send.Max, EndToEndP99: r.EndToEnd.P99}
					r.Intervals = append(r.Intervals, iv)
				}
				if label == syncLabel && rate == 20000 && rep == 1 {
					r.Faults = []Fault{{At: 10 * time.Second, Kind: "kill-slave", Target: "sync-1", RecoveredAt: 14 * time.Second}}
					for i := range r.Intervals {
						switch sec := r.Intervals[i].Start / time.Second; {
						case sec == 10 || sec == 11:
							r.Intervals[i] = Interval{Start: r.Intervals[i].Start}
						case sec == 12 || sec == 13:
							r.Intervals[i].SendP99, r.Intervals[i].SendMax = 250_000, 900_000
						}
					}
					r.Statuses["SLAVE_NOT_AVAILABLE"] = 12
					r.Duplicates = 3
				}
				s.Runs = append(s.Runs, r)
				for kind, h := range map[string]*hdrhistogram.Histogram{HistSend: send, HistEndToEnd: e2e} {
					key := HistKey(label, rate, kind)
					if m := hists[key]; m != nil {
						m.Merge(h)
					} else {
						hists[key] = h
					}
				}
			}
		}
	}
	return s, hists
}

func TestSummaryRoundTrip(t *testing.T) {
	s, _ := syntheticSummary(t)
	s.Runs[0].Statuses = map[string]int64{} // empty and nil maps both survive
	s.Runs[1].Statuses = nil
	dir := t.TempDir()
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip changed the summary:\ngot  %+v\nwant %+v", got.Runs[0], s.Runs[0])
	}
	if err := WriteSummary(dir, got); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if !bytes.Equal(first, second) {
		t.Error("writing the read summary again gave different bytes")
	}
	if !bytes.HasPrefix(first, []byte("{\n  \"scenario\": \"replication\",")) || !bytes.HasSuffix(first, []byte("}\n")) {
		t.Errorf("summary.json is not indented JSON with a trailing newline:\n%.200s", first)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d files, want only %s", len(entries), SummaryFile)
	}
}

func TestSummaryErrors(t *testing.T) {
	dir := t.TempDir()
	s, _ := syntheticSummary(t)
	s.Runs[3].AchievedRate = math.NaN()
	err := WriteSummary(dir, s)
	if !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), "runs[3].achievedRate") || !strings.Contains(err.Error(), SummaryFile) {
		t.Errorf("NaN rate: %v, want ErrNotFinite naming runs[3].achievedRate and the file", err)
	}
	if err := WriteSummary(dir, nil); err == nil {
		t.Error("nil summary: no error")
	}
	if err := WriteSummary(filepath.Join(dir, "missing"), &Summary{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: %v, want an error naming it", err)
	}
	if _, err := ReadSummary(dir); err == nil || !strings.Contains(err.Error(), SummaryFile) {
		t.Errorf("no file: %v, want an error naming it", err)
	}
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte("{\"runs\": [}"), 0o644)
	if _, err := ReadSummary(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, SummaryFile)) {
		t.Errorf("bad JSON: %v, want an error naming the file", err)
	}
}

// parseXML fails the test unless data is a well-formed XML document.
func parseXML(t *testing.T, name string, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	elements := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not XML: %v", name, err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			elements++
		}
	}
	if elements < 10 {
		t.Errorf("%s has only %d elements", name, elements)
	}
}

func TestWriteChartsAndReport(t *testing.T) {
	s, hists := syntheticSummary(t)
	dir := t.TempDir()
	charts, err := WriteCharts(dir, s, hists)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ChartPercentiles, ChartOverTime, ChartVsRate, ChartEndToEnd}
	if !reflect.DeepEqual(charts, want) {
		t.Fatalf("charts %v, want %v", charts, want)
	}
	for _, c := range charts {
		data, err := os.ReadFile(filepath.Join(dir, c))
		if err != nil {
			t.Fatal(err)
		}
		parseXML(t, c, data)
		if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("µs")) {
			t.Errorf("%s: no <svg> element or no µs axis title", c)
		}
	}
	if err := WriteReport(dir, s, charts); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	report := string(data)
	for _, c := range charts {
		if !strings.Contains(report, "]("+c+")") {
			t.Errorf("report.md does not embed %s", c)
		}
	}
	expect(t, report, []string{
		"# replication: load test report",
		// The comparison at the highest rate both sustain, beyond noise.
		"- **SYNC_MASTER+ASYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 20000 msg/s: +",
		"beyond run-to-run noise",
		// The knee, in the verdict and the table, and what it is.
		"- **Knee** (the last rate before p99 turns sharply upward; see Results): ASYNC_MASTER+ASYNC_FLUSH at 20000 msg/s (p99 ",
		"| ASYNC_MASTER+ASYNC_FLUSH | 20000 msg/s (knee) |",
		"The *knee* of a mode is the last target rate before",
		// SYNC at 40000 msg/s reached about 21000.
		"- **Saturated** (", "SYNC_MASTER+ASYNC_FLUSH at 40000 msg/s (achieved ", "| 21", " | saturated |",
		"SLAVE_NOT_AVAILABLE 12",                           // statuses
		"no acknowledged message was lost",                 // delivery
		"3 were delivered more than once",                  //
		"the kill-slave of sync-1 at 10.0 s",               // fault sentence
		"| 10.0 s | kill-slave | sync-1 | 4.0 s | 0 | 3 |", // fault table
		"Test CPU @ 2.0GHz, 2 cores, 8.0 GiB RAM",          // machine
		"`sync` SYNC_MASTER/ASYNC_FLUSH with 1 slave(s) (haSendHeartbeatInterval=1000)",
		"1 topic(s) × 8 queue(s), 1024-byte messages",                        // workload
		"- Both modes ran on one host",                                       // notes
		"```sh\nbin/loadgen bench -scenario replication -profile quick\n```", // reproduce
	}, nil)
}

// TestReportSyncNotSlower checks the honest wording when SYNC is not
// slower: it says so and points at the note that explains why.
func TestReportSyncNotSlower(t *testing.T) {
	s, _ := syntheticSummary(t)
	for i := range s.Runs {
		if s.Runs[i].Label == syncLabel {
			var a *Run
			for j := range s.Runs {
				if o := &s.Runs[j]; o.Label == asyncLabel && o.TargetRate == s.Runs[i].TargetRate && o.Repetition == s.Runs[i].Repetition {
					a = o
				}
			}
			s.Runs[i].Send = a.Send
		}
	}
	s.Notes = []string{"The slave acks from memory before its own write, so SYNC waits only for a loopback round trip."}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{
		"**SYNC_MASTER+ASYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 20000 msg/s: SYNC_MASTER+ASYNC_FLUSH is not slower (",
		"The notes give the likely reason: The slave acks from memory",
	} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
}

func TestReportAndChartsWithoutData(t *testing.T) {
	cases := []struct {
		name string
		s    *Summary
		want []string
	}{
		{"no runs", &Summary{Scenario: "empty"}, []string{"No runs were measured", "The command line was not recorded."}},
		{"run without samples", &Summary{Runs: []Run{{Label: "SYNC_MASTER+SYNC_FLUSH", Mode: "SYNC_MASTER", TargetRate: 1000,
			Repetition: 1, Sent: 10, Errors: 10, Statuses: map[string]int64{"timeout": 10},
			Intervals: []Interval{{Start: 0, Sent: 10, Errors: 10}},
			Faults:    []Fault{{At: time.Second, Kind: "kill-master", Target: "b0"}}}}},
			[]string{"no send was acknowledged in any run", "no data", "10 failed with transport errors or timeouts", "did not recover"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			charts, err := WriteCharts(dir, c.s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(charts) != 0 {
				t.Errorf("charts without data: %v", charts)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("wrote %d files for no data", len(entries))
			}
			if err := WriteReport(dir, c.s, charts); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
			for _, w := range c.want {
				if !bytes.Contains(data, []byte(w)) {
					t.Errorf("report.md lacks %q:\n%s", w, data)
				}
			}
		})
	}
	if _, err := WriteCharts(t.TempDir(), nil, nil); err == nil {
		t.Error("WriteCharts(nil summary): no error")
	}
	if err := WriteReport(t.TempDir(), nil, nil); err == nil {
		t.Error("WriteReport(nil summary): no error")
	}
	s, hists := syntheticSummary(t)
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := WriteCharts(missing, s, hists); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, ChartPercentiles)) {
		t.Errorf("WriteCharts into a missing folder: %v, want an error naming the file", err)
	}
	if err := WriteReport(missing, s, nil); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, ReportFile)) {
		t.Errorf("WriteReport into a missing folder: %v, want an error naming the file", err)
	}
}

// TestChartsFromSummaryAlone redraws the charts without histograms, from
// summary.json's percentiles.
func TestChartsFromSummaryAlone(t *testing.T) {
	s, _ := syntheticSummary(t)
	dir := t.TempDir()
	charts, err := WriteCharts(dir, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 4 {
		t.Fatalf("charts %v, want all four", charts)
	}
	for _, c := range charts {
		data, _ := os.ReadFile(filepath.Join(dir, c))
		parseXML(t, c, data)
	}
}

func BenchmarkWriteCharts(b *testing.B) {
	s, hists := syntheticSummary(b)
	dir := b.TempDir()
	for b.Loop() {
		if _, err := WriteCharts(dir, s, hists); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteHgrm(b *testing.B) {
	_, hists := syntheticSummary(b)
	h := hists[HistKey(asyncLabel, 40000, HistSend)]
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteHgrm(&buf, h, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// TestOddDataDoesNotBreakResults feeds the writers values a broken run
// could produce; they must neither panic nor hang.
func TestOddDataDoesNotBreakResults(t *testing.T) {
	odd := []Run{
		{Label: "A", TargetRate: 1000, Repetition: 1, AchievedRate: math.NaN(), Measured: time.Second,
			Send: Percentiles{Count: 1, P50: -5, P99: 0, Max: math.MaxInt64}},
		{Label: "A", TargetRate: 2000, Repetition: 1, AchievedRate: math.Inf(1), Measured: time.Second,
			Send: Percentiles{Count: 3, P50: 7, P90: 7, P99: 7, Max: 7}},
		{Label: "A", TargetRate: 0, Repetition: 1, AchievedRate: 5, Measured: time.Second,
			Send: Percentiles{Count: 3, P50: 1, P99: 1 << 40, Max: 1 << 41},
			Intervals: []Interval{{Start: -time.Second, SendP99: 5, Acked: 1}, {Start: 0, SendP99: 1, Acked: 1},
				{Start: 0, SendP99: 1 << 40, Acked: 1}, {Start: 5 * time.Second, SendP99: -3, Acked: 1}},
			Faults: []Fault{{At: 3 * time.Second, RecoveredAt: time.Second, Kind: "kill-master"}, {At: -time.Second, Kind: "x"}}},
		{Label: "B|pipe", TargetRate: 1000, Repetition: 2, Send: Percentiles{Count: 1, P50: 3, P99: 3, Max: 3},
			EndToEnd: Percentiles{Count: 1}, Statuses: map[string]int64{"odd|status": 1}},
	}
	s := &Summary{Scenario: "odd", Runs: odd, Notes: []string{"line one\nline two"}}
	hists := map[string]*hdrhistogram.Histogram{HistKey("A", 1000, HistSend): hdrhistogram.New(1, 1000, 3), "bogus": nil}
	dir := t.TempDir()
	charts, err := WriteCharts(dir, s, hists)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		data, _ := os.ReadFile(filepath.Join(dir, c))
		parseXML(t, c, data)
	}
	if err := WriteReport(dir, s, charts); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !bytes.Contains(data, []byte(`B\|pipe`)) || !bytes.Contains(data, []byte("- line one line two")) {
		t.Errorf("report.md does not escape table cells or fold notes:\n%s", data)
	}
	Compare(s, s)
}

// The stall table appears when runs carry hiccup data, and the verdict
// blames the machine only when its stalls reach a quarter of the send p99.9.
func TestReportMachineStalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stall    int64 // hiccup p99.9 of every run, µs
		sentence bool
	}{{"quiet machine", 100, false}, {"noisy machine", 1 << 30, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := syntheticSummary(t)
			for i := range s.Runs {
				r := &s.Runs[i]
				stall := min(tc.stall, r.Send.P999)
				r.Hiccup = Percentiles{Count: 10000, P50: 60, P99: stall / 2, P999: stall, Max: stall * 2}
			}
			dir := t.TempDir()
			if err := WriteReport(dir, s, nil); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
			if !bytes.Contains(data, []byte("| mode | target | stall p99 | send p99 | stall p99.9 | send p99.9 | stall max | send max |")) {
				t.Errorf("report.md lacks the stall table:\n%s", data)
			}
			if got := bytes.Contains(data, []byte("**Machine stalls**: a thread that only sleeps woke up")); got != tc.sentence {
				t.Errorf("verdict blames the machine: %v, want %v:\n%s", got, tc.sentence, data)
			}
		})
	}
}

func TestStageDiff(t *testing.T) {
	before, after := hdrhistogram.New(1, 60_000_000, 3), hdrhistogram.New(1, 60_000_000, 3)
	for range 100 {
		_ = before.RecordValue(10)
		_ = after.RecordValue(10)
	}
	for range 50 {
		_ = after.RecordValue(5000)
	}
	d, ok := stageDiff(map[string]*hdrhistogram.Histogram{StageTotal: before}, map[string]*hdrhistogram.Histogram{StageTotal: after, StageStore: after})
	if !ok {
		t.Fatal("not comparable")
	}
	if p := d[StageTotal]; p.Count != 50 || p.P50 < 4990 || p.P50 > 5010 {
		t.Fatalf("difference: %+v, want 50 samples at 5000", p)
	}
	if p := d[StageStore]; p.Count != 150 {
		t.Fatalf("a stage without a before snapshot: %+v, want all 150 samples", p)
	}
	// A broker restarted in between has fewer samples than before.
	if _, ok := stageDiff(map[string]*hdrhistogram.Histogram{StageTotal: after}, map[string]*hdrhistogram.Histogram{StageTotal: before}); ok {
		t.Fatal("a shrinking histogram was subtracted")
	}
}

func TestReportBrokerStages(t *testing.T) {
	s, _ := syntheticSummary(t)
	for i := range s.Runs {
		s.Runs[i].Broker = map[string]Percentiles{
			StageStore: {Count: 1000, P50: 12, P99: 140},
			StageTotal: {Count: 1000, P50: 15, P99: 160},
		}
		if s.Runs[i].Label == syncLabel {
			s.Runs[i].Broker[StageSlaveWait] = Percentiles{Count: 999, P50: 300, P99: 900}
		}
	}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{"| mode | target | store | flush wait | slave wait | in broker | send |",
		"| " + syncLabel + " | 10000 msg/s | 12 / 140 | — | 300 / too few | 15 / 160 |"} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
}

func TestReportFloors(t *testing.T) {
	s, _ := syntheticSummary(t)
	s.Machine.Floors = &Floors{FsyncP50: 500, FsyncP99: 2000, RTTP50: 50, RTTP99: 200}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{"**Hardware floors** (measured before the runs): 4 KiB write + fdatasync on the brokers' disk p50 500 µs",
		"- **Hardware floors** (fdatasync p50 500 µs, loopback round trip p50 50 µs): the send p50 at each mode's lowest rate is " + asyncLabel + " "} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
}

// TestReportCalibration: the tool's floor gets its section, one row per
// rate, a rate whose pacing lag misses the target says so, and one whose
// window was too short for a p99.9 says that instead of a verdict.
func TestReportCalibration(t *testing.T) {
	s, _ := syntheticSummary(t)
	pct := func(n, p50, p99, p999 int64) Percentiles {
		return Percentiles{Count: n, P50: p50, P99: p99, P999: p999}
	}
	s.Calibration = []CalibrationPoint{
		{Rate: 1000, Achieved: 1000, Pacing: pct(3000, 2, 20, 700), RoundTrip: pct(3000, 70, 170, 690), Hiccup: pct(3000, 60, 200, 300),
			Send: pct(3000, 72, 190, 800)},
		{Rate: 5000, Achieved: 5000, Pacing: pct(15000, 1, 10, 90), RoundTrip: pct(15000, 50, 120, 400), Hiccup: pct(15000, 60, 150, 250),
			Send: pct(15000, 51, 130, 450), MeetsTarget: true},
		{Rate: 20000, Achieved: 20000, Pacing: pct(60000, 1, 30, 900), RoundTrip: pct(60000, 50, 120, 400), Hiccup: pct(60000, 60, 150, 250),
			Send: pct(60000, 51, 160, 1200)},
		{Rate: 40000, Achieved: 30000, Pacing: pct(90000, 1, 30, 90), RoundTrip: pct(90000, 50, 120, 400), Hiccup: pct(90000, 60, 150, 250)},
	}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{"## The tool's own floor",
		"| 1000 | 1000 | 2 | 20 | too few | 70 | 170 | too few | 190 | too few | too few | too few samples to tell |",
		"| 5000 | 5000 | 1 | 10 | 90 | 50 | 120 | 400 | 130 | 450 | 250 | met |",
		"| 20000 | 20000 | 1 | 30 | 900 | 50 | 120 | 400 | 160 | 1200 | 250 | **not met** |",
		"| 40000 | 30000 | 1 | 30 | 90 | 50 | 120 | 400 | — | — | 250 | **not met** |",
	} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
	s.Calibration = nil
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, ReportFile))
	if bytes.Contains(data, []byte("## The tool's own floor")) || !bytes.Contains(data, []byte("- **The tool's own floor** was not measured")) {
		t.Errorf("a report without calibration has the section, or does not say the floor is unknown:\n%s", data)
	}
}

// TestReportToolFloor: the results table sets the tool's own send
// latency at each rate beside the row, and the verdict does not give the
// broker what the tool measures by itself.
func TestReportToolFloor(t *testing.T) {
	pct := func(n, p99, p999 int64) Percentiles { return Percentiles{Count: n, P50: p99 / 3, P99: p99, P999: p999} }
	check := func(name string, cal []CalibrationPoint, want, not []string) {
		t.Run(name, func(t *testing.T) {
			s, _ := syntheticSummary(t)
			s.Calibration = cal
			expect(t, reportOf(t, s), want, not)
		})
	}
	// The synthetic p99s are about 480 (ASYNC) and 845 µs (SYNC) at 10000
	// msg/s, 520 and 890 at 20000, 3570 and 6170 at 40000.
	check("rows within and near the floor", []CalibrationPoint{
		{Rate: 10000, Send: pct(100000, 900, 1500)},
		{Rate: 20000, Send: pct(200000, 300, 700)},
		{Rate: 40000, Send: pct(400000, 4000, 9000)},
	}, []string{
		"| 900 / 1500 | at the tool's floor |",
		"- **Within the tool's own floor**: ASYNC_MASTER+ASYNC_FLUSH at 10000 msg/s (p99 483 µs; the tool alone 900 µs); " +
			"ASYNC_MASTER+ASYNC_FLUSH at 40000 msg/s (p99 3566 µs; the tool alone 4000 µs); SYNC_MASTER+ASYNC_FLUSH at 10000 msg/s (p99 844 µs; the tool alone 900 µs). ",
		"their p99 is the tool's, not the broker's",
		"- **Half or more the tool's**: loadgen alone measures at least half the p99 of ASYNC_MASTER+ASYNC_FLUSH at 20000 msg/s (300 of 520 µs); " +
			"SYNC_MASTER+ASYNC_FLUSH at 40000 msg/s (4000 of 6167 µs); read those p99s",
		// ASYNC's knee: the rise to 40000 msg/s is within the tool's own p99 there.
		"ASYNC_MASTER+ASYNC_FLUSH at 20000 msg/s (p99 520 → 3566 µs at 40000 msg/s, within the tool's own 4000 µs there, so the turn is loadgen's)",
	}, []string{"(300 of 891"})
	check("the comparison rate within the floor", []CalibrationPoint{{Rate: 20000, Send: pct(200000, 1000, 2000)}}, []string{
		"- **SYNC_MASTER+ASYNC_FLUSH vs ASYNC_MASTER+ASYNC_FLUSH** at 20000 msg/s: both within the tool's own floor (p99 520 and 891 µs; loadgen alone 1000 µs), so no difference between them is the broker's.",
		"| 20000 msg/s (knee) | ",
	}, []string{"+149 µs at p50"})
	check("floor well below", []CalibrationPoint{{Rate: 10000, Send: pct(100000, 50, 100)}, {Rate: 40000, Send: pct(400000, 100, 200)}}, []string{
		"- **The tool's own floor** is at most 10% of any run's p99 at the same rate, so these latencies are the servers' and the machine's, not loadgen's.",
		"| 50 / 100 | — |", "| — | — |",
	}, []string{"at the tool's floor |"})
	// Older summaries have no send histogram in the calibration: pacing
	// plus round trip bound it.
	check("pacing and round trip", []CalibrationPoint{{Rate: 10000, Pacing: pct(100000, 300, 900), RoundTrip: pct(100000, 400, 700)}},
		[]string{"| 700 / 1600 |", "ASYNC_MASTER+ASYNC_FLUSH at 10000 msg/s (p99 483 µs; the tool alone 700 µs)"}, nil)
	check("too few for a p99", []CalibrationPoint{{Rate: 10000, Send: pct(900, 900, 1000)}}, []string{
		"| too few / too few |",
		"- **The tool's own floor** was measured at none of the runs' rates with enough samples for a p99",
	}, []string{"at the tool's floor |"})
}

func TestMeasureFloors(t *testing.T) {
	if testing.Short() {
		t.Skip("times 200 fdatasyncs")
	}
	f, err := MeasureFloors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f.FsyncP50 <= 0 || f.FsyncP99 < f.FsyncP50 || f.RTTP50 <= 0 || f.RTTP99 < f.RTTP50 {
		t.Fatalf("implausible floors %+v", f)
	}
	t.Logf("%+v", f)
	if _, err := MeasureFloors(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("measured in a directory that does not exist")
	}
}

func TestReportDiskSizing(t *testing.T) {
	s, _ := syntheticSummary(t)
	for i := range s.Runs {
		s.Runs[i].LogBytes = s.Runs[i].Acked * 1200
	}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	// The synthetic peak is about 40000 msg/s: 1220 B × 40000 × 3600 ≈ 163.6 GiB per hour.
	if !bytes.Contains(data, []byte("- **Disk**: each message took 1200 bytes of CommitLog")) || !bytes.Contains(data, []byte("GiB per hour")) ||
		!bytes.Contains(data, []byte("TiB over the default fileReservedTime of 72 h")) {
		t.Errorf("report.md lacks the disk sizing sentence:\n%s", data)
	}
}

func TestReportCapacityExhausted(t *testing.T) {
	s, _ := syntheticSummary(t)
	s.Capacity = []Capacity{{Label: syncLabel, Result: CapacityResult{
		SLO:       SLO{P99: 10 * time.Millisecond, MaxBacklogGrowth: 0.05},
		Steps:     []CapacityStep{{Phase: "step", Rate: 2000, Pass: true}, {Phase: "step", Rate: 4000, Pass: false, Why: "p99 12ms over the SLO 10ms"}},
		Exhausted: true, LastPass: 2000, FirstFail: 4000,
	}}}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !bytes.Contains(data, []byte("no rate was confirmed within the SLO")) || !bytes.Contains(data, []byte("The last rate that passed was 2000 msg/s (not confirmed); the lowest failing rate was 4000 msg/s")) {
		t.Errorf("report.md lacks the exhausted-search wording:\n%s", data)
	}
}

func TestReportSizing(t *testing.T) {
	s, _ := syntheticSummary(t)
	for i := range s.Runs {
		s.Runs[i].LogBytes = s.Runs[i].Acked * 1200
	}
	s.Capacity = []Capacity{{Label: syncLabel, Result: CapacityResult{SLO: SLO{P99: 10 * time.Millisecond}, Sustained: 20000,
		Steps: []CapacityStep{{Phase: "confirm", Rate: 20000, Pass: true}}}}}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	// 100000 msg/s at 20000 per group: 5 groups + 1 spare, 2 brokers each
	// (the sync group has one slave); 1220 B × 20000/s × 72 h × 2 copies.
	want := "| " + syncLabel + " | 100000 | 5 + 1 | 12 | 11.5 TiB |"
	if !bytes.Contains(data, []byte("### Sizing (what-if)")) || !bytes.Contains(data, []byte(want)) {
		t.Errorf("report.md lacks %q:\n%s", want, data)
	}
}

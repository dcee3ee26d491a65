package loadgen

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestResourceSampler: the sampler turns counters scraped over the window
// into per-second and per-message figures, keeps the largest gauges, and
// the report tables them.
func TestResourceSampler(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := float64(calls.Add(1) - 1)
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", 0.5*n)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %g\n", 1e6*(10-n))
		fmt.Fprintf(w, "# TYPE rocketgo_commitlog_written_bytes_total counter\nrocketgo_commitlog_written_bytes_total %g\n", 1000*n)
		fmt.Fprintf(w, "# TYPE rocketgo_network_bytes_total counter\nrocketgo_network_bytes_total{port=\"client\",direction=\"in\"} %g\nrocketgo_network_bytes_total{port=\"ha\",direction=\"out\"} %g\n", 1000*n, 500*n)
		fmt.Fprintf(w, "# TYPE rocketgo_commitlog_syncs_total counter\nrocketgo_commitlog_syncs_total %g\n", 2*n)
		fmt.Fprintf(w, "# TYPE rocketgo_replication_lag_bytes gauge\nrocketgo_replication_lag_bytes{slave=\"a\"} %g\n", 100*n)
		fmt.Fprintf(w, "# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds_sum %g\ngo_gc_duration_seconds_count %g\n", 0.001*n, n)
	}))
	defer srv.Close()
	target := resourceTarget{name: "m", role: "master", url: metricsURL(strings.TrimPrefix(srv.URL, "http://"))}
	s := startResourceSampler(context.Background(), []resourceTarget{target}, time.Now(), time.Second)
	time.Sleep(1500 * time.Millisecond) // the first scrape and one more
	res := s.finish(context.Background(), 1000)
	if len(res) != 1 {
		t.Fatalf("%d results", len(res))
	}
	r := res[0]
	d := float64(r.Samples - 1) // scrapes 0..Samples-1
	if r.Samples < 3 || r.CPUSource != "metrics" {
		t.Fatalf("%+v", r)
	}
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("cpuPerMsgUs", r.CPUPerMsgUs, 0.5*d*1e6/1000)
	near("logBytesPerMsg", r.LogBytesPerMsg, 1000*d/1000)
	near("netBytesPerMsg", r.NetBytesPerMsg, 1500*d/1000)
	near("gcPauseMs", r.GCPauseMs, d)
	if r.GCs != int64(d) || r.RSSMaxBytes != 10e6 || r.ReplLagMaxB != int64(100*d) {
		t.Errorf("%+v", r)
	}
	if r.CPUCores <= 0 || r.FsyncsPerSec <= 0 {
		t.Errorf("cores %v fsyncs/s %v", r.CPUCores, r.FsyncsPerSec)
	}

	var b strings.Builder
	writeResources(&b, []runGroup{{Label: "g", Rate: 1000, Runs: []*Run{{Resources: res}}}})
	if !strings.Contains(b.String(), "## Resources per node") || !strings.Contains(b.String(), "| g | 1000 msg/s | m | ") {
		t.Fatalf("report:\n%s", b.String())
	}
}

// TestProcUsage reads this process's CPU and RSS from /proc.
func TestProcUsage(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn some CPU
	}
	cpu, rss, err := ProcUsage(os.Getpid())
	if err != nil || cpu <= 0 || rss < 1<<20 {
		t.Fatalf("cpu %v rss %v err %v", cpu, rss, err)
	}
	if _, _, err := ProcUsage(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// TestParseSample: only the sampled names are read, their series added
// up, labels and timestamps skipped, absent names -1.
func TestParseSample(t *testing.T) {
	body := []byte(`# HELP process_cpu_seconds_total x
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
rocketgo_network_bytes_total{port="client",direction="in",note="a } b"} 100 1700000000000
rocketgo_network_bytes_total{port="ha",direction="out"} 2.5e2
rocketgo_network_bytes_total_other 7
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.25
go_gc_duration_seconds_count 4
rocketgo_commitlog_syncs_total NaN-not-a-number`)
	s := parseSample(body)
	if s.cpu != 1.5 || s.net != 350 || s.gcSum != 0.25 || s.gcCount != 4 || s.rss != -1 || s.syncs != -1 || s.lag != -1 {
		t.Fatalf("%+v", s)
	}
}

package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rocketgo/rocketgo/remoting"
)

var metricsArgs = []string{"-metricsExporterType", "PROM", "-metricsPromExporterPort", "0", "-metricsPromExporterHost", "127.0.0.1"}

// scrape GETs a /metrics endpoint and parses it with Prometheus's own
// parser (a malformed exposition fails the test).
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", addr, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: the exposition does not parse: %v", addr, err)
	}
	return fams
}

// sample sums the values of family name's series whose labels include
// want (counters, gauges; histograms give their count).
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var sum float64
	n := 0
next:
	for _, m := range f.Metric {
		for k, v := range want {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, n
}

// TestMetricsOfficialClient: messages sent and consumed with the official
// client show up under RocketMQ 5's names; the exposition parses and its
// families match the golden list; a SYNC_MASTER shows its slave connected
// and caught up; consumer lag returns to 0.
func TestMetricsOfficialClient(t *testing.T) {
	c := startCluster(t, 1, append([]string{"-brokerRole", "SYNC_MASTER"}, metricsArgs...)...)
	c.startSlave(metricsArgs...)
	c.waitSlaveConnected(1)
	maddr := c.broker.Addr("metrics")

	const topic, group, n, size = "MetricsT", "MetricsG", 40, 300
	c.createTopic(topic, 4)
	p := c.producer()
	body := []byte(strings.Repeat("m", size))
	var firstID string // an offset msgId: ip, port, then the 8-byte CommitLog offset in hex
	for i := range n {
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, body))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %+v", i, err, res)
		}
		if i == 0 {
			firstID = res.OffsetMsgID
		}
	}
	var got atomic.Int64
	pc := c.pushConsumer(group, "i1", topic, "*", func(*primitive.MessageExt) { got.Add(1) })
	defer pc.Shutdown()
	eventually(t, 30*time.Second, "all messages consumed", func() bool { return got.Load() >= n })

	// One message given back with delayLevel -1 goes to the group's
	// dead-letter topic.
	phys, err := strconv.ParseInt(firstID[len(firstID)-16:], 16, 64)
	if err != nil {
		t.Fatalf("offset msgId %q: %v", firstID, err)
	}
	if resp := c.invoke(remoting.NewRequest(remoting.ConsumerSendMsgBack, "group", group, "offset", strconv.FormatInt(phys, 10),
		"delayLevel", "-1", "originMsgId", firstID, "originTopic", topic, "maxReconsumeTimes", "16")); resp.Code != remoting.Success {
		t.Fatalf("CONSUMER_SEND_MSG_BACK: %d %s", resp.Code, resp.Remark)
	}

	fams := scrape(t, maddr)
	if v, _ := sample(fams, "rocketmq_send_to_dlq_messages_total", map[string]string{"topic": topic, "consumer_group": group}); v != 1 {
		t.Errorf("rocketmq_send_to_dlq_messages_total{topic=%s,consumer_group=%s} = %v, want 1", topic, group, v)
	}
	in := map[string]string{"topic": topic}
	if v, _ := sample(fams, "rocketmq_messages_in_total", in); v != n {
		t.Errorf("rocketmq_messages_in_total{topic=%s} = %v, want %d", topic, v, n)
	}
	if v, _ := sample(fams, "rocketmq_throughput_in_total", in); v < n*size {
		t.Errorf("rocketmq_throughput_in_total{topic=%s} = %v, want >= %d", topic, v, n*size)
	}
	if v, _ := sample(fams, "rocketmq_message_size", in); v != n {
		t.Errorf("rocketmq_message_size{topic=%s} count = %v, want %d", topic, v, n)
	}
	out := map[string]string{"topic": topic, "consumer_group": group}
	if v, _ := sample(fams, "rocketmq_messages_out_total", out); v < n {
		t.Errorf("rocketmq_messages_out_total{topic=%s,consumer_group=%s} = %v, want >= %d", topic, group, v, n)
	}
	send10, _ := sample(fams, "rocketmq_rpc_latency", map[string]string{"request_code": "10", "response_code": "0", "protocol_type": "remoting"})
	send310, _ := sample(fams, "rocketmq_rpc_latency", map[string]string{"request_code": "310", "response_code": "0", "protocol_type": "remoting"})
	if send10+send310 < n {
		t.Errorf("rocketmq_rpc_latency counts %v successful SEND_MESSAGE(_V2), want >= %d", send10+send310, n)
	}
	if v, _ := sample(fams, "rocketmq_rpc_latency", map[string]string{"request_code": "11", "protocol_type": "remoting"}); v == 0 {
		t.Error("rocketmq_rpc_latency has no PULL_MESSAGE (11)")
	}
	for _, l := range fams["rocketmq_messages_in_total"].Metric[0].Label {
		if l.GetName() == "node_type" && l.GetValue() != "broker" || l.GetName() == "node_id" && l.GetValue() != "broker-a" {
			t.Errorf("label %s=%s", l.GetName(), l.GetValue())
		}
	}
	if v, _ := sample(fams, "rocketgo_send_stage_seconds", map[string]string{"stage": "sendSlaveWait"}); v < n {
		t.Errorf("rocketgo_send_stage_seconds{stage=sendSlaveWait} count = %v, want >= %d", v, n)
	}
	if v, k := sample(fams, "rocketgo_replication_slave_connected", nil); v != 1 || k != 1 {
		t.Errorf("rocketgo_replication_slave_connected = %v over %d series, want one slave", v, k)
	}
	eventually(t, 20*time.Second, "replication lag 0 and consumer lag 0", func() bool {
		fams = scrape(t, maddr)
		lag, slaves := sample(fams, "rocketgo_replication_lag_bytes", nil)
		ready, k := sample(fams, "rocketmq_consumer_ready_messages", out)
		inflight, _ := sample(fams, "rocketmq_consumer_inflight_messages", out)
		lagMs, _ := sample(fams, "rocketmq_consumer_lag_latency", out)
		return slaves == 1 && lag == 0 && k == 1 && ready == 0 && inflight == 0 && lagMs == 0
	})

	// The families and their types, against the golden list.
	var have []string
	for name, f := range fams {
		if strings.HasPrefix(name, "rocketmq_") || strings.HasPrefix(name, "rocketgo_") {
			have = append(have, name+" "+strings.ToLower(f.GetType().String()))
		}
	}
	sort.Strings(have)
	golden, err := os.ReadFile(filepath.Join("testdata", "metrics.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(strings.ReplaceAll(string(golden), " ", "_SP_"))
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "_SP_", " ")
	}
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("missing metric family (testdata/metrics.golden): %s", w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			t.Errorf("metric family not in testdata/metrics.golden: %s", h)
		}
	}

	// The slave serves its own endpoint.
	eventually(t, 10*time.Second, "the slave's endpoint to show it connected", func() bool {
		sfams := scrape(t, c.slave.Addr("metrics"))
		v, _ := sample(sfams, "rocketgo_replication_master_connected", nil)
		_, k := sample(sfams, "process_cpu_seconds_total", nil)
		return v == 1 && k == 1
	})
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsLabelCap: a client sending to more topics than
// metricsMaxTopicLabels leaves at most that many topic series, the rest
// counted under _overflow_.
func TestMetricsLabelCap(t *testing.T) {
	c := startCluster(t, 1, append([]string{"-metricsMaxTopicLabels", "5", "-autoCreateTopicEnable", "true"}, metricsArgs...)...)
	p := c.producer()
	const topics = 30
	for i := range topics {
		topic := fmt.Sprintf("Cap%02d", i)
		if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("x"))); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send to %s: %v %+v", topic, err, res)
		}
	}
	fams := scrape(t, c.broker.Addr("metrics"))
	if code := httpStatus(t, "http://"+c.broker.Addr("metrics")+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without enablePprof: %d, want 404", code)
	}
	seen := map[string]bool{}
	for _, m := range fams["rocketmq_messages_in_total"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "topic" {
				seen[l.GetValue()] = true
			}
		}
	}
	if len(seen) > 6 || !seen["_overflow_"] {
		t.Fatalf("topic label values %v: want at most 5 topics and _overflow_", seen)
	}
	total, _ := sample(fams, "rocketmq_messages_in_total", nil)
	if total < topics {
		t.Fatalf("rocketmq_messages_in_total sums to %v, want >= %d (the overflow must still count)", total, topics)
	}
}

// TestMetricsBadSettings: a bad exporter type or a metrics port in use
// stops the start with a message naming the key.
func TestMetricsBadSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the broker binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-metricsExporterType", "OTLP"}, "metricsExporterType"},
		{[]string{"-metricsExporterType", "PROM", "-metricsPromExporterPort", "70000"}, "metricsPromExporterPort"},
		{[]string{"-metricsExporterType", "PROM", "-metricsMaxTopicLabels", "0"}, "metricsMaxTopicLabels"},
		{[]string{"-metricsExporterType", "PROM", "-metricsPromExporterHost", "127.0.0.1", "-metricsPromExporterPort", port,
			"-listenPort", "0", "-haListenPort", "0"}, "metricsPromExporterPort=" + port},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "broker"), append(tc.args, "-storePathRootDir", t.TempDir(), "-namesrvAddr", "127.0.0.1:1")...)
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%v: want a failed start, got %v\n%s", tc.args, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: output does not name %s:\n%s", tc.args, tc.want, out)
		}
	}
}

// TestNamesrvMetrics: the namesrv's -metrics endpoint counts registered
// brokers and route lookups, with the request latency under RocketMQ's name.
func TestNamesrvMetrics(t *testing.T) {
	c := startClusterTLS(t, 1, []string{"-metrics", "127.0.0.1:0", "-enablePprof"}, nil)
	c.createTopic("NsMetrics", 2)
	addr := c.namesrvs[0].Addr("metrics")
	// pprof is on the metrics port with -enablePprof (TestMetricsLabelCap
	// checks a broker without it answers 404).
	if code := httpStatus(t, "http://"+addr+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/ with -enablePprof: %d", code)
	}
	fams := scrape(t, addr)
	if v, _ := sample(fams, "rocketgo_namesrv_brokers", nil); v != 1 {
		t.Errorf("rocketgo_namesrv_brokers = %v, want 1", v)
	}
	if v, _ := sample(fams, "rocketgo_namesrv_route_lookups_total", map[string]string{"result": "found"}); v < 1 {
		t.Errorf("rocketgo_namesrv_route_lookups_total{result=found} = %v", v)
	}
	if v, _ := sample(fams, "rocketmq_rpc_latency", map[string]string{"request_code": "103", "node_type": "nameserver"}); v < 1 {
		t.Errorf("rocketmq_rpc_latency has no REGISTER_BROKER (103): %v", v)
	}
	if _, k := sample(fams, "go_goroutines", nil); k != 1 {
		t.Error("no go_goroutines: the Go collector is missing")
	}
}

package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// NodeResources is what one server process used during a run's measured
// window, from its Prometheus endpoint (and /proc for processes loadgen
// started). The per-message figures divide by the run's acknowledged
// messages: what a capacity plan carries to other hardware.
type NodeResources struct {
	Node     string `json:"node"`     // namesrv-0, <group>-master, <group>-slave-1, or the endpoint's node_id/role
	Role     string `json:"role"`     // namesrv, master, slave, loadgen (a local load worker)
	Endpoint string `json:"endpoint"` // the /metrics URL scraped
	Samples  int    `json:"samples"`  // scrapes that answered in the window

	CPUCores       float64 `json:"cpuCores"`        // CPU seconds per second of the window
	CPUPerMsgUs    float64 `json:"cpuPerMsgUs"`     // CPU µs per acknowledged message
	RSSMaxBytes    int64   `json:"rssMaxBytes"`     // largest resident set seen
	GCPauseMs      float64 `json:"gcPauseMs"`       // stop-the-world time of the collections in the window
	GCs            int64   `json:"gcs"`             // collections in the window
	LogBytesPerMsg float64 `json:"logBytesPerMsg"`  // CommitLog bytes written per message (brokers)
	NetBytesPerMsg float64 `json:"netBytesPerMsg"`  // client and HA bytes in and out per message
	FsyncsPerSec   float64 `json:"fsyncsPerSec"`    // CommitLog msyncs per second (brokers)
	ReplLagMaxB    int64   `json:"replLagMaxBytes"` // largest replication lag of any slave seen (masters; -1 elsewhere)
	CPUSource      string  `json:"cpuSource"`       // "proc" (loadgen's child) or "metrics"
}

// resourceTarget is one endpoint to scrape.
type resourceTarget struct {
	name, role, url string
	pid             int // > 0: a process loadgen started, read in /proc too
}

// resourceSample is one scrape of one target; absent values are -1.
type resourceSample struct {
	cpu, rss, gcSum, gcCount, logWritten, net, syncs, lag float64
}

// metricsURL turns "host:port" or a URL into the /metrics URL.
func metricsURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	if !strings.HasSuffix(strings.TrimSuffix(s, "/"), "/metrics") {
		s = strings.TrimSuffix(s, "/") + "/metrics"
	}
	return s
}

// clusterTargets lists the metrics endpoints of the nodes loadgen started.
func clusterTargets(c *Cluster) []resourceTarget {
	var out []resourceTarget
	for _, n := range c.Nodes() {
		if n.MetricsAddr == "" {
			continue
		}
		role := "master"
		switch {
		case strings.HasPrefix(n.Name, "namesrv"):
			role = "namesrv"
		case strings.Contains(n.Name, "-slave-"):
			role = "slave"
		case n.group != "": // controller mode: the role the namesrvs route now
			if m, err := c.currentMaster(context.Background(), n.group); err != nil || m != n {
				role = "slave"
			}
		}
		out = append(out, resourceTarget{name: n.Name, role: role, url: metricsURL(n.MetricsAddr), pid: n.Pid()})
	}
	return out
}

// endpointTargets names the endpoints of an existing cluster from what
// they export (node_type, node_id, rocketgo_broker_info's role).
func endpointTargets(ctx context.Context, endpoints []string) ([]resourceTarget, error) {
	var out []resourceTarget
	for _, e := range endpoints {
		u := metricsURL(e)
		fams, err := scrapeMetrics(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("-metrics %s: %w", e, err)
		}
		t := resourceTarget{name: e, role: "broker", url: u}
		if f := fams["rocketgo_broker_info"]; f != nil && len(f.Metric) > 0 {
			t.role = labelOf(f.Metric[0], "role")
			t.name = labelOf(f.Metric[0], "node_id") + "-" + t.role + " (" + labelOf(f.Metric[0], "addr") + ")"
		} else if f := fams["rocketgo_namesrv_brokers"]; f != nil {
			t.role, t.name = "namesrv", "namesrv "+e
		}
		out = append(out, t)
	}
	return out, nil
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// scrapeClient asks for the exposition uncompressed: a scrape every
// second should cost both ends as little as it can (no gzip).
var scrapeClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2}}

// scrapeMetrics GETs and parses one endpoint.
func scrapeMetrics(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// sampledNames are the series a resource sample reads, and where.
var sampledNames = map[string]func(*resourceSample) *float64{
	"process_cpu_seconds_total":              func(s *resourceSample) *float64 { return &s.cpu },
	"process_resident_memory_bytes":          func(s *resourceSample) *float64 { return &s.rss },
	"rocketgo_commitlog_written_bytes_total": func(s *resourceSample) *float64 { return &s.logWritten },
	"rocketgo_network_bytes_total":           func(s *resourceSample) *float64 { return &s.net },
	"rocketgo_commitlog_syncs_total":         func(s *resourceSample) *float64 { return &s.syncs },
	"rocketgo_replication_lag_bytes":         func(s *resourceSample) *float64 { return &s.lag },
	"go_gc_duration_seconds_sum":             func(s *resourceSample) *float64 { return &s.gcSum },
	"go_gc_duration_seconds_count":           func(s *resourceSample) *float64 { return &s.gcCount },
}

// parseSample adds up, per name of sampledNames, the values of its series
// in a Prometheus text exposition; names absent stay -1. It reads only
// those lines and allocates nothing per line: loadgen scrapes every second
// beside its pacers, and a full parse (expfmt) allocated enough to bring
// its collector into their way.
func parseSample(body []byte) resourceSample {
	s := resourceSample{-1, -1, -1, -1, -1, -1, -1, -1}
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		end := bytes.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		field, ok := sampledNames[string(line[:end])] // no allocation: a map index by converted bytes
		if !ok {
			continue
		}
		rest := line[end:]
		if rest[0] == '{' {
			j := bytes.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		rest = bytes.TrimLeft(rest, " ")
		if k := bytes.IndexByte(rest, ' '); k >= 0 {
			rest = rest[:k] // a timestamp follows
		}
		v, err := strconv.ParseFloat(string(rest), 64)
		if err != nil {
			continue
		}
		p := field(&s)
		if *p < 0 {
			*p = 0
		}
		*p += v
	}
	return s
}

// sample scrapes t once into buf (reused); a target without an endpoint
// (a local load worker) is read in /proc alone.
func (t resourceTarget) sample(ctx context.Context, buf *bytes.Buffer) (resourceSample, string, error) {
	if t.url == "" {
		cpu, rss, err := ProcUsage(t.pid)
		if err != nil {
			return resourceSample{}, "", err
		}
		return resourceSample{cpu: cpu, rss: rss, gcSum: -1, gcCount: -1, logWritten: -1, net: -1, syncs: -1, lag: -1}, "proc", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return resourceSample{}, "", err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return resourceSample{}, "", err
	}
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		return resourceSample{}, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return resourceSample{}, "", fmt.Errorf("GET %s: %s", t.url, resp.Status)
	}
	s := parseSample(buf.Bytes())
	source := "metrics"
	if t.pid > 0 {
		if cpu, rss, err := ProcUsage(t.pid); err == nil {
			s.cpu, s.rss, source = cpu, rss, "proc"
		}
	}
	return s, source, nil
}

// ProcUsage reads a process's CPU seconds (user + system) and resident
// bytes from /proc.
func ProcUsage(pid int) (cpu, rss float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 22 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after ')';
	// rss (pages) is field 24.
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	pages, err3 := strconv.ParseFloat(f[21], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad numbers", pid)
	}
	const clkTck = 100 // USER_HZ, 100 on every Linux loadgen runs on
	return (ut + st) / clkTck, pages * float64(os.Getpagesize()), nil
}

// resourceSampler scrapes its targets once a second over a window.
type resourceSampler struct {
	targets []resourceTarget
	mu      sync.Mutex
	first   []*resourceSample // the first answer of each target at or after the window's start
	last    []*resourceSample // the latest
	firstAt []time.Time
	lastAt  []time.Time
	n       []int
	rssMax  []float64
	lagMax  []float64
	source  []string
	done    chan struct{}
	stop    chan struct{}
	buf     bytes.Buffer // the scrape being read
}

// startResourceSampler scrapes targets from `from` every interval until
// stopped (interval 0: at `from` and when finished only); nothing happens
// without targets.
func startResourceSampler(ctx context.Context, targets []resourceTarget, from time.Time, interval time.Duration) *resourceSampler {
	n := len(targets)
	s := &resourceSampler{targets: targets, first: make([]*resourceSample, n), last: make([]*resourceSample, n),
		firstAt: make([]time.Time, n), lastAt: make([]time.Time, n), n: make([]int, n),
		rssMax: make([]float64, n), lagMax: make([]float64, n), source: make([]string, n),
		done: make(chan struct{}), stop: make(chan struct{})}
	for i := range s.lagMax {
		s.lagMax[i] = -1 // until a scrape shows a lag series
	}
	go func() {
		defer close(s.done)
		if n == 0 {
			return
		}
		select {
		case <-time.After(time.Until(from)):
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		}
		var tick <-chan time.Time // nil: never
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		for {
			s.scrapeAll(ctx)
			select {
			case <-tick:
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *resourceSampler) scrapeAll(ctx context.Context) {
	for i, t := range s.targets { // one after the other: one goroutine, one buffer
		smp, source, err := t.sample(ctx, &s.buf)
		if err != nil {
			continue // a node killed by a fault: its window ends early
		}
		now := time.Now()
		s.mu.Lock()
		if s.first[i] == nil {
			s.first[i], s.firstAt[i] = &smp, now
		}
		s.last[i], s.lastAt[i] = &smp, now
		s.n[i]++
		s.rssMax[i] = max(s.rssMax[i], smp.rss)
		s.lagMax[i] = max(s.lagMax[i], smp.lag)
		s.source[i] = source
		s.mu.Unlock()
	}
}

// finish takes a last sample and returns each target's use over the
// window, per acknowledged message.
func (s *resourceSampler) finish(ctx context.Context, acked int64) []NodeResources {
	close(s.stop)
	<-s.done
	if len(s.targets) == 0 {
		return nil
	}
	s.scrapeAll(ctx)
	var out []NodeResources
	for i, t := range s.targets {
		f, l := s.first[i], s.last[i]
		if f == nil || l == nil || s.n[i] < 2 {
			continue
		}
		secs := s.lastAt[i].Sub(s.firstAt[i]).Seconds()
		r := NodeResources{Node: t.name, Role: t.role, Endpoint: t.url, Samples: s.n[i], CPUSource: s.source[i],
			RSSMaxBytes: int64(s.rssMax[i]), ReplLagMaxB: int64(s.lagMax[i])}
		delta := func(a, b float64) float64 {
			if a < 0 || b < 0 {
				return -1
			}
			return max(b-a, 0)
		}
		perMsg := func(d float64) float64 {
			if d < 0 || acked <= 0 {
				return -1
			}
			return d / float64(acked)
		}
		cpu := delta(f.cpu, l.cpu)
		if secs > 0 && cpu >= 0 {
			r.CPUCores = cpu / secs
		}
		r.CPUPerMsgUs = perMsg(cpu * 1e6) // -1 stays negative: unknown
		if g := delta(f.gcSum, l.gcSum); g >= 0 {
			r.GCPauseMs = g * 1e3
		}
		if g := delta(f.gcCount, l.gcCount); g >= 0 {
			r.GCs = int64(g)
		}
		r.LogBytesPerMsg = perMsg(delta(f.logWritten, l.logWritten))
		r.NetBytesPerMsg = perMsg(delta(f.net, l.net))
		r.FsyncsPerSec = -1
		if d := delta(f.syncs, l.syncs); d >= 0 && secs > 0 {
			r.FsyncsPerSec = d / secs
		}
		out = append(out, r)
	}
	return out
}

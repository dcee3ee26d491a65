// Package deploy holds what an operator runs beside the binaries: a
// Prometheus configuration with alert rules (prometheus/) and a Grafana
// dashboard (grafana/). Its tests hold them to what the servers export:
// every metric a query names is one the broker or the namesrv serves, with
// the type the query assumes, so renaming a metric breaks the test rather
// than a dashboard nobody looks at until an outage.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/rocketgo/rocketgo/internal/metrics"
)

// Where the exported names come from: the broker's golden list (checked
// against a live scrape by broker.TestMetrics) gives names and types; the
// Go runtime and process collectors are gathered here; the sources name
// the rest (the namesrv's, and the broker's that the golden scrape does
// not reach: a slave's, the dead-letter counter).
const golden = "../broker/testdata/metrics.golden"

var sources = []string{"../broker/metrics.go", "../namesrv/metrics.go", "../internal/metrics/metrics.go"}

// labels every scrape has or PromQL makes, besides those the sources name.
var builtinLabels = []string{"job", "instance", "le", "quantile"}

// exported is what the servers serve.
type exported struct {
	types  map[string]string // family name → counter, gauge, histogram, summary; "" when known only from the sources
	source string            // the sources, joined
}

func loadExported(t *testing.T) *exported {
	t.Helper()
	e := &exported{types: map[string]string{}}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("%s:%d: want NAME TYPE, got %q", golden, i+1, line)
		}
		e.types[f[0]] = f[1]
	}
	fams, err := metrics.NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		e.types[f.GetName()] = strings.ToLower(f.GetType().String())
	}
	var src strings.Builder
	for _, p := range sources {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	e.source = src.String()
	return e
}

// inSource reports whether the sources spell name as a string literal.
func (e *exported) inSource(name string) bool {
	return strings.Contains(e.source, `"`+name+`"`)
}

var (
	stringLit  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricName = regexp.MustCompile(`\b(?:rocketmq|rocketgo|process|go)_[A-Za-z0-9_:]*`)
	matcher    = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	rateArg    = regexp.MustCompile(`\b(?:rate|irate|increase)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`)
	variable   = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))`)
	labelQuery = regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
)

// checkExpr reports what in a PromQL expression the servers do not
// export: a metric name, a histogram's series asked for by a name that
// does not exist (the bare name, or _bucket of a counter), a rate of a
// gauge, or a label name.
func (e *exported) checkExpr(expr string) []error {
	var errs []error
	bare := stringLit.ReplaceAllString(expr, `""`) // label values are not names
	for _, name := range metricName.FindAllString(bare, -1) {
		if err := e.checkName(name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range rateArg.FindAllStringSubmatch(bare, -1) {
		if typ := e.seriesType(m[1]); typ == "gauge" {
			errs = append(errs, fmt.Errorf("%s is a gauge: rate and increase need a counter", m[1]))
		}
	}
	var labels []string
	for _, m := range matcher.FindAllStringSubmatch(expr, -1) {
		labels = append(labels, m[1])
	}
	for _, m := range grouping.FindAllStringSubmatch(bare, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	for _, l := range labels {
		if !slices.Contains(builtinLabels, l) && !e.inSource(l) {
			errs = append(errs, fmt.Errorf("label %s: no server exports it", l))
		}
	}
	return errs
}

// checkName accepts a family name, or a histogram's or summary's series.
func (e *exported) checkName(name string) error {
	if typ, ok := e.types[name]; ok {
		if typ == "histogram" {
			return fmt.Errorf("%s is a histogram: its series are %[1]s_bucket, _sum and _count", name)
		}
		return nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		typ, known := e.types[base]
		switch {
		case !known:
		case typ == "histogram", typ == "summary" && suffix != "_bucket":
			return nil
		default:
			return fmt.Errorf("%s: %s is a %s, it has no %s series", name, base, typ, suffix)
		}
	}
	if e.inSource(name) {
		return nil
	}
	return fmt.Errorf("%s: no server exports it (not in %s, the Go and process collectors, or %s)", name, golden, strings.Join(sources, ", "))
}

// seriesType is the type of the series name stands for: a histogram's
// _sum and _count count.
func (e *exported) seriesType(name string) string {
	if typ, ok := e.types[name]; ok {
		return typ
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && e.types[base] != "" {
			return "counter"
		}
	}
	return ""
}

func TestCheckExprCatches(t *testing.T) {
	e := loadExported(t)
	for _, c := range []struct{ expr, want string }{
		{`rate(rocketmq_messages_in_total[5m])`, ""},
		{`histogram_quantile(0.99, sum by (le, request_code) (rate(rocketmq_rpc_latency_bucket{response_code="0"}[5m])))`, ""},
		{`rate(go_gc_duration_seconds_sum[5m]) * on (instance) group_left (node_id) rocketmq_topic_number`, ""},
		{`rocketgo_namesrv_brokers{node_type="nameserver"}`, ""},
		{`rate(rocketmq_messages_in[5m])`, "rocketmq_messages_in: no server exports it"},
		{`rocketmq_rpc_latency{request_code="10"}`, "is a histogram"},
		{`rocketgo_connections_bucket`, "is a gauge, it has no _bucket"},
		{`go_gc_duration_seconds_bucket`, "is a summary, it has no _bucket"},
		{`rate(rocketgo_connections[5m])`, "is a gauge: rate"},
		{`sum by (consumerGroup) (rocketmq_consumer_ready_messages)`, "label consumerGroup"},
		{`rocketmq_consumer_ready_messages{group="g"}`, "label group"},
		{`up{job="rocketgo_broker"}`, ""}, // a label value is not a name
	} {
		errs := e.checkExpr(c.expr)
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.expr, errs)
		case c.want != "" && (len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.expr, errs, c.want)
		}
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID           string
	Title         string
	SchemaVersion int
	Templating    struct{ List []templateVar }
	Panels        []panel
}

type templateVar struct {
	Name, Type string
	Query      any // a string, or {"query": string}
	Datasource *datasource
}

type datasource struct{ Type, UID string }

type panel struct {
	ID          int
	Title, Type string
	Datasource  *datasource
	GridPos     struct{ X, Y, W, H int }
	Targets     []struct {
		RefID      string
		Expr       string
		Datasource *datasource
	}
	Panels []panel // a collapsed row's
}

func (v templateVar) query() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

const dsVar = "${DS_PROMETHEUS}"

func TestDashboard(t *testing.T) {
	e := loadExported(t)
	b, err := os.ReadFile(filepath.Join("grafana", "rocketgo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/rocketgo.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 39 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and schemaVersion >= 39", d.UID, d.Title, d.SchemaVersion)
	}

	// The data source is a variable, so the file imports into any Grafana;
	// cluster and node_id select brokers.
	vars := map[string]templateVar{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["DS_PROMETHEUS"]; v.Type != "datasource" || v.query() != "prometheus" {
		t.Errorf("variable DS_PROMETHEUS = %+v, want a datasource variable of type prometheus", v)
	}
	for _, name := range []string{"cluster", "node_id"} {
		if v := vars[name]; v.Type != "query" || !strings.HasPrefix(v.query(), "label_values(") {
			t.Errorf("variable %s = %+v, want a label_values query", name, v)
		}
	}
	checkQuery := func(where, expr string) {
		t.Helper()
		for _, err := range e.checkExpr(expr) {
			t.Errorf("%s: %v\n\t%s", where, err, expr)
		}
		for _, m := range variable.FindAllStringSubmatch(expr, -1) {
			name := m[1] + m[2]
			if _, ok := vars[name]; !ok && !slices.Contains([]string{"__rate_interval", "__interval", "__range"}, name) {
				t.Errorf("%s: variable $%s is not defined\n\t%s", where, name, expr)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != dsVar {
			t.Errorf("variable %s: datasource %v, want uid %s", v.Name, v.Datasource, dsVar)
		}
		m := labelQuery.FindStringSubmatch(v.query())
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values(SELECTOR, LABEL)", v.Name, v.query())
			continue
		}
		checkQuery("variable "+v.Name, m[1]+` by (`+m[2]+`)`) // the label checked as a grouping label
	}

	var rows []string
	var placed []panel
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: id used twice", where)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			for _, q := range placed {
				h := q.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					t.Errorf("%s overlaps panel %d %q", where, q.ID, q.Title)
				}
			}
			placed = append(placed, p)
			if p.Type == "row" {
				rows = append(rows, p.Title)
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != dsVar {
				t.Errorf("%s: datasource %v, want uid %s", where, p.Datasource, dsVar)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.Expr == "" || refs[tg.RefID] {
					t.Errorf("%s: target %q is empty or its refId is used twice", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Datasource != nil && tg.Datasource.UID != dsVar {
					t.Errorf("%s: target %s datasource %v, want uid %s", where, tg.RefID, tg.Datasource, dsVar)
				}
				checkQuery(where, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	want := []string{"Overview", "Latency", "Consumers", "Replication", "Storage", "Server", "Process", "Namesrv"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
}

// promConfig is the part of prometheus.yml the test reads; unknown keys
// fail the decoding, so a misspelt key is caught here and not ignored by
// the reader.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	}
	RuleFiles     []string `yaml:"rule_files"`
	Alerting      any
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string
			Labels  map[string]string
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPrometheus(t *testing.T) {
	e := loadExported(t)
	var cfg promConfig
	decodeYAML(t, filepath.Join("prometheus", "prometheus.yml"), &cfg)
	interval, err1 := model.ParseDuration(cfg.Global.ScrapeInterval)
	timeout, err2 := model.ParseDuration(cfg.Global.ScrapeTimeout)
	if err1 != nil || err2 != nil || interval.String() != "15s" || timeout > interval {
		t.Errorf("scrape_interval %q, scrape_timeout %q: want 15s and a timeout no longer", cfg.Global.ScrapeInterval, cfg.Global.ScrapeTimeout)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("job %s: configured twice", sc.JobName)
		}
		jobs[sc.JobName] = true
		if len(sc.StaticConfigs) == 0 {
			t.Errorf("job %s: no targets", sc.JobName)
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				if _, _, err := net.SplitHostPort(tg); err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, tg, err)
				}
			}
			for l := range st.Labels {
				// The servers set these; a target label of the same name
				// would push theirs to exported_<name>.
				if slices.Contains([]string{metrics.LabelCluster, metrics.LabelNodeType, metrics.LabelNodeID}, l) {
					t.Errorf("job %s: target label %s clashes with the label the server sets", sc.JobName, l)
				}
			}
		}
	}
	for _, job := range []string{"rocketgo-broker", "rocketgo-namesrv"} {
		if !jobs[job] {
			t.Errorf("no scrape job %s", job)
		}
	}
	if len(cfg.RuleFiles) == 0 {
		t.Fatal("prometheus.yml loads no rule files")
	}

	for _, rf := range cfg.RuleFiles {
		path := filepath.Join("prometheus", rf)
		var rules ruleFile
		decodeYAML(t, path, &rules)
		alerts := map[string]bool{}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				where := fmt.Sprintf("%s: group %s: alert %q", path, g.Name, r.Alert)
				if r.Alert == "" || alerts[r.Alert] {
					t.Errorf("%s: no name, or the name is used twice", where)
				}
				alerts[r.Alert] = true
				if r.For != "" {
					if _, err := model.ParseDuration(r.For); err != nil {
						t.Errorf("%s: for: %v", where, err)
					}
				}
				if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
					t.Errorf("%s: severity %q, want critical, warning or info", where, s)
				}
				if r.Annotations["summary"] == "" {
					t.Errorf("%s: no summary", where)
				}
				if strings.TrimSpace(r.Expr) == "" {
					t.Errorf("%s: no expr", where)
				}
				for _, err := range e.checkExpr(r.Expr) {
					t.Errorf("%s: %v", where, err)
				}
				for _, m := range regexp.MustCompile(`\bjob\s*=\s*"([^"]*)"`).FindAllStringSubmatch(r.Expr, -1) {
					if !jobs[m[1]] {
						t.Errorf("%s: job %q is not a scrape job of prometheus.yml", where, m[1])
					}
				}
			}
		}
		if len(alerts) == 0 {
			t.Errorf("%s: no alerts", path)
		}
	}
}

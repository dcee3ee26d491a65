// Command loadgen benchmarks rocketgo: it starts a topology on 127.0.0.1 (or
// drives an existing cluster), runs open-loop load, and writes a report with
// charts to results/.
//
//	loadgen scenario [-profile quick|full] NAME   named benchmark (see loadgen list)
//	loadgen run -workload W.yaml [-topology T.yaml | -namesrv ADDRS -group G] [flags]
//	loadgen worker -listen HOST:PORT
//	loadgen compare RESULT_DIR_A RESULT_DIR_B
//	loadgen list
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rocketgo/rocketgo/bench"
	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

func main() {
	// Histograms and payloads are short-lived: collect less often than
	// Go's default unless GOGC says otherwise, so loadgen stays out of the
	// way of what it measures.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  loadgen scenario [-profile quick|full] [-rates R,… -reps N -duration D] [-results DIR] [-bin DIR] NAME
  loadgen run -workload FILE [-topology FILE | -namesrv 'a:9876;b:9876' -group NAME] [flags]
  loadgen calibrate [-rates 1000,5000,20000] [-duration 5s] [-size 1024] [-json FILE]
                                   (the tool's own floor, against a null target)
  loadgen worker -listen HOST:PORT  (runs producers and consumers for a driver's -workers)
  loadgen compare RESULT_DIR_A RESULT_DIR_B
  loadgen report [-hardware H] RESULT_DIR   (rewrite report.md from summary.json, keeping the charts;
                                   -hardware 'cores=16,diskMBps=800,netGbps=10' adds the capacity model's prediction)
  loadgen list
`)
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "scenario":
		err = scenarioCmd(ctx, args[1:])
	case "run":
		err = runCmd(ctx, args[1:])
	case "calibrate":
		err = calibrateCmd(ctx, args[1:], os.Stdout)
	case "worker":
		err = workerCmd(ctx, args[1:])
	case "compare":
		err = compareCmd(args[1:], os.Stdout)
	case "report":
		err = reportCmd(args[1:], os.Stdout)
	case "list":
		for _, n := range bench.Names() {
			fmt.Printf("%-15s %s\n", n, bench.Scenarios[n].Description)
		}
	case "-h", "-help", "--help", "help":
		usage(stderr)
		return 0
	default:
		fmt.Fprintf(stderr, "loadgen: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "loadgen: %s\n", strings.TrimPrefix(err.Error(), "loadgen: "))
		return 1
	}
	return 0
}

// common flags of scenario and run.
type common struct {
	results, bin, namesrv, workDir string
	metrics                        string
	scrape                         time.Duration
	accessKey, secretKey           string
	quiet, calibrate, keepTopics   bool
	workers, hardware              string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.results, "results", "results", "results root directory")
	fs.StringVar(&c.bin, "bin", "bin", "directory with the namesrv and broker binaries")
	fs.StringVar(&c.namesrv, "namesrv", "", "drive an existing cluster: ';'-separated namesrv addresses")
	fs.StringVar(&c.metrics, "metrics", "", "with -namesrv: ','-separated Prometheus endpoints (host:port or URL) of the cluster's brokers and namesrvs, scraped every second for the resource table (topologies loadgen starts have metrics on by themselves)")
	fs.DurationVar(&c.scrape, "scrape", time.Second, "how often the servers' metrics endpoints are scraped during the measured window for the resource table; 0: only when it opens and when its sends are answered")
	fs.StringVar(&c.workDir, "workdir", "", "data directories of started processes (default: a temporary directory)")
	fs.StringVar(&c.accessKey, "accessKey", "", "with -namesrv: sign every request with this ACL account (brokers with aclEnable=true)")
	fs.StringVar(&c.secretKey, "secretKey", "", "the SecretKey of -accessKey")
	fs.BoolVar(&c.quiet, "quiet", false, "no live progress")
	fs.StringVar(&c.workers, "workers", "", "','-separated `loadgen worker` addresses (host:port) to split producers and consumers over (default: the topology's workers, else local worker processes)")
	fs.StringVar(&c.hardware, "hardware", "", "hardware profile for the report's capacity model: 'cores=16,diskMBps=800,netGbps=10' or a YAML file with those keys (each broker on such a machine)")
	fs.BoolVar(&c.keepTopics, "keep-topics", false, "with -namesrv: keep the topics and consumer groups each run creates on the cluster (by default they are deleted when the run ends)")
	fs.BoolVar(&c.calibrate, "calibrate", true, "before the runs, measure the tool's own floor at each rate against a null target (the report's \"The tool's own floor\")")
}

func (c *common) options(log *slog.Logger) loadgen.PlanOptions {
	repo, _ := os.Getwd()
	o := loadgen.PlanOptions{BinDir: c.bin, ResultsDir: c.results, WorkDir: c.workDir, Log: log, RepoDir: repo}
	if c.namesrv != "" {
		o.Namesrvs = strings.Split(c.namesrv, ";")
	}
	if c.metrics != "" {
		o.Metrics = strings.Split(c.metrics, ",")
	}
	o.ScrapeEvery = c.scrape
	if c.workers != "" {
		o.Workers = strings.Split(c.workers, ",")
	}
	o.Calibrate = c.calibrate
	o.KeepTopics = c.keepTopics
	if c.accessKey != "" {
		o.Credentials = &remoting.Credentials{AccessKey: c.accessKey, SecretKey: c.secretKey}
	}
	if !c.quiet {
		newProgress().options(&o)
	}
	return o
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func scenarioCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scenario", flag.ContinueOnError)
	var c common
	c.register(fs)
	profile := fs.String("profile", "quick", "quick (minutes) or full")
	group := fs.String("group", "", "with -namesrv: the broker group to measure")
	rates := fs.String("rates", "", "comma-separated target rates (msg/s) instead of the profile's; 0 = closed loop (not for a capacity search, which finds its own)")
	reps := fs.Int("reps", 0, "repetitions instead of the profile's")
	duration := fs.Duration("duration", 0, "measured window of each run instead of the profile's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("scenario: want one scenario name (%s)", strings.Join(bench.Names(), ", "))
	}
	sc, ok := bench.Scenarios[fs.Arg(0)]
	if !ok {
		return fmt.Errorf("scenario %q does not exist (have %s)", fs.Arg(0), strings.Join(bench.Names(), ", "))
	}
	plan, err := sc.Plan(*profile)
	if err != nil {
		return err
	}
	plan.Command = "bin/loadgen " + strings.Join(append([]string{"scenario"}, args...), " ")
	if *rates != "" {
		if plan.Capacity != nil {
			return fmt.Errorf("scenario %s searches its rates: -rates does not apply", plan.Scenario)
		}
		if plan.Rates, err = parseRates("scenario", *rates, false); err != nil {
			return err
		}
	}
	switch {
	case *reps < 0:
		return fmt.Errorf("scenario: -reps %d: want at least 1", *reps)
	case *reps > 0:
		plan.Repetitions = *reps
	}
	switch {
	case *duration < 0:
		return fmt.Errorf("scenario: -duration %v: want a positive window", *duration)
	case *duration > 0:
		plan.Workload.Duration = *duration
	}
	if c.namesrv != "" {
		if *group == "" {
			return errors.New("scenario: -namesrv needs -group, the broker group to measure")
		}
		// The scenario's groups, faults and notes are those of the
		// topology it would start.
		plan.Targets = []loadgen.Target{{Group: *group, Label: *group}}
		plan.Faults, plan.Notes = nil, nil
	}
	return execute(ctx, plan, c)
}

func execute(ctx context.Context, plan loadgen.Plan, c common) error {
	if c.scrape < 0 {
		return fmt.Errorf("-scrape %v: want a duration >= 0", c.scrape)
	}
	if c.keepTopics && c.namesrv == "" {
		return errors.New("-keep-topics keeps what the runs create on an existing cluster: use it with -namesrv (topologies loadgen starts are removed with their data)")
	}
	opts := c.options(logger())
	if c.hardware != "" {
		hw, err := loadgen.ParseHardware(c.hardware)
		if err != nil {
			return err
		}
		opts.Hardware = &hw
	}
	if c.metrics != "" && c.namesrv == "" {
		return errors.New("-metrics names the endpoints of an existing cluster: use it with -namesrv (topologies loadgen starts have their metrics on)")
	}
	start := time.Now()
	dir, err := loadgen.RunPlan(ctx, plan, opts)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s finished in %v; report: %s\n", plan.Scenario, time.Since(start).Round(time.Second), filepath.Join(dir, "report.md"))
	return nil
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	workloadFile := fs.String("workload", "", "workload YAML file")
	topologyFile := fs.String("topology", "", "topology YAML file (default: 1 namesrv, one ASYNC_MASTER group with one slave)")
	group := fs.String("group", "", "broker group to measure (default: every group of the topology)")
	rates := fs.String("rates", "", "comma-separated target rates (msg/s) overriding the workload's producerRate; 0 = closed loop")
	reps := fs.Int("reps", 1, "repetitions of each rate")
	faults := fs.String("faults", "", "faults during the measured window: AT:ACTION:TARGET[:VALUE],… e.g. 5s:kill:g/master,9s:restart:g/master or 3s:latency:g/slave-1-link:20,6s:clear:g/slave-1-link or 5s:createTopics:g/master:1000; with a controller topology also 4s:partition:g/master,9s:heal:g/master and 4s:kill:controller-leader")
	name := fs.String("name", "run", "scenario name for the result folder")
	var w loadgen.Workload
	fs.IntVar(&w.MessageSize, "size", 1024, "message size in bytes")
	fs.Float64Var(&w.Rate, "rate", 1000, "target msg/s (all producers together)")
	fs.DurationVar(&w.Duration, "duration", 10*time.Second, "measured window")
	fs.DurationVar(&w.Warmup, "warmup", 2*time.Second, "warm-up before the measured window")
	fs.IntVar(&w.InFlight, "inflight", 256, "outstanding sends per producer")
	fs.IntVar(&w.ProducersPerTopic, "producers", 1, "producers per topic")
	fs.IntVar(&w.ConsumersPerTopic, "consumers", 1, "consumers per topic (0: none)")
	fs.IntVar(&w.QueuesPerTopic, "queues", 4, "queues per topic")
	fs.IntVar(&w.Topics, "topics", 1, "topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}
	w.Name, w.BatchSize, w.Drain, w.SendTimeout = "flags", 1, 10*time.Second, 5*time.Second
	if *workloadFile != "" {
		var err error
		if w, err = readWorkload(*workloadFile); err != nil {
			return err
		}
	}
	topo := loadgen.TopologySpec{Namesrvs: 1, Groups: []loadgen.GroupSpec{{Name: "g", Role: "ASYNC_MASTER", Flush: "ASYNC_FLUSH", Slaves: 1}}}
	if strings.Contains(*faults, "slave-") && strings.Contains(*faults, "-link") {
		topo.ProxyLinks = true
	}
	if strings.Contains(*faults, "client-link") {
		topo.ProxyClients = true
	}
	if *topologyFile != "" {
		var err error
		if topo, err = readTopology(*topologyFile); err != nil {
			return err
		}
	}
	plan := loadgen.Plan{Scenario: *name, Profile: "custom", Topology: topo, Workload: w, Rates: []float64{w.Rate}, Repetitions: *reps,
		Command: "bin/loadgen " + strings.Join(append([]string{"run"}, args...), " ")}
	if *rates != "" {
		var err error
		if plan.Rates, err = parseRates("run", *rates, false); err != nil {
			return err
		}
	}
	for _, g := range topo.Groups {
		if *group == "" || *group == g.Name {
			plan.Targets = append(plan.Targets, loadgen.Target{Group: g.Name, Label: g.Name, Mode: orDefault(g.Role, "ASYNC_MASTER"), Flush: orDefault(g.Flush, "ASYNC_FLUSH")})
		}
	}
	if c.namesrv != "" {
		if *group == "" {
			return errors.New("run: -namesrv needs -group, the broker group to measure")
		}
		plan.Targets = []loadgen.Target{{Group: *group, Label: *group}}
	}
	if len(plan.Targets) == 0 {
		return fmt.Errorf("run: the topology has no group %q", *group)
	}
	if *faults != "" {
		fp, err := parseFaults(*faults)
		if err != nil {
			return err
		}
		plan.Faults = fp
	}
	return execute(ctx, plan, c)
}

// workerCmd serves the worker API until interrupted.
func workerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to serve the worker API on (HOST:PORT; port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("worker: unexpected argument %q", fs.Arg(0))
	}
	if *listen == "" {
		return errors.New("worker: -listen HOST:PORT is required")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return fmt.Errorf("worker: -listen %q: want HOST:PORT: %v", *listen, err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return loadgen.ServeWorker(ctx, ln, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// parseFaults parses AT:ACTION:TARGET[:VALUE],…
func parseFaults(s string) ([]loadgen.FaultPlan, error) {
	var out []loadgen.FaultPlan
	for _, f := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(f), ":")
		if len(parts) != 3 && len(parts) != 4 {
			return nil, fmt.Errorf("-faults: %q is not AT:ACTION:TARGET[:VALUE]", f)
		}
		at, err := time.ParseDuration(parts[0])
		if err != nil {
			return nil, fmt.Errorf("-faults: %q: bad time: %v", f, err)
		}
		fp := loadgen.FaultPlan{At: at, Action: parts[1], Target: parts[2]}
		switch parts[1] {
		case "kill", "restart", "stop", "pause", "resume", "clear", "partition", "heal":
		case "latency", "bandwidth", "createTopics", "autoCreateTopics":
			if len(parts) != 4 {
				return nil, fmt.Errorf("-faults: %q: %s needs a value (ms, KB/s or a topic count)", f, parts[1])
			}
			if fp.Value, err = strconv.Atoi(parts[3]); err != nil || fp.Value <= 0 {
				return nil, fmt.Errorf("-faults: %q: value %q is not a positive integer", f, parts[3])
			}
		default:
			return nil, fmt.Errorf("-faults: %q: action %q: want kill, restart, stop, pause, resume, partition, heal, latency, bandwidth, clear, createTopics or autoCreateTopics", f, parts[1])
		}
		out = append(out, fp)
	}
	return out, nil
}

func readYAML(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readWorkload(path string) (loadgen.Workload, error) {
	w := loadgen.Workload{Topics: 1, QueuesPerTopic: 4, MessageSize: 1024, ProducersPerTopic: 1, ConsumersPerTopic: 1,
		InFlight: 256, BatchSize: 1, Duration: 10 * time.Second, Warmup: 2 * time.Second, Drain: 10 * time.Second, SendTimeout: 5 * time.Second}
	if err := readYAML(path, &w); err != nil {
		return w, fmt.Errorf("workload %w", err)
	}
	if err := w.Validate(); err != nil {
		return w, fmt.Errorf("workload %s: %w", path, err)
	}
	return w, nil
}

func readTopology(path string) (loadgen.TopologySpec, error) {
	var t loadgen.TopologySpec
	if err := readYAML(path, &t); err != nil {
		return t, fmt.Errorf("topology %w", err)
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

func compareCmd(args []string, out io.Writer) error {
	if len(args) != 2 {
		return errors.New("compare: want two result folders")
	}
	a, err := loadgen.ReadSummary(args[0])
	if err != nil {
		return err
	}
	b, err := loadgen.ReadSummary(args[1])
	if err != nil {
		return err
	}
	return loadgen.WriteComparison(out, loadgen.Compare(a, b))
}

// reportCmd rewrites a result folder's report.md from its summary.json
// (after loadgen learned to say more), linking the charts already there.
func reportCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	hardware := fs.String("hardware", "", "hardware profile for the capacity model: 'cores=16,diskMBps=800,netGbps=10' or a YAML file with those keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("report: want one result folder, got %d arguments", fs.NArg())
	}
	var hw *loadgen.Hardware
	if *hardware != "" {
		h, err := loadgen.ParseHardware(*hardware)
		if err != nil {
			return err
		}
		hw = &h
	}
	dir := fs.Arg(0)
	s, err := loadgen.ReadSummary(dir)
	if err != nil {
		return err
	}
	if hw != nil {
		s.Hardware = hw
		if err := loadgen.WriteSummary(dir, s); err != nil {
			return err
		}
	}
	charts, err := loadgen.RedrawSummaryCharts(dir, s)
	if err != nil {
		return err
	}
	if err := loadgen.WriteReport(dir, s, charts); err != nil {
		return err
	}
	fmt.Fprintln(out, "rewrote", filepath.Join(dir, loadgen.ReportFile))
	return nil
}

// calibrateCmd measures the tool alone against a null target (a child
// process that answers every send SEND_OK at once) at each rate, and prints
// its pacing lag and round trip beside the machine's stalls.
func calibrateCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	rates := fs.String("rates", "1000,5000,20000", "comma-separated target rates (msg/s)")
	jsonFile := fs.String("json", "", "also write the points as JSON to this file")
	var w loadgen.Workload
	fs.IntVar(&w.MessageSize, "size", 1024, "message size in bytes")
	fs.DurationVar(&w.Duration, "duration", 11*time.Second, "measured window per rate (11 s gives a p99.9 from the stall meter and at 1000 msg/s)")
	fs.DurationVar(&w.Warmup, "warmup", time.Second, "warm-up before each measured window")
	fs.IntVar(&w.InFlight, "inflight", 256, "outstanding sends per producer")
	fs.IntVar(&w.ProducersPerTopic, "producers", 1, "producers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("calibrate: unexpected argument %q", fs.Arg(0))
	}
	w.Name, w.Topics, w.QueuesPerTopic, w.BatchSize, w.SendTimeout = "calibration", 1, 4, 1, 5*time.Second
	rs, err := parseRates("calibrate", *rates, true)
	if err != nil {
		return err
	}
	w.Rate = rs[0]
	if err := w.Validate(); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	dir, err := os.MkdirTemp("", "loadgen-calibrate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	points, err := loadgen.Calibrate(ctx, w, rs, dir, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "The tool's own floor: %d B messages against a null target (µs; target: pacing p99.9 ≤ stall p99.9 + %d µs)\n",
		w.MessageSize, loadgen.CalibrationTarget)
	fmt.Fprintf(out, "%10s %10s %8s %8s %8s %8s %8s %8s %8s  %s\n", "rate", "achieved", "pace p50", "p99", "p99.9", "rtt p50", "p99", "p99.9", "stall99.9", "target")
	for _, p := range points {
		verdict := "met"
		if !p.MeetsTarget {
			verdict = "NOT met"
		}
		fmt.Fprintf(out, "%10.0f %10.0f %8d %8d %8d %8d %8d %8d %8d  %s\n", p.Rate, p.Achieved, p.Pacing.P50, p.Pacing.P99, p.Pacing.P999,
			p.RoundTrip.P50, p.RoundTrip.P99, p.RoundTrip.P999, p.Hiccup.P999, verdict)
	}
	if *jsonFile != "" {
		b, err := json.MarshalIndent(points, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
	}
	return nil
}

// parseRates parses -rates, a comma-separated list of msg/s; 0 (closed
// loop) is refused when positive is set.
func parseRates(cmd, list string, positive bool) ([]float64, error) {
	var rates []float64
	for _, r := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		switch {
		case positive && (err != nil || v <= 0):
			return nil, fmt.Errorf("%s: -rates: %q is not a positive rate", cmd, r)
		case err != nil || v < 0:
			return nil, fmt.Errorf("%s: -rates: %q is not a rate", cmd, r)
		}
		rates = append(rates, v)
	}
	return rates, nil
}

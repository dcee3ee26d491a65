package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rocketgo/rocketgo/remoting"
)

// Plan is a benchmark: one topology, a base workload, and the groups,
// rates and repetitions to measure.
type Plan struct {
	Scenario    string
	Profile     string
	Command     string // how to reproduce, for the report
	Topology    TopologySpec
	Workload    Workload
	Targets     []Target
	Rates       []float64 // target msg/s; 0 = closed loop at the in-flight window
	Repetitions int
	Faults      []FaultPlan
	Notes       []string
	// Capacity, when set, replaces Rates: each target gets an SLO search
	// and every run of it is recorded (Repetition counts the runs).
	Capacity *CapacitySearch
}

// Target is a broker group to measure and its label in reports.
type Target struct {
	Group, Label, Mode, Flush string
	// Faults, when set, replace the plan's for this target's runs.
	Faults []FaultPlan
}

// faults are the faults of t's runs.
func (p *Plan) faults(t Target) []FaultPlan {
	if t.Faults != nil {
		return t.Faults
	}
	return p.Faults
}

// PlanOptions says where a plan runs and writes.
type PlanOptions struct {
	BinDir     string   // bin/namesrv and bin/broker, when loadgen starts the topology
	WorkDir    string   // data directories of the started processes (a temp dir if empty)
	ResultsDir string   // results root; the run writes <ResultsDir>/<UTC time>-<scenario>/
	Namesrvs   []string // drive an existing cluster instead of starting one
	Log        *slog.Logger
	Progress   func(Progress)
	RepoDir    string // for the version stamp
	// Credentials sign every request (for brokers with aclEnable=true);
	// the account must be admin, as loadgen creates its topics.
	Credentials *remoting.Credentials
	// Metrics are the Prometheus endpoints of an existing cluster's
	// servers (with Namesrvs), scraped for the resource table.
	Metrics []string
	// ScrapeEvery: see RunSpec.
	ScrapeEvery time.Duration
	// Calibrate measures the tool's own floor at the plan's rates against
	// a null target before the runs (Summary.Calibration).
	Calibrate bool
	// Workers are `loadgen worker` addresses (host:port) the runs are
	// split over; empty takes the topology's workers, and without those
	// loadgen starts local worker processes.
	Workers []string
	// Hardware is the profile the report's capacity model predicts for.
	Hardware *Hardware
	// KeepTopics keeps the topics and consumer groups each run creates on
	// an existing cluster (Namesrvs); by default they are deleted when the
	// run ends.
	KeepTopics bool
	// Phase, when set, is told in a line of words when each phase before
	// the runs ends: hardware floors, topology start, calibration.
	Phase func(string)
	// RunDone, when set, is told of each run when it ends.
	RunDone func(Run)
}

// RunPlan starts the topology (unless opts.Namesrvs names an existing
// cluster), runs every (repetition, rate, target) in that order so that
// slow drift hits every mode alike, and writes the result folder. It
// returns the folder.
func RunPlan(ctx context.Context, plan Plan, opts PlanOptions) (string, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	phase := func(format string, args ...any) {
		if opts.Phase != nil {
			opts.Phase(fmt.Sprintf(format, args...))
		}
	}
	if err := plan.Workload.Validate(); err != nil {
		return "", err
	}
	if len(plan.Targets) == 0 || (len(plan.Rates) == 0 && plan.Capacity == nil) || plan.Repetitions < 1 {
		return "", fmt.Errorf("plan %s: needs targets, rates and at least one repetition", plan.Scenario)
	}
	machine := Fingerprint()
	sum := &Summary{
		Scenario: plan.Scenario, Profile: plan.Profile, Started: time.Now().UTC(), Machine: machine,
		Versions: Versions{Rocketgo: GitVersion(opts.RepoDir), Loadgen: GitVersion(opts.RepoDir)},
		Workload: plan.Workload, Topology: plan.Topology, Notes: plan.Notes, Command: plan.Command, Hardware: opts.Hardware,
		Placement: Placement{Brokers: orAll(plan.Topology.BrokerCPUs), Loadgen: orAll(plan.Topology.LoadgenCPUs)},
	}
	if err := PinSelf(plan.Topology.LoadgenCPUs); err != nil {
		return "", fmt.Errorf("pin loadgen: %w", err)
	}

	namesrvs := opts.Namesrvs
	var cluster *Cluster
	if len(namesrvs) == 0 {
		work := opts.WorkDir
		if work == "" {
			d, err := os.MkdirTemp("", "loadgen-")
			if err != nil {
				return "", err
			}
			defer os.RemoveAll(d)
			work = d
		} else if err := os.MkdirAll(work, 0o755); err != nil {
			return "", fmt.Errorf("-workdir %s: %w", work, err)
		}
		var err error
		if fl, err := MeasureFloors(work); err != nil {
			log.Warn("hardware floors", "err", err)
			phase("hardware floors: not measured: %v", err)
		} else {
			sum.Machine.Floors = &fl
			log.Info("hardware floors", "fsyncP50us", fl.FsyncP50, "loopbackRttP50us", fl.RTTP50)
			phase("hardware floors: 4 KiB write + fdatasync p50 %d µs, p99 %d µs; loopback round trip p50 %d µs, p99 %d µs",
				fl.FsyncP50, fl.FsyncP99, fl.RTTP50, fl.RTTP99)
		}
		began := time.Now()
		cluster, err = Launch(ctx, plan.Topology, opts.BinDir, work, log)
		if err != nil {
			return "", err
		}
		defer cluster.Stop()
		namesrvs = cluster.NamesrvAddrs()
		phase("topology started: %d processes (%d namesrvs, %d broker groups) in %s", len(cluster.Nodes()), len(namesrvs),
			len(plan.Topology.Groups), formatDuration(time.Since(began)))
	} else {
		sum.Topology, sum.Existing = TopologySpec{}, namesrvs
		sum.Placement.Brokers = "" // not known
		what := "deletes the topics and consumer groups each run creates when the run ends"
		if opts.KeepTopics {
			what = "keeps the topics and consumer groups the runs create (-keep-topics)"
		}
		phase("existing cluster at %s: loadgen starts nothing and %s", strings.Join(namesrvs, ";"), what)
	}

	if opts.Calibrate {
		// The runs matter more than their yardstick: a failed calibration
		// is noted and the plan goes on.
		began := time.Now()
		if err := calibratePlan(ctx, plan, sum, log); err != nil {
			log.Warn("calibration", "err", err)
			sum.Notes = append(sum.Notes, "The tool's own floor could not be measured: "+err.Error())
			phase("tool's own floor: not measured: %v", err)
		} else if len(sum.Calibration) > 0 {
			var parts []string
			for _, p := range sum.Calibration {
				parts = append(parts, fmt.Sprintf("%s pacing p99 %s", rateTitle(p.Rate), pctWords(p.Pacing.P99, p.Pacing.Count, q99)))
			}
			phase("tool's own floor against a null target, in %s: %s", formatDuration(time.Since(began)), strings.Join(parts, ", "))
		}
	}

	pool, err := planWorkers(ctx, plan, opts)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	sum.Workers = pool.Infos()
	for _, wi := range sum.Workers {
		log.Info("worker", "addr", wi.Addr, "version", wi.Version, "host", wi.Machine.Hostname,
			"clockOffset", wi.ClockOffset, "uncertainty", wi.ClockUncertainty)
	}

	dir := filepath.Join(opts.ResultsDir, sum.Started.Format("2006-01-02T150405Z")+"-"+plan.Scenario)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create result folder: %w", err)
	}
	defer func() {
		if len(sum.Runs) == 0 { // nothing measured: leave no empty folder
			os.RemoveAll(dir)
		}
	}()
	merged := map[string]*hdrhistogram.Histogram{}
	start := time.Now()
	measure := func(t Target, rate float64, rep int, faults []FaultPlan) (*Run, error) {
		w := plan.Workload
		w.Rate = rate
		if cluster != nil && len(sum.Runs) > 0 && len(sum.Runs[len(sum.Runs)-1].Faults) > 0 {
			// The last run's faults may have left the group electing or
			// catching up: each run starts from a whole topology.
			if err := cluster.WaitReady(ctx, time.Minute); err != nil {
				return nil, fmt.Errorf("before %s at %v msg/s (repetition %d), after the last run's faults: %w", t.Label, rate, rep, err)
			}
		}
		out, err := Execute(ctx, RunSpec{
			Namesrvs: namesrvs, Workload: w, Label: t.Label, Mode: t.Mode, Flush: t.Flush, Group: t.Group,
			Repetition: rep, Faults: faults, Cluster: cluster, Progress: opts.Progress, Log: log,
			Credentials: opts.Credentials, Metrics: opts.Metrics, ScrapeEvery: opts.ScrapeEvery, Workers: pool,
			Cleanup: cluster == nil && !opts.KeepTopics,
		})
		if err != nil {
			return nil, fmt.Errorf("run %s at %v msg/s (repetition %d): %w", t.Label, rate, rep, err)
		}
		run := out.Run
		run.HgrmFiles = map[string]string{}
		for kind, h := range out.Hists {
			if h.TotalCount() == 0 {
				continue
			}
			name := fmt.Sprintf("%s-rate%s-rep%d-%s.hgrm", sanitize(t.Label), rateName(rate), rep, kind)
			if err := WriteHgrmFile(filepath.Join(dir, name), h, 1); err != nil {
				return nil, err
			}
			run.HgrmFiles[kind] = name
			key := HistKey(t.Label, rate, kind)
			if m := merged[key]; m != nil {
				m.Merge(h)
			} else {
				merged[key] = hdrhistogram.Import(h.Export())
			}
		}
		sum.Runs = append(sum.Runs, run)
		if opts.RunDone != nil {
			opts.RunDone(run)
		}
		log.Info("run done", "label", t.Label, "rate", rate, "rep", rep, "achieved", int(run.AchievedRate),
			"p50", run.Send.P50, "p99", run.Send.P99, "errors", run.Errors)
		return &sum.Runs[len(sum.Runs)-1], nil
	}
	runAll := func() error {
		if plan.Capacity != nil {
			for _, t := range plan.Targets {
				n := 0
				res, err := plan.Capacity.Run(ctx, func(ctx context.Context, rate float64, phase string) (*Run, error) {
					n++
					return measure(t, rate, n, plan.faults(t))
				})
				sum.Capacity = append(sum.Capacity, Capacity{Label: t.Label, Result: res})
				if err != nil {
					return err
				}
			}
		} else {
			for rep := 1; rep <= plan.Repetitions; rep++ {
				for _, rate := range plan.Rates {
					based := map[string]bool{}
					for _, t := range plan.Targets {
						if len(plan.faults(t)) > 0 && !based[t.Group] {
							// The same run without faults, on the same topology
							// (through the same proxies), to compare against:
							// once per group, labelled after its first target.
							based[t.Group] = true
							base := t
							base.Label += " (no fault)"
							if _, err := measure(base, rate, rep, nil); err != nil {
								return err
							}
						}
						if _, err := measure(t, rate, rep, plan.faults(t)); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	if err := runAll(); err != nil {
		if len(sum.Runs) == 0 {
			return dir, err
		}
		// Keep what was measured: the report says where the plan stopped.
		sum.Notes = append(sum.Notes, "**The plan stopped early**, after the runs above: "+err.Error())
		sum.Duration = time.Since(start)
		if werr := WriteSummary(dir, sum); werr == nil {
			if charts, cerr := WriteCharts(dir, sum, merged); cerr == nil {
				WriteReport(dir, sum, charts)
			}
		}
		return dir, err
	}
	sum.Duration = time.Since(start)
	if err := WriteSummary(dir, sum); err != nil {
		return dir, err
	}
	charts, err := WriteCharts(dir, sum, merged)
	if err != nil {
		return dir, err
	}
	if err := WriteReport(dir, sum, charts); err != nil {
		return dir, err
	}
	return dir, nil
}

// planWorkers connects to the workers opts or the topology name, or starts
// local ones: one for the producers and, when the workload consumes,
// one for the consumers.
func planWorkers(ctx context.Context, plan Plan, opts PlanOptions) (*WorkerPool, error) {
	addrs := opts.Workers
	if len(addrs) == 0 {
		addrs = plan.Topology.Workers
	}
	if len(addrs) > 0 {
		return ConnectWorkers(ctx, addrs)
	}
	n := 1
	if plan.Workload.ConsumersPerTopic > 0 {
		n = 2
	}
	return StartLocalWorkers(ctx, n)
}

// rateName spells a target rate for file names and keys ("max" for 0).
func rateName(rate float64) string {
	if rate == 0 {
		return "max"
	}
	return strconv.FormatFloat(rate, 'f', -1, 64)
}

func orAll(s string) string {
	if s == "" {
		return "all (not pinned)"
	}
	return s
}

// pctWords spells a percentile (µs) for a line of progress: its value, or
// "too few samples" when count puts fewer than minBeyond beyond level q.
func pctWords(v, count, q int64) string {
	if !enough(count, q) {
		return "too few samples"
	}
	return (time.Duration(v) * time.Microsecond).String()
}

// RunLine is one line about a finished run, for progress off a terminal:
// mode, target rate, repetition, achieved rate, p99 and errors.
func RunLine(r Run) string {
	line := fmt.Sprintf("%s at %s, repetition %d: achieved %s msg/s, send p99 %s", r.Label, rateTitle(r.TargetRate), r.Repetition,
		rateNum(r.AchievedRate), pctWords(r.Send.P99, r.Send.Count, q99))
	if r.Errors > 0 {
		line += fmt.Sprintf(", %d errors", r.Errors)
	}
	if r.Lost > 0 || r.Duplicates > 0 {
		line += fmt.Sprintf(", %d lost, %d duplicated", r.Lost, r.Duplicates)
	}
	return line
}

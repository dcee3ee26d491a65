package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/internal/procs"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// RunSpec is one measured run against a running cluster.
type RunSpec struct {
	Namesrvs   []string
	Workload   Workload
	Label      string // names the run in reports, e.g. "SYNC_MASTER+ASYNC_FLUSH"
	Mode       string
	Flush      string
	Group      string // broker group whose master gets the run's topics
	Repetition int
	Faults     []FaultPlan
	Cluster    *Cluster // where faults act; nil when driving an existing cluster
	Progress   func(Progress)
	Log        *slog.Logger
	// Credentials sign every request (ACL); nil sends them unsigned.
	Credentials *remoting.Credentials
	// Metrics are the Prometheus endpoints (host:port or URL) of an
	// existing cluster's servers; with Cluster set, its nodes' own
	// endpoints are used instead. Each is scraped every second of the
	// measured window for the run's resource table.
	Metrics []string
	// ScrapeEvery is how often the endpoints are scraped during the
	// measured window; 0 scrapes them only when it opens and when its
	// sends are answered (exact for counters, gauges' maxima from those two
	// samples only). Each scrape costs the servers and loadgen a little
	// CPU at that instant, which shows in tails on a small machine.
	ScrapeEvery time.Duration
	// Workers run the producers and consumers; nil starts local worker
	// processes for the run.
	Workers *WorkerPool
	// Cleanup deletes the run's topics and consumer groups from the
	// cluster when the run ends (cleanup.go): for clusters loadgen did not
	// start.
	Cleanup bool
}

// FaultPlan is a fault to inject at At into the measured window.
type FaultPlan struct {
	At     time.Duration `yaml:"at" json:"atNs"`
	Action string        `yaml:"action" json:"action"`         // kill, restart, stop, pause, resume; partition, heal (a controller-mode broker from the namesrvs); latency, bandwidth, clear on a link; createTopics, autoCreateTopics on a master
	Target string        `yaml:"target" json:"target"`         // "<group>/master", "<group>/slave-1", "<group>/broker-1", "namesrv-0", "controller-leader", "<group>/slave-1-link"; "master" alone: the run's group's
	Value  int           `yaml:"value" json:"value,omitempty"` // latency: ms each way; bandwidth: KB/s each way; topics to create
}

// Progress is a snapshot for live display.
type Progress struct {
	Label                         string
	Elapsed, Total                time.Duration
	Sent, Acked, Errors, Consumed int64
	P99                           time.Duration // send latency so far in the measured window
}

// RunOutput is a finished run: its summary and its histograms.
type RunOutput struct {
	Run   Run
	Hists map[string]*hdrhistogram.Histogram // by kind: HistSend, HistService, …

	// Workers are the workers that ran it (the pool's, at the end).
	Workers []WorkerInfo

	sendBySecond []*hdrhistogram.Histogram // send latency per second of the measured window
}

const (
	histMax       = 60_000_000 // µs
	histDigits    = 3
	payloadMagic  = 0x4C474731 // "LGG1"
	payloadHeader = 24
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, histDigits) }

func recordUs(h *hdrhistogram.Histogram, d time.Duration) {
	v := d.Microseconds()
	if v < 1 {
		v = 1
	}
	if v > histMax {
		v = histMax
	}
	h.RecordValue(v)
}

// recorder collects one run's measurements.
type recorder struct {
	warmupEnd, end time.Time

	mu                               sync.Mutex
	send, service, pacing, endToEnd  *hdrhistogram.Histogram
	intervals                        []*intervalRec
	statuses                         map[string]int64
	sent, acked, errs, consumed, dup int64
	ackedSeq, consumedSeq            []bitset // per producer

	// uncounted marks producers whose messages are left out of the loss
	// count (their topic's reader was lost with its worker).
	uncounted []bool

	// okAt counts SEND_OK answers per okTick of their arrival, from the
	// measured window's start to okTail after its end: when the
	// producers last and next heard SEND_OK around a fault (failover.go).
	okAt []int32

	live struct{ sent, acked, errs, consumed, unique atomic.Int64 }
}

type intervalRec struct {
	sent, acked, errs, consumed     int64
	send, service, pacing, endToEnd *hdrhistogram.Histogram
}

type bitset []uint64

func (b *bitset) set(i int64) (was bool) {
	w := int(i / 64)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	m := uint64(1) << (i % 64)
	was = (*b)[w]&m != 0
	(*b)[w] |= m
	return was
}

func newRecorder(producers int, warmupEnd, end time.Time) *recorder {
	n := int(end.Sub(warmupEnd)/time.Second) + 1
	r := &recorder{
		warmupEnd: warmupEnd, end: end,
		send: newHist(), service: newHist(), pacing: newHist(), endToEnd: newHist(),
		statuses:    map[string]int64{},
		ackedSeq:    make([]bitset, producers),
		consumedSeq: make([]bitset, producers),
		uncounted:   make([]bool, producers),
		okAt:        make([]int32, (end.Sub(warmupEnd)+okTail)/okTick),
	}
	for i := 0; i < n; i++ {
		r.intervals = append(r.intervals, &intervalRec{send: newHist(), service: newHist(), pacing: newHist(), endToEnd: newHist()})
	}
	return r
}

// interval returns the interval an intended time falls in, or nil outside
// the measured window. r.mu must be held.
func (r *recorder) intervalLocked(intended time.Time) *intervalRec {
	if intended.Before(r.warmupEnd) || !intended.Before(r.end) {
		return nil
	}
	i := int(intended.Sub(r.warmupEnd) / time.Second)
	if i >= len(r.intervals) {
		return nil
	}
	return r.intervals[i]
}

func (r *recorder) started(intended time.Time) {
	r.live.sent.Add(1)
	r.mu.Lock()
	if iv := r.intervalLocked(intended); iv != nil {
		r.sent++
		iv.sent++
	}
	r.mu.Unlock()
}

func (r *recorder) done(producer int, seq int64, intended, sentAt, ackAt time.Time, status string, ok bool) {
	if ok {
		r.live.acked.Add(1)
	} else {
		r.live.errs.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.ackedSeq[producer].set(seq)
		if i := ackAt.Sub(r.warmupEnd) / okTick; i >= 0 && int(i) < len(r.okAt) {
			r.okAt[i]++
		}
	}
	iv := r.intervalLocked(intended)
	if iv == nil {
		return
	}
	r.statuses[status]++
	if !ok {
		r.errs++
		iv.errs++
		return
	}
	r.acked++
	iv.acked++
	recordUs(r.send, ackAt.Sub(intended))
	recordUs(iv.send, ackAt.Sub(intended))
	recordUs(r.service, ackAt.Sub(sentAt))
	recordUs(iv.service, ackAt.Sub(sentAt))
	recordUs(r.pacing, sentAt.Sub(intended))
	recordUs(iv.pacing, sentAt.Sub(intended))
}

func (r *recorder) consume(producer int, seq int64, intended, at time.Time) {
	r.live.consumed.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if producer >= len(r.consumedSeq) {
		return
	}
	if r.consumedSeq[producer].set(seq) {
		r.dup++
		return
	}
	r.live.unique.Add(1)
	iv := r.intervalLocked(intended)
	if iv == nil {
		return
	}
	r.consumed++
	iv.consumed++
	recordUs(r.endToEnd, at.Sub(intended))
	recordUs(iv.endToEnd, at.Sub(intended))
}

// unconsumed counts acknowledged messages not consumed (yet).
func (r *recorder) unconsumed() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unconsumedLocked()
}

// unconsumedLocked is unconsumed with r.mu held.
func (r *recorder) unconsumedLocked() int64 {
	return unconsumed(r.ackedSeq, r.consumedSeq, r.uncounted)
}

// unconsumed counts the messages acked and not consumed, by the ledgers,
// leaving out the uncounted producers.
func unconsumed(acked, consumed []bitset, uncounted []bool) int64 {
	var n int64
	for p, a := range acked {
		if p < len(uncounted) && uncounted[p] {
			continue
		}
		for w, word := range a {
			var c uint64
			if p < len(consumed) && w < len(consumed[p]) {
				c = consumed[p][w]
			}
			n += int64(popcount(word &^ c))
		}
	}
	return n
}

func popcount(x uint64) int { return bits.OnesCount64(x) }

// Execute creates the run's topics on the group's master, has the
// workers (spec.Workers, or local worker processes started for the run)
// drive the workload from one common instant, injects the planned faults,
// drains the consumers and returns the measurements merged as if one
// process had taken them all.
func Execute(ctx context.Context, spec RunSpec) (*RunOutput, error) {
	w := spec.Workload
	if err := w.Validate(); err != nil {
		return nil, err
	}
	log := spec.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runID := fmt.Sprintf("%s-%d-%d", sanitize(spec.Label), int(w.Rate), spec.Repetition)
	topics := make([]string, w.Topics)
	for i := range topics {
		topics[i] = fmt.Sprintf("lg-%s-%d-%d", runID, i, time.Now().UnixNano()%1e9)
	}
	if err := createTopics(ctx, spec.Namesrvs, spec.Group, topics, w.QueuesPerTopic, spec.Credentials); err != nil {
		return nil, err
	}
	if spec.Cleanup {
		defer cleanupRun(spec, runID, topics, log) // runs last: after the workers' clients have closed
	}
	pool := spec.Workers
	if pool == nil {
		n := 1
		if w.ConsumersPerTopic > 0 {
			n = 2 // pacing apart from consuming
		}
		var err error
		if pool, err = StartLocalWorkers(ctx, n); err != nil {
			return nil, err
		}
		defer pool.Close()
	}
	share := PartSpec{RunID: runID, Namesrvs: spec.Namesrvs, Topics: topics, Workload: w, Cred: spec.Credentials}
	if spec.Cluster != nil && len(spec.Cluster.clientVia) > 0 {
		share.BrokerVia = spec.Cluster.clientVia
	}
	parts, err := pool.prepareParts(ctx, share)
	if err != nil {
		return nil, err
	}

	nprod := w.Topics * w.ProducersPerTopic
	start := time.Now().Add(100 * time.Millisecond)
	warmupEnd := start.Add(w.Warmup)
	end := warmupEnd.Add(w.Duration)
	rec := newRecorder(nprod, warmupEnd, end)
	if err := parts.start(ctx, PartTimes{Start: start.UnixNano(), WarmupEnd: warmupEnd.UnixNano(), End: end.UnixNano()}); err != nil {
		return nil, err
	}
	finished := false
	defer func() {
		if !finished {
			parts.abandon()
		}
	}()

	// Faults, and how the group fails over when one hits its master.
	var faultMu sync.Mutex
	var faults []Fault
	var watches []*failoverWatch
	stopSends := make(chan struct{})
	var fwg sync.WaitGroup
	for _, f := range spec.Faults {
		f.Target = runTarget(f.Target, spec.Group)
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			select {
			case <-time.After(time.Until(warmupEnd.Add(f.At))):
			case <-stopSends:
				return
			}
			began := time.Now()
			n, err := applyFault(ctx, spec.Cluster, f)
			at := time.Since(warmupEnd)
			if err != nil {
				log.Warn("fault", "action", f.Action, "target", f.Target, "err", err)
			}
			faultMu.Lock()
			kind := f.Action
			if f.Value != 0 {
				kind = fmt.Sprintf("%s %d", f.Action, f.Value)
			}
			faults = append(faults, Fault{At: at, Took: time.Since(began), Kind: kind, Target: f.Target})
			var fw *failoverWatch
			if err == nil && n != nil && losesMaster(f) {
				fw = &failoverWatch{began: began.Sub(warmupEnd), kind: f.Action, target: f.Target, node: n.Name,
					controller: spec.Cluster.controlled(targetGroup(f.Target))}
				watches = append(watches, fw)
			}
			faultMu.Unlock()
			if fw != nil {
				fw.watch(ctx, spec.Cluster, targetGroup(f.Target), n, began, end.Add(w.SendTimeout))
			}
		}()
	}

	// Progress, from the workers' live counters.
	total := end.Sub(start)
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if spec.Progress != nil {
		progressWG.Add(1)
		go func() {
			defer progressWG.Done()
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-progressDone:
					return
				case <-t.C:
					s := parts.status(ctx)
					spec.Progress(Progress{Label: spec.Label, Elapsed: time.Since(start), Total: total,
						Sent: s.Sent, Acked: s.Acked, Errors: s.Errors, Consumed: s.Consumed,
						P99: time.Duration(s.SendP99) * time.Microsecond})
				}
			}
		}()
	}
	stopProgress := func() {
		select {
		case <-progressDone:
		default:
			close(progressDone)
		}
		progressWG.Wait()
	}
	defer stopProgress()

	// The hiccup meter sleeps in clock_nanosleep on a locked thread: a P
	// of its own.
	releaseProcs := procs.Reserve(1)
	defer releaseProcs()
	hiccups := startHiccupMeter(warmupEnd, end)
	var targets []resourceTarget
	if spec.Cluster != nil {
		targets = clusterTargets(spec.Cluster)
	} else if len(spec.Metrics) > 0 {
		if targets, err = endpointTargets(ctx, spec.Metrics); err != nil {
			return nil, err
		}
	}
	if len(targets) > 0 {
		targets = append(targets, pool.localTargets()...)
	}
	resources := startResourceSampler(ctx, targets, warmupEnd, spec.ScrapeEvery)
	// The broker's own stage histograms when the measured window opens.
	stagesBefore := make(chan *brokerSnapshot, 1)
	go func() {
		select {
		case <-time.After(time.Until(warmupEnd)):
		case <-ctx.Done():
		}
		h, err := brokerStages(ctx, spec.Namesrvs, spec.Group, spec.Credentials)
		if err != nil {
			log.Debug("broker stages", "err", err)
		}
		stagesBefore <- h
	}()
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	close(stopSends)
	hiccup, hiccupMax := hiccups.finish()
	// Every send answered (or timed out): the workers' sends are done.
	st := parts.status(ctx)
	for deadline := time.Now().Add(w.SendTimeout + 5*time.Second); !st.SendsDone && time.Now().Before(deadline) && ctx.Err() == nil; {
		sleepCtx(ctx, 20*time.Millisecond)
		st = parts.status(ctx)
	}
	fwg.Wait()
	used := resources.finish(ctx, st.WindowAcked)
	var stages map[string]Percentiles
	logBytes := int64(-1)
	if before := <-stagesBefore; before != nil {
		if after, err := brokerStages(ctx, spec.Namesrvs, spec.Group, spec.Credentials); err == nil {
			if d, ok := stageDiff(before.stages, after.stages); ok {
				stages = d
				if before.logOffset >= 0 && after.logOffset >= before.logOffset {
					logBytes = after.logOffset - before.logOffset
				}
			} else {
				log.Info("broker stage histograms not comparable (restarted during the run?)")
			}
		}
	}
	// What consumers had not read when sending stopped: a backlog that
	// grows run over run means they cannot keep up.
	backlog := st.Acked - st.Unique

	// Drain: give consumers time to read everything acknowledged.
	if w.ConsumersPerTopic > 0 {
		parts.drain(ctx, nprod, time.Now().Add(w.Drain))
	}
	stopProgress()
	finished = true
	if err := parts.finish(ctx, rec); err != nil {
		return nil, err
	}

	out := rec.output(spec, faults, hiccup, hiccupMax)
	if len(watches) > 0 {
		out.Run.Failovers, out.Run.OKPer100ms = failovers(rec, watches)
	}
	out.Run.Broker = stages
	out.Run.LogBytes = logBytes
	out.Run.Resources = used
	out.Run.LostWorkers = parts.lostWorkers()
	out.Workers = pool.Infos()
	if len(used) > 0 {
		out.Run.ScrapeEvery = spec.ScrapeEvery
	}
	if w.ConsumersPerTopic > 0 {
		out.Run.Backlog = max(backlog, 0)
	}
	return out, ctx.Err()
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// outcome names a send's result for the status table.
func outcome(res client.SendResult, err error) (string, bool) {
	var be *client.BrokerError
	switch {
	case err == nil:
		return res.Status.String(), res.Status == client.SendOK
	case errors.As(err, &be):
		return "BROKER_ERROR_" + strconv.Itoa(int(be.Code)), false
	case errors.Is(err, remoting.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "TIMEOUT", false
	}
	return "TRANSPORT_ERROR", false
}

// consumeQueue reads q from offset 0 until ctx ends and records every
// loadgen message it finds. offsetNs is this process's clock − the
// driver's: payloads carry intended times on the driver's clock.
func consumeQueue(ctx context.Context, c *client.PullConsumer, q client.MessageQueue, rec *recorder, offsetNs int64, log *slog.Logger) {
	var offset int64
	for ctx.Err() == nil {
		res, err := c.Pull(ctx, q, offset, 32, time.Second)
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("pull", "queue", q.QueueID, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			continue
		}
		now := time.Now()
		for _, m := range res.Messages {
			if len(m.Body) < payloadHeader || binary.BigEndian.Uint32(m.Body) != payloadMagic {
				continue
			}
			producer := int(binary.BigEndian.Uint32(m.Body[4:]))
			seq := int64(binary.BigEndian.Uint64(m.Body[8:]))
			intended := time.Unix(0, int64(binary.BigEndian.Uint64(m.Body[16:]))+offsetNs)
			rec.consume(producer, seq, intended, now)
		}
		if res.NextBeginOffset > offset || res.Status == client.OffsetIllegal {
			offset = res.NextBeginOffset
		}
	}
}

// output turns the recorder into the run's summary and histograms.
func (r *recorder) output(spec RunSpec, faults []Fault, hiccup *hdrhistogram.Histogram, hiccupMax []int64) *RunOutput {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := spec.Workload
	run := Run{
		Label: spec.Label, Mode: spec.Mode, Flush: spec.Flush, Group: spec.Group, TargetRate: w.Rate, Repetition: spec.Repetition,
		Warmup: w.Warmup, Measured: w.Duration,
		Sent: r.sent, Acked: r.acked, Errors: r.errs, Statuses: r.statuses,
		AchievedRate: float64(r.acked) / w.Duration.Seconds(),
		Consumed:     r.consumed, Duplicates: r.dup,
		Send: PercentilesOf(r.send), Service: PercentilesOf(r.service), Pacing: PercentilesOf(r.pacing), EndToEnd: PercentilesOf(r.endToEnd),
		Hiccup: PercentilesOf(hiccup),
		Faults: faults,
	}
	if w.ConsumersPerTopic > 0 {
		run.Lost = r.unconsumedLocked()
	}
	for i, iv := range r.intervals {
		if time.Duration(i)*time.Second >= w.Duration {
			break
		}
		run.Intervals = append(run.Intervals, Interval{
			Start: time.Duration(i) * time.Second, Sent: iv.sent, Acked: iv.acked, Errors: iv.errs, Consumed: iv.consumed,
			SendP50: iv.send.ValueAtQuantile(50), SendP99: iv.send.ValueAtQuantile(99), SendMax: iv.send.Max(),
			ServiceP99: iv.service.ValueAtQuantile(99), PacingP99: iv.pacing.ValueAtQuantile(99),
			EndToEndP99: iv.endToEnd.ValueAtQuantile(99),
		})
		if i < len(hiccupMax) {
			run.Intervals[i].HiccupMax = hiccupMax[i]
		}
	}
	markRecovery(&run)
	out := &RunOutput{Run: run, Hists: map[string]*hdrhistogram.Histogram{
		HistSend: r.send, HistService: r.service, HistPacing: r.pacing, HistEndToEnd: r.endToEnd, HistHiccup: hiccup,
	}}
	for _, iv := range r.intervals[:len(run.Intervals)] {
		out.sendBySecond = append(out.sendBySecond, iv.send)
	}
	return out
}

// SendBetween summarises the send latency of the sends intended in the
// whole seconds of the measured window that overlap [from, to): a window
// that starts or ends mid-second takes all of that second.
func (o *RunOutput) SendBetween(from, to time.Duration) Percentiles {
	h := newHist()
	for i, sec := range o.sendBySecond {
		start := time.Duration(i) * time.Second
		if start < to && start+time.Second > from {
			h.Merge(sec)
		}
	}
	return PercentilesOf(h)
}

// markRecovery sets each fault's RecoveredAt: the start of the first two
// consecutive intervals after it whose p99 is within 1.5× the median p99
// before it and whose acked count is at least 90% of the median before it.
func markRecovery(run *Run) {
	for fi := range run.Faults {
		f := &run.Faults[fi]
		var p99s, acks []int64
		first := -1
		for i, iv := range run.Intervals {
			if iv.Start+time.Second <= f.At {
				p99s, acks = append(p99s, iv.SendP99), append(acks, iv.Acked)
			} else if first < 0 {
				first = i
			}
		}
		if first < 0 || len(p99s) == 0 {
			continue
		}
		bp99, back := median(p99s), median(acks)
		good := func(iv Interval) bool {
			return iv.Acked > 0 && float64(iv.SendP99) <= 1.5*float64(bp99) && float64(iv.Acked) >= 0.9*float64(back)
		}
		for i := first + 1; i+1 < len(run.Intervals); i++ {
			if good(run.Intervals[i]) && good(run.Intervals[i+1]) {
				f.RecoveredAt = run.Intervals[i].Start
				break
			}
		}
	}
}

func median(v []int64) int64 {
	s := append([]int64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// applyFault acts on the cluster and returns the node it acted on (nil
// for a link).
func applyFault(ctx context.Context, c *Cluster, f FaultPlan) (*Node, error) {
	if c == nil {
		return nil, errors.New("faults need a topology started by loadgen")
	}
	switch f.Action {
	case "latency", "bandwidth", "clear":
		l := c.links[f.Target]
		if l == nil {
			return nil, fmt.Errorf("no proxied link %q (set proxyLinks in the topology)", f.Target)
		}
		if f.Action == "clear" {
			return nil, l.clear()
		}
		return nil, l.degrade(f.Action, f.Value)
	}
	n, err := c.faultNode(ctx, f.Target, f.Action)
	if err != nil {
		return nil, err
	}
	switch f.Action {
	case "kill":
		return n, n.Kill()
	case "stop":
		return n, n.Stop(10 * time.Second)
	case "restart":
		if n.Running() {
			if err := n.Kill(); err != nil {
				return n, err
			}
		}
		return n, n.Restart(ctx)
	case "pause":
		return n, n.Pause()
	case "resume":
		return n, n.Resume()
	case "partition":
		return n, n.partition()
	case "heal":
		return n, n.heal()
	case "createTopics", "autoCreateTopics":
		return n, churnTopics(ctx, c, n, f.Action == "autoCreateTopics", f.Value)
	}
	return n, fmt.Errorf("unknown fault action %q", f.Action)
}

// churnTopics creates n new topics on a master, one after the other: with
// UPDATE_AND_CREATE_TOPIC, or (auto) by sending one message to each, which
// makes the broker create it (autoCreateTopicEnable). It runs in a child
// process (see childEnv), apart from the pacers.
func churnTopics(ctx context.Context, c *Cluster, master *Node, auto bool, n int) error {
	if n <= 0 {
		return fmt.Errorf("%d topics to create: want a positive count", n)
	}
	return inChild(ctx, churnJob(c, master, auto, n))
}

// churnNames returns n topic names not used before.
func churnNames(n int) []string {
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("churn-%d-%d", time.Now().UnixNano()%1e9, i)
	}
	return topics
}

// churnHere creates the job's topics from this process.
func churnHere(ctx context.Context, job childJob, log *slog.Logger) error {
	if !job.Auto {
		rpc := remoting.NewClient(remoting.ClientConfig{Log: log})
		defer rpc.Close()
		return createTopicsOn(ctx, rpc, job.Master, job.Topics, job.Queues)
	}
	p, err := client.NewProducer(job.Namesrvs, client.Group("PG_churn"), client.Logger(log))
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	defer p.Close()
	for _, t := range job.Topics {
		if _, err := p.Send(ctx, &client.Message{Topic: t, Body: []byte("churn")}); err != nil {
			return fmt.Errorf("send to new topic %s: %w", t, err)
		}
	}
	return nil
}

// node finds "<group>/master", "<group>/slave-N" or "namesrv-N".
func (c *Cluster) node(target string) *Node {
	for _, n := range c.Nodes() {
		if n.Name == target || n.Name == strings.ReplaceAll(target, "/", "-") {
			return n
		}
	}
	return nil
}

// createTopics creates topics with the given queue count on the master of
// group (found through the first reachable namesrv) and waits until every
// namesrv routes them.
func createTopics(ctx context.Context, namesrvs []string, group string, topics []string, queues int, cred *remoting.Credentials) error {
	rpc := remoting.NewClient(remoting.ClientConfig{Credentials: cred})
	defer rpc.Close()
	master, err := masterOf(ctx, rpc, namesrvs, group)
	if err != nil {
		return err
	}
	if err := createTopicsOn(ctx, rpc, master, topics, queues); err != nil {
		return err
	}
	for _, ns := range namesrvs {
		for _, t := range topics {
			deadline := time.Now().Add(10 * time.Second)
			for {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				resp, err := rpc.Invoke(cctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", t))
				cancel()
				if err == nil && resp.Code == remoting.Success {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("namesrv %s has no route for %s after 10 s", ns, t)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return nil
}

// createTopicsOn creates topics with the given queue count on a master,
// one request at a time.
func createTopicsOn(ctx context.Context, rpc *remoting.Client, master string, topics []string, queues int) error {
	for _, t := range topics {
		req := remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", t, "readQueueNums", strconv.Itoa(queues),
			"writeQueueNums", strconv.Itoa(queues), "perm", "6")
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := rpc.Invoke(cctx, master, req)
		cancel()
		if err != nil {
			return fmt.Errorf("create topic %s on %s: %w", t, master, err)
		}
		if resp.Code != remoting.Success {
			return fmt.Errorf("create topic %s on %s: code %d: %s", t, master, resp.Code, resp.Remark)
		}
	}
	return nil
}

// masterOf asks the namesrvs (first that answers) for group's master.
func masterOf(ctx context.Context, rpc *remoting.Client, namesrvs []string, group string) (string, error) {
	_, bd, err := groupOf(ctx, rpc, namesrvs, group)
	if err != nil {
		return "", err
	}
	if m := bd.BrokerAddrs[0]; m != "" {
		return m, nil
	}
	return "", fmt.Errorf("broker group %q has no live master", group)
}

// groupOf asks the namesrvs (first that answers) for the cluster a broker
// group belongs to and its brokers (BrokerAddrs[0] is the master, absent
// when the group has none).
func groupOf(ctx context.Context, rpc *remoting.Client, namesrvs []string, group string) (string, wire.BrokerData, error) {
	var lastErr error
	for _, ns := range namesrvs {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := rpc.Invoke(cctx, ns, remoting.NewRequest(remoting.GetBrokerClusterInfo))
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("namesrv %s: %w", ns, err)
			continue
		}
		var info wire.ClusterInfo
		if err := wire.Unmarshal(resp.Body, &info); err != nil {
			lastErr = fmt.Errorf("namesrv %s: cluster info: %w", ns, err)
			continue
		}
		bd, ok := info.BrokerAddrTable[group]
		if !ok {
			names := make([]string, 0, len(info.BrokerAddrTable))
			for n := range info.BrokerAddrTable {
				names = append(names, n)
			}
			return "", bd, fmt.Errorf("namesrv %s knows no broker group %q (groups: %v)", ns, group, names)
		}
		cluster := bd.Cluster
		for c, names := range info.ClusterAddrTable {
			for _, n := range names {
				if cluster == "" && n == group {
					cluster = c
				}
			}
		}
		return cluster, bd, nil
	}
	return "", wire.BrokerData{}, fmt.Errorf("no namesrv reachable: %w", lastErr)
}

// Validate reports every problem of the workload, naming the field.
func (w *Workload) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("workload: "+format, args...)) }
	if w.Topics < 1 || w.Topics > 1000 {
		bad("topics=%d: want 1..1000", w.Topics)
	}
	if w.QueuesPerTopic < 1 || w.QueuesPerTopic > 1024 {
		bad("queuesPerTopic=%d: want 1..1024", w.QueuesPerTopic)
	}
	if w.PayloadFile == "" && (w.MessageSize < payloadHeader || w.MessageSize > 4<<20) {
		bad("messageSize=%d: want %d..4194304 bytes (loadgen stamps a %d-byte header into each body)", w.MessageSize, payloadHeader, payloadHeader)
	}
	if w.RandomBytesRatio < 0 || w.RandomBytesRatio > 1 {
		bad("randomBytesRatio=%v: want 0..1", w.RandomBytesRatio)
	}
	if w.ProducersPerTopic < 1 || w.ProducersPerTopic > 256 {
		bad("producersPerTopic=%d: want 1..256", w.ProducersPerTopic)
	}
	if w.ConsumersPerTopic < 0 || w.ConsumersPerTopic > 256 {
		bad("consumersPerTopic=%d: want 0..256", w.ConsumersPerTopic)
	}
	if w.Rate < 0 {
		bad("producerRate=%v: must not be negative", w.Rate)
	}
	if w.InFlight < 1 || w.InFlight > 65536 {
		bad("inFlight=%d: want 1..65536", w.InFlight)
	}
	if w.BatchSize < 0 || w.BatchSize > 1024 {
		bad("batchSize=%d: want 1..1024 messages per send", w.BatchSize)
	}
	if w.Duration <= 0 {
		bad("duration must be positive")
	}
	if w.Warmup < 0 || w.Drain < 0 {
		bad("warmup and drain must not be negative")
	}
	if w.SendTimeout <= 0 {
		bad("sendTimeout must be positive")
	}
	return errors.Join(errs...)
}

// payload returns the body template: the payload file, or messageSize
// bytes of which randomBytesRatio are random.
func (w *Workload) payload() ([]byte, error) {
	if w.PayloadFile != "" {
		b, err := os.ReadFile(w.PayloadFile)
		if err != nil {
			return nil, fmt.Errorf("workload: payloadFile: %w", err)
		}
		if len(b) < payloadHeader {
			return nil, fmt.Errorf("workload: payloadFile %s has %d bytes, want at least %d", w.PayloadFile, len(b), payloadHeader)
		}
		return b, nil
	}
	b := make([]byte, w.MessageSize)
	n := int(float64(len(b)) * w.RandomBytesRatio)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

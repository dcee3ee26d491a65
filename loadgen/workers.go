package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rocketgo/rocketgo/internal/procs"
)

// WorkerPool is the workers a driver splits its runs over: remote ones
// (`loadgen worker` on other hosts, ConnectWorkers) or processes it starts
// on its own host (StartLocalWorkers). Either way the pacers never share a
// Go runtime with the driver's own work, and, given two workers or more,
// never with the consumers.
type WorkerPool struct {
	hc      *http.Client
	workers []*workerConn
	local   []*exec.Cmd
}

type workerConn struct {
	info WorkerInfo
	url  string // http://addr
}

// clockSamples is how many round trips estimate a worker's clock offset.
const clockSamples = 8

// ConnectWorkers asks each worker at addrs (host:port) who it is and
// measures its clock offset.
func ConnectWorkers(ctx context.Context, addrs []string) (*WorkerPool, error) {
	if len(addrs) == 0 {
		return nil, errors.New("workers: no addresses")
	}
	p := &WorkerPool{hc: &http.Client{}}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("worker %q: want host:port: %w", a, err)
		}
		wc := &workerConn{url: "http://" + a}
		if err := p.call(ctx, wc, http.MethodGet, "/info", nil, &wc.info); err != nil {
			return nil, fmt.Errorf("worker %s: %w", a, err)
		}
		wc.info.Addr = a
		off, unc, err := p.clockOffset(ctx, wc)
		if err != nil {
			return nil, fmt.Errorf("worker %s: clock: %w", a, err)
		}
		wc.info.ClockOffset, wc.info.ClockUncertainty = off, unc
		p.workers = append(p.workers, wc)
	}
	return p, nil
}

// clockOffset estimates worker clock − driver clock from the round trip
// with the shortest time: the worker read its clock somewhere inside it,
// so the error is at most half of it.
func (p *WorkerPool) clockOffset(ctx context.Context, wc *workerConn) (offset, uncertainty time.Duration, err error) {
	best := time.Duration(-1)
	for range clockSamples {
		var got struct {
			NS int64 `json:"ns"`
		}
		t0 := time.Now()
		if err := p.call(ctx, wc, http.MethodGet, "/clock", nil, &got); err != nil {
			return 0, 0, err
		}
		rtt := time.Since(t0)
		if best < 0 || rtt < best {
			best = rtt
			mid := t0.UnixNano() + int64(rtt/2)
			offset = time.Duration(got.NS - mid)
		}
	}
	return offset, best / 2, nil
}

// StartLocalWorkers starts n worker processes on this host (the running
// binary again, see childEnv) and connects to them. They die with this
// process; Close stops them.
func StartLocalWorkers(ctx context.Context, n int) (*WorkerPool, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start local workers: %w", err)
	}
	spec, err := json.Marshal(childJob{Kind: "worker", Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	var addrs []string
	var cmds []*exec.Cmd
	fail := func(err error) (*WorkerPool, error) {
		stopCmds(cmds)
		return nil, err
	}
	for range n {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return fail(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := procs.OnSpawnThread(cmd.Start); err != nil {
			return fail(fmt.Errorf("start a local worker: %w", err))
		}
		cmds = append(cmds, cmd)
		addr, err := listeningAddr(out, "loadgen-worker", 10*time.Second)
		if err != nil {
			return fail(fmt.Errorf("local worker (pid %d): %w %s", cmd.Process.Pid, err, lastLine(stderr.String())))
		}
		go io.Copy(io.Discard, out) // its log, unread, must not block it
		addrs = append(addrs, addr)
	}
	p, err := ConnectWorkers(ctx, addrs)
	if err != nil {
		return fail(err)
	}
	p.local = cmds
	for _, w := range p.workers {
		w.info.Local = true
	}
	return p, nil
}

// listeningAddr reads slog text lines from r until one says
// msg=listening service=<service> addr=…, and returns the address.
func listeningAddr(r io.Reader, service string, timeout time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, "msg=listening") || !strings.Contains(line, "service="+service) {
				continue
			}
			for _, f := range strings.Fields(line) {
				if a, ok := strings.CutPrefix(f, "addr="); ok {
					found <- a
					return
				}
			}
		}
		close(found)
	}()
	select {
	case a, ok := <-found:
		if !ok {
			return "", errors.New("exited before it listened")
		}
		return a, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("not listening after %v", timeout)
	}
}

func stopCmds(cmds []*exec.Cmd) {
	for _, c := range cmds {
		c.Process.Kill()
		c.Wait()
	}
}

// Infos describes the pool's workers.
func (p *WorkerPool) Infos() []WorkerInfo {
	out := make([]WorkerInfo, len(p.workers))
	for i, w := range p.workers {
		out[i] = w.info
	}
	return out
}

// localTargets are the pool's local workers, for the resource table
// (CPU and RSS from /proc).
func (p *WorkerPool) localTargets() []resourceTarget {
	var out []resourceTarget
	for i, c := range p.local {
		out = append(out, resourceTarget{name: fmt.Sprintf("loadgen-worker-%d", i), role: "loadgen", pid: c.Process.Pid})
	}
	return out
}

// Close stops the workers the pool started.
func (p *WorkerPool) Close() {
	stopCmds(p.local)
	p.local = nil
	p.hc.CloseIdleConnections()
}

// call sends a JSON request to a worker and decodes its JSON answer into
// out (when not nil).
func (p *WorkerPool) call(ctx context.Context, wc *workerConn, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, wc.url+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// assignment is which producers and consumers each worker runs.
type assignment struct {
	producers [][]int
	consumers [][]ConsumerSlot
}

// split shares a workload over n workers. With consumers and two workers
// or more, the first half (rounded up) sends and the rest consume, so
// pacing never shares a runtime with decoding; producers and consumer
// slots go round robin over their half.
func split(w Workload, n int) assignment {
	a := assignment{producers: make([][]int, n), consumers: make([][]ConsumerSlot, n)}
	np, nc := n, n
	cbase := 0
	if w.ConsumersPerTopic > 0 && n >= 2 {
		np = (n + 1) / 2
		nc = n - np
		cbase = np
	}
	for i := range w.Topics * w.ProducersPerTopic {
		a.producers[i%np] = append(a.producers[i%np], i)
	}
	j := 0
	for t := range w.Topics {
		for k := range w.ConsumersPerTopic {
			a.consumers[cbase+j%nc] = append(a.consumers[cbase+j%nc], ConsumerSlot{Topic: t, K: k})
			j++
		}
	}
	return a
}

// partRun is a run's parts on the pool's workers, as the driver steps
// them.
type partRun struct {
	pool  *WorkerPool
	specs []PartSpec
	ids   []string // "" where the worker has no share
	lost  []string // why worker i was given up, "" while it is fine
	mu    sync.Mutex
}

// prepareParts prepares every worker's share at once.
func (p *WorkerPool) prepareParts(ctx context.Context, base PartSpec) (*partRun, error) {
	a := split(base.Workload, len(p.workers))
	pr := &partRun{pool: p, ids: make([]string, len(p.workers)), lost: make([]string, len(p.workers))}
	errs := make([]error, len(p.workers))
	var wg sync.WaitGroup
	for i, wc := range p.workers {
		spec := base
		spec.Producers, spec.Consumers = a.producers[i], a.consumers[i]
		spec.OffsetNs = int64(wc.info.ClockOffset)
		pr.specs = append(pr.specs, spec)
		if len(spec.Producers) == 0 && len(spec.Consumers) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got struct {
				ID string `json:"id"`
			}
			if err := p.call(ctx, wc, http.MethodPost, "/parts", spec, &got); err != nil {
				errs[i] = fmt.Errorf("worker %s: %w", wc.info.Addr, err)
				return
			}
			pr.ids[i] = got.ID
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		pr.abandon()
		return nil, err
	}
	return pr, nil
}

// each calls fn for every worker with a share that is not lost, at once.
// A worker whose call fails is marked lost with the error.
func (pr *partRun) each(fn func(i int, wc *workerConn, path string) error) {
	var wg sync.WaitGroup
	for i, id := range pr.ids {
		pr.mu.Lock()
		skip := id == "" || pr.lost[i] != ""
		pr.mu.Unlock()
		if skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i, pr.pool.workers[i], "/parts/"+id); err != nil {
				pr.mu.Lock()
				if pr.lost[i] == "" {
					pr.lost[i] = err.Error()
				}
				pr.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// start starts every part at the same instants.
func (pr *partRun) start(ctx context.Context, t PartTimes) error {
	pr.each(func(i int, wc *workerConn, path string) error {
		return pr.pool.call(ctx, wc, http.MethodPost, path+"/start", t, nil)
	})
	for i, why := range pr.lost {
		if why != "" {
			pr.abandon()
			return fmt.Errorf("start worker %s: %s", pr.pool.workers[i].info.Addr, why)
		}
	}
	return nil
}

// status sums the live counters of the workers still there; p99 is the
// highest of theirs.
func (pr *partRun) status(ctx context.Context) PartStatus {
	var mu sync.Mutex
	sum := PartStatus{SendsDone: true}
	pr.each(func(i int, wc *workerConn, path string) error {
		var s PartStatus
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := pr.pool.call(cctx, wc, http.MethodGet, path, nil, &s); err != nil {
			return err
		}
		mu.Lock()
		sum.Sent += s.Sent
		sum.Acked += s.Acked
		sum.Errors += s.Errors
		sum.Consumed += s.Consumed
		sum.Unique += s.Unique
		sum.WindowAcked += s.WindowAcked
		sum.SendP99 = max(sum.SendP99, s.SendP99)
		sum.SendsDone = sum.SendsDone && s.SendsDone
		mu.Unlock()
		return nil
	})
	return sum
}

// finish collects every part's record and merges them into rec. A worker
// that is lost contributes nothing; the topics it consumed are left out of
// the loss count (their messages were read, or not, where nobody can
// tell), and its producers' messages, whose acknowledgements it held,
// are in no ledger.
func (pr *partRun) finish(ctx context.Context, rec *recorder) error {
	states := make([]*recordState, len(pr.ids))
	pr.each(func(i int, wc *workerConn, path string) error {
		var st recordState
		if err := pr.pool.call(ctx, wc, http.MethodPost, path+"/finish", nil, &st); err != nil {
			return err
		}
		states[i] = &st
		return nil
	})
	pr.markUncounted(rec.uncounted)
	for i, st := range states {
		if pr.lost[i] != "" || st == nil {
			continue
		}
		if err := rec.merge(st); err != nil {
			return fmt.Errorf("worker %s: %w", pr.pool.workers[i].info.Addr, err)
		}
	}
	return nil
}

// lostWorkers lists the workers given up on, as "addr: why".
func (pr *partRun) lostWorkers() []string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var out []string
	for i, why := range pr.lost {
		if why != "" {
			out = append(out, pr.pool.workers[i].info.Addr+": "+why)
		}
	}
	return out
}

// abandon drops every part, on a best-effort basis.
func (pr *partRun) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr.each(func(i int, wc *workerConn, path string) error {
		return pr.pool.call(ctx, wc, http.MethodDelete, path, nil, nil)
	})
}

// markUncounted marks the producers of every topic a lost worker was
// reading.
func (pr *partRun) markUncounted(uncounted []bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	topics := pr.specs[0].Workload.Topics
	for i, why := range pr.lost {
		if why == "" {
			continue
		}
		for _, c := range pr.specs[i].Consumers {
			for p := c.Topic; p < len(uncounted); p += topics {
				uncounted[p] = true
			}
		}
	}
}

// drain waits until the consumers have read every acknowledged message,
// or until deadline. The workers' counters say when that may be so; the
// ledgers, fetched then, say whether it is (a message consumed but never
// acknowledged, say after a timeout, makes the counters meet early).
// Fetches are at least 500 ms apart.
func (pr *partRun) drain(ctx context.Context, producers int, deadline time.Time) {
	var nextLedger time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st := pr.status(ctx)
		// With a worker lost, the counters can no longer meet: ask the
		// ledgers (which leave its topics out).
		if (st.Unique >= st.Acked || len(pr.lostWorkers()) > 0) && !time.Now().Before(nextLedger) {
			if n, err := pr.unconsumed(ctx, producers); err == nil && n == 0 {
				return
			}
			nextLedger = time.Now().Add(500 * time.Millisecond)
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// unconsumed counts, from every worker's ledgers, the acknowledged
// messages no consumer has read.
func (pr *partRun) unconsumed(ctx context.Context, producers int) (int64, error) {
	acked, consumed := make([]bitset, producers), make([]bitset, producers)
	var mu sync.Mutex
	var errs []error
	pr.each(func(i int, wc *workerConn, path string) error {
		var l ledgerState
		if err := pr.pool.call(ctx, wc, http.MethodGet, path+"/ledger", nil, &l); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := orInto(acked, l.AckedSeq); err != nil {
			errs = append(errs, err)
		}
		if _, err := orInto(consumed, l.ConsumedSeq); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	uncounted := make([]bool, producers)
	pr.markUncounted(uncounted)
	return unconsumed(acked, consumed, uncounted), nil
}

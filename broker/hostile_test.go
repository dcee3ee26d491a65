package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

// The hostile-client test: attacks on both servers at once, while a good
// client keeps working.
const (
	attackTime      = 30 * time.Second
	floodRequests   = 500_000
	pullsPerSecond  = 200
	bigRemark       = 8 << 20
	bigRemarkConns  = 4
	idleConns       = 2000 // per server
	rssGrowthBudget = 64 << 20
	goodWindow      = 2 * time.Second
	quietWindows    = 5 // before and after the attacks
)

// TestHostileClients runs, against a broker and a namesrv, for 30 s:
//   - a connection that pipelines 500 000 cheap valid requests and never
//     reads (each server);
//   - a connection that sends 200 pulls of 32 messages a second and never
//     reads, reconnecting when closed (broker);
//   - rounds of 4 connections each sending one request with an 8 MiB remark
//     (each server);
//   - 2000 idle connections (each server).
//
// Each server's anonymous memory (RssAnon) may grow by 64 MiB at most; each
// offending connection is closed with exactly one slow-consumer line; a good
// client (our producer, and route queries to the namesrv) keeps 99 %
// success and a p99 within twice its quiet one. The p99s are medians of
// 2 s windows, the quiet windows taken before and after the attacks; on a
// shared machine the attacks run once more if the first comparison fails,
// and a second failure counts unless the quiet windows themselves were too
// uneven to compare with (their upper quartile over five times the lower).
func TestHostileClients(t *testing.T) {
	raiseFileLimit(t, 4*idleConns+1000)
	c := startCluster(t, 1)
	ns := c.namesrvs[0]
	c.createTopic("Hostile", 1)
	c.createTopic("Good", 1)
	fillTopic(t, c.nsAddrs[0], "Hostile", 64, 1<<10)

	good := startGoodClient(t, c.nsAddrs[0])
	time.Sleep(2 * goodWindow) // warm up: routes, connections, pools
	quiet := good.measure(quietWindows)
	servers := []*rssProbe{{name: "broker", p: c.broker}, {name: "namesrv", p: ns}}
	for _, s := range servers {
		s.base = rssAnon(t, s.p.Pid())
	}
	stopSampling := sampleRSS(servers)
	a := attack(t, c, good)
	stopSampling()
	quiet.windows = append(quiet.windows, good.measure(quietWindows).windows...)

	budget := int64(rssGrowthBudget)
	if strings.Contains(os.Getenv("PROCTEST_BUILDFLAGS"), "-race") {
		budget *= 8 // the race detector's shadow memory: "5-10x" by its manual
	}
	for _, s := range servers {
		t.Logf("%s RssAnon: %.1f MiB before the attacks, peak %+.1f MiB, at the end %+.1f MiB",
			s.name, mib(s.base), mib(s.peak-s.base), mib(s.last-s.base))
		if s.peak-s.base > budget {
			t.Errorf("%s: anonymous memory grew by %.1f MiB, over the %.0f MiB budget", s.name, mib(s.peak-s.base), mib(budget))
		}
	}
	for _, o := range []*offender{a.brokerFlood, a.nsFlood, a.puller} {
		t.Logf("%s: %d requests sent on %d connections, %d closed by the server", o.what, o.sent.Load(), len(o.conns), len(o.closed))
	}
	t.Logf("8 MiB remarks: %d answered, %d failed", a.remarks.ok.Load(), a.remarks.failed.Load())
	checkSlowConsumerLines(t, "broker", c.broker.Log(), a.brokerFlood, a.puller)
	checkSlowConsumerLines(t, "namesrv", ns.Log(), a.nsFlood)
	if a.remarks.ok.Load() == 0 || a.remarks.failed.Load() > 0 {
		t.Errorf("requests with an 8 MiB remark: %d answered, %d failed", a.remarks.ok.Load(), a.remarks.failed.Load())
	}

	t.Logf("good client, quiet: %v", quiet)
	t.Logf("good client, under attack: %v", a.good)
	if slow := slower(quiet, a.good); slow != "" {
		t.Logf("%s; attacking once more", slow)
		a = attack(t, c, good)
		quiet.windows = append(quiet.windows, good.measure(quietWindows).windows...)
		t.Logf("good client, quiet: %v", quiet)
		t.Logf("good client, under attack again: %v", a.good)
		switch slow := slower(quiet, a.good); {
		case slow == "":
		case quiet.uneven():
			t.Logf("%s; not judged: the machine is too busy, the quiet windows vary too much", slow)
		default:
			t.Error(slow)
		}
	}
	if a.good.success() < 0.99 {
		t.Errorf("good client: %.2f %% success under attack, want ≥ 99 %%", 100*a.good.success())
	}
}

// slower says how the good client's p99 under attack is more than twice
// its quiet p99, or returns "".
func slower(quiet, under goodStats) string {
	var out []string
	for _, k := range []string{"send", "route"} {
		if q, u := quiet.p99(k), under.p99(k); u > 2*q {
			out = append(out, fmt.Sprintf("good client %s p99 (median of %v windows): %v under attack, over twice the quiet %v", k, goodWindow, u, q))
		}
	}
	return strings.Join(out, "; ")
}

// attacked is what one run of the attacks did.
type attacked struct {
	brokerFlood, nsFlood, puller *offender
	remarks                      *remarkStats
	good                         goodStats // the good client meanwhile
}

// attack runs every attack on c's broker and namesrv for attackTime and
// measures the good client meanwhile.
func attack(t *testing.T, c *cluster, good *goodClient) attacked {
	a := attacked{
		brokerFlood: &offender{what: "broker flood"},
		nsFlood:     &offender{what: "namesrv flood"},
		puller:      &offender{what: "puller"},
		remarks:     &remarkStats{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), attackTime)
	defer cancel()
	nsAddr := c.nsAddrs[0]
	var wg sync.WaitGroup
	run := func(fn func()) { wg.Add(1); go func() { defer wg.Done(); fn() }() }
	run(func() {
		a.brokerFlood.flood(ctx, c.brokerAddr, remoting.NewRequest(remoting.GetMaxOffset, "topic", "Hostile", "queueId", "0"))
	})
	run(func() {
		a.nsFlood.flood(ctx, nsAddr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TBW102"))
	})
	run(func() { a.puller.pullWithoutReading(ctx, c.brokerAddr) })
	run(func() {
		a.remarks.rounds(ctx, map[string]*remoting.Command{
			c.brokerAddr: remoting.NewRequest(remoting.GetMaxOffset, "topic", "Hostile", "queueId", "0"),
			nsAddr:       remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TBW102"),
		})
	})
	idle := openIdle(t, []string{c.brokerAddr, nsAddr}, idleConns)
	a.good = good.measure(int(attackTime/goodWindow) - 1)
	cancel()
	wg.Wait()
	for _, nc := range idle {
		nc.Close()
	}
	return a
}

// raiseFileLimit lifts the soft limit on open files to at least n.
func raiseFileLimit(t *testing.T, n uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < n {
		lim.Cur = min(max(n, lim.Cur), lim.Max)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < n {
		t.Skipf("needs %d open files, the limit is %d", n, lim.Cur)
	}
}

// fillTopic sends n messages of size bytes to queue 0 of topic.
func fillTopic(t *testing.T, nsAddr, topic string, n, size int) {
	p, err := client.NewProducer([]string{nsAddr})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qs, err := p.Queues(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := p.SendTo(ctx, qs[0], &client.Message{Body: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
}

// rssProbe follows one server's RssAnon.
type rssProbe struct {
	name             string
	p                *proctest.Proc
	base, peak, last int64
}

// rssAnon returns the RssAnon of process pid in bytes.
func rssAnon(t *testing.T, pid int) int64 {
	n, err := readRSSAnon(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readRSSAnon(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^RssAnon:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0, errors.New("no RssAnon line")
	}
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10, err
}

// sampleRSS records each probe's peak and last RssAnon every 100 ms until
// the returned func is called.
func sampleRSS(ps []*rssProbe) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range ps {
				if n, err := readRSSAnon(p.p.Pid()); err == nil {
					p.peak, p.last = max(p.peak, n), n
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// offender is an attacker's set of connections that never read.
type offender struct {
	what   string
	sent   atomic.Int64
	mu     sync.Mutex
	conns  []string // local addresses
	closed []string // those the server closed
}

func (o *offender) dial(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err == nil {
		o.mu.Lock()
		o.conns = append(o.conns, nc.LocalAddr().String())
		o.mu.Unlock()
	}
	return nc, err
}

func (o *offender) serverClosed(nc net.Conn) {
	o.mu.Lock()
	o.closed = append(o.closed, nc.LocalAddr().String())
	o.mu.Unlock()
}

// flood pipelines floodRequests copies of req on one connection, never
// reading, until they are sent, the server closes the connection, or ctx
// ends.
func (o *offender) flood(ctx context.Context, addr string, req *remoting.Command) {
	nc, err := o.dial(addr)
	if err != nil {
		return
	}
	defer nc.Close()
	frame := req.Encode(nil)
	const perWrite = 1000
	batch := make([]byte, 0, perWrite*len(frame))
	for range perWrite {
		batch = append(batch, frame...)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetWriteDeadline(deadline)
	for o.sent.Load() < floodRequests {
		n, err := nc.Write(batch)
		o.sent.Add(int64(n / len(frame)))
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				o.serverClosed(nc)
			}
			return
		}
	}
	<-ctx.Done() // all sent: keep the connection, unread, to the end
}

// pullWithoutReading sends pullsPerSecond pulls of 32 messages a second,
// never reading, on a connection it opens again whenever the server closes
// it, until ctx ends.
func (o *offender) pullWithoutReading(ctx context.Context, addr string) {
	frame := remoting.NewRequest(remoting.PullMessage, "consumerGroup", "GID_hostile", "topic", "Hostile", "queueId", "0",
		"queueOffset", "0", "maxMsgNums", "32", "sysFlag", "0", "commitOffset", "0", "suspendTimeoutMillis", "0",
		"subscription", "*", "expressionType", "TAG").Encode(nil)
	tick := time.NewTicker(time.Second / pullsPerSecond)
	defer tick.Stop()
	deadline, _ := ctx.Deadline()
	for ctx.Err() == nil {
		nc, err := o.dial(addr)
		if err != nil {
			return
		}
		_ = nc.SetWriteDeadline(deadline)
		for {
			if _, err := nc.Write(frame); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					o.serverClosed(nc)
				}
				break
			}
			o.sent.Add(1)
			select {
			case <-ctx.Done():
			case <-tick.C:
				continue
			}
			break
		}
		nc.Close()
	}
}

// remarkStats counts requests with an 8 MiB remark.
type remarkStats struct{ ok, failed atomic.Int64 }

// rounds sends, at the start of the attack and every 10 s, one request
// with an 8 MiB remark on each of bigRemarkConns new connections per
// server, and reads the answers.
func (r *remarkStats) rounds(ctx context.Context, reqs map[string]*remoting.Command) {
	frames := map[string][]byte{}
	for addr, req := range reqs {
		req.Remark = strings.Repeat("r", bigRemark)
		frames[addr] = req.Encode(nil)
	}
	for {
		var wg sync.WaitGroup
		for addr, frame := range frames {
			for range bigRemarkConns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := askOnce(addr, frame); err != nil {
						r.failed.Add(1)
					} else {
						r.ok.Add(1)
					}
				}()
			}
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

// askOnce sends frame on a new connection and reads one answer.
func askOnce(addr string, frame []byte) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Write(frame); err != nil {
		return err
	}
	var head [4]byte
	if _, err := io.ReadFull(nc, head[:]); err != nil {
		return err
	}
	_, err = io.CopyN(io.Discard, bufio.NewReader(nc), int64(binary.BigEndian.Uint32(head[:])))
	return err
}

// openIdle opens n connections to each address and leaves them silent.
func openIdle(t *testing.T, addrs []string, n int) []net.Conn {
	var conns []net.Conn
	for _, addr := range addrs {
		for range n {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("idle connection %d to %s: %v", len(conns), addr, err)
				return conns
			}
			conns = append(conns, nc)
		}
	}
	return conns
}

// checkSlowConsumerLines checks that the server's log has exactly one
// slow-consumer line for each offending connection the server closed, at
// most one for those it had not closed yet when the attack ended, and none
// for any other connection.
func checkSlowConsumerLines(t *testing.T, server, log string, offenders ...*offender) {
	t.Helper()
	lines := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^.*msg="closing slow consumer".* addr=(\S+).*$`).FindAllStringSubmatch(log, -1) {
		lines[m[1]]++
		t.Logf("%s: %s", server, m[0])
	}
	for _, o := range offenders {
		for _, a := range o.closed {
			if lines[a] != 1 {
				t.Errorf("%s: %s connection %s was closed with %d slow-consumer lines, want 1", server, o.what, a, lines[a])
			}
		}
		for _, a := range o.conns {
			if lines[a] > 1 {
				t.Errorf("%s: %d slow-consumer lines for %s connection %s", server, lines[a], o.what, a)
			}
			delete(lines, a)
		}
		if len(o.closed) == 0 {
			t.Errorf("%s: no %s connection was closed", server, o.what)
		}
	}
	for a, n := range lines {
		t.Errorf("%s: %d slow-consumer lines for %s, which is not an offending connection", server, n, a)
	}
}

// goodClient sends messages one at a time at a steady pace and asks the
// namesrv for a route between them, timing each call.
type goodClient struct {
	t    *testing.T
	p    *client.Producer
	q    client.MessageQueue
	rpc  *remoting.Client
	ns   string
	done chan struct{}
	wg   sync.WaitGroup

	mu  sync.Mutex
	cur goodWindowStats
}

type goodWindowStats struct {
	lat map[string][]time.Duration
	ok  int
	bad int
}

func startGoodClient(t *testing.T, nsAddr string) *goodClient {
	p, err := client.NewProducer([]string{nsAddr}, client.Group("PID_good"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qs, err := p.Queues(ctx, "Good")
	if err != nil {
		t.Fatal(err)
	}
	g := &goodClient{t: t, p: p, q: qs[0], rpc: remoting.NewClient(remoting.ClientConfig{}), ns: nsAddr, done: make(chan struct{})}
	g.reset()
	g.wg.Add(1)
	go g.run()
	t.Cleanup(g.stop)
	return g
}

func (g *goodClient) run() {
	defer g.wg.Done()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	body := make([]byte, 256)
	for i := 0; ; i++ {
		select {
		case <-g.done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		_, err := g.p.SendTo(ctx, g.q, &client.Message{Body: body})
		g.record("send", time.Since(start), err)
		if i%2 == 0 {
			start = time.Now()
			resp, err := g.rpc.Invoke(ctx, g.ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "Good"))
			if err == nil && resp.Code != remoting.Success {
				err = fmt.Errorf("code %d %s", resp.Code, resp.Remark)
			}
			g.record("route", time.Since(start), err)
		}
		cancel()
	}
}

func (g *goodClient) record(kind string, d time.Duration, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.cur.bad++
		return
	}
	g.cur.ok++
	g.cur.lat[kind] = append(g.cur.lat[kind], d)
}

func (g *goodClient) reset() {
	g.mu.Lock()
	g.cur = goodWindowStats{lat: map[string][]time.Duration{}}
	g.mu.Unlock()
}

// measure returns n consecutive windows of the good client's calls.
func (g *goodClient) measure(n int) goodStats {
	var s goodStats
	g.reset()
	for range n {
		time.Sleep(goodWindow)
		g.mu.Lock()
		s.windows = append(s.windows, g.cur)
		g.cur = goodWindowStats{lat: map[string][]time.Duration{}}
		g.mu.Unlock()
	}
	return s
}

func (g *goodClient) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	close(g.done)
	g.wg.Wait()
	g.p.Close()
	g.rpc.Close()
}

type goodStats struct{ windows []goodWindowStats }

func (s goodStats) success() float64 {
	ok, bad := 0, 0
	for _, w := range s.windows {
		ok, bad = ok+w.ok, bad+w.bad
	}
	return float64(ok) / float64(max(ok+bad, 1))
}

// p99 returns the median over the windows of each window's p99 of kind.
func (s goodStats) p99(kind string) time.Duration {
	p99s := s.p99s(kind)
	if len(p99s) == 0 {
		return 0
	}
	return p99s[len(p99s)/2]
}

// p99s returns each window's p99 of kind, sorted.
func (s goodStats) p99s(kind string) []time.Duration {
	var p99s []time.Duration
	for _, w := range s.windows {
		lat := slices.Clone(w.lat[kind])
		if len(lat) == 0 {
			continue
		}
		slices.Sort(lat)
		p99s = append(p99s, lat[len(lat)*99/100])
	}
	slices.Sort(p99s)
	return p99s
}

// uneven reports whether, for either kind, the upper quartile of the
// windows' p99s is over five times the lower: the machine's own load
// swamps what the test measures.
func (s goodStats) uneven() bool {
	for _, k := range []string{"send", "route"} {
		if p := s.p99s(k); len(p) >= 4 && p[len(p)*3/4] > 5*p[len(p)/4] {
			return true
		}
	}
	return false
}

func (s goodStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d windows, %.2f %% success, p99 send %v, route %v (windows:",
		len(s.windows), 100*s.success(), s.p99("send"), s.p99("route"))
	for _, w := range s.windows {
		fmt.Fprintf(&b, " %v/%v", goodStats{[]goodWindowStats{w}}.p99("send").Round(10*time.Microsecond),
			goodStats{[]goodWindowStats{w}}.p99("route").Round(10*time.Microsecond))
	}
	b.WriteString(")")
	return b.String()
}

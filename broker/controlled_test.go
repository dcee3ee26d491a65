package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

// ctlGroup is three namesrvs with embedded controllers and one broker
// group (broker-a) in controller mode, on 127.0.0.1.
type ctlGroup struct {
	*cluster
	brokers []*ctlBroker
}

type ctlBroker struct {
	store       string
	port, ha    int
	proc        *proctest.Proc
	addr        string
	extra       []string
	killedStore bool
}

// startCtlGroup starts the controllers and n brokers with the given extra
// broker flags (default controller settings: the failover numbers are
// those an operator gets).
func startCtlGroup(t *testing.T, n int, extra ...string) *ctlGroup {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("n%d-127.0.0.1:%d", i, proctest.FreePort()))
	}
	dir := t.TempDir()
	c := &cluster{t: t, rpc: remoting.NewClient(remoting.ClientConfig{})}
	t.Cleanup(func() { c.rpc.Close() })
	for i := range 3 {
		conf := filepath.Join(dir, fmt.Sprintf("namesrv-%d.properties", i))
		text := fmt.Sprintf("enableControllerInNamesrv=true\ncontrollerDLegerGroup=g1\ncontrollerDLegerPeers=%s\n"+
			"controllerDLegerSelfId=n%d\ncontrollerStorePath=%s\n", strings.Join(peers, ";"), i, filepath.Join(dir, fmt.Sprintf("ctl-%d", i)))
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		ns := proctest.Start(t, filepath.Join(binDir, "namesrv"), "-c", conf, "-listen", "127.0.0.1:0")
		c.namesrvs = append(c.namesrvs, ns)
		c.nsAddrs = append(c.nsAddrs, ns.Addr("namesrv"))
	}
	g := &ctlGroup{cluster: c}
	for range n {
		g.brokers = append(g.brokers, &ctlBroker{store: t.TempDir(), extra: extra})
		g.start(len(g.brokers) - 1)
	}
	return g
}

// start starts (or restarts) broker i on its port and store.
func (g *ctlGroup) start(i int) {
	g.t.Helper()
	b := g.brokers[i]
	ns := strings.Join(g.nsAddrs, ";")
	args := []string{
		"-enableControllerMode", "true",
		"-controllerAddr", ns,
		"-namesrvAddr", ns,
		"-brokerName", "broker-a",
		"-brokerRole", "SYNC_MASTER",
		"-allAckInSyncStateSet", "true",
		"-listenPort", strconv.Itoa(b.port),
		"-haListenPort", strconv.Itoa(b.ha),
		"-storePathRootDir", b.store,
		"-mappedFileSizeCommitLog", strconv.Itoa(4 << 20),
		"-maxMessageSize", strconv.Itoa(1 << 20),
		"-haSendHeartbeatInterval", "1000",
		"-haHousekeepingInterval", "5000",
	}
	b.proc = proctest.Start(g.t, filepath.Join(binDir, "broker"), append(args, b.extra...)...)
	b.addr = b.proc.Addr("broker")
	b.port, b.ha = addrPort(g.t, b.addr), addrPort(g.t, b.proc.Addr("ha"))
}

// info is broker i's runtime table, nil when it does not answer.
func (g *ctlGroup) info(i int) map[string]string {
	b := g.brokers[i]
	if b.proc.Exited() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := g.rpc.Invoke(ctx, b.addr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
	if err != nil || resp.Code != remoting.Success {
		return nil
	}
	var kv struct{ Table map[string]string }
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		return nil
	}
	return kv.Table
}

// waitMaster waits until exactly one running broker is master with a
// SyncStateSet of want replicas, and returns it.
func (g *ctlGroup) waitMaster(want int) int {
	g.t.Helper()
	master := -1
	eventually(g.t, 30*time.Second, fmt.Sprintf("one master with %d replicas in sync", want), func() bool {
		master = -1
		for i := range g.brokers {
			in := g.info(i)
			if in == nil || in["brokerRole"] == "SLAVE" {
				continue
			}
			if master >= 0 {
				return false
			}
			master = i
			if n := len(strings.Fields(strings.Trim(in["syncStateSet"], "[]"))); n != want {
				return false
			}
		}
		return master >= 0
	})
	return master
}

// failoverLoad is four senders that keep going through failures, keeping
// the bodies acknowledged SEND_OK by message id and when each was.
type failoverLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	acked  map[string][]byte
	okAt   []time.Time // when each acknowledged send was made
	failed int
}

func startFailoverLoad(t *testing.T, send func(context.Context, *primitive.Message) (*primitive.SendResult, error), topic string) *failoverLoad {
	l := &failoverLoad{stop: make(chan struct{}), acked: map[string][]byte{}}
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				body := randomBody(rng)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				res, err := send(ctx, primitive.NewMessage(topic, body))
				cancel()
				l.mu.Lock()
				if err == nil && res.Status == primitive.SendOK {
					l.acked[res.MsgID] = body
					l.okAt = append(l.okAt, start)
				} else {
					l.failed++
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(l.close)
	return l
}

func (l *failoverLoad) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *failoverLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// firstOKAfter is when the first send made after t that got SEND_OK was
// made.
func (l *failoverLoad) firstOKAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.okAt {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// TestControllerFailover: three brokers of one group in controller mode
// with allAckInSyncStateSet; the official client sends all along while
// the master is killed with SIGKILL, a new master is elected from the
// SyncStateSet, the producer gets SEND_OK again without a restart, and the
// old master comes back as a slave, cutting its divergent tail. At the
// end every acknowledged message is read back byte-identical and the three
// CommitLogs are byte-identical. ROCKETGO_FAILOVER_CYCLES sets the number
// of kills (default 2; the long campaign runs 20).
func TestControllerFailover(t *testing.T) {
	cycles := 2
	if s := os.Getenv("ROCKETGO_FAILOVER_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ROCKETGO_FAILOVER_CYCLES=%q: want a positive number", s)
		}
		cycles = n
	}
	g := startCtlGroup(t, 3)
	g.waitMaster(3)
	const topic = "FailoverTopic"
	p := g.producer()
	l := startFailoverLoad(t, func(ctx context.Context, m *primitive.Message) (*primitive.SendResult, error) {
		return p.SendSync(ctx, m)
	}, topic)
	eventually(t, 60*time.Second, "first acknowledged sends", func() bool { return l.ackedCount() >= 50 })

	var unavail []time.Duration
	for cycle := range cycles {
		m := g.waitMaster(3)
		before := l.ackedCount()
		eventually(t, 30*time.Second, "sends before the kill", func() bool { return l.ackedCount() >= before+50 })
		killed := time.Now()
		g.brokers[m].proc.Kill()
		eventually(t, 60*time.Second, "SEND_OK after the master's kill", func() bool {
			_, ok := l.firstOKAfter(killed)
			return ok
		})
		first, _ := l.firstOKAfter(killed)
		unavail = append(unavail, first.Sub(killed))
		next := g.waitMaster(2)
		if next == m {
			t.Fatalf("cycle %d: the killed broker %d is master", cycle, m)
		}
		t.Logf("cycle %d: killed master %s, new master %s; the first send to get SEND_OK was made %v after the kill (the official client refreshes routes every 30 s)",
			cycle, g.brokers[m].addr, g.brokers[next].addr, first.Sub(killed))
		g.start(m) // returns as a slave, cutting what the new master lacks
	}
	g.waitMaster(3)
	l.close()
	t.Logf("unavailability per kill: %v; %d acknowledged, %d failed sends", unavail, len(l.acked), l.failed)

	// All three logs end where the master's does, and are byte-identical.
	m := g.waitMaster(3)
	eventually(t, 30*time.Second, "every replica to hold the master's log", func() bool {
		end := g.info(m)["commitLogMaxOffset"]
		for i := range g.brokers {
			if in := g.info(i); in == nil || in["commitLogMaxOffset"] != end {
				return false
			}
		}
		return true
	})
	logs := make([][]byte, len(g.brokers))
	for i, b := range g.brokers {
		logs[i] = readCommitLog(t, b.store)
	}
	for i := 1; i < len(logs); i++ {
		n := min(len(logs[0]), len(logs[i]))
		if !bytes.Equal(logs[0][:n], logs[i][:n]) {
			k := 0
			for k < n && logs[0][k] == logs[i][k] {
				k++
			}
			t.Fatalf("CommitLogs of %s and %s differ at byte %d", g.brokers[0].addr, g.brokers[i].addr, k)
		}
	}

	// Every acknowledged message is there, byte-identical.
	g.brokerAddr = g.brokers[m].addr
	got := map[string][]byte{}
	for _, msgs := range g.pullAllAt(g.brokers[m].addr, topic, 4) {
		for _, msg := range msgs {
			got[msg.MsgId] = msg.Body
		}
	}
	lost := 0
	for id, body := range l.acked {
		if b, ok := got[id]; !ok || !bytes.Equal(b, body) {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost or changed", lost, len(l.acked))
	}
}

// readCommitLog returns the bytes of a store's CommitLog segments, in
// order, up to the last non-zero byte.
func readCommitLog(t *testing.T, store string) []byte {
	t.Helper()
	dir := filepath.Join(store, "commitlog")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	var out []byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return bytes.TrimRight(out, "\x00")
}

// TestControllerOldMasterTruncates: the master stores messages no slave
// has (its slaves are killed first, and the SyncStateSet still names them),
// then dies; a slave of the set becomes master at a new epoch; the old
// master restarts as a slave, cuts the tail the new master never had, and
// its CommitLog ends byte-identical to the new master's.
func TestControllerOldMasterTruncates(t *testing.T) {
	g := startCtlGroup(t, 3, "-haMaxTimeSlaveNotCatchup", "20000")
	m := g.waitMaster(3)
	p := g.producer()
	const topic = "TruncTopic"
	for i := range 20 {
		if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint("acked-", i)))); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, res, err)
		}
	}
	for i := range g.brokers {
		if i != m {
			g.brokers[i].proc.Kill()
		}
	}
	before, _ := strconv.ParseInt(g.info(m)["commitLogMaxOffset"], 10, 64)
	for i := range 20 { // stored on the master alone: never acknowledged
		if err := p.SendOneWay(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint("unacked-", i)))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the unacknowledged tail on the master", func() bool {
		end, _ := strconv.ParseInt(g.info(m)["commitLogMaxOffset"], 10, 64)
		return end > before
	})
	// Its consumers see only what every replica of the SyncStateSet holds:
	// none of the tail the new master will not have.
	seen := 0
	for _, msgs := range g.pullAllAt(g.brokers[m].addr, topic, 4) {
		for _, msg := range msgs {
			if strings.HasPrefix(string(msg.Body), "unacked-") {
				t.Fatalf("a consumer of the master read %q, which no other replica holds", msg.Body)
			}
			seen++
		}
	}
	if seen != 20 {
		t.Fatalf("a consumer of the master read %d messages, want the 20 acknowledged", seen)
	}
	g.brokers[m].proc.Kill()
	for i := range g.brokers {
		if i != m {
			g.start(i)
		}
	}
	next := g.waitMaster(1)
	if next == m {
		t.Fatal("the dead master was elected")
	}
	g.start(m)
	g.waitMaster(3)
	eventually(t, 30*time.Second, "the old master to hold the new master's log", func() bool {
		a, b := g.info(m), g.info(next)
		return a != nil && b != nil && a["commitLogMaxOffset"] == b["commitLogMaxOffset"]
	})
	if !g.brokers[m].proc.WaitLog("cutting the log where it leaves the master's", 5*time.Second) {
		t.Fatalf("the old master did not cut its divergent tail; log:\n%s", g.brokers[m].proc.Log())
	}
	old, cur := readCommitLog(t, g.brokers[m].store), readCommitLog(t, g.brokers[next].store)
	if !bytes.Equal(old, cur) {
		t.Fatalf("after the cut the old master's CommitLog (%d bytes) differs from the new master's (%d bytes)", len(old), len(cur))
	}
	if end, _ := strconv.ParseInt(g.info(next)["commitLogMaxOffset"], 10, 64); end != before {
		t.Fatalf("the new master's log ends at %d, want %d (where the acknowledged messages end)", end, before)
	}

	// mqadmin getBrokerEpoch: every replica holds epoch 1 from 0 and the
	// new master's epoch from where the acknowledged messages end.
	out, err := exec.Command(filepath.Join(binDir, "mqadmin"), "getBrokerEpoch", "-n", g.nsAddrs[0], "-b", "broker-a").CombinedOutput()
	if err != nil {
		t.Fatalf("mqadmin getBrokerEpoch: %v\n%s", err, out)
	}
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 8 {
			t.Fatalf("getBrokerEpoch row %q", line)
		}
		if f[5] == "2" && f[6] != strconv.FormatInt(before, 10) || f[5] == "1" && f[6] != "0" {
			t.Errorf("getBrokerEpoch row %q: epoch 1 starts at 0, epoch 2 at %d", line, before)
		}
		rows++
	}
	if rows != 6 {
		t.Fatalf("getBrokerEpoch: want two epochs for each of three replicas:\n%s", out)
	}
}

// TestControllerMasterRestartsAtSameEpoch: a master killed and restarted
// before the controller counts it dead (here it never would) is named
// master again at the same epoch: it takes sends again, its slave
// replicates from it, and the two logs end up byte-identical.
func TestControllerMasterRestartsAtSameEpoch(t *testing.T) {
	g := startCtlGroup(t, 2, "-controllerHeartBeatTimeoutMills", "600000")
	m := g.waitMaster(2)
	p := g.producer()
	const topic = "SameEpochTopic"
	send := func(i int) error {
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint("m-", i))))
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", res.Status)
		}
		return err
	}
	for i := range 10 {
		if err := send(i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	epoch := g.info(m)["masterEpoch"]
	g.brokers[m].proc.Kill()
	g.start(m)
	if again := g.waitMaster(2); again != m {
		t.Fatalf("broker %d is master after the restart, want %d", again, m)
	}
	if got := g.info(m)["masterEpoch"]; got != epoch {
		t.Fatalf("master epoch %s after the restart, want %s", got, epoch)
	}
	eventually(t, 30*time.Second, "SEND_OK from the restarted master", func() bool { return send(10) == nil })
	s := 1 - m
	eventually(t, 30*time.Second, "the slave to hold the master's log", func() bool {
		a, b := g.info(m), g.info(s)
		return a != nil && b != nil && a["commitLogMaxOffset"] == b["commitLogMaxOffset"]
	})
	if !bytes.Equal(readCommitLog(t, g.brokers[m].store), readCommitLog(t, g.brokers[s].store)) {
		t.Fatal("the CommitLogs of master and slave differ")
	}
}

// TestControllerPullWaitsForConfirm: a message the master stored but its
// slave (in the SyncStateSet, here paused) does not hold yet is not read
// by consumers; a pull held for it is answered as soon as the slave holds
// it — woken by the confirmation, long before its suspend time.
func TestControllerPullWaitsForConfirm(t *testing.T) {
	g := startCtlGroup(t, 2, "-brokerRole", "ASYNC_MASTER", "-haMaxTimeSlaveNotCatchup", "600000")
	m := g.waitMaster(2)
	const topic = "ConfirmTopic"
	g.brokerAddr = g.brokers[m].addr
	g.createTopic(topic, 1)
	slave := g.brokers[1-m].proc
	if err := syscall.Kill(slave.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			syscall.Kill(slave.Pid(), syscall.SIGCONT)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := remoting.NewRequest(remoting.SendMessageV2, "a", "PG_confirm", "b", topic, "c", "TBW102", "d", "1", "e", "0", "f", "0",
		"g", strconv.FormatInt(time.Now().UnixMilli(), 10), "h", "0", "i", "", "j", "0", "k", "false")
	req.Body = []byte("unconfirmed for now")
	if resp, err := g.rpc.Invoke(ctx, g.brokerAddr, req); err != nil || resp.Code != remoting.Success {
		t.Fatalf("ASYNC_MASTER send: %v %+v", err, resp)
	}
	answered := make(chan *remoting.Command, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, err := g.rpc.Invoke(ctx, g.brokerAddr, pullReq(topic, 0, 30*time.Second))
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	// Held: the message is not the consumer's to read while the slave
	// lacks it.
	eventually(t, 10*time.Second, "the pull to be held", func() bool {
		return g.info(m)["pullRequestsHeld"] == "1"
	})
	select {
	case resp := <-answered:
		t.Fatalf("a pull was answered (code %d, %s) while the only slave of the SyncStateSet lacked the message", resp.Code, resp.Remark)
	default:
	}
	syscall.Kill(slave.Pid(), syscall.SIGCONT)
	resumed = true
	select {
	case resp := <-answered:
		if resp == nil || resp.Code != remoting.Success {
			t.Fatalf("pull after the slave caught up: %+v", resp)
		}
		t.Logf("answered %v after the pull began", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the held pull was not answered when the slave confirmed the message")
	}
}

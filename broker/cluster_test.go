package broker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

var binDir string

func TestMain(m *testing.M) {
	rlog.SetLogLevel("fatal")
	proctest.Main(m, &binDir, "./cmd/namesrv", "./cmd/broker", "./cmd/mqadmin")
}

// cluster is a set of real namesrv processes and one broker on 127.0.0.1.
type cluster struct {
	t          *testing.T
	namesrvs   []*proctest.Proc
	nsAddrs    []string
	storeDir   string
	port       int
	brokerArgs []string
	broker     *proctest.Proc
	brokerAddr string
	haPort     int
	rpc        *remoting.Client

	// The slave of broker-a, once startSlave ran.
	slaveStore string
	slavePort  int
	slaveArgs  []string
	slave      *proctest.Proc
	slaveAddr  string
}

func startCluster(t *testing.T, namesrvs int, brokerArgs ...string) *cluster {
	t.Helper()
	return startClusterTLS(t, namesrvs, nil, nil, brokerArgs...)
}

// startClusterTLS is startCluster with extra namesrv flags, and with the
// test's own requests made over TLS when rpcTLS is not nil.
func startClusterTLS(t *testing.T, namesrvs int, nsArgs []string, rpcTLS *tls.Config, brokerArgs ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	// Ports 0: the first start picks free ports and restarts reuse them. A
	// port picked ahead (bound and closed again) can be handed to the next
	// process that binds port 0, such as a namesrv started meanwhile.
	c := &cluster{t: t, storeDir: t.TempDir(), brokerArgs: brokerArgs}
	for i := 0; i < namesrvs; i++ {
		ns := proctest.Start(t, filepath.Join(binDir, "namesrv"), append([]string{"-listen", "127.0.0.1:0"}, nsArgs...)...)
		c.namesrvs = append(c.namesrvs, ns)
		c.nsAddrs = append(c.nsAddrs, ns.Addr("namesrv"))
	}
	c.rpc = remoting.NewClient(remoting.ClientConfig{TLS: rpcTLS})
	t.Cleanup(func() { c.rpc.Close() })
	c.startBroker()
	return c
}

// startBroker starts (or restarts) the broker on the same port and store.
func (c *cluster) startBroker() {
	c.t.Helper()
	args := []string{
		"-namesrvAddr", strings.Join(c.nsAddrs, ";"),
		"-brokerName", "broker-a",
		"-listenPort", strconv.Itoa(c.port),
		"-haListenPort", strconv.Itoa(c.haPort),
		"-storePathRootDir", c.storeDir,
		"-mappedFileSizeCommitLog", strconv.Itoa(64 << 20),
	}
	c.broker = proctest.Start(c.t, filepath.Join(binDir, "broker"), append(args, c.brokerArgs...)...)
	c.brokerAddr = c.broker.Addr("broker")
	c.port, c.haPort = addrPort(c.t, c.brokerAddr), addrPort(c.t, c.broker.Addr("ha"))
	c.waitRoute("TBW102")
}

// startSlave starts (or restarts) broker-a's slave, brokerId 1, on its
// own port and store.
func (c *cluster) startSlave(extra ...string) {
	c.t.Helper()
	if c.slaveStore == "" {
		c.slaveStore, c.slaveArgs = c.t.TempDir(), extra
	}
	args := []string{
		"-namesrvAddr", strings.Join(c.nsAddrs, ";"),
		"-brokerName", "broker-a",
		"-brokerId", "1",
		"-brokerRole", "SLAVE",
		"-listenPort", strconv.Itoa(c.slavePort),
		"-storePathRootDir", c.slaveStore,
		"-mappedFileSizeCommitLog", strconv.Itoa(64 << 20),
		"-haSendHeartbeatInterval", "1000",
		"-haHousekeepingInterval", "5000",
	}
	c.slave = proctest.Start(c.t, filepath.Join(binDir, "broker"), append(args, c.slaveArgs...)...)
	c.slaveAddr = c.slave.Addr("broker")
	c.slavePort = addrPort(c.t, c.slaveAddr)
}

// addrPort returns the port of a host:port.
func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runtime returns a broker's GET_BROKER_RUNTIME_INFO table.
func (c *cluster) runtime(addr string) map[string]string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, addr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
	if err != nil || resp.Code != remoting.Success {
		c.t.Fatalf("runtime info of %s: %v", addr, err)
	}
	var kv struct{ Table map[string]string }
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		c.t.Fatal(err)
	}
	return kv.Table
}

// waitSlaveConnected polls the master until n slaves are connected.
func (c *cluster) waitSlaveConnected(n int) {
	c.t.Helper()
	eventually(c.t, 20*time.Second, fmt.Sprintf("%d slaves connected", n), func() bool {
		return c.runtime(c.brokerAddr)["haConnections"] == strconv.Itoa(n)
	})
}

// waitReplicated polls until the slave's log ends where the master's does.
func (c *cluster) waitReplicated() {
	c.t.Helper()
	eventually(c.t, 30*time.Second, "the slave to catch up", func() bool {
		m := c.runtime(c.brokerAddr)["commitLogMaxOffset"]
		return m == c.runtime(c.slaveAddr)["commitLogMaxOffset"]
	})
}

// waitRoute polls every namesrv until it serves a route for topic.
func (c *cluster) waitRoute(topic string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, ns := range c.nsAddrs {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
			cancel()
			if err == nil && resp.Code == remoting.Success && strings.Contains(string(resp.Body), c.brokerAddr) {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("namesrv %s has no route for %s with broker %s (err %v)", ns, topic, c.brokerAddr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// createTopic creates a topic with n queues on the broker and waits for
// its route.
func (c *cluster) createTopic(topic string, queues int) {
	c.t.Helper()
	req := remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", topic,
		"readQueueNums", strconv.Itoa(queues), "writeQueueNums", strconv.Itoa(queues), "perm", "6")
	resp := c.invoke(req)
	if resp.Code != remoting.Success {
		c.t.Fatalf("create topic %s: code %d %s", topic, resp.Code, resp.Remark)
	}
	c.waitRoute(topic)
}

func (c *cluster) invoke(req *remoting.Command) *remoting.Command {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, c.brokerAddr, req)
	if err != nil {
		c.t.Fatalf("invoke code %d: %v", req.Code, err)
	}
	return resp
}

// maxOffset asks the broker for a queue's next offset.
func (c *cluster) maxOffset(topic string, queue int) int64 {
	c.t.Helper()
	return c.maxOffsetAt(c.brokerAddr, topic, queue)
}

// maxOffsetAt asks the broker at addr for a queue's next offset.
func (c *cluster) maxOffsetAt(addr, topic string, queue int) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, addr, remoting.NewRequest(remoting.GetMaxOffset, "topic", topic, "queueId", strconv.Itoa(queue)))
	if err != nil {
		c.t.Fatalf("GET_MAX_OFFSET %s/%d at %s: %v", topic, queue, addr, err)
	}
	n, err := strconv.ParseInt(resp.ExtValue("offset"), 10, 64)
	if resp.Code != remoting.Success || err != nil {
		c.t.Fatalf("GET_MAX_OFFSET %s/%d: code %d %q", topic, queue, resp.Code, resp.Remark)
	}
	return n
}

func (c *cluster) producer(opts ...producer.Option) rocketmq.Producer {
	c.t.Helper()
	return newProducer(c.t, c.nsAddrs, opts...)
}

func newProducer(t *testing.T, ns []string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	base := []producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver(ns)),
		producer.WithGroupName("PG_" + sanitize(t.Name())),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(5 * time.Second),
	}
	p, err := rocketmq.NewProducer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// pushConsumer starts a push consumer that hands every message to got.
func (c *cluster) pushConsumer(group, instance, topic, expr string, got func(*primitive.MessageExt)) rocketmq.PushConsumer {
	c.t.Helper()
	return c.pushConsumerWith(topic, expr, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			got(m)
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance(instance))
}

// pushConsumerWith starts a push consumer reading from the first offset,
// with extra options, that hands messages to fn.
func (c *cluster) pushConsumerWith(topic, expr string, fn func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error), opts ...consumer.Option) rocketmq.PushConsumer {
	c.t.Helper()
	pc, err := rocketmq.NewPushConsumer(append([]consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: expr}, fn); err != nil {
		c.t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		c.t.Fatal(err)
	}
	var once sync.Once
	c.t.Cleanup(func() { once.Do(func() { pc.Shutdown() }) })
	return pc
}

// pullConsumer starts an official pull consumer subscribed to topic.
func (c *cluster) pullConsumer(topic string) rocketmq.PullConsumer {
	c.t.Helper()
	pc, err := rocketmq.NewPullConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		consumer.WithGroupName(fmt.Sprintf("GID_pull_%s_%d", sanitize(c.t.Name()), pullers.Add(1))),
	)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{}); err != nil {
		c.t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { pc.Shutdown() })
	return pc
}

var pullers atomic.Int32

// pullAll reads every message of every queue of topic with the official
// pull consumer, in queue order.
func (c *cluster) pullAll(topic string, queues int) map[int][]*primitive.MessageExt {
	c.t.Helper()
	return c.pullAllAt(c.brokerAddr, topic, queues)
}

// pullAllAt is pullAll with queue ends taken from the broker at addr
// (the pulls go where the route says).
func (c *cluster) pullAllAt(addr, topic string, queues int) map[int][]*primitive.MessageExt {
	c.t.Helper()
	return c.pullAllWith(c.pullConsumer(topic), addr, topic, queues)
}

// pullAllWith is pullAllAt with the given pull consumer.
func (c *cluster) pullAllWith(pc rocketmq.PullConsumer, addr, topic string, queues int) map[int][]*primitive.MessageExt {
	c.t.Helper()
	out := map[int][]*primitive.MessageExt{}
	for q := 0; q < queues; q++ {
		maxOff := c.maxOffsetAt(addr, topic, q)
		mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: q}
		for off := int64(0); off < maxOff; {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := pc.PullFrom(ctx, mq, off, 32)
			cancel()
			if err != nil {
				c.t.Fatalf("pull %s/%d at %d: %v", topic, q, off, err)
			}
			if res.Status != primitive.PullFound {
				c.t.Fatalf("pull %s/%d at %d (max %d): status %v", topic, q, off, maxOff, res.Status)
			}
			out[q] = append(out[q], res.GetMessageExts()...)
			off = res.NextBeginOffset
		}
	}
	return out
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// received is a concurrency-safe collection of consumed messages.
type received struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
}

func (r *received) add(m *primitive.MessageExt) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *received) snapshot() []*primitive.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*primitive.MessageExt(nil), r.msgs...)
}

func (r *received) bodies() map[string]int {
	out := map[string]int{}
	for _, m := range r.snapshot() {
		out[string(m.Body)]++
	}
	return out
}

// freeDeadPort returns a port that refuses connections for the test.
func freeDeadPort(t *testing.T) int {
	t.Helper()
	return proctest.DeadPort(t)
}

// sendLoad is four synchronous senders of random 100–1000 byte bodies. It
// keeps the bodies acknowledged SEND_OK by message id, and counts the
// answers to sends started after mark.
type sendLoad struct {
	t    *testing.T
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	acked    map[string][]byte
	epoch    int // incremented by mark
	answered int // answers (any status) to sends started after mark
	ackedNew int // of which SEND_OK
}

func startSendLoad(t *testing.T, p rocketmq.Producer, topic string) *sendLoad {
	l := &sendLoad{t: t, stop: make(chan struct{}), acked: map[string][]byte{}}
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				body := randomBody(rng)
				l.mu.Lock()
				epoch := l.epoch
				l.mu.Unlock()
				res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, body))
				if err != nil {
					return
				}
				l.mu.Lock()
				ok := res.Status == primitive.SendOK
				if ok {
					l.acked[res.MsgID] = body
				}
				if epoch > 0 {
					l.answered++
					if ok {
						l.ackedNew++
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// randomBody is a message body of 100–1000 random bytes.
func randomBody(rng *rand.Rand) []byte {
	body := make([]byte, 100+rng.IntN(900))
	for j := range body {
		body[j] = byte(rng.Uint32())
	}
	return body
}

// waitFor polls until cond (called with l.mu held) holds.
func (l *sendLoad) waitFor(what string, cond func() bool) {
	l.t.Helper()
	eventually(l.t, 30*time.Second, what, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return cond()
	})
}

// waitAcked waits until n sends were acknowledged SEND_OK.
func (l *sendLoad) waitAcked(n int) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("%d acknowledged sends", n), func() bool { return len(l.acked) >= n })
}

// mark starts counting the answers to sends started from now on.
func (l *sendLoad) mark() {
	l.mu.Lock()
	l.epoch++
	l.mu.Unlock()
}

// waitAnswered waits until n sends started after mark were answered,
// whatever their status.
func (l *sendLoad) waitAnswered(n int) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("%d sends answered after the mark", n), func() bool { return l.answered >= n })
}

// finish stops the senders and returns the acknowledged bodies by message
// id and how many of them were sent after mark.
func (l *sendLoad) finish() (acked map[string][]byte, afterMark int) {
	close(l.stop)
	l.wg.Wait()
	return l.acked, l.ackedNew
}

// ackedUntilKilled runs a sendLoad until at least n sends were
// acknowledged SEND_OK, then calls kill and stops it. It returns the
// acknowledged bodies by message id.
func ackedUntilKilled(t *testing.T, p rocketmq.Producer, topic string, n int, kill func()) map[string][]byte {
	t.Helper()
	l := startSendLoad(t, p, topic)
	l.waitAcked(n)
	kill()
	acked, _ := l.finish()
	return acked
}

// missing counts the acknowledged messages not found, and those found with
// other bytes.
func missing(acked map[string][]byte, msgs map[int][]*primitive.MessageExt) (lost, differ, stored int) {
	found := map[string][]byte{}
	for _, ms := range msgs {
		for _, m := range ms {
			found[m.MsgId] = m.Body
		}
	}
	for id, body := range acked {
		got, ok := found[id]
		switch {
		case !ok:
			lost++
		case !bytes.Equal(got, body):
			differ++
		}
	}
	return lost, differ, len(found)
}

package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

var binDir string

func TestMain(m *testing.M) {
	rlog.SetLogLevel("fatal")
	proctest.Main(m, &binDir)
}

// cluster is real namesrv processes and one broker (broker-a) on 127.0.0.1.
type cluster struct {
	t          testing.TB
	nsAddrs    []string
	brokerAddr string
	rpc        *remoting.Client
}

func startCluster(t testing.TB, namesrvs int, brokerArgs ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	c := &cluster{t: t, rpc: remoting.NewClient(remoting.ClientConfig{})}
	t.Cleanup(func() { c.rpc.Close() })
	for i := 0; i < namesrvs; i++ {
		ns := proctest.Start(t, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0")
		c.nsAddrs = append(c.nsAddrs, ns.Addr("namesrv"))
	}
	args := []string{
		"-namesrvAddr", strings.Join(c.nsAddrs, ";"),
		"-brokerName", "broker-a",
		"-listenPort", "0",
		"-haListenPort", "0",
		"-storePathRootDir", t.TempDir(),
		"-mappedFileSizeCommitLog", strconv.Itoa(256 << 20),
	}
	b := proctest.Start(t, filepath.Join(binDir, "broker"), append(args, brokerArgs...)...)
	c.brokerAddr = b.Addr("broker")
	c.waitRoute("TBW102")
	return c
}

// waitRoute polls every namesrv until it serves a route for topic that
// names the broker.
func (c *cluster) waitRoute(topic string) {
	c.t.Helper()
	for _, ns := range c.nsAddrs {
		waitFor(c.t, 20*time.Second, "the route of "+topic+" at "+ns, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
			return err == nil && resp.Code == remoting.Success && bytes.Contains(resp.Body, []byte(c.brokerAddr))
		})
	}
}

// createTopic creates topic with n queues and waits for its route.
func (c *cluster) createTopic(topic string, queues int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", topic,
		"readQueueNums", strconv.Itoa(queues), "writeQueueNums", strconv.Itoa(queues), "perm", "6")
	resp, err := c.rpc.Invoke(ctx, c.brokerAddr, req)
	if err != nil || resp.Code != remoting.Success {
		c.t.Fatalf("create topic %s: %v %+v", topic, err, resp)
	}
	c.waitRoute(topic)
}

func (c *cluster) producer(opts ...Option) *Producer {
	c.t.Helper()
	p := newTestProducer(c.t, c.nsAddrs, append([]Option{Group("PG_client_test"), SendTimeout(10 * time.Second)}, opts...)...)
	if err := p.Start(); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cluster) consumer(group string, opts ...Option) *PullConsumer {
	c.t.Helper()
	pc, err := NewPullConsumer(c.nsAddrs, group, append([]Option{SendTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { pc.Close() })
	if err := pc.Start(); err != nil {
		c.t.Fatal(err)
	}
	return pc
}

// pullAll reads every message of q from offset 0 to the queue's end.
func pullAll(t testing.TB, c *PullConsumer, q MessageQueue) []*MessageExt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end, err := c.MaxOffset(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []*MessageExt
	for off := int64(0); off < end; {
		res, err := c.Pull(ctx, q, off, 32, 0)
		if err != nil {
			t.Fatalf("pull %s at %d: %v", q, off, err)
		}
		if res.Status != Found && res.Status != NoMatchedMsg {
			t.Fatalf("pull %s at %d (end %d): %v", q, off, end, res.Status)
		}
		out = append(out, res.Messages...)
		off = res.NextBeginOffset
	}
	return out
}

// sent is what a test sent, by MsgID.
type sent struct {
	mu   sync.Mutex
	msgs map[string]*Message
}

func (s *sent) add(id string, m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs == nil {
		s.msgs = map[string]*Message{}
	}
	s.msgs[id] = m
}

// check compares a received message with the sent one of the same id.
func (s *sent) check(t testing.TB, m *MessageExt) {
	t.Helper()
	s.mu.Lock()
	want := s.msgs[m.MsgID]
	s.mu.Unlock()
	if want == nil {
		t.Errorf("received unknown message %s (%q)", m.MsgID, m.Body)
		return
	}
	if m.Topic != want.Topic && want.Topic != "" || !bytes.Equal(m.Body, want.Body) || m.Tags != want.Tags ||
		!slices.Equal(m.Keys, want.Keys) || m.Flag != want.Flag {
		t.Errorf("message %s: got topic %s tags %q keys %q flag %d body %d bytes; sent %+v (%d bytes)",
			m.MsgID, m.Topic, m.Tags, m.Keys, m.Flag, len(m.Body), want, len(want.Body))
	}
	for k, v := range want.Properties {
		if m.Properties[k] != v {
			t.Errorf("message %s: property %s = %q, want %q", m.MsgID, k, m.Properties[k], v)
		}
	}
	if compressed := m.SysFlag&wire.SysFlagCompressed != 0; compressed != (len(want.Body) >= defaultCompressOver) {
		t.Errorf("message %s of %d bytes: compressed flag %v", m.MsgID, len(want.Body), compressed)
	}
}

func compressible(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefgh"[(i*7+i/13)%8]
	}
	return b
}

// TestRoundTrip sends with every method and reads everything back.
func TestRoundTrip(t *testing.T) {
	c := startCluster(t, 2)
	const topic = "RoundTrip"
	c.createTopic(topic, 4)
	p := c.producer(InFlight(8))
	ctx := context.Background()
	var s sent
	var total int

	for i := 0; i < 10; i++ {
		m := &Message{Topic: topic, Body: []byte(fmt.Sprintf("sync-%d", i)), Tags: []string{"A", "B"}[i%2],
			Keys: []string{fmt.Sprintf("key-%d", i), "common"}, Properties: map[string]string{"i": strconv.Itoa(i), "ünï": "cödé"}, Flag: int32(i)}
		res, err := p.Send(ctx, m)
		if err != nil || res.Status != SendOK || len(res.OffsetMsgID) != 32 || len(res.MsgID) != 32 {
			t.Fatalf("Send %d: %+v %v", i, res, err)
		}
		s.add(res.MsgID, m)
		total++
	}
	big := &Message{Topic: topic, Body: compressible(10 << 10), Tags: "A", Properties: map[string]string{"size": "10KiB"}}
	res, err := p.Send(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	s.add(res.MsgID, big)
	total++

	qs, err := p.Queues(ctx, topic)
	if err != nil || len(qs) != 4 {
		t.Fatalf("Queues: %v %v", qs, err)
	}
	for i := 0; i < 5; i++ {
		m := &Message{Body: []byte(fmt.Sprintf("sendto-%d", i)), Tags: "B"}
		res, err := p.SendTo(ctx, qs[1], m)
		if err != nil || res.Queue != qs[1] {
			t.Fatalf("SendTo %d: %+v %v", i, res, err)
		}
		s.add(res.MsgID, m)
		total++
	}

	const async = 300
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var asyncErrs []error
	for i := 0; i < async; i++ {
		m := &Message{Body: []byte(fmt.Sprintf("async-%d", i)), Tags: "A", Keys: []string{"k" + strconv.Itoa(i)}}
		if i%50 == 0 {
			m.Body = compressible(5000)
		}
		wg.Add(1)
		err := p.SendAsync(ctx, qs[i%4], m, func(res SendResult, err error) {
			defer wg.Done()
			if err != nil {
				errMu.Lock()
				asyncErrs = append(asyncErrs, err)
				errMu.Unlock()
				return
			}
			s.add(res.MsgID, m)
		})
		if err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
		total++
	}
	wg.Wait()
	if len(asyncErrs) > 0 {
		t.Fatalf("%d async sends failed, first: %v", len(asyncErrs), asyncErrs[0])
	}

	var batch []*Message
	for i := 0; i < 5; i++ {
		batch = append(batch, &Message{Body: []byte(fmt.Sprintf("batch-%d", i)), Tags: "B", Properties: map[string]string{"n": strconv.Itoa(i)}})
	}
	bres, err := p.SendBatch(ctx, qs[2], batch)
	if err != nil || bres.Status != SendOK {
		t.Fatalf("SendBatch: %+v %v", bres, err)
	}
	ids := strings.Split(bres.MsgID, ",")
	if len(ids) != 5 || len(strings.Split(bres.OffsetMsgID, ",")) != 5 {
		t.Fatalf("batch ids %q / %q", bres.MsgID, bres.OffsetMsgID)
	}
	for i, id := range ids {
		s.add(id, batch[i])
	}
	total += 5

	pc := c.consumer("GID_roundtrip")
	pc.Subscribe(topic, "*")
	subQs, err := pc.Queues(ctx, topic)
	if err != nil || !slices.Equal(subQs, qs) {
		t.Fatalf("consumer queues %v %v", subQs, err)
	}
	got := 0
	for _, q := range subQs {
		msgs := pullAll(t, pc, q)
		for i, m := range msgs {
			if m.QueueOffset != int64(i) || int(m.QueueID) != q.QueueID {
				t.Errorf("%s message %d has offset %d queue %d", q, i, m.QueueOffset, m.QueueID)
			}
			s.check(t, m)
		}
		if q == qs[2] {
			var batchOffs []int64
			for _, m := range msgs {
				if strings.HasPrefix(string(m.Body), "batch-") {
					batchOffs = append(batchOffs, m.QueueOffset)
				}
			}
			if len(batchOffs) != 5 || batchOffs[0] != bres.QueueOffset || batchOffs[4] != bres.QueueOffset+4 {
				t.Errorf("batch offsets %v, result says %d", batchOffs, bres.QueueOffset)
			}
		}
		got += len(msgs)
	}
	if got != total {
		t.Fatalf("pulled %d messages, sent %d", got, total)
	}

	// A tag subscription keeps only its tag.
	tagged := c.consumer("GID_roundtrip_tags")
	tagged.Subscribe(topic, "B")
	nB := 0
	for _, q := range subQs {
		for _, m := range pullAll(t, tagged, q) {
			if m.Tags != "B" {
				t.Errorf("tag B subscription got tag %q", m.Tags)
			}
			nB++
		}
	}
	if nB != 5+5+5 {
		t.Errorf("tag B subscription got %d messages, want 15", nB)
	}

	// Offsets.
	q := subQs[0]
	if off, err := pc.CommittedOffset(ctx, q); err != nil || (off != 0 && off != -1) {
		t.Errorf("committed offset of a new group: %d %v", off, err)
	}
	if err := pc.CommitOffset(ctx, q, 3); err != nil {
		t.Fatal(err)
	}
	if off, err := pc.CommittedOffset(ctx, q); err != nil || off != 3 {
		t.Errorf("committed offset %d %v, want 3", off, err)
	}
	end, err := pc.MaxOffset(ctx, q)
	if err != nil || end == 0 {
		t.Fatalf("MaxOffset %d %v", end, err)
	}
	res2, err := pc.Pull(ctx, q, end+5, 4, 0)
	if err != nil || res2.Status != OffsetIllegal || res2.NextBeginOffset != end || res2.MaxOffset != end {
		t.Errorf("pull past the end: %+v %v", res2, err)
	}
	var be *BrokerError
	if _, err := pc.Pull(ctx, MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 99}, 0, 1, 0); !errors.As(err, &be) {
		t.Errorf("pull of a queue that does not exist: %v", err)
	}
}

// TestLongPolling checks that a held pull answers when a message arrives
// and that an idle one answers when its suspend time ends.
func TestLongPolling(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "LongPoll"
	c.createTopic(topic, 1)
	p := c.producer()
	pc := c.consumer("GID_longpoll")
	ctx := context.Background()
	q := MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}

	start := time.Now()
	res, err := pc.Pull(ctx, q, 0, 1, 0)
	if err != nil || res.Status != NoNewMsg || time.Since(start) > time.Second {
		t.Fatalf("pull without suspend: %+v %v after %v", res, err, time.Since(start))
	}
	start = time.Now()
	res, err = pc.Pull(ctx, q, 0, 1, 300*time.Millisecond)
	if took := time.Since(start); err != nil || res.Status != NoNewMsg || took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("idle long poll: %+v %v after %v", res, err, took)
	}

	type outcome struct {
		res PullResult
		err error
		at  time.Duration
	}
	got := make(chan outcome, 1)
	start = time.Now()
	go func() {
		res, err := pc.Pull(ctx, q, 0, 4, 20*time.Second)
		got <- outcome{res, err, time.Since(start)}
	}()
	// Whether the message arrives before or while the pull is held, the
	// pull must find it long before its 20 s.
	if _, err := p.SendTo(ctx, q, &Message{Body: []byte("wake up")}); err != nil {
		t.Fatal(err)
	}
	o := <-got
	if o.err != nil || o.res.Status != Found || len(o.res.Messages) != 1 || string(o.res.Messages[0].Body) != "wake up" || o.at > 10*time.Second {
		t.Fatalf("held pull: %+v %v after %v", o.res, o.err, o.at)
	}

	// A pull whose ctx ends before its suspend time is cut to fit.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start = time.Now()
	res, err = pc.Pull(short, q, 1, 1, 20*time.Second)
	if err != nil || res.Status != NoNewMsg || time.Since(start) > 2*time.Second {
		t.Fatalf("pull with a short ctx: %+v %v after %v", res, err, time.Since(start))
	}
}

// TestDeadNamesrvFirst gives the clients a namesrv list whose first entry
// is dead.
func TestDeadNamesrvFirst(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "DeadFirst"
	c.createTopic(topic, 2)
	list := []string{deadAddr(t), c.nsAddrs[0]}
	p := newTestProducer(t, list)
	p.c.ns.Store(0)
	for i := 0; i < 5; i++ {
		if res, err := p.Send(context.Background(), &Message{Topic: topic, Body: []byte(strconv.Itoa(i))}); err != nil || res.Status != SendOK {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if p.c.ns.Load() != 1 {
		t.Errorf("namesrv in use: %d, want 1", p.c.ns.Load())
	}
	pc, err := NewPullConsumer(list, "GID_dead_first")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.c.ns.Store(0)
	n := 0
	for _, q := range mustQueues(t, pc, topic) {
		n += len(pullAll(t, pc, q))
	}
	if n != 5 {
		t.Errorf("pulled %d messages, want 5", n)
	}
}

func mustQueues(t testing.TB, pc *PullConsumer, topic string) []MessageQueue {
	t.Helper()
	qs, err := pc.Queues(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return qs
}

// TestAutoCreatedTopic sends to a topic nobody created: the TBW102 route
// stands in and the broker creates the topic.
func TestAutoCreatedTopic(t *testing.T) {
	c := startCluster(t, 1)
	p := c.producer(RouteRefresh(100 * time.Millisecond))
	const topic = "MadeOnTheFly"
	for i := 0; i < 8; i++ {
		if _, err := p.Send(context.Background(), &Message{Topic: topic, Body: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	c.waitRoute(topic)
	waitFor(t, 10*time.Second, "the real route to replace the fallback", func() bool {
		_, e, err := p.c.route(context.Background(), topic)
		return err == nil && !e.route.Load().fallback
	})
	pc := c.consumer("GID_autocreate")
	n := 0
	for _, q := range mustQueues(t, pc, topic) {
		n += len(pullAll(t, pc, q))
	}
	if n != 8 {
		t.Errorf("pulled %d messages, want 8", n)
	}
}

package broker_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/remoting"
)

func pullReq(topic string, offset int64, suspend time.Duration) *remoting.Command {
	return remoting.NewRequest(remoting.PullMessage, "consumerGroup", "GID_lp", "topic", topic, "queueId", "0",
		"queueOffset", strconv.FormatInt(offset, 10), "maxMsgNums", "32", "sysFlag", "6", "commitOffset", "0",
		"suspendTimeoutMillis", strconv.FormatInt(suspend.Milliseconds(), 10), "subscription", "*", "expressionType", "TAG")
}

// TestLongPollWokenByArrival holds a pull at the end of a queue and checks
// that a send answers it long before its suspend time, and that a pull
// with nothing arriving is answered PULL_NOT_FOUND when its time is up.
func TestLongPollWokenByArrival(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "LongPoll"
	c.createTopic(topic, 1)

	answered := make(chan *remoting.Command, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := c.rpc.Invoke(ctx, c.brokerAddr, pullReq(topic, 0, 20*time.Second))
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	select {
	case resp := <-answered:
		t.Fatalf("pull on an empty queue answered at once: code %d", resp.Code)
	case <-time.After(300 * time.Millisecond):
	}
	p := c.producer()
	if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("wake"))); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-answered:
		if resp.Code != remoting.Success || resp.ExtValue("nextBeginOffset") != "1" {
			t.Fatalf("woken pull: code %d next %q", resp.Code, resp.ExtValue("nextBeginOffset"))
		}
		t.Logf("held pull answered %v after it was sent", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("a held pull was not answered when a message arrived")
	}

	// Nothing arrives: answered PULL_NOT_FOUND after its suspend time.
	start = time.Now()
	resp := c.invoke(pullReq(topic, 1, 400*time.Millisecond))
	if resp.Code != remoting.PullNotFound || resp.ExtValue("nextBeginOffset") != "1" || resp.ExtValue("maxOffset") != "1" {
		t.Fatalf("expired pull: code %d ext %v", resp.Code, resp.Fields())
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("pull with a 400ms suspend answered after %v", d)
	}
	// A pull on the same connection is not held back by a held one.
	go c.rpc.Invoke(context.Background(), c.brokerAddr, pullReq(topic, 1, 20*time.Second))
	if got := c.maxOffset(topic, 0); got != 1 {
		t.Fatalf("max offset %d", got)
	}
}

func heartbeat(group, clientID string) *remoting.Command {
	req := remoting.NewRequest(remoting.HeartBeat)
	req.Body = []byte(fmt.Sprintf(`{"clientID":%q,"producerDataSet":[],"consumerDataSet":[{"groupName":%q,"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG"}]}]}`, clientID, group))
	return req
}

// TestHeartbeatOfClosedConnection sends heartbeats on connections that close
// at once, as a client that exits right after starting does: none of them
// may stay in the group (it would be given queues that nobody reads until
// channelExpiredTimeout).
func TestHeartbeatOfClosedConnection(t *testing.T) {
	c := startCluster(t, 1)
	for i := range 100 {
		conn, err := net.Dial("tcp", c.brokerAddr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(heartbeat("GID_gone", fmt.Sprintf("127.0.0.1@gone-%d", i)).Encode(nil)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	eventually(t, 5*time.Second, "no consumer left in GID_gone", func() bool {
		resp := c.invoke(remoting.NewRequest(remoting.GetConsumerListByGroup, "consumerGroup", "GID_gone"))
		return resp.Code != remoting.Success // "no consumer of group GID_gone is online"
	})
}

// TestNotifyConsumerIdsChanged checks that group members are told when a
// consumer joins and when one's connection closes.
func TestNotifyConsumerIdsChanged(t *testing.T) {
	c := startCluster(t, 1)
	var notified atomic.Int32
	a := remoting.NewClient(remoting.ClientConfig{})
	defer a.Close()
	a.Handle(remoting.NotifyConsumerIdsChanged, func(_ string, req *remoting.Command) *remoting.Command {
		if req.ExtValue("consumerGroup") == "GID_notify" {
			notified.Add(1)
		}
		return nil
	})
	b := remoting.NewClient(remoting.ClientConfig{})
	ctx := context.Background()
	for _, hb := range []struct {
		cl *remoting.Client
		id string
	}{{a, "10.0.0.1@a"}, {b, "10.0.0.2@b"}} {
		resp, err := hb.cl.Invoke(ctx, c.brokerAddr, heartbeat("GID_notify", hb.id))
		if err != nil || resp.Code != remoting.Success {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	eventually(t, 5*time.Second, "notification of the join", func() bool { return notified.Load() >= 2 })
	resp := c.invoke(remoting.NewRequest(remoting.GetConsumerListByGroup, "consumerGroup", "GID_notify"))
	if resp.Code != remoting.Success || !strings.Contains(string(resp.Body), `"10.0.0.1@a","10.0.0.2@b"`) {
		t.Fatalf("consumer list: %d %s", resp.Code, resp.Body)
	}
	before := notified.Load()
	b.Close()
	eventually(t, 5*time.Second, "notification of the leave", func() bool { return notified.Load() > before })
	eventually(t, 5*time.Second, "the closed client gone from the list", func() bool {
		resp := c.invoke(remoting.NewRequest(remoting.GetConsumerListByGroup, "consumerGroup", "GID_notify"))
		return resp.Code == remoting.Success && !strings.Contains(string(resp.Body), "10.0.0.2@b")
	})
}

// TestGracefulStopUnregisters checks that a broker stopping cleanly
// leaves every namesrv's routes at once.
func TestGracefulStopUnregisters(t *testing.T) {
	c := startCluster(t, 2)
	if err := c.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range c.nsAddrs {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TBW102"))
		cancel()
		if err != nil || resp.Code != remoting.TopicNotExist {
			t.Fatalf("namesrv %s still routes TBW102 after the broker stopped: %v code %d", ns, err, resp.Code)
		}
	}
}

// TestSyncFlush runs a SYNC_FLUSH broker: sync and async sends are
// answered once durable.
func TestSyncFlush(t *testing.T) {
	c := startCluster(t, 1, "-flushDiskType", "SYNC_FLUSH")
	const topic = "SyncFlush"
	c.createTopic(topic, 2)
	p := c.producer()
	done := make(chan error, 50)
	for i := 0; i < 50; i++ {
		err := p.SendAsync(context.Background(), func(_ context.Context, res *primitive.SendResult, err error) {
			if err == nil && res.Status != primitive.SendOK {
				err = fmt.Errorf("status %v", res.Status)
			}
			done <- err
		}, primitive.NewMessage(topic, []byte(fmt.Sprint(i))))
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("sync"))); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("SendSync: %v", err)
	}
	if n := c.maxOffset(topic, 0) + c.maxOffset(topic, 1); n != 51 {
		t.Fatalf("stored %d messages, want 51", n)
	}
	// The broker times each send's stages; a SYNC_FLUSH master has no
	// slave stage.
	rt := c.runtime(c.brokerAddr)
	for stage, want := range map[string]int64{"sendStore": 51, "sendFlushWait": 51, "sendTotal": 51, "sendSlaveWait": 0} {
		v, ok := rt["latency."+stage]
		if want == 0 {
			if ok {
				t.Errorf("runtime info has latency.%s on a master without slaves", stage)
			}
			continue
		}
		h, err := hdrhistogram.Decode([]byte(v))
		if err != nil || h.TotalCount() < want {
			t.Errorf("latency.%s: %v, %d samples; want %d", stage, err, h.TotalCount(), want)
		}
	}
}

// TestDelayedMessage sends with delay level 1 (1 s) and checks the
// consumer sees it only after the delay.
func TestDelayedMessage(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Delayed"
	c.createTopic(topic, 1)
	var r received
	c.pushConsumer("GID_delay", "d", topic, "*", r.add)
	p := c.producer()
	sent := time.Now()
	m := primitive.NewMessage(topic, []byte("later")).WithDelayTimeLevel(1)
	if _, err := p.SendSync(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the delayed message", func() bool { return len(r.snapshot()) > 0 })
	got := r.snapshot()[0]
	if string(got.Body) != "later" || got.Topic != topic {
		t.Fatalf("got %q on %s", got.Body, got.Topic)
	}
	if d := time.UnixMilli(got.StoreTimestamp).Sub(sent); d < 900*time.Millisecond {
		t.Fatalf("delayed message stored in its topic %v after the send", d)
	}
}

type txListener struct {
	state primitive.LocalTransactionState
}

func (l txListener) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return l.state
}
func (l txListener) CheckLocalTransaction(*primitive.MessageExt) primitive.LocalTransactionState {
	return l.state
}

// TestTransactions commits one half message and rolls back another with
// the official transaction producer.
func TestTransactions(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Tx"
	c.createTopic(topic, 1)
	for _, tc := range []struct {
		state primitive.LocalTransactionState
		body  string
	}{{primitive.CommitMessageState, "commit"}, {primitive.RollbackMessageState, "rollback"}} {
		tp, err := rocketmq.NewTransactionProducer(txListener{tc.state},
			producer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
			producer.WithGroupName("PG_tx_"+tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Start(); err != nil {
			t.Fatal(err)
		}
		res, err := tp.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(tc.body)))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("%s: %v", tc.body, err)
		}
		tp.Shutdown()
	}
	eventually(t, 10*time.Second, "the committed message", func() bool { return c.maxOffset(topic, 0) == 1 })
	msgs := c.pullAll(topic, 1)[0]
	if len(msgs) != 1 || string(msgs[0].Body) != "commit" {
		t.Fatalf("visible messages: %d", len(msgs))
	}
}

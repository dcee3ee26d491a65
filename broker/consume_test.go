package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestBroadcastingConsumers: two push consumers of one group in
// BROADCASTING mode each receive every message.
func TestBroadcastingConsumers(t *testing.T) {
	c := startCluster(t, 1)
	const topic, n = "Broadcast", 12
	c.createTopic(topic, 2)
	// Broadcasting consumers keep their offsets in local files under
	// $HOME/.rocketmq_client_go, by group: a group of its own per run, or a
	// previous run's offsets would apply.
	group := fmt.Sprintf("GID_broadcast_%d", time.Now().UnixNano())
	t.Cleanup(func() { os.RemoveAll(filepath.Join(os.Getenv("HOME"), ".rocketmq_client_go", group)) })
	var mu sync.Mutex
	got := map[string]map[string]bool{"b1": {}, "b2": {}}
	for name := range got {
		c.pushConsumerWith(topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				got[name][string(m.Body)] = true
			}
			return consumer.ConsumeSuccess, nil
		}, consumer.WithGroupName(group), consumer.WithInstance(name), consumer.WithConsumerModel(consumer.BroadCasting))
	}
	p := c.producer()
	for i := range n {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "both consumers have every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["b1"]) == n && len(got["b2"]) == n
	})
}

// TestOrderlyConsumption: messages sent with a sharding key to one queue
// per key come out of an orderly push consumer in the order they were sent,
// each key's messages one after another (the client locks its queues with
// LOCK_BATCH_MQ first).
func TestOrderlyConsumption(t *testing.T) {
	c := startCluster(t, 1)
	const topic, keys, perKey = "Orderly", 3, 20
	c.createTopic(topic, 4)
	var mu sync.Mutex
	seen := map[string][]int{}
	c.pushConsumerWith(topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			key, seq, _ := strings.Cut(string(m.Body), "/")
			n, _ := strconv.Atoi(seq)
			seen[key] = append(seen[key], n)
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName("GID_orderly"), consumer.WithConsumerOrder(true))
	p := c.producer(producer.WithQueueSelector(producer.NewHashQueueSelector()))
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprintf("order-%d", k)
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s/%d", key, i)))
			m.WithShardingKey(key)
			if _, err := p.SendSync(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 20*time.Second, "every message consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, s := range seen {
			total += len(s)
		}
		return total >= keys*perKey
	})
	mu.Lock()
	defer mu.Unlock()
	for key, s := range seen {
		if !slices.IsSorted(s) || len(s) != perKey {
			t.Errorf("%s consumed as %v, want 0..%d in order", key, s, perKey-1)
		}
	}
}

// TestRetryThenDeadLetter: a message the consumer keeps failing comes back
// through the group's retry topic maxReconsumeTimes times, then lands in
// the group's dead-letter queue; a message that succeeds on its second
// delivery is not redelivered again.
func TestRetryThenDeadLetter(t *testing.T) {
	// One-second delay levels so that retries come back quickly.
	c := startCluster(t, 1, "-messageDelayLevel", strings.TrimSpace(strings.Repeat("1s ", 18)))
	const topic, group = "Retried", "GID_retry"
	c.createTopic(topic, 1)
	// The group has been used before: its retry topic exists. (A new group's
	// first consumer learns the retry topic's route only at its next route
	// refresh, 30 s later in the Go client, which would only slow this down.)
	c.createTopic("%RETRY%"+group, 1)
	var mu sync.Mutex
	deliveries := map[string]int{}
	c.pushConsumerWith(topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			deliveries[string(m.Body)]++
			if string(m.Body) == "poison" || deliveries[string(m.Body)] == 1 {
				return consumer.ConsumeRetryLater, nil
			}
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithMaxReconsumeTimes(2), consumer.WithConsumeMessageBatchMaxSize(1))
	p := c.producer()
	for _, body := range []string{"poison", "flaky"} {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "the poison message in the dead-letter queue", func() bool {
		resp := c.invoke(remoting.NewRequest(remoting.GetMaxOffset, "topic", "%DLQ%"+group, "queueId", "0"))
		return resp.Code == remoting.Success && resp.ExtValue("offset") != "0" // the topic is created with the first
	})
	c.waitRoute("%DLQ%" + group) // announced to the namesrv just after
	dlq := c.pullAll("%DLQ%"+group, 1)[0]
	mu.Lock()
	defer mu.Unlock()
	if len(dlq) != 1 || string(dlq[0].Body) != "poison" {
		var bodies []string
		for _, m := range dlq {
			bodies = append(bodies, string(m.Body))
		}
		t.Fatalf("dead-letter queue holds %q; want only the poison message", bodies)
	}
	if deliveries["poison"] != 3 {
		t.Errorf("poison delivered %d times, want 3 (the first and maxReconsumeTimes=2 retries)", deliveries["poison"])
	}
	if deliveries["flaky"] != 2 {
		t.Errorf("flaky delivered %d times, want 2", deliveries["flaky"])
	}
}

// TestPollConsumer: the Go client's lite-pull style API (Subscribe, Poll,
// ACK) reads every message and commits its offsets.
func TestPollConsumer(t *testing.T) {
	c := startCluster(t, 1)
	const topic, n = "Polled", 15
	c.createTopic(topic, 2)
	p := c.producer()
	for i := range n {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := rocketmq.NewPullConsumer(consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		consumer.WithGroupName("GID_poll"), consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer pc.Shutdown()
	got := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cr, err := pc.Poll(ctx, time.Second)
		cancel()
		if err != nil || cr == nil {
			continue
		}
		for _, m := range cr.GetMsgList() {
			got[string(m.Body)] = true
		}
		pc.ACK(context.Background(), cr, consumer.ConsumeSuccess)
	}
	if len(got) != n {
		t.Fatalf("polled %d distinct messages, want %d", len(got), n)
	}
}

// TestRequestReply: Producer.Request gets the answer a consumer sends back
// with a reply message: the broker stores it in <cluster>_REPLY_TOPIC like
// any send (with the CLUSTER property; on a SYNC_FLUSH broker, flushed
// before anyone hears of it) and pushes it to the requesting client.
func TestRequestReply(t *testing.T) {
	c := startCluster(t, 1, "-flushDiskType", "SYNC_FLUSH")
	const topic = "Requests"
	c.createTopic(topic, 2)
	reply := c.requestReply(topic, "t")
	for i := range 3 {
		if st := reply(); st != primitive.SendOK {
			t.Fatalf("request %d: the reply's status is %v", i, st)
		}
	}
	// Three requests and three replies waited for the group commit (a
	// request's wait may end after its reply was consumed: poll).
	flushWaits := func() int64 {
		h, err := hdrhistogram.Decode([]byte(c.runtime(c.brokerAddr)["latency.sendFlushWait"]))
		if err != nil {
			t.Fatalf("latency.sendFlushWait: %v", err)
		}
		return h.TotalCount()
	}
	eventually(t, 10*time.Second, "6 sends (3 requests, 3 replies) timed in sendFlushWait", func() bool { return flushWaits() >= 6 })
	if n := flushWaits(); n != 6 {
		t.Fatalf("latency.sendFlushWait has %d samples, want 6", n)
	}
}

package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestCleanRestartKeepsMessagesAndOffsets stops the broker gracefully and
// checks that messages, consume queues and committed offsets survive.
func TestCleanRestartKeepsMessagesAndOffsets(t *testing.T) {
	c := startCluster(t, 2)
	const topic = "Restart"
	c.createTopic(topic, 4)
	p := c.producer()
	for i := 0; i < 40; i++ {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("m%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	for q := 0; q < 4; q++ {
		resp := c.invoke(remoting.NewRequest(remoting.UpdateConsumerOffset, "consumerGroup", "GID_restart", "topic", topic,
			"queueId", strconv.Itoa(q), "commitOffset", strconv.Itoa(q+3)))
		if resp.Code != remoting.Success {
			t.Fatalf("commit offset: %d %s", resp.Code, resp.Remark)
		}
	}
	before := c.pullAll(topic, 4)
	if err := c.broker.Stop(); err != nil {
		t.Fatalf("stop broker: %v", err)
	}
	c.startBroker()
	c.waitRoute(topic)
	after := c.pullAll(topic, 4)
	for q := 0; q < 4; q++ {
		if len(after[q]) != len(before[q]) {
			t.Fatalf("queue %d: %d messages before restart, %d after", q, len(before[q]), len(after[q]))
		}
		for i := range before[q] {
			if string(after[q][i].Body) != string(before[q][i].Body) || after[q][i].MsgId != before[q][i].MsgId {
				t.Errorf("queue %d message %d changed across restart", q, i)
			}
		}
		resp := c.invoke(remoting.NewRequest(remoting.QueryConsumerOffset, "consumerGroup", "GID_restart", "topic", topic, "queueId", strconv.Itoa(q)))
		if resp.Code != remoting.Success || resp.ExtValue("offset") != strconv.Itoa(q+3) {
			t.Errorf("queue %d: committed offset after restart = %q (code %d), want %d", q, resp.ExtValue("offset"), resp.Code, q+3)
		}
	}
	// Appends continue where they stopped.
	res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("after")))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(before[res.MessageQueue.QueueId])); res.QueueOffset != want {
		t.Errorf("first send after restart got queue offset %d, want %d", res.QueueOffset, want)
	}
}

// TestKill9UnderLoad kills the broker while producers send synchronously
// and checks every acknowledged message is served after the restart.
func TestKill9UnderLoad(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Kill9"
	c.createTopic(topic, 4)
	p := c.producer(producer.WithRetry(0), producer.WithSendMsgTimeout(2*time.Second))
	acked := ackedUntilKilled(t, p, topic, 400, c.broker.Kill)
	c.startBroker()
	c.waitRoute(topic)
	lost, differ, stored := missing(acked, c.pullAll(topic, 4))
	t.Logf("acknowledged %d, found after kill -9 and restart %d (stored %d), lost %d, differing %d", len(acked), len(acked)-lost, stored, lost, differ)
	if lost > 0 || differ > 0 {
		t.Fatalf("%d acknowledged messages lost, %d differ", lost, differ)
	}
}

// TestTornTailRecovery kills the broker, cuts its last record short at
// several points, and checks that it restarts without that record, with
// everything before it, and keeps accepting sends.
func TestTornTailRecovery(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Torn"
	c.createTopic(topic, 1)
	p := c.producer()
	var last *primitive.SendResult
	for i := 0; i < 10; i++ {
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("torn-%d", i))))
		if err != nil {
			t.Fatal(err)
		}
		last = res
	}
	c.broker.Kill()
	phys, err := strconv.ParseInt(last.OffsetMsgID[16:], 16, 64)
	if err != nil {
		t.Fatalf("offset msg id %q: %v", last.OffsetMsgID, err)
	}
	seg := filepath.Join(c.storeDir, "commitlog", fmt.Sprintf("%020d", 0))
	pristine, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(binary.BigEndian.Uint32(pristine[phys:]))
	for _, keep := range []int64{0, 1, 4, 8, size / 2, size - 1} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			torn := append([]byte(nil), pristine...)
			clear(torn[phys+keep : phys+size])
			if err := os.WriteFile(seg, torn, 0o644); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(c.storeDir, "abort"), nil, 0o644) // the kill left it; keep it for every case
			c.startBroker()
			if got := c.maxOffset(topic, 0); got != 9 {
				t.Fatalf("max offset after recovery = %d, want 9", got)
			}
			msgs := c.pullAll(topic, 1)[0]
			for i, m := range msgs {
				if string(m.Body) != fmt.Sprintf("torn-%d", i) {
					t.Fatalf("message %d is %q", i, m.Body)
				}
			}
			res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("next")))
			if err != nil || res.QueueOffset != 9 {
				t.Fatalf("send after recovery: %v, queue offset %d", err, res.QueueOffset)
			}
			c.broker.Kill()
		})
	}
}

package client

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// interopMessages are sent by one client and read by the other: plain and
// compressed (10 KiB) bodies with tags, keys and properties.
func interopMessages(topic string) []*Message {
	return []*Message{
		{Topic: topic, Body: []byte("plain body"), Tags: "TagA", Keys: []string{"order-1", "user-7"}, Properties: map[string]string{"color": "blue", "n": "1"}},
		{Topic: topic, Body: compressible(10 << 10), Tags: "TagB", Keys: []string{"big"}, Properties: map[string]string{"color": "red"}},
		{Topic: topic, Body: []byte("no tags"), Properties: map[string]string{"only": "props"}},
		{Topic: topic, Body: bytes.Repeat([]byte{0, 0xff, 0x01, 0x02}, 3000), Tags: "TagA", Keys: []string{"binary"}}, // 12000 bytes, compressed
	}
}

// TestInteropOfficialConsumersReadOurs: our producer's messages read by
// the official pull consumer and push consumer.
func TestInteropOfficialConsumersReadOurs(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "InteropOurs"
	c.createTopic(topic, 1)
	p := c.producer()
	want := map[string]*Message{}
	for i, m := range interopMessages(topic) {
		res, err := p.Send(context.Background(), m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want[res.MsgID] = m
	}
	checkOfficial := func(how string, m *primitive.MessageExt) {
		t.Helper()
		w := want[m.MsgId]
		if w == nil {
			t.Errorf("%s: unknown message %s", how, m.MsgId)
			return
		}
		if !bytes.Equal(m.Body, w.Body) || m.GetTags() != w.Tags || m.GetKeys() != strings.Join(w.Keys, " ") || m.Topic != topic {
			t.Errorf("%s: message %s: body %d bytes, tags %q, keys %q; sent %d bytes, %q, %q", how, m.MsgId, len(m.Body), m.GetTags(), m.GetKeys(), len(w.Body), w.Tags, w.Keys)
		}
		for k, v := range w.Properties {
			if m.GetProperty(k) != v {
				t.Errorf("%s: message %s property %s = %q, want %q", how, m.MsgId, k, m.GetProperty(k), v)
			}
		}
		if compressed := m.SysFlag&primitive.FlagCompressed != 0; compressed != (len(w.Body) >= 4096) {
			t.Errorf("%s: message %s of %d bytes stored compressed=%v", how, m.MsgId, len(w.Body), compressed)
		}
	}

	// Pull consumer.
	pc, err := rocketmq.NewPullConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		consumer.WithGroupName("GID_interop_pull"),
	)
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
	mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}
	var pulled []*primitive.MessageExt
	for off := int64(0); off < int64(len(want)); {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := pc.PullFrom(ctx, mq, off, 32)
		cancel()
		if err != nil || res.Status != primitive.PullFound {
			t.Fatalf("official PullFrom %d: %v %+v", off, err, res)
		}
		pulled = append(pulled, res.GetMessageExts()...)
		off = res.NextBeginOffset
	}
	if len(pulled) != len(want) {
		t.Fatalf("official pull consumer read %d messages, want %d", len(pulled), len(want))
	}
	for _, m := range pulled {
		checkOfficial("pull consumer", m)
	}

	// Push consumer with a tag filter.
	var mu sync.Mutex
	got := map[string]*primitive.MessageExt{}
	push, err := rocketmq.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		consumer.WithGroupName("GID_interop_push"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		t.Fatal(err)
	}
	err = push.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA || TagB"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				got[m.MsgId] = m
			}
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer push.Shutdown()
	waitFor(t, 30*time.Second, "the push consumer to get the 3 tagged messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Errorf("push consumer got %d messages, want 3", len(got))
	}
	for _, m := range got {
		checkOfficial("push consumer", m)
	}
}

// TestInteropOurConsumerReadsOfficial: the official producer's messages
// read by our PullConsumer.
func TestInteropOurConsumerReadsOfficial(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "InteropTheirs"
	c.createTopic(topic, 2)
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		producer.WithGroupName("PG_interop_official"),
		producer.WithRetry(2),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	var s sent
	for i, m := range interopMessages(topic) {
		om := primitive.NewMessage(topic, m.Body)
		if m.Tags != "" {
			om.WithTag(m.Tags)
		}
		if len(m.Keys) > 0 {
			om.WithKeys(m.Keys)
		}
		for k, v := range m.Properties {
			om.WithProperty(k, v)
		}
		om.Flag = int32(i)
		m.Flag = int32(i)
		res, err := p.SendSync(context.Background(), om)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("official SendSync %d: %v %+v", i, err, res)
		}
		s.add(res.MsgID, m)
	}
	res, err := p.SendSync(context.Background(),
		primitive.NewMessage(topic, []byte("b1")).WithTag("TagC"),
		primitive.NewMessage(topic, []byte("b2")).WithTag("TagC"))
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("official batch: %v %+v", err, res)
	}

	pc := c.consumer("GID_interop_ours")
	pc.Subscribe(topic, "*")
	n, batch := 0, 0
	for _, q := range mustQueues(t, pc, topic) {
		for _, m := range pullAll(t, pc, q) {
			if m.Tags == "TagC" {
				batch++ // the official client sends batches without UNIQ_KEY
				if m.MsgID != m.OffsetMsgID || (string(m.Body) != "b1" && string(m.Body) != "b2") {
					t.Errorf("batch message %+v", m)
				}
				continue
			}
			s.check(t, m)
			n++
		}
	}
	if n != len(s.msgs) || batch != 2 {
		t.Fatalf("read %d single and %d batch messages, want %d and 2", n, batch, len(s.msgs))
	}
}

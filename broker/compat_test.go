package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestSendModes covers SendSync, SendAsync, SendOneWay and a batch, with
// two namesrvs and an auto-created topic.
func TestSendModes(t *testing.T) {
	c := startCluster(t, 2)
	p := c.producer()
	const topic = "SendModes"
	ctx := context.Background()
	want := map[string]bool{}

	for i := 0; i < 10; i++ {
		body := fmt.Sprintf("sync-%d", i)
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatalf("SendSync %d: %v", i, err)
		}
		if res.Status != primitive.SendOK || len(res.OffsetMsgID) != 32 || res.MsgID == "" {
			t.Fatalf("SendSync %d: %+v", i, res)
		}
		want[body] = true
	}
	c.waitRoute(topic)

	var wg sync.WaitGroup
	var asyncErrs atomic.Int32
	for i := 0; i < 10; i++ {
		body := fmt.Sprintf("async-%d", i)
		want[body] = true
		wg.Add(1)
		err := p.SendAsync(ctx, func(_ context.Context, res *primitive.SendResult, err error) {
			defer wg.Done()
			if err != nil || res.Status != primitive.SendOK {
				asyncErrs.Add(1)
			}
		}, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
	}
	wg.Wait()
	if n := asyncErrs.Load(); n > 0 {
		t.Fatalf("%d async sends failed", n)
	}

	for i := 0; i < 10; i++ {
		body := fmt.Sprintf("oneway-%d", i)
		want[body] = true
		if err := p.SendOneWay(ctx, primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatalf("SendOneWay %d: %v", i, err)
		}
	}

	var batch []*primitive.Message
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf("batch-%d", i)
		want[body] = true
		batch = append(batch, primitive.NewMessage(topic, []byte(body)).WithTag("B"))
	}
	res, err := p.SendSync(ctx, batch...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("batch send: %v %+v", err, res)
	}

	var total int64
	eventually(t, 10*time.Second, "all 35 messages stored", func() bool {
		total = 0
		for q := 0; q < 4; q++ {
			total += c.maxOffset(topic, q)
		}
		return total == int64(len(want))
	})
	all := c.pullAll(topic, 4)
	got := map[string]bool{}
	for q, msgs := range all {
		for i, m := range msgs {
			got[string(m.Body)] = true
			if m.QueueOffset != int64(i) || m.Queue.QueueId != q {
				t.Errorf("queue %d message %d has queue offset %d, queue id %d", q, i, m.QueueOffset, m.Queue.QueueId)
			}
		}
	}
	for b := range want {
		if !got[b] {
			t.Errorf("message %q not stored", b)
		}
	}
	// The batch went to one queue with consecutive offsets.
	for _, msgs := range all {
		var offs []int64
		for _, m := range msgs {
			if m.GetTags() == "B" {
				offs = append(offs, m.QueueOffset)
			}
		}
		for i := 1; i < len(offs); i++ {
			if offs[i] != offs[i-1]+1 {
				t.Errorf("batch offsets not consecutive: %v", offs)
			}
		}
	}
}

// TestPushConsumerTagFilter checks that a tag expression delivers exactly
// the matching messages with body, keys and properties intact.
func TestPushConsumerTagFilter(t *testing.T) {
	c := startCluster(t, 2)
	const topic = "TagFilter"
	c.createTopic(topic, 4)
	p := c.producer()
	var want []string
	for i := 0; i < 30; i++ {
		tag := []string{"TagA", "TagB", "TagC"}[i%3]
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("body-%d-%s", i, tag))).WithTag(tag).WithKeys([]string{fmt.Sprintf("k%d", i), "common"})
		m.WithProperty("userProp", fmt.Sprintf("v%d", i))
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if tag != "TagB" {
			want = append(want, string(m.Body))
		}
	}
	var r received
	c.pushConsumer("GID_tags", "tags", topic, "TagA || TagC", r.add)
	eventually(t, 30*time.Second, "20 matching messages", func() bool { return len(r.bodies()) >= len(want) })
	time.Sleep(500 * time.Millisecond) // would a non-matching message still come?
	got := r.bodies()
	if len(got) != len(want) {
		t.Fatalf("got %d distinct messages, want %d: %v", len(got), len(want), got)
	}
	for _, b := range want {
		if got[b] == 0 {
			t.Errorf("missing %q", b)
		}
	}
	for _, m := range r.snapshot() {
		var i int
		var tag string
		fmt.Sscanf(string(m.Body), "body-%d-%s", &i, &tag)
		if m.GetTags() != tag || tag == "TagB" {
			t.Errorf("message %q has tag %q", m.Body, m.GetTags())
		}
		if m.GetKeys() != fmt.Sprintf("k%d common", i) {
			t.Errorf("message %q has keys %q", m.Body, m.GetKeys())
		}
		if m.GetProperty("userProp") != fmt.Sprintf("v%d", i) {
			t.Errorf("message %q has userProp %q", m.Body, m.GetProperty("userProp"))
		}
		if m.Topic != topic || m.StoreHost != c.brokerAddr {
			t.Errorf("message %q: topic %q store host %q", m.Body, m.Topic, m.StoreHost)
		}
	}
}

// TestConsumersSplitQueues starts two consumers of one group and checks
// that they end up consuming disjoint halves of the queues.
func TestConsumersSplitQueues(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Split"
	c.createTopic(topic, 4)
	p := c.producer()
	var mu sync.Mutex
	byConsumer := map[string]map[int]bool{}
	round := 0
	record := func(name string) func(*primitive.MessageExt) {
		return func(m *primitive.MessageExt) {
			mu.Lock()
			defer mu.Unlock()
			if m.GetProperty("round") != fmt.Sprint(round) {
				return
			}
			if byConsumer[name] == nil {
				byConsumer[name] = map[int]bool{}
			}
			byConsumer[name][m.Queue.QueueId] = true
		}
	}
	c.pushConsumer("GID_split", "c1", topic, "*", record("c1"))
	c.pushConsumer("GID_split", "c2", topic, "*", record("c2"))
	split := func() bool {
		mu.Lock()
		round++
		byConsumer = map[string]map[int]bool{}
		r := round
		mu.Unlock()
		for i := 0; i < 8; i++ {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("r%d-%d", r, i)))
			m.WithProperty("round", fmt.Sprint(r))
			if _, err := p.SendSync(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		a, b := byConsumer["c1"], byConsumer["c2"]
		if len(a) != 2 || len(b) != 2 {
			return false
		}
		for q := range a {
			if b[q] {
				return false
			}
		}
		return true
	}
	eventually(t, 40*time.Second, "two consumers with two queues each", split)
}

// TestConsumerResumesFromCommittedOffset restarts a consumer in the same
// group and checks it does not see the messages it already consumed.
func TestConsumerResumesFromCommittedOffset(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Resume"
	c.createTopic(topic, 2)
	p := c.producer()
	send := func(prefix string, n int) {
		for i := 0; i < n; i++ {
			if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("%s-%d", prefix, i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("first", 20)
	var r1 received
	c1 := c.pushConsumer("GID_resume", "r1", topic, "*", r1.add)
	eventually(t, 30*time.Second, "first 20 consumed", func() bool { return len(r1.bodies()) == 20 })
	if err := c1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	send("second", 20)
	var r2 received
	c.pushConsumer("GID_resume", "r2", topic, "*", r2.add)
	eventually(t, 30*time.Second, "second 20 consumed", func() bool { return len(r2.bodies()) >= 20 })
	for b := range r2.bodies() {
		if bytes.HasPrefix([]byte(b), []byte("first")) {
			t.Errorf("restarted consumer got already consumed %q", b)
		}
	}
}

// TestPullConsumerReadAndSeek reads a queue with the official pull
// consumer, then seeks back and by timestamp.
func TestPullConsumerReadAndSeek(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "PullSeek"
	c.createTopic(topic, 1)
	p := c.producer()
	for i := 0; i < 20; i++ {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("m%02d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	all := c.pullAll(topic, 1)[0]
	if len(all) != 20 {
		t.Fatalf("pulled %d messages, want 20", len(all))
	}
	for i, m := range all {
		if string(m.Body) != fmt.Sprintf("m%02d", i) {
			t.Fatalf("message %d is %q", i, m.Body)
		}
	}
	// Seek: pull from offset 13.
	pc := c.pullConsumer(topic)
	mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}
	res, err := pc.PullFrom(context.Background(), mq, 13, 4)
	if err != nil || res.Status != primitive.PullFound {
		t.Fatalf("PullFrom 13: %v %+v", err, res)
	}
	msgs := res.GetMessageExts()
	if len(msgs) != 4 || string(msgs[0].Body) != "m13" || res.NextBeginOffset != 17 || res.MaxOffset != 20 {
		t.Fatalf("PullFrom 13 gave %d messages starting %q, next %d, max %d", len(msgs), msgs[0].Body, res.NextBeginOffset, res.MaxOffset)
	}
	// Seek by time: the store time of message 7 finds offset ≤ 7.
	off, err := pc.OffsetForTimestamp(mq, all[7].StoreTimestamp)
	if err != nil || off > 7 || all[off].StoreTimestamp != all[7].StoreTimestamp {
		t.Fatalf("OffsetForTimestamp(store time of #7) = %d, %v", off, err)
	}
	// Past the end: offset moved.
	res, err = pc.PullFrom(context.Background(), mq, 25, 4)
	if err != nil || res.Status != primitive.PullOffsetIllegal || res.NextBeginOffset != 20 {
		t.Fatalf("PullFrom 25: %v %+v", err, res)
	}
}

// TestBodySizes round-trips bodies around the compression threshold and at
// the 4 MiB limit.
func TestBodySizes(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "Sizes"
	c.createTopic(topic, 1)
	p := c.producer()
	rng := rand.New(rand.NewPCG(1, 2))
	var bodies [][]byte
	for _, n := range []int{4095, 4096, 4097, 4 << 20} {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefgh"[rng.IntN(8)] // compressible, not trivially
		}
		bodies = append(bodies, b)
		if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, b)); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d bytes: %v", n, err)
		}
	}
	got := c.pullAll(topic, 1)[0]
	if len(got) != len(bodies) {
		t.Fatalf("pulled %d messages, want %d", len(got), len(bodies))
	}
	for i, m := range got {
		if !bytes.Equal(m.Body, bodies[i]) {
			t.Errorf("body %d: got %d bytes, want %d", i, len(m.Body), len(bodies[i]))
		}
		if compressed := m.SysFlag&1 != 0; compressed != (len(bodies[i]) >= 4096) {
			t.Errorf("body %d (%d bytes): compressed=%v", i, len(bodies[i]), compressed)
		}
	}
}

// TestDeadNamesrvFirst gives the client a namesrv list whose first entry
// is dead.
func TestDeadNamesrvFirst(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "DeadFirst"
	c.createTopic(topic, 2)
	dead := fmt.Sprintf("127.0.0.1:%d", freeDeadPort(t))
	p := newProducer(t, []string{dead, c.nsAddrs[0]})
	for i := 0; i < 5; i++ {
		if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprint(i)))); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// TestAdminCreateTopic uses the official admin client to create, list and
// delete a topic.
func TestAdminCreateTopic(t *testing.T) {
	c := startCluster(t, 2)
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(c.nsAddrs)))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	if err := adm.CreateTopic(ctx, admin.WithTopicCreate("AdminMade"), admin.WithBrokerAddrCreate(c.brokerAddr), admin.WithReadQueueNums(3), admin.WithWriteQueueNums(3)); err != nil {
		t.Fatal(err)
	}
	c.waitRoute("AdminMade")
	list, err := adm.FetchAllTopicList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(list.TopicList)
	if i := sort.SearchStrings(list.TopicList, "AdminMade"); i == len(list.TopicList) || list.TopicList[i] != "AdminMade" {
		t.Fatalf("topic list %v lacks AdminMade", list.TopicList)
	}
	if err := adm.DeleteTopic(ctx, admin.WithTopicDelete("AdminMade"), admin.WithBrokerAddrDelete(c.brokerAddr)); err != nil {
		t.Fatal(err)
	}
	// The route is gone from every namesrv (DELETE_TOPIC_IN_NAMESRV), and
	// the broker's next registration does not bring it back.
	gone := func() {
		t.Helper()
		for _, ns := range c.nsAddrs {
			resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "AdminMade"))
			if err != nil || resp.Code != remoting.TopicNotExist {
				t.Fatalf("route of AdminMade at %s after DeleteTopic: %v %+v", ns, err, resp)
			}
		}
	}
	gone()
	c.createTopic("AdminNext", 1)
	gone()
}

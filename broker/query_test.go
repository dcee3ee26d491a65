package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// keyedMsg is what a send result tells of a keyed message.
type keyedMsg struct {
	body, key, uniq, offsetID string
	queue                     int
}

// mqadmin runs bin/mqadmin and returns its output; fail says whether it
// must fail.
func mqadmin(t *testing.T, fail bool, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "mqadmin"), args...).CombinedOutput()
	if (err != nil) != fail {
		t.Fatalf("mqadmin %v: err %v\n%s", args, err, out)
	}
	return string(out)
}

// queryByKey asks the broker for topic's messages under key (QUERY_MESSAGE)
// and decodes them with the official client.
func (c *cluster) queryByKey(topic, key string, unique bool) (*remoting.Command, []*primitive.MessageExt) {
	c.t.Helper()
	resp := c.invoke(remoting.NewRequest(remoting.QueryMessage, "topic", topic, "key", key, "maxNum", "64",
		"beginTimestamp", "0", "endTimestamp", strconv.FormatInt(math.MaxInt64, 10), "_UNIQUE_KEY_QUERY", strconv.FormatBool(unique)))
	if resp.Code != remoting.Success {
		return resp, nil
	}
	return resp, primitive.DecodeMessage(resp.Body)
}

// checkFound checks that every message is found by its key, by its unique
// key and by its offset message id, with its body: through the broker's
// requests for all, through bin/mqadmin for every step-th.
func (c *cluster) checkFound(topic, ns string, msgs []keyedMsg, step int) {
	t := c.t
	t.Helper()
	for i, m := range msgs {
		eventually(t, 10*time.Second, "the index to hold "+m.key, func() bool {
			_, got := c.queryByKey(topic, m.key, false)
			return len(got) == 1 && string(got[0].Body) == m.body && got[0].MsgId == m.uniq
		})
		if _, got := c.queryByKey(topic, m.uniq, true); len(got) != 1 || string(got[0].Body) != m.body || got[0].OffsetMsgId != m.offsetID {
			t.Fatalf("unique key %s: %d messages %v", m.uniq, len(got), got)
		}
		_, off, err := wire.ParseOffsetMsgID(m.offsetID)
		if err != nil {
			t.Fatal(err)
		}
		resp := c.invoke(remoting.NewRequest(remoting.ViewMessageByID, "offset", strconv.FormatInt(off, 10)))
		if got := primitive.DecodeMessage(resp.Body); resp.Code != remoting.Success || len(got) != 1 || string(got[0].Body) != m.body {
			t.Fatalf("view %s: code %d %q, %v", m.offsetID, resp.Code, resp.Remark, got)
		}
		if i%step != 0 {
			continue
		}
		out := mqadmin(t, false, "queryMsgByKey", "-n", ns, "-t", topic, "-k", m.key)
		if !strings.Contains(out, m.uniq) || !strings.Contains(out, m.offsetID) || !strings.Contains(out, m.body) {
			t.Fatalf("queryMsgByKey %s:\n%s", m.key, out)
		}
		for _, args := range [][]string{{"queryMsgByUniqueKey", "-t", topic, "-i", m.uniq}, {"queryMsgById", "-i", m.offsetID}} {
			out := mqadmin(t, false, append(args, "-n", ns)...)
			for _, want := range []string{"OffsetID:            " + m.offsetID, "Topic:               " + topic,
				"Keys:                [" + m.key + " ops]", "Message Body:        " + m.body, "UNIQ_KEY=" + m.uniq} {
				if !strings.Contains(out, want) {
					t.Fatalf("%s: no %q in\n%s", args[0], want, out)
				}
			}
		}
	}
}

// TestOperatorQuestions sends keyed messages and consumes part of them
// with the official client, then answers the operator's questions with
// the broker's requests and bin/mqadmin: each message is found by key, by
// unique key and by offset id with its body; consumerProgress shows the
// lag per queue; resetOffsetByTime moves a running push consumer back and
// it receives the messages again; after kill -9 and a restart, the index
// still finds every message. Index files of 50 entries roll as it goes.
func TestOperatorQuestions(t *testing.T) {
	c := startCluster(t, 1, "-maxHashSlotNum", "97", "-maxIndexNum", "50", "-maxMsgsNumBatch", "16", "-defaultQueryMaxNum", "8")
	ns := c.nsAddrs[0]
	const topic, group = "OpsTopic", "GID_ops"
	c.createTopic(topic, 4)
	p := c.producer()
	var msgs []keyedMsg
	send := func(from, to int) {
		for i := from; i < to; i++ {
			m := keyedMsg{body: fmt.Sprintf("order %d paid", i), key: fmt.Sprintf("order-%d", i)}
			res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(m.body)).WithKeys([]string{m.key, "ops"}).WithTag("paid"))
			if err != nil || res.Status != primitive.SendOK {
				t.Fatalf("send %d: %v %v", i, err, res)
			}
			m.uniq, m.offsetID, m.queue = res.MsgID, res.OffsetMsgID, res.MessageQueue.QueueId
			msgs = append(msgs, m)
		}
	}
	perQueue := func(ms []keyedMsg) [4]int64 {
		var n [4]int64
		for _, m := range ms {
			n[m.queue]++
		}
		return n
	}

	// 20 messages, consumed by the group; 20 more, not consumed.
	send(0, 20)
	var first received
	pc := c.pushConsumer(group, "first", topic, "*", first.add)
	eventually(t, 30*time.Second, "the first consumer to get 20 messages", func() bool { return len(first.bodies()) == 20 })
	pc.Shutdown() // commits its offsets
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	send(20, 40)
	consumed, all := perQueue(msgs[:20]), perQueue(msgs)

	c.checkFound(topic, ns, msgs, 7)
	if _, got := c.queryByKey(topic, "ops", false); len(got) != 16 {
		t.Errorf("key ops: %d messages, want maxMsgsNumBatch=16", len(got))
	}
	if _, got := c.queryByKey(topic, "ops", true); len(got) != 8 {
		t.Errorf("key ops as a unique key query: %d messages, want defaultQueryMaxNum=8", len(got))
	}

	// consumerProgress: lag = sent − consumed, per queue.
	out := mqadmin(t, false, "consumerProgress", "-n", ns, "-g", group)
	row := regexp.MustCompile(`(?m)^` + topic + `\s+broker-a\s+(\d)\s+(\d+)\s+(\d+)\s+N/A\s+(\d+)\s+(\S+ \S+|N/A)\s*$`)
	rows := row.FindAllStringSubmatch(out, -1)
	if len(rows) != 4 || !strings.Contains(out, "Consume Diff Total: 20") {
		t.Fatalf("consumerProgress:\n%s", out)
	}
	for _, r := range rows {
		q, _ := strconv.Atoi(r[1])
		broker, consumer, diff := atoi64(r[2]), atoi64(r[3]), atoi64(r[4])
		if broker != all[q] || consumer != consumed[q] || diff != all[q]-consumed[q] || (consumed[q] > 0) != (r[5] != "N/A") {
			t.Errorf("queue %d: broker %d consumer %d diff %d last %q; want %d %d %d", q, broker, consumer, diff, r[5], all[q], consumed[q], all[q]-consumed[q])
		}
	}
	out = mqadmin(t, false, "topicStatus", "-n", ns, "-t", topic)
	for q := 0; q < 4; q++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^broker-a\s+%d\s+0\s+%d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s*$`, q, all[q])).MatchString(out) {
			t.Fatalf("topicStatus queue %d (max %d):\n%s", q, all[q], out)
		}
	}

	// A running consumer takes the 20 new messages; reset to the time
	// between the two sends, it receives them again.
	var second received
	c.pushConsumer(group, "second", topic, "*", second.add)
	eventually(t, 30*time.Second, "the second consumer to get the 20 new messages", func() bool { return len(second.bodies()) == 20 })
	out = mqadmin(t, false, "resetOffsetByTime", "-n", ns, "-g", group, "-t", topic, "-s", mid.Format("2006-01-02#15:04:05")+fmt.Sprintf(":%03d", mid.Nanosecond()/1e6))
	for q := 0; q < 4; q++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^broker-a\s+%d\s+%d\s*$`, q, consumed[q])).MatchString(out) {
			t.Fatalf("resetOffsetByTime queue %d (want offset %d):\n%s", q, consumed[q], out)
		}
	}
	eventually(t, 60*time.Second, "the second consumer to get the 20 messages again", func() bool {
		b := second.bodies()
		for _, m := range msgs[20:] {
			if b[m.body] < 2 {
				return false
			}
		}
		return true
	})
	for _, m := range msgs[:20] {
		if n := second.bodies()[m.body]; n != 0 {
			t.Errorf("%q (before the reset time) received %d times after the reset", m.body, n)
		}
	}

	// kill -9 right after more sends: the index rebuilds its tail from the log.
	send(40, 50)
	c.broker.Kill()
	c.startBroker()
	c.waitRoute(topic)
	c.checkFound(topic, ns, msgs, 9)
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// TestOperatorQuestionsBadInput checks that malformed or impossible
// requests get a RocketMQ error code with a remark, and bin/mqadmin a
// message naming the problem.
func TestOperatorQuestionsBadInput(t *testing.T) {
	c := startCluster(t, 1)
	ns := c.nsAddrs[0]
	c.createTopic("BadIn", 2)
	res, err := c.producer().SendSync(context.Background(), primitive.NewMessage("BadIn", []byte("x")).WithKeys([]string{"k"}))
	if err != nil {
		t.Fatal(err)
	}
	_, off, _ := wire.ParseOffsetMsgID(res.OffsetMsgID)
	for _, tc := range []struct {
		req    *remoting.Command
		code   int32
		remark string
	}{
		{remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "maxNum", "1"), remoting.InvalidParameter, "key"},
		{remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "key", "k", "maxNum", "0"), remoting.InvalidParameter, "maxNum=0"},
		{remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "key", "k", "maxNum", "x"), remoting.InvalidParameter, "maxNum"},
		{remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "key", "k", "beginTimestamp", "9", "endTimestamp", "1"), remoting.InvalidParameter, "after"},
		{remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "key", "nope"), remoting.QueryNotFound, "nope"},
		{remoting.NewRequest(remoting.QueryMessage, "topic", "Other", "key", "k"), remoting.QueryNotFound, "Other"},
		{remoting.NewRequest(remoting.ViewMessageByID), remoting.InvalidParameter, "offset"},
		{remoting.NewRequest(remoting.ViewMessageByID, "offset", "-1"), remoting.SystemError, "offset, -1"},
		{remoting.NewRequest(remoting.ViewMessageByID, "offset", strconv.FormatInt(off+1, 10)), remoting.SystemError, "offset, " + strconv.FormatInt(off+1, 10)},
		{remoting.NewRequest(remoting.ViewMessageByID, "offset", strconv.FormatInt(math.MaxInt64, 10)), remoting.SystemError, "can not find"},
		{remoting.NewRequest(remoting.GetTopicStatsInfo, "topic", "NoSuchTopic"), remoting.TopicNotExist, "NoSuchTopic"},
		{remoting.NewRequest(remoting.GetConsumeStats), remoting.InvalidParameter, "consumerGroup"},
		{remoting.NewRequest(remoting.GetConsumeStats, "consumerGroup", "g", "topic", "NoSuchTopic"), remoting.TopicNotExist, "NoSuchTopic"},
		{remoting.NewRequest(remoting.InvokeBrokerToResetOffset, "topic", "BadIn", "group", "GID_never", "timestamp", "0"), remoting.SubscriptionGroupNotExist, "GID_never"},
		{remoting.NewRequest(remoting.InvokeBrokerToResetOffset, "topic", "BadIn", "group", "g", "timestamp", "-5"), remoting.InvalidParameter, "timestamp=-5"},
		{remoting.NewRequest(remoting.InvokeBrokerToResetOffset, "topic", "NoSuchTopic", "group", "g", "timestamp", "0"), remoting.TopicNotExist, "NoSuchTopic"},
		{remoting.NewRequest(remoting.InvokeBrokerToResetOffset, "topic", "BadIn", "group", "g"), remoting.InvalidParameter, "timestamp"},
	} {
		resp := c.invoke(tc.req)
		if resp.Code != tc.code || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("code %d %v: got %d %q, want %d with %q", tc.req.Code, tc.req.Fields(), resp.Code, resp.Remark, tc.code, tc.remark)
		}
	}
	// A group that consumed nothing: SUCCESS with no queues, as Java.
	if resp := c.invoke(remoting.NewRequest(remoting.GetConsumeStats, "consumerGroup", "GID_never")); resp.Code != remoting.Success {
		t.Errorf("consume stats of an unknown group: %d %q", resp.Code, resp.Remark)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queryMsgById", "-i", "not-an-id"}, "not an offset message id"},
		{[]string{"queryMsgById"}, "-i MSG_ID is required"},
		{[]string{"queryMsgByKey", "-t", "BadIn", "-k", "nope"}, `no message of topic BadIn has the key "nope"`},
		{[]string{"queryMsgByUniqueKey", "-t", "BadIn"}, "-i UNIQ_KEY are required"},
		{[]string{"consumerProgress", "-g", "GID_never"}, "no broker has consume stats of group GID_never"},
		{[]string{"resetOffsetByTime", "-g", "g", "-t", "BadIn", "-s", "yesterday"}, "yyyy-MM-dd#HH:mm:ss:SSS"},
		{[]string{"resetOffsetByTime", "-g", "GID_never", "-t", "BadIn", "-s", "now"}, "GID_never does not exist"},
		{[]string{"topicStatus", "-t", "NoSuchTopic"}, "NoSuchTopic"},
	} {
		if out := mqadmin(t, true, append(tc.args, "-n", ns)...); !strings.Contains(out, tc.want) {
			t.Errorf("mqadmin %v: want %q in\n%s", tc.args, tc.want, out)
		}
	}

	// Without the index, a key query says why it finds nothing.
	off2 := startCluster(t, 1, "-messageIndexEnable", "false")
	resp := off2.invoke(remoting.NewRequest(remoting.QueryMessage, "topic", "BadIn", "key", "k"))
	if resp.Code != remoting.QueryNotFound || !strings.Contains(resp.Remark, "messageIndexEnable=false") {
		t.Errorf("query without an index: %d %q", resp.Code, resp.Remark)
	}
}

// TestIndexFollowsRetention: once retention deletes segments, the index
// files whose records all went are deleted too; messages still stored are
// still found by key, deleted ones are not.
func TestIndexFollowsRetention(t *testing.T) {
	c := startCluster(t, 1, eagerRetention("-maxHashSlotNum", "101", "-maxIndexNum", "100")...)
	const topic, n = "RetainedKeys", 1200
	c.createTopic(topic, 1)
	p := c.producer()
	pad := strings.Repeat("r", 3000)
	offs := make([]int64, n)
	for i := 0; i < n; i++ {
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("%05d:%s", i, pad))).WithKeys([]string{fmt.Sprintf("rk-%d", i)}))
		if err != nil {
			t.Fatal(err)
		}
		_, offs[i], _ = wire.ParseOffsetMsgID(res.OffsetMsgID)
	}
	indexDir := filepath.Join(c.storeDir, "index")
	var minOff int64
	eventually(t, 20*time.Second, "retention to delete the index files of deleted segments", func() bool {
		minOff, _ = strconv.ParseInt(c.runtime(c.brokerAddr)["commitLogMinOffset"], 10, 64)
		if minOff < 2<<20 {
			return false
		}
		files, _ := os.ReadDir(indexDir)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(indexDir, f.Name()))
			if err != nil || len(b) < 40 || int64(binary.BigEndian.Uint64(b[24:])) < minOff {
				return false // a file whose records are all gone is still there
			}
		}
		return len(files) > 0
	})
	// The index is built behind the log (a key is findable some
	// milliseconds after its message is stored): wait until it reaches
	// the last message, which retention keeps (it is in the active segment).
	eventually(t, 10*time.Second, "the index to reach the last message", func() bool {
		_, got := c.queryByKey(topic, fmt.Sprintf("rk-%d", n-1), false)
		return len(got) == 1
	})
	for _, i := range []int{0, n / 4, n - 1} {
		resp, got := c.queryByKey(topic, fmt.Sprintf("rk-%d", i), false)
		switch stored := offs[i] >= minOff; {
		case stored && (len(got) != 1 || !strings.HasPrefix(string(got[0].Body), fmt.Sprintf("%05d:", i))):
			t.Errorf("rk-%d (stored at %d, log from %d): %d %q %d messages", i, offs[i], minOff, resp.Code, resp.Remark, len(got))
		case !stored && resp.Code != remoting.QueryNotFound:
			t.Errorf("rk-%d (deleted, at %d < %d): code %d, want QUERY_NOT_FOUND", i, offs[i], minOff, resp.Code)
		}
	}
}

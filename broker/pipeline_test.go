package broker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestEveryPathWaitsForTheSlave: on a SYNC_MASTER whose slave is not
// there, every path that stores a message answers only once the slave
// stage has spoken, and says the message is not safe yet: a send and a
// reply get SLAVE_NOT_AVAILABLE (the requester still gets its reply), a
// send-back SYSTEM_ERROR, END_TRANSACTION SLAVE_NOT_AVAILABLE, and the
// scheduler delivers a due message but does not persist its offset past
// it. With the slave back, the same requests are answered SUCCESS and the
// scheduler's offset moves on.
func TestEveryPathWaitsForTheSlave(t *testing.T) {
	c := startCluster(t, 1, "-brokerRole", "SYNC_MASTER", "-flushConsumerOffsetInterval", "100")
	const topic = "Durable"
	c.createTopic(topic, 1)
	send := func(props string, sysFlag int) (code int32, phys int64, remark string) {
		t.Helper()
		req := remoting.NewRequest(remoting.SendMessageV2,
			"a", "PG_durable", "b", topic, "c", "TBW102", "d", "4", "e", "0", "f", strconv.Itoa(sysFlag),
			"g", strconv.FormatInt(time.Now().UnixMilli(), 10), "h", "0", "i", props, "j", "0", "k", "false", "l", "16", "m", "false")
		req.Body = []byte("durable?")
		resp := c.invoke(req)
		id := resp.ExtValue("msgId")
		if len(id) < 16 {
			t.Fatalf("send: code %d %q, msgId %q", resp.Code, resp.Remark, id)
		}
		phys, err := strconv.ParseInt(id[len(id)-16:], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Code, phys, resp.Remark
	}
	sendBack := func(phys int64) *remoting.Command {
		return c.invoke(remoting.NewRequest(remoting.ConsumerSendMsgBack, "group", "GID_durable", "offset", strconv.FormatInt(phys, 10),
			"delayLevel", "-1", "originMsgId", "", "maxReconsumeTimes", "16"))
	}
	commit := func() *remoting.Command {
		t.Helper()
		code, half, remark := send("TRAN_MSG\x01true\x02PGROUP\x01PG_durable\x02", 0x4)
		if code != remoting.Success && code != remoting.SlaveNotAvailable {
			t.Fatalf("half message: code %d %s", code, remark)
		}
		return c.invoke(remoting.NewRequest(remoting.EndTransaction, "producerGroup", "PG_durable", "commitOrRollback", "8",
			"commitLogOffset", strconv.FormatInt(half, 10), "tranStateTableOffset", "0", "fromTransactionCheck", "false"))
	}
	replyStatus := c.requestReply(topic, "noslave")

	// No slave.
	code, phys, _ := send("", 0)
	if code != remoting.SlaveNotAvailable {
		t.Fatalf("send without a slave: code %d, want SLAVE_NOT_AVAILABLE", code)
	}
	if st := replyStatus(); st != primitive.SendSlaveNotAvailable {
		t.Fatalf("reply without a slave: status %v, want SLAVE_NOT_AVAILABLE", st)
	}
	if resp := sendBack(phys); resp.Code != remoting.SystemError || !strings.Contains(resp.Remark, "no slave is connected") {
		t.Fatalf("send-back without a slave: code %d %q, want SYSTEM_ERROR saying no slave is connected", resp.Code, resp.Remark)
	}
	if resp := commit(); resp.Code != remoting.SlaveNotAvailable {
		t.Fatalf("commit without a slave: code %d %q, want SLAVE_NOT_AVAILABLE", resp.Code, resp.Remark)
	}
	before := c.maxOffset(topic, 0)
	if code, _, _ := send("DELAY\x011\x02", 0); code != remoting.SlaveNotAvailable {
		t.Fatalf("delayed send without a slave: code %d", code)
	}
	// The delayed message comes due after 1 s: it is stored in its topic,
	// but the scheduler does not count it delivered, so a clean stop
	// persists no offset past it.
	eventually(t, 15*time.Second, "the delayed message in its topic", func() bool { return c.maxOffset(topic, 0) == before+1 })
	if err := c.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	if off := c.delayOffset(1); off != 0 {
		t.Fatalf("delay level 1 persisted at offset %d without a slave, want 0", off)
	}

	// The slave comes; the broker restarts and delivers the delayed message
	// again (at least once), durably this time.
	c.startBroker()
	c.startSlave()
	c.waitSlaveConnected(1)
	replyStatus = c.requestReply(topic, "slave") // clients that announce themselves to the restarted broker
	eventually(t, 20*time.Second, "delay level 1 persisted at offset 1", func() bool { return c.delayOffset(1) == 1 })
	c.waitReplicated()
	code, phys, _ = send("", 0)
	if code != remoting.Success {
		t.Fatalf("send with the slave: code %d", code)
	}
	if st := replyStatus(); st != primitive.SendOK {
		t.Fatalf("reply with the slave: status %v", st)
	}
	if resp := sendBack(phys); resp.Code != remoting.Success {
		t.Fatalf("send-back with the slave: code %d %q", resp.Code, resp.Remark)
	}
	if resp := commit(); resp.Code != remoting.Success {
		t.Fatalf("commit with the slave: code %d %q", resp.Code, resp.Remark)
	}
}

// delayOffset reads the scheduler's persisted offset of a delay level (0
// when it has none).
func (c *cluster) delayOffset(level int) int64 {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.storeDir, "config", "delayOffset.json"))
	if os.IsNotExist(err) {
		return 0
	}
	var f struct{ OffsetTable map[string]int64 }
	if err != nil || json.Unmarshal(data, &f) != nil {
		c.t.Fatalf("delayOffset.json: %v %s", err, data)
	}
	return f.OffsetTable[strconv.Itoa(level)]
}

// requestReply starts a requester and a responder on topic that answers
// each request with a reply, sharing one client instance named after name
// (the push consumer's start announces it to the broker), and
// returns a function that makes one request and reports the status the
// responder's reply send got. The reply must reach the requester, carrying
// the CLUSTER property the broker adds.
func (c *cluster) requestReply(topic, name string) func() primitive.SendStatus {
	t := c.t
	responder := c.producer(producer.WithGroupName("PG_responder_"+name), producer.WithInstanceName("rr-"+name))
	statuses := make(chan primitive.SendStatus, 16)
	var mu sync.Mutex
	var replyErrs []error
	c.pushConsumerWith(topic, "*", func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			if m.GetProperty("REPLY_TO_CLIENT") == "" {
				continue // not a request
			}
			reply, err := consumer.CreateReplyMessage(m, nil)
			if err == nil {
				reply.Body = append([]byte("re: "), m.Body...)
				var res *primitive.SendResult
				if res, err = responder.SendSync(ctx, reply); err == nil {
					statuses <- res.Status
				}
			}
			if err != nil {
				mu.Lock()
				replyErrs = append(replyErrs, err)
				mu.Unlock()
			}
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName("GID_responder_"+name), consumer.WithInstance("rr-"+name))
	requester := c.producer(producer.WithGroupName("PG_requester_"+name), producer.WithInstanceName("rr-"+name))
	n := 0
	return func() primitive.SendStatus {
		t.Helper()
		n++
		body := "question " + strconv.Itoa(n)
		reply, err := requester.Request(context.Background(), 10*time.Second, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("request %d: %v (responder errors %v)", n, err, replyErrs)
		}
		if string(reply.Body) != "re: "+body || reply.GetProperty("CLUSTER") != "DefaultCluster" {
			t.Fatalf("request %d: reply %q with CLUSTER %q", n, reply.Body, reply.GetProperty("CLUSTER"))
		}
		select {
		case st := <-statuses:
			return st
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d: the responder's reply send never returned", n)
			return 0
		}
	}
}

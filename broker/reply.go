package broker

import (
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// Request/reply (REMOTING.md §8.5). A requester's message carries
// CORRELATION_ID and REPLY_TO_CLIENT (its client id); the responder sends
// its reply with SEND_REPLY_MESSAGE to <cluster>_REPLY_TOPIC. The broker
// stores the reply there like any send (send pipeline: stored, then
// durable as the broker's role and flush type require), then pushes it to
// the requester's connection with PUSH_REPLY_MESSAGE_TO_CLIENT without
// waiting for it on any goroutine, and answers the responder with the
// push's outcome: SUCCESS (or the durability stage's "stored, but" code)
// when the requester took it, SYSTEM_ERROR when it is not connected,
// refused it or did not answer within replyPushTimeout.

const (
	propReplyToClient = "REPLY_TO_CLIENT"
	replyTopicSuffix  = "_REPLY_TOPIC"
	replyPushTimeout  = 3 * time.Second
)

func replyTopic(cluster string) string { return cluster + replyTopicSuffix }

// sendReply stores a SEND_REPLY_MESSAGE (324) or SEND_REPLY_MESSAGE_V2
// (325) and pushes it to its requester (send pipeline). It never blocks.
func (b *Broker) sendReply(c *remoting.Conn, req *remoting.Command, h *sendHeader, start time.Time) (*remoting.Command, error) {
	to, ok := property(h.properties, propReplyToClient)
	if !ok || to == "" {
		return nil, refuse(remoting.MessageIllegal, "the reply has no %s property naming the requesting client", propReplyToClient)
	}
	tc, err := b.checkSend(h)
	if err != nil {
		return nil, err
	}
	m := b.clientMessage(c, h, h.flag, req.Body, h.properties)
	st, err := b.put(req.OnLoop(), m)
	if err != nil {
		return nil, err
	}
	appended := b.stageDone(stageStore, start)
	b.stats.sent.Add(1)
	tc.metrics.in(msgNormal, len(req.Body), c.ID())
	later := req.Later() // req (and h, which aliases it) lives until answered
	b.durable(st.EndOffset(), appended, func(code int32, remark string) {
		b.pushReply(c, req, h, &m, st, to, start, code, remark)
	})
	return later, nil
}

// pushReply pushes a stored reply to the requesting client to, and answers
// the responder once the requester answered, failed or timed out: with
// SUCCESS, or the durability stage's code and remark when one failed.
func (b *Broker) pushReply(c *remoting.Conn, req *remoting.Command, h *sendHeader, m *commitlog.Message, st stored, to string,
	start time.Time, code int32, remark string) {
	answer := func(resp *remoting.Command) {
		b.stageDone(stageTotal, start)
		if err := c.Answer(req, resp); err != nil {
			b.log.Debug("answer a reply", "addr", c.RemoteAddr(), "err", err)
		}
	}
	conn := b.consumers.clientConn(to)
	if conn == nil {
		answer(remoting.Errorf(req, remoting.SystemError, "the reply is stored but the requesting client %s is not connected to broker %s", to, b.cfg.BrokerName))
		return
	}
	push := remoting.NewRequest(remoting.PushReplyMessageToClient,
		"producerGroup", h.producerGroup,
		"topic", m.Topic,
		"defaultTopic", h.defaultTopic,
		"defaultTopicQueueNums", strconv.Itoa(int(h.defaultTopicQueueNums)),
		"queueId", strconv.Itoa(int(m.QueueID)),
		"sysFlag", strconv.Itoa(int(m.SysFlag)),
		"bornTimestamp", strconv.FormatInt(m.BornTimestamp, 10),
		"flag", strconv.Itoa(int(m.Flag)),
		"properties", m.Properties,
		"reconsumeTimes", strconv.Itoa(int(m.ReconsumeTimes)),
		"unitMode", "false",
		"bornHost", m.BornHost.String(),
		"storeHost", b.addr,
		"storeTimestamp", strconv.FormatInt(st.StoreTimestamp, 10),
	)
	push.Body = m.Body
	err := conn.InvokeAsync(push, replyPushTimeout, func(ans *remoting.Command, err error) {
		switch {
		case err != nil:
			answer(remoting.Errorf(req, remoting.SystemError, "the reply is stored but pushing it to client %s failed: %v", to, err))
		case ans.Code != remoting.Success:
			answer(remoting.Errorf(req, remoting.SystemError, "the reply is stored but client %s refused it: code %d %s", to, ans.Code, ans.Remark))
		default:
			resp := remoting.NewResponse(req, remoting.Success, "")
			resp.SetExt("msgId", offsetMsgID(b.storeHost, st.PhysOffset))
			resp.SetExt("queueId", strconv.Itoa(int(m.QueueID)))
			resp.SetExt("queueOffset", strconv.FormatInt(st.QueueOffset, 10))
			answer(withCode(resp)(code, remark))
		}
	})
	if err != nil {
		answer(remoting.Errorf(req, remoting.SystemError, "the reply is stored but pushing it to client %s failed: %v", to, err))
	}
}

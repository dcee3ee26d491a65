package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// Request/reply (REMOTING.md §8.5). A requester's message carries
// CORRELATION_ID and REPLY_TO_CLIENT (its client id); the responder sends
// its reply with SEND_REPLY_MESSAGE to <cluster>_REPLY_TOPIC. The broker
// stores the reply there and pushes it to the requester's connection with
// PUSH_REPLY_MESSAGE_TO_CLIENT, and answers the responder with the push's
// outcome.

const (
	propReplyToClient = "REPLY_TO_CLIENT"
	replyTopicSuffix  = "_REPLY_TOPIC"
	replyPushTimeout  = 3 * time.Second
)

func replyTopic(cluster string) string { return cluster + replyTopicSuffix }

// sendReplyMessage handles SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2
// (325). It waits for the requester's answer, so it runs on a worker.
func (b *Broker) sendReplyMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := parseSendHeader(req)
	if err != nil {
		return fieldErr(req, err)
	}
	if len(req.Body) > int(b.cfg.MaxMessageSize) {
		return remoting.Errorf(req, remoting.MessageIllegal, "the reply body is %d bytes, over the limit maxMessageSize=%d", len(req.Body), b.cfg.MaxMessageSize)
	}
	to, ok := property(h.properties, propReplyToClient)
	if !ok || to == "" {
		return remoting.Errorf(req, remoting.MessageIllegal, "the reply has no %s property naming the requesting client", propReplyToClient)
	}
	if _, resp := b.checkSend(req, &h); resp != nil {
		return resp
	}
	born := bornHost(c)
	msg := commitlog.Message{
		Topic: h.topic, QueueID: h.queueID, Flag: h.flag, Body: req.Body, Properties: h.properties,
		SysFlag: h.sysFlag, BornTimestamp: h.bornTimestamp, BornHost: born, StoreHost: b.storeHost,
		ReconsumeTimes: h.reconsumeTimes,
	}
	res, err := b.store.Append(&msg)
	if err != nil {
		return storeErr(req, err)
	}
	b.stats.sent.Add(1)

	conn := b.consumers.clientConn(to)
	if conn == nil {
		return remoting.Errorf(req, remoting.SystemError, "the requesting client %s is not connected to broker %s", to, b.cfg.BrokerName)
	}
	push := remoting.NewRequest(remoting.PushReplyMessageToClient,
		"producerGroup", h.producerGroup,
		"topic", h.topic,
		"defaultTopic", h.defaultTopic,
		"defaultTopicQueueNums", strconv.Itoa(int(h.defaultTopicQueueNums)),
		"queueId", strconv.Itoa(int(h.queueID)),
		"sysFlag", strconv.Itoa(int(h.sysFlag)),
		"bornTimestamp", strconv.FormatInt(h.bornTimestamp, 10),
		"flag", strconv.Itoa(int(h.flag)),
		"properties", h.properties,
		"reconsumeTimes", strconv.Itoa(int(h.reconsumeTimes)),
		"unitMode", "false",
		"bornHost", born.String(),
		"storeHost", b.addr,
		"storeTimestamp", strconv.FormatInt(res.StoreTimestamp, 10),
	)
	push.Body = req.Body
	ctx, cancel := context.WithTimeout(context.Background(), replyPushTimeout)
	defer cancel()
	ans, err := conn.Invoke(ctx, push)
	switch {
	case err != nil:
		return remoting.Errorf(req, remoting.SystemError, "push the reply to client %s: %v", to, err)
	case ans.Code != remoting.Success:
		return remoting.Errorf(req, remoting.SystemError, "client %s refused the reply: code %d %s", to, ans.Code, ans.Remark)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", offsetMsgID(b.storeHost, res.PhysOffset))
	resp.SetExt("queueId", strconv.Itoa(int(h.queueID)))
	resp.SetExt("queueOffset", strconv.FormatInt(res.QueueOffset, 10))
	return resp
}

package broker

import (
	"encoding/binary"
	"strconv"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// consumerSendMsgBack handles CONSUMER_SEND_MSG_BACK (36): a consumer
// gives a message back; it goes to the group's retry topic with a delay,
// or to its dead-letter topic once it was retried too often
// (REMOTING.md §9.8).
func (b *Broker) consumerSendMsgBack(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	if b.cfg.BrokerRole == Slave {
		return remoting.Errorf(req, remoting.SystemError, "broker %s is a slave and cannot store messages sent back", b.cfg.BrokerName)
	}
	group, err := req.String("group")
	if err != nil {
		return fieldErr(req, err)
	}
	phys, err := req.Int64("offset")
	if err != nil {
		return fieldErr(req, err)
	}
	delayLevel, err := req.Int32Or("delayLevel", 0)
	if err != nil {
		return fieldErr(req, err)
	}
	gc, ok := b.groups.get(group)
	if !ok {
		gc = defaultGroupConfig(group)
	}
	maxTimes, err := req.Int32Or("maxReconsumeTimes", gc.RetryMaxTimes)
	if err != nil {
		return fieldErr(req, err)
	}
	rec, resp := b.readRecord(req, phys)
	if resp != nil {
		return resp
	}
	props := string(rec.Properties)
	if _, ok := property(props, propRetryTopic); !ok {
		props = withProperty(props, propRetryTopic, rec.Topic)
	}
	if _, ok := property(props, propOriginMessageID); !ok {
		origin := req.ExtValue("originMsgId")
		if origin == "" {
			origin = offsetMsgID(b.storeHost, phys)
		}
		props = withProperty(props, propOriginMessageID, origin)
	}
	props = withoutProperty(props, propDelay)

	topic := retryPrefix + group
	queues := max(gc.RetryQueueNums, 1)
	if rec.ReconsumeTimes >= maxTimes || delayLevel < 0 {
		topic = dlqPrefix + group
		queues = 1
	} else {
		if delayLevel == 0 {
			delayLevel = 3 + rec.ReconsumeTimes
		}
		props = withProperty(props, propDelay, strconv.Itoa(int(delayLevel)))
	}
	if err := validateTopic(topic); err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	b.ensureTopic(topic, queues, permRead|permWrite)
	m := commitlog.Message{
		Topic: topic, QueueID: 0, Flag: rec.Flag, Body: rec.Body, Properties: props,
		SysFlag: rec.SysFlag, BornTimestamp: rec.BornTimestamp, BornHost: rec.BornHost, StoreHost: b.storeHost,
		ReconsumeTimes: rec.ReconsumeTimes + 1,
	}
	b.delayIfAsked(&m)
	if _, err := b.store.Append(&m); err != nil {
		return storeErr(req, err)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// readRecord reads and decodes the record at a commit-log offset.
func (b *Broker) readRecord(req *remoting.Command, phys int64) (commitlog.Record, *remoting.Command) {
	head, err := b.store.Read(phys, 4)
	if err != nil {
		return commitlog.Record{}, remoting.Errorf(req, remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	size := int32(binary.BigEndian.Uint32(head))
	raw, err := b.store.Read(phys, size)
	if err != nil {
		return commitlog.Record{}, remoting.Errorf(req, remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	rec, _, err := commitlog.DecodeRecord(raw)
	if err != nil {
		return rec, remoting.Errorf(req, remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	return rec, nil
}

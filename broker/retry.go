package broker

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// consumerSendMsgBack handles CONSUMER_SEND_MSG_BACK (36): a consumer
// gives a message back; it goes to the group's retry topic with a delay,
// or to its dead-letter topic once it was retried too often
// (REMOTING.md §9.8). It is answered SUCCESS once the message is durable
// as the broker's role and flush type require (send pipeline).
func (b *Broker) consumerSendMsgBack(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp, err := b.sendMsgBack(c, req)
	if err != nil {
		return errResponse(req, err)
	}
	return resp
}

func (b *Broker) sendMsgBack(c *remoting.Conn, req *remoting.Command) (*remoting.Command, error) {
	if b.isSlave() {
		return nil, refuse(remoting.SystemError, "broker %s is a slave and cannot store messages sent back", b.cfg.BrokerName)
	}
	group, err := req.String("group")
	if err != nil {
		return nil, err
	}
	phys, err := req.Int64("offset")
	if err != nil {
		return nil, err
	}
	delayLevel, err := req.Int32Or("delayLevel", 0)
	if err != nil {
		return nil, err
	}
	gc, ok := b.groups.get(group)
	if !ok {
		gc = defaultGroupConfig(group)
	}
	maxTimes, err := req.Int32Or("maxReconsumeTimes", gc.RetryMaxTimes)
	if err != nil {
		return nil, err
	}
	rec, err := b.readRecord(phys)
	if err != nil {
		return nil, err
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
		origin, ok := property(props, propRetryTopic)
		if !ok {
			origin = rec.Topic
		}
		b.metrics.toDLQ(origin, group)
	} else {
		if delayLevel == 0 {
			delayLevel = 3 + rec.ReconsumeTimes
		}
		props = withProperty(props, propDelay, strconv.Itoa(int(delayLevel)))
	}
	if err := validateTopic(topic); err != nil {
		return nil, refuse(remoting.MessageIllegal, "%v", err)
	}
	if _, err := b.ensureTopic(topic, queues, permRead|permWrite); err != nil {
		return nil, err
	}
	m := b.reputMessage(&rec, topic, 0, props)
	m.ReconsumeTimes++
	b.delayIfAsked(&m)
	st, err := b.put(false, m)
	if err != nil {
		return nil, err
	}
	return b.finish(c, req, st.EndOffset(), true, time.Time{}, time.Time{}, func(code int32, remark string) *remoting.Command {
		if code != 0 {
			return remoting.Errorf(req, remoting.SystemError, "the message given back is stored in %s but not yet safe: %s", topic, remark)
		}
		return remoting.NewResponse(req, remoting.Success, "")
	}), nil
}

// readRecord reads and decodes the record at a commit-log offset.
func (b *Broker) readRecord(phys int64) (commitlog.Record, error) {
	head, err := b.store.Read(phys, 4)
	if err != nil {
		return commitlog.Record{}, refuse(remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	size := int32(binary.BigEndian.Uint32(head))
	raw, err := b.store.Read(phys, size)
	if err != nil {
		return commitlog.Record{}, refuse(remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	rec, _, err := commitlog.DecodeRecord(raw)
	if err != nil {
		return rec, refuse(remoting.SystemError, "no message at commit-log offset %d: %v", phys, err)
	}
	return rec, nil
}

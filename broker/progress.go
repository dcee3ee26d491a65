package broker

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// The operator's questions about consumption: where each queue of a topic
// stands (GET_TOPIC_STATS_INFO), how far a group is behind
// (GET_CONSUME_STATS), and moving a group to the offsets of a time
// (INVOKE_BROKER_TO_RESET_OFFSET). Bodies are Java's, with fastjson's
// MessageQueue-keyed maps (wire.AppendQueueMap).

// offsetWrapper is OffsetWrapper, one queue of ConsumeStats.
type offsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	LastTimestamp  int64 `json:"lastTimestamp"` // store time of the last message consumed, 0 if none
}

// topicOffset is TopicOffset, one queue of TopicStatsTable.
type topicOffset struct {
	LastUpdateTimestamp int64 `json:"lastUpdateTimestamp"` // store time of the queue's last message, 0 if none
	MaxOffset           int64 `json:"maxOffset"`
	MinOffset           int64 `json:"minOffset"`
}

// queueTableBody is {"offsetTable":{MessageQueue:V,…}}, the body of
// TopicStatsTable, ConsumeStats (whose consumeTps this broker does not
// measure) and ResetOffsetBody.
func queueTableBody(entries []wire.QueueValue) []byte {
	b := append([]byte(nil), `{"offsetTable":`...)
	b = wire.AppendQueueMap(b, entries)
	return append(b, '}')
}

func (b *Broker) queueValue(topic string, qid int32, v any) wire.QueueValue {
	js, _ := json.Marshal(v) // plain structs and numbers always marshal
	return wire.QueueValue{Queue: wire.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: qid}, Value: js}
}

// storeTimeAt is the store time of the message at a queue offset, 0 when
// there is none (Java's getMessageStoreTimeStamp).
func (b *Broker) storeTimeAt(topic string, qid int32, off int64) int64 {
	var buf [1]commitlog.Entry
	es, err := b.store.QueueEntries(topic, qid, off, 1, buf[:0])
	if err != nil || len(es) == 0 {
		return 0
	}
	rec, err := b.store.Read(es[0].PhysOffset, es[0].Size)
	if err != nil {
		return 0
	}
	v, err := wire.ParseRecord(rec)
	if err != nil {
		return 0
	}
	return v.StoreTimestamp
}

// getTopicStatsInfo handles GET_TOPIC_STATS_INFO (202).
func (b *Broker) getTopicStatsInfo(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.String("topic")
	if err != nil {
		return fieldErr(req, err)
	}
	tc, resp := b.readQueue(req, topic, 0)
	if resp != nil {
		return resp
	}
	n := max(tc.WriteQueueNums, tc.ReadQueueNums)
	entries := make([]wire.QueueValue, 0, n)
	for q := range n {
		o := topicOffset{MinOffset: b.store.QueueMinOffset(topic, q), MaxOffset: b.store.QueueMaxOffset(topic, q)}
		if o.MaxOffset > 0 {
			o.LastUpdateTimestamp = b.storeTimeAt(topic, q, o.MaxOffset-1)
		}
		entries = append(entries, b.queueValue(topic, q, o))
	}
	resp = remoting.NewResponse(req, remoting.Success, "")
	resp.Body = queueTableBody(entries)
	return resp
}

// groupTopics returns the topics group has committed offsets on, and
// those its online consumers subscribe to.
func (b *Broker) groupTopics(group string) []string {
	var topics []string
	suffix := "@" + group
	b.offsets.mu.Lock()
	for k := range b.offsets.offsets {
		if t, ok := strings.CutSuffix(k, suffix); ok {
			topics = append(topics, t)
		}
	}
	b.offsets.mu.Unlock()
	b.consumers.mu.RLock()
	if g := b.consumers.groups[group]; g != nil {
		for t := range g.subs {
			topics = append(topics, t)
		}
	}
	b.consumers.mu.RUnlock()
	slices.Sort(topics)
	return slices.Compact(topics)
}

// getConsumeStats handles GET_CONSUME_STATS (208): per queue of each topic
// of the group (or of the topic asked), the queue's end, the group's
// committed offset and the store time of the last message it consumed.
// As in Java, a group whose consumers are online skips topics they do not
// subscribe to.
func (b *Broker) getConsumeStats(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.String("consumerGroup")
	if err != nil {
		return fieldErr(req, err)
	}
	var topics []string
	if t := req.ExtValue("topic"); t != "" {
		if _, resp := b.readQueue(req, t, 0); resp != nil {
			return resp
		}
		topics = []string{t}
	} else {
		topics = b.groupTopics(group)
	}
	online := false
	b.consumers.mu.RLock()
	if g := b.consumers.groups[group]; g != nil {
		online = len(g.subs) > 0
	}
	b.consumers.mu.RUnlock()
	var entries []wire.QueueValue
	for _, topic := range topics {
		tc, ok := b.topics.get(topic)
		if !ok {
			if n := b.store.QueueCount(topic); n > 0 && b.isSlave() {
				tc, ok = storedTopic(topic, n), true
			}
		}
		if !ok || online && b.consumers.subscription(group, topic) == nil {
			continue
		}
		for q := range tc.ReadQueueNums {
			o := offsetWrapper{BrokerOffset: b.store.QueueMaxOffset(topic, q)}
			if off, ok := b.offsets.query(group, topic, q); ok && off > 0 {
				o.ConsumerOffset = off
				o.LastTimestamp = b.storeTimeAt(topic, q, off-1)
			}
			entries = append(entries, b.queueValue(topic, q, o))
		}
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = queueTableBody(entries)
	return resp
}

// invokeBrokerToResetOffset handles INVOKE_BROKER_TO_RESET_OFFSET (222):
// it sets the group's offset on each queue of the topic (or on queueId)
// to the first message stored at or after timestamp (the queue's end for
// -1), or to offset when given; without isForce an offset only moves back.
// Then it tells the group's online consumers with
// RESET_CONSUMER_CLIENT_OFFSET (220), whose body is the same table: a
// consumer drops what it holds of those queues and pulls from there (the
// official Go client after a 10 s pause). It answers with the table.
func (b *Broker) invokeBrokerToResetOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.String("topic")
	if err != nil {
		return fieldErr(req, err)
	}
	group, err := req.String("group")
	if err != nil {
		return fieldErr(req, err)
	}
	ts, err := req.Int64("timestamp")
	if err != nil {
		return fieldErr(req, err)
	}
	queue, err := req.Int32Or("queueId", -1)
	if err != nil {
		return fieldErr(req, err)
	}
	offset, err := req.Int64Or("offset", -1)
	if err != nil {
		return fieldErr(req, err)
	}
	force := req.Bool("isForce")
	if ts < -1 {
		return remoting.Errorf(req, remoting.InvalidParameter, "timestamp=%d: want ms since the epoch, or -1 for the queues' ends", ts)
	}
	tc, resp := b.readQueue(req, topic, max(queue, 0))
	if resp != nil {
		return resp
	}
	_, known := b.groups.get(group)
	conns := b.consumers.conns(group)
	if !known && len(conns) == 0 && !slices.Contains(b.groupTopics(group), topic) {
		return remoting.Errorf(req, remoting.SubscriptionGroupNotExist, "the consumer group %s does not exist on broker %s", group, b.cfg.BrokerName)
	}
	queues := []int32{queue}
	if queue < 0 {
		queues = queues[:0]
		for q := range max(tc.ReadQueueNums, tc.WriteQueueNums) {
			queues = append(queues, q)
		}
	}
	entries := make([]wire.QueueValue, 0, len(queues))
	for _, q := range queues {
		target := offset
		switch {
		case queue >= 0 && offset >= 0:
			target = min(max(offset, b.store.QueueMinOffset(topic, q)), b.store.QueueMaxOffset(topic, q))
		case ts == -1:
			target = b.store.QueueMaxOffset(topic, q)
		default:
			target = b.store.SearchOffset(topic, q, ts)
		}
		if cur, ok := b.offsets.query(group, topic, q); ok && !force && cur <= target {
			target = cur
		}
		b.offsets.commit(group, topic, q, target)
		entries = append(entries, b.queueValue(topic, q, target))
	}
	body := queueTableBody(entries)
	for _, conn := range conns {
		note := remoting.NewRequest(remoting.ResetConsumerClientOffset, "topic", topic, "group", group,
			"timestamp", strconv.FormatInt(ts, 10), "isForce", strconv.FormatBool(force))
		note.Body = body
		if err := conn.Oneway(note); err != nil {
			b.log.Warn("reset offset: tell a consumer", "group", group, "addr", conn.RemoteAddr(), "err", err)
		}
	}
	b.log.Info("consumer offsets reset", "group", group, "topic", topic, "timestamp", ts, "force", force, "consumersTold", len(conns))
	resp = remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

package broker

import (
	"strconv"

	"github.com/rocketgo/rocketgo/remoting"
)

// queueArgs parses the topic and queueId ext fields shared by the offset
// requests and checks that the queue exists (readQueue: on a slave, in its
// table or in its store).
func (b *Broker) queueArgs(req *remoting.Command) (string, int32, *remoting.Command) {
	topic, err := req.String("topic")
	if err != nil {
		return "", 0, fieldErr(req, err)
	}
	qid, err := req.Int32("queueId")
	if err != nil {
		return "", 0, fieldErr(req, err)
	}
	if _, resp := b.readQueue(req, topic, qid); resp != nil {
		return "", 0, resp
	}
	return topic, qid, nil
}

func offsetResponse(req *remoting.Command, key string, v int64) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt(key, strconv.FormatInt(v, 10))
	return resp
}

// queryConsumerOffset handles QUERY_CONSUMER_OFFSET (14). Like Apache, a
// group without a committed offset on a queue that still starts at 0 gets
// 0, so a new group reads a young queue from its start.
func (b *Broker) queryConsumerOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.String("consumerGroup")
	if err != nil {
		return fieldErr(req, err)
	}
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	if off, ok := b.offsets.query(group, topic, qid); ok {
		return offsetResponse(req, "offset", off)
	}
	if b.store.QueueMinOffset(topic, qid) <= 0 {
		return offsetResponse(req, "offset", 0)
	}
	return remoting.Errorf(req, remoting.QueryNotFound, "group %s has no committed offset on %s/%d", group, topic, qid)
}

// updateConsumerOffset handles UPDATE_CONSUMER_OFFSET (15).
func (b *Broker) updateConsumerOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.String("consumerGroup")
	if err != nil {
		return fieldErr(req, err)
	}
	off, err := req.Int64("commitOffset")
	if err != nil {
		return fieldErr(req, err)
	}
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	if off < 0 {
		return remoting.Errorf(req, remoting.InvalidParameter, "commitOffset %d is negative", off)
	}
	b.offsets.commit(group, topic, qid, off)
	return remoting.NewResponse(req, remoting.Success, "")
}

// getMaxOffset handles GET_MAX_OFFSET (30): the next offset to be written.
func (b *Broker) getMaxOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	return offsetResponse(req, "offset", b.readMax(topic, qid))
}

// getMinOffset handles GET_MIN_OFFSET (31).
func (b *Broker) getMinOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	return offsetResponse(req, "offset", b.store.QueueMinOffset(topic, qid))
}

// searchOffsetByTimestamp handles SEARCH_OFFSET_BY_TIMESTAMP (29).
func (b *Broker) searchOffsetByTimestamp(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	ts, err := req.Int64("timestamp")
	if err != nil {
		return fieldErr(req, err)
	}
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	return offsetResponse(req, "offset", b.store.SearchOffset(topic, qid, ts))
}

// getEarliestMsgStoretime handles GET_EARLIEST_MSG_STORETIME (32).
func (b *Broker) getEarliestMsgStoretime(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, qid, resp := b.queueArgs(req)
	if resp != nil {
		return resp
	}
	ts, err := b.store.EarliestStoreTime(topic, qid)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "queue %s/%d has no message: %v", topic, qid, err)
	}
	return offsetResponse(req, "timestamp", ts)
}

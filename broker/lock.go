package broker

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// lockExpiry is how long a queue lock lives without a refresh (Java's
// rocketmq.broker.rebalance.lockMaxLiveTime).
const lockExpiry = 60 * time.Second

type messageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

type lockHolder struct {
	clientID string
	at       time.Time
}

// locks holds the queue locks of orderly consumers: at most one client
// of a group consumes a queue at a time.
type locks struct {
	mu   sync.Mutex
	byMQ map[string]map[messageQueue]*lockHolder // by group
}

type lockBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []messageQueue `json:"mqSet"`
}

// lock grants the queues that are free, expired or already held by
// clientID, and returns them.
func (l *locks) lock(group, clientID string, mqs []messageQueue, now time.Time) []messageQueue {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byMQ == nil {
		l.byMQ = map[string]map[messageQueue]*lockHolder{}
	}
	g := l.byMQ[group]
	if g == nil {
		g = map[messageQueue]*lockHolder{}
		l.byMQ[group] = g
	}
	granted := []messageQueue{}
	for _, mq := range mqs {
		h := g[mq]
		if h == nil || h.clientID == clientID || now.Sub(h.at) > lockExpiry {
			g[mq] = &lockHolder{clientID: clientID, at: now}
			granted = append(granted, mq)
		}
	}
	return granted
}

func (l *locks) unlock(group, clientID string, mqs []messageQueue) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.byMQ[group]
	for _, mq := range mqs {
		if h := g[mq]; h != nil && h.clientID == clientID {
			delete(g, mq)
		}
	}
}

func parseLockBody(req *remoting.Command) (lockBody, *remoting.Command) {
	var body lockBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return body, remoting.Errorf(req, remoting.SystemError, "lock body is not valid JSON: %v", err)
	}
	if body.ConsumerGroup == "" || body.ClientID == "" {
		return body, remoting.Errorf(req, remoting.SystemError, "lock body lacks consumerGroup or clientId")
	}
	return body, nil
}

// lockBatchMQ handles LOCK_BATCH_MQ (41).
func (b *Broker) lockBatchMQ(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, resp := parseLockBody(req)
	if resp != nil {
		return resp
	}
	granted := b.locks.lock(body.ConsumerGroup, body.ClientID, body.MQSet, time.Now())
	resp = remoting.NewResponse(req, remoting.Success, "")
	resp.Body, _ = json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{granted})
	return resp
}

// unlockBatchMQ handles UNLOCK_BATCH_MQ (42).
func (b *Broker) unlockBatchMQ(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, resp := parseLockBody(req)
	if resp != nil {
		return resp
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return remoting.NewResponse(req, remoting.Success, "")
}

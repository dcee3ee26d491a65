package broker

import (
	"strings"
	"sync"

	"github.com/rocketgo/rocketgo/remoting"
)

// A slave serves what its store holds. Its topic table is a copy of its
// master's, and lags it (metadata sync); when the master dies it stops
// changing. The commit log replicated from the master, with its consume
// queues, is what the slave really has, so reads (pulls, queue offsets,
// consumer offsets) of a topic the table lacks are served from the store,
// and the slave's registration lists those topics too, so a namesrv can
// route them to it when it stands in for a dead master.

// readQueue checks that topic/queueID may be read here and returns the
// topic's config, or the error to answer. On a slave, a topic (or a queue)
// that its table lacks but its store has is readable: read-only, with as
// many queues as its consume queues span. Nothing is written to the table.
func (b *Broker) readQueue(req *remoting.Command, topic string, queueID int32) (TopicConfig, *remoting.Command) {
	tc, ok := b.topics.get(topic)
	if b.isSlave() && (!ok || queueID >= max(tc.ReadQueueNums, tc.WriteQueueNums)) {
		if n := b.store.QueueCount(topic); n > 0 {
			if !ok {
				tc = storedTopic(topic, n)
			}
			tc.ReadQueueNums, tc.WriteQueueNums = max(tc.ReadQueueNums, n), max(tc.WriteQueueNums, n)
			ok = true
		}
	}
	if !ok {
		return tc, remoting.Errorf(req, remoting.TopicNotExist, "topic[%s] not exist on broker %s", topic, b.cfg.BrokerName)
	}
	if n := max(tc.ReadQueueNums, tc.WriteQueueNums); queueID < 0 || queueID >= n {
		return tc, remoting.Errorf(req, remoting.InvalidParameter, "queueId %d is illegal: topic %s has %d queues", queueID, topic, n)
	}
	return tc, nil
}

// storedTopic is the config of a topic known only from the store.
func storedTopic(name string, queues int32) TopicConfig {
	return TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: permRead, TopicFilterType: "SINGLE_TAG"}
}

// addStoredTopics adds to a slave's registration the topics of its store
// (topic → queue count) that its table lacks.
func addStoredTopics(topics map[string]*TopicConfig, stored map[string]int32) {
	for name, n := range stored {
		if _, ok := topics[name]; !ok {
			tc := storedTopic(name, n)
			topics[name] = &tc
		}
	}
}

// queueWatch notices the first entry of every consume queue on a slave, so
// that a topic that appears in its store reaches its registration at once
// rather than at the next registration period. seen is called by the
// arrival listener, on the appending goroutine, for every entry: a known
// queue costs one map lookup.
type queueWatch struct {
	known sync.Map // queueKey → struct{}
	fresh func()   // called once per new queue; must not block
}

func (w *queueWatch) seen(topic string, queueID int32) {
	if _, ok := w.known.Load(queueKey{topic, queueID}); ok {
		return
	}
	// topic may alias the log's mapping: keep a copy.
	if _, loaded := w.known.LoadOrStore(queueKey{strings.Clone(topic), queueID}, struct{}{}); !loaded {
		w.fresh()
	}
}

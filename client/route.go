package client

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// parseRoute decodes a route body (REMOTING.md §7.1): standard JSON or
// Java fastjson's, with bare numeric brokerAddrs keys (wire.Unmarshal).
func parseRoute(body []byte) (*wire.TopicRoute, error) {
	var rd wire.TopicRoute
	if err := wire.Unmarshal(body, &rd); err != nil {
		return nil, fmt.Errorf("route JSON: %w", err)
	}
	return &rd, nil
}

// route is one topic's parsed route. It is immutable once published.
type route struct {
	topic    string
	fallback bool // built from the auto-create topic's route
	brokers  map[string]*brokerInfo
	pub      []MessageQueue // WRITE perm, master present; sorted by broker name
	sub      []MessageQueue // READ perm
}

// brokerInfo is one broker group as a route lists it.
type brokerInfo struct {
	name    string
	cluster string
	addrs   map[int64]string
	master  string  // brokerAddrs[0], "" when absent
	win     *window // the master connection's send window; nil without master
}

// addr picks the address for a pull that the broker suggested sending to
// id (REMOTING.md §12.8): that id, else id+1 for a slave id, else the
// master, else the lowest id. ok is false when the group has no address.
func (b *brokerInfo) addr(id int64) (addr string, chosen int64, ok bool) {
	if a, ok := b.addrs[id]; ok {
		return a, id, true
	}
	if id != 0 {
		if a, ok := b.addrs[id+1]; ok {
			return a, id + 1, true
		}
	}
	if b.master != "" {
		return b.master, 0, true
	}
	first := int64(-1)
	for i := range b.addrs {
		if first < 0 || i < first {
			first = i
		}
	}
	if first < 0 {
		return "", 0, false
	}
	return b.addrs[first], first, true
}

// buildRoute turns route data into a route for topic. maxQueues > 0 caps
// each broker's queue counts (the auto-create fallback). window returns
// the send window of a master address (nil for consumers).
func buildRoute(topic string, rd *wire.TopicRoute, maxQueues int, window func(addr string) *window) *route {
	r := &route{topic: topic, brokers: make(map[string]*brokerInfo, len(rd.BrokerDatas))}
	for i := range rd.BrokerDatas {
		bd := &rd.BrokerDatas[i]
		b := &brokerInfo{name: bd.BrokerName, cluster: bd.Cluster, addrs: bd.BrokerAddrs, master: bd.BrokerAddrs[0]}
		if b.master != "" && window != nil {
			b.win = window(b.master)
		}
		r.brokers[bd.BrokerName] = b
	}
	qds := slices.Clone(rd.QueueDatas)
	slices.SortStableFunc(qds, func(a, b wire.QueueData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	for _, qd := range qds {
		w, rn := int(qd.WriteQueueNums), int(qd.ReadQueueNums)
		if maxQueues > 0 {
			w, rn = min(w, maxQueues), min(rn, maxQueues)
		}
		if qd.Perm&wire.PermWrite != 0 {
			if b := r.brokers[qd.BrokerName]; b != nil && b.master != "" {
				for i := 0; i < w; i++ {
					r.pub = append(r.pub, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
				}
			}
		}
		if qd.Perm&wire.PermRead != 0 {
			for i := 0; i < rn; i++ {
				r.sub = append(r.sub, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
			}
		}
	}
	return r
}

// sameRoute reports whether two routes would send and pull alike.
func sameRoute(a, b *route) bool {
	if a == nil || b == nil || a.fallback != b.fallback || !slices.Equal(a.pub, b.pub) || !slices.Equal(a.sub, b.sub) || len(a.brokers) != len(b.brokers) {
		return false
	}
	for name, x := range a.brokers {
		y := b.brokers[name]
		if y == nil || x.cluster != y.cluster || len(x.addrs) != len(y.addrs) {
			return false
		}
		for id, addr := range x.addrs {
			if y.addrs[id] != addr {
				return false
			}
		}
	}
	return true
}

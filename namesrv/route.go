package namesrv

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// masterID is the brokerId of a group's master.
const masterID = 0

// dataVersion is a broker's topic-table version; a change makes the namesrv
// rebuild the broker's queue data.
type dataVersion struct {
	StateVersion int64 `json:"stateVersion"`
	Timestamp    int64 `json:"timestamp"`
	Counter      int64 `json:"counter"`
}

// brokerData is a broker group: its cluster and the address of each member.
type brokerData struct {
	cluster string
	name    string
	addrs   map[int64]string // brokerId → "host:port"; 0 is the master
	// actingMaster: while the group has no master, routes present its
	// lowest-id slave as id 0, read-only (RocketMQ 5's enableActingMaster),
	// so clients that only talk to id 0 for offsets keep consuming.
	actingMaster bool
}

// liveBroker is what the namesrv knows about one registered broker address.
type liveBroker struct {
	cluster, name string
	id            int64
	version       dataVersion
	haServerAddr  string
	lastUpdate    time.Time
	timeout       time.Duration // expire after lastUpdate+timeout
	conn          peer          // the connection that registered it last
}

// routeTable holds the route data, all in memory and rebuilt from broker
// registrations. One RWMutex guards every map; no method calls out while
// holding it.
type routeTable struct {
	mu       sync.RWMutex
	topics   map[string]map[string]wire.QueueData // topic → brokerName → queue data
	brokers  map[string]*brokerData               // brokerName → group
	clusters map[string]map[string]struct{}       // cluster → brokerNames
	live     map[string]*liveBroker               // brokerAddr → liveness
}

func newRouteTable() *routeTable {
	return &routeTable{
		topics:   make(map[string]map[string]wire.QueueData),
		brokers:  make(map[string]*brokerData),
		clusters: make(map[string]map[string]struct{}),
		live:     make(map[string]*liveBroker),
	}
}

// registration is a decoded REGISTER_BROKER request.
type registration struct {
	cluster, name, addr, haServerAddr string
	id                                int64
	timeout                           time.Duration
	version                           dataVersion
	topics                            map[string]wire.QueueData // topic → queue data of this broker
	conn                              peer
	actingMaster                      bool // enableActingMaster ext field
}

// registerResult tells the handler what a registration changed.
type registerResult struct {
	newAddr       bool // the address was not registered under this id before
	topicsUpdated bool // the registration added or changed the group's queue data
	masterAddr    string
	masterHAAddr  string // set with masterAddr when a slave's master is live
}

// register records a broker registration made at now (REGISTER_BROKER).
func (t *routeTable) register(r *registration, now time.Time) registerResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	var res registerResult

	// The address may have belonged to another group before (a re-purposed
	// port): take it out of that group first.
	if prev := t.live[r.addr]; prev != nil && prev.name != r.name {
		t.removeAddrLocked(r.addr)
	}

	bd := t.brokers[r.name]
	if bd == nil {
		bd = &brokerData{cluster: r.cluster, name: r.name, addrs: make(map[int64]string)}
		t.brokers[r.name] = bd
		res.newAddr = true
	}
	if bd.cluster != r.cluster { // the group moved to another cluster
		t.removeFromClusterLocked(bd.cluster, r.name)
		bd.cluster = r.cluster
	}
	names := t.clusters[r.cluster]
	if names == nil {
		names = make(map[string]struct{})
		t.clusters[r.cluster] = names
	}
	names[r.name] = struct{}{}

	// Same address under another id: the broker switched roles.
	for id, addr := range bd.addrs {
		if addr == r.addr && id != r.id {
			delete(bd.addrs, id)
		}
	}
	if old, ok := bd.addrs[r.id]; !ok || old != r.addr {
		res.newAddr = true
	}
	bd.addrs[r.id] = r.addr
	bd.actingMaster = r.actingMaster

	prev := t.live[r.addr]
	changed := res.newAddr || prev == nil || prev.version != r.version
	if r.id == masterID || r.actingMaster && bd.primeSlave(r.id) {
		res.topicsUpdated = t.mergeTopicsLocked(r.name, r.topics, changed)
	}
	t.live[r.addr] = &liveBroker{
		cluster:      r.cluster,
		name:         r.name,
		id:           r.id,
		version:      r.version,
		haServerAddr: r.haServerAddr,
		lastUpdate:   now,
		timeout:      r.timeout,
		conn:         r.conn,
	}

	if r.id != masterID {
		if master, ok := bd.addrs[masterID]; ok {
			if ml := t.live[master]; ml != nil {
				res.masterAddr, res.masterHAAddr = master, ml.haServerAddr
			}
		}
	}
	return res
}

// mergeTopicsLocked adds the topics of a registration to group name's
// queue data: every listed topic with all set (a new data version, or the
// first registration from the address), else only those the group is
// missing from. It removes nothing: a registration may list only the topics
// that changed (RocketMQ 5's registerIncrementBrokerData), and a topic goes
// away by DELETE_TOPIC_IN_NAMESRV or with its whole group. It reports
// whether it added or changed anything. t.mu must be held.
func (t *routeTable) mergeTopicsLocked(name string, topics map[string]wire.QueueData, all bool) bool {
	updated := false
	for topic, qd := range topics {
		qd.BrokerName = name
		byBroker := t.topics[topic]
		if old, ok := byBroker[name]; ok && (!all || old == qd) {
			continue
		}
		if byBroker == nil {
			byBroker = make(map[string]wire.QueueData)
			t.topics[topic] = byBroker
		}
		byBroker[name] = qd
		updated = true
	}
	return updated
}

// unregister removes the broker at addr with the given identity
// (UNREGISTER_BROKER). It reports whether anything was removed.
func (t *routeTable) unregister(name, addr string, id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := false
	if lb := t.live[addr]; lb != nil && lb.name == name && lb.id == id {
		delete(t.live, addr)
		removed = true
	}
	bd := t.brokers[name]
	if bd == nil {
		return removed
	}
	if bd.addrs[id] == addr {
		delete(bd.addrs, id)
		removed = true
	}
	if len(bd.addrs) == 0 {
		t.removeGroupLocked(bd)
	}
	return removed
}

// removedBroker describes a broker address taken out of the table.
type removedBroker struct {
	addr, cluster, name string
	id                  int64
	groupGone           bool // it was the last member of its group
	conn                peer
}

// removeAddrLocked forgets the broker at addr: its liveness, its place in
// its group, and, when the group is left empty, the group and its queue data
// in every topic. A group that only lost its master keeps its queue data.
// t.mu must be held.
func (t *routeTable) removeAddrLocked(addr string) removedBroker {
	rb := removedBroker{addr: addr}
	lb := t.live[addr]
	delete(t.live, addr)
	if lb != nil {
		rb.cluster, rb.name, rb.id, rb.conn = lb.cluster, lb.name, lb.id, lb.conn
	}
	for _, bd := range t.brokers {
		if lb != nil && bd.name != lb.name {
			continue
		}
		for id, a := range bd.addrs {
			if a == addr {
				delete(bd.addrs, id)
			}
		}
		if len(bd.addrs) == 0 {
			t.removeGroupLocked(bd)
			rb.groupGone = true
		}
	}
	return rb
}

// removeGroupLocked drops an empty group, its cluster membership and its
// queue data. t.mu must be held.
func (t *routeTable) removeGroupLocked(bd *brokerData) {
	delete(t.brokers, bd.name)
	t.removeFromClusterLocked(bd.cluster, bd.name)
	for topic, byBroker := range t.topics {
		delete(byBroker, bd.name)
		if len(byBroker) == 0 {
			delete(t.topics, topic)
		}
	}
}

// removeFromClusterLocked drops name from cluster's set, and the cluster
// when it becomes empty. t.mu must be held.
func (t *routeTable) removeFromClusterLocked(cluster, name string) {
	if names := t.clusters[cluster]; names != nil {
		delete(names, name)
		if len(names) == 0 {
			delete(t.clusters, cluster)
		}
	}
}

// removeConn forgets every broker registered through the connection id (the
// connection closed).
func (t *routeTable) removeConn(id uint64) []removedBroker {
	t.mu.Lock()
	defer t.mu.Unlock()
	var removed []removedBroker
	for addr, lb := range t.live {
		if lb.conn != nil && lb.conn.ID() == id {
			removed = append(removed, t.removeAddrLocked(addr))
		}
	}
	return removed
}

// expire forgets every broker whose last registration is older than its
// timeout (def when it gave none). It returns the removed brokers and the
// connections they registered through that no live broker uses any more;
// the caller closes those.
func (t *routeTable) expire(now time.Time, def time.Duration) (removed []removedBroker, idle []peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, lb := range t.live {
		timeout := lb.timeout
		if timeout <= 0 {
			timeout = def
		}
		if now.Sub(lb.lastUpdate) > timeout {
			removed = append(removed, t.removeAddrLocked(addr))
		}
	}
	usedBy := func(id uint64) bool {
		for _, lb := range t.live {
			if lb.conn != nil && lb.conn.ID() == id {
				return true
			}
		}
		return slices.ContainsFunc(idle, func(p peer) bool { return p.ID() == id })
	}
	for _, rb := range removed {
		if rb.conn != nil && !usedBy(rb.conn.ID()) {
			idle = append(idle, rb.conn)
		}
	}
	return removed, idle
}

// queryDataVersion reports whether v differs from the version the broker at
// addr last registered, refreshing its liveness when it does not
// (QUERY_DATA_VERSION). stored is the registered version, nil if the broker
// is not live.
func (t *routeTable) queryDataVersion(addr string, v dataVersion, now time.Time) (changed bool, stored *dataVersion) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lb := t.live[addr]
	if lb == nil {
		return true, nil
	}
	if lb.version == v {
		lb.lastUpdate = now
		return false, &v
	}
	sv := lb.version
	return true, &sv
}

// deleteTopic removes a topic, or with cluster != "" only its queue data on
// that cluster's groups (DELETE_TOPIC_IN_NAMESRV).
func (t *routeTable) deleteTopic(topic, cluster string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cluster == "" {
		delete(t.topics, topic)
		return
	}
	byBroker := t.topics[topic]
	for name := range t.clusters[cluster] {
		delete(byBroker, name)
	}
	if len(byBroker) == 0 {
		delete(t.topics, topic)
	}
}

// data is the group as routes and cluster info show it.
func (bd *brokerData) data() wire.BrokerData {
	return wire.BrokerData{BrokerAddrs: maps.Clone(bd.addrs), BrokerName: bd.name, Cluster: bd.cluster}
}

// primeSlave reports whether slave id is the one whose registrations keep
// the group's queue data while the group has no master: the lowest id.
func (bd *brokerData) primeSlave(id int64) bool {
	_, hasMaster := bd.addrs[masterID]
	return !hasMaster && id == slices.Min(slices.Collect(maps.Keys(bd.addrs)))
}

// actingSlave returns the address of the slave that stands in for a
// missing master in routes, or "" when the group has a master or does not
// allow it.
func (bd *brokerData) actingSlave() string {
	if _, ok := bd.addrs[masterID]; ok || !bd.actingMaster || len(bd.addrs) == 0 {
		return ""
	}
	return bd.addrs[slices.Min(slices.Collect(maps.Keys(bd.addrs)))]
}

// route returns the route of topic, or false when no live group serves it:
// both arrays sorted by broker name and always present.
func (t *routeTable) route(topic string) (wire.TopicRoute, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	byBroker := t.topics[topic]
	if len(byBroker) == 0 {
		return wire.TopicRoute{}, false
	}
	r := wire.TopicRoute{
		BrokerDatas: make([]wire.BrokerData, 0, len(byBroker)),
		QueueDatas:  make([]wire.QueueData, 0, len(byBroker)),
	}
	for _, name := range slices.Sorted(maps.Keys(byBroker)) {
		qd := byBroker[name]
		if bd := t.brokers[name]; bd != nil {
			w := bd.data()
			if acting := bd.actingSlave(); acting != "" {
				w.BrokerAddrs[masterID] = acting
				qd.Perm &^= wire.PermWrite
			}
			r.BrokerDatas = append(r.BrokerDatas, w)
		}
		r.QueueDatas = append(r.QueueDatas, qd)
	}
	if len(r.BrokerDatas) == 0 {
		return wire.TopicRoute{}, false
	}
	return r, true
}

func (t *routeTable) clusterInfo() wire.ClusterInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ci := wire.ClusterInfo{
		BrokerAddrTable:  make(map[string]wire.BrokerData, len(t.brokers)),
		ClusterAddrTable: make(map[string][]string, len(t.clusters)),
	}
	for name, bd := range t.brokers {
		ci.BrokerAddrTable[name] = bd.data()
	}
	for cluster, names := range t.clusters {
		ci.ClusterAddrTable[cluster] = slices.Sorted(maps.Keys(names))
	}
	return ci
}

func (t *routeTable) topicList() wire.TopicList {
	t.mu.RLock()
	defer t.mu.RUnlock()
	topics := slices.Sorted(maps.Keys(t.topics))
	if topics == nil {
		topics = []string{} // encode as [], not null
	}
	return wire.TopicList{TopicList: topics}
}

package loadgen

// TopologySpec describes the processes a run starts on 127.0.0.1.
type TopologySpec struct {
	Namesrvs int         `yaml:"namesrvs" json:"namesrvs"`
	Cluster  string      `yaml:"cluster" json:"cluster"`
	Groups   []GroupSpec `yaml:"groups" json:"groups"`
	// SegmentSize is mappedFileSizeCommitLog for every broker.
	SegmentSize int64 `yaml:"segmentSize" json:"segmentSize"`
	// BrokerCPUs / LoadgenCPUs pin processes with sched_setaffinity, e.g.
	// "0" or "0-1"; empty leaves placement to the kernel.
	BrokerCPUs  string `yaml:"brokerCPUs" json:"brokerCPUs,omitempty"`
	LoadgenCPUs string `yaml:"loadgenCPUs" json:"loadgenCPUs,omitempty"`
	// ProxyLinks puts a fault-injecting proxy (toxiproxy) on every
	// master→slave replication link, named "<group>/slave-N-link", for
	// latency and bandwidth faults. Every run then goes through it.
	ProxyLinks bool `yaml:"proxyLinks" json:"proxyLinks,omitempty"`
	// ProxyClients puts one on the link from loadgen's clients to every
	// master, named "<group>/client-link".
	ProxyClients bool `yaml:"proxyClients" json:"proxyClients,omitempty"`
	// Workers are `loadgen worker` addresses (host:port) to split the
	// load over; empty: local worker processes.
	Workers []string `yaml:"workers" json:"workers,omitempty"`
	// Controller runs RocketMQ 5's controller embedded in every namesrv
	// (one Raft group over all of them) and starts every group in
	// controller mode unless the group says otherwise: the controller
	// elects each group's master and a new one when it is lost.
	Controller bool `yaml:"controller" json:"controller,omitempty"`
}

// GroupSpec is one broker group: a master and its slaves.
type GroupSpec struct {
	Name   string            `yaml:"name" json:"name"`             // brokerName
	Role   string            `yaml:"role" json:"role"`             // ASYNC_MASTER | SYNC_MASTER
	Flush  string            `yaml:"flush" json:"flush"`           // ASYNC_FLUSH | SYNC_FLUSH
	Slaves int               `yaml:"slaves" json:"slaves"`         // 0..n
	Extra  map[string]string `yaml:"extra" json:"extra,omitempty"` // more broker.properties keys
	// Controller overrides the topology's Controller for this group:
	// false starts a classic master and slaves (failover by restart).
	// A controller group's brokers are named <group>-broker-0..N; which of
	// them is master is the controller's choice, and "<group>/master" in a
	// fault means the one the namesrvs route as master at that moment.
	Controller *bool `yaml:"controller" json:"controller,omitempty"`
}

// controlled reports whether g runs in controller mode.
func (s *TopologySpec) controlled(g GroupSpec) bool {
	if g.Controller != nil {
		return *g.Controller
	}
	return s.Controller
}

package namesrv

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rocketgo/rocketgo/internal/metrics"
)

// nsMetrics is the namesrv's Prometheus endpoint (-metrics HOST:PORT): the
// request latency as RocketMQ 5 names it, the route table's size, route
// lookups, and the Go runtime and process collectors.
type nsMetrics struct {
	reg         *prometheus.Registry
	rpc         *metrics.RPCLatency
	srv         *metrics.Server
	constLabels prometheus.Labels
	found       atomic.Int64 // route lookups answered with a route
	missed      atomic.Int64 // route lookups for a topic no live broker serves
}

func newNSMetrics(s *Server) *nsMetrics {
	m := &nsMetrics{reg: metrics.NewRegistry(), constLabels: prometheus.Labels{metrics.LabelNodeType: metrics.NodeNamesrv}}
	m.rpc = metrics.NewRPCLatency(m.reg, m.constLabels)
	m.reg.MustRegister(&nsCollector{s: s, m: m})
	return m
}

// lookup counts one route lookup.
func (m *nsMetrics) lookup(found bool) {
	if m == nil {
		return
	}
	if found {
		m.found.Add(1)
	} else {
		m.missed.Add(1)
	}
}

type nsCollector struct {
	s *Server
	m *nsMetrics
}

// Describe describes nothing: an unchecked collector, computed when scraped.
func (c *nsCollector) Describe(chan<- *prometheus.Desc) {}

func (c *nsCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.s.table
	t.mu.RLock()
	brokers, groups, clusters, topics := len(t.live), len(t.brokers), len(t.clusters), len(t.topics)
	t.mu.RUnlock()
	gauge := func(name, help string, v int) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, nil, c.m.constLabels), prometheus.GaugeValue, float64(v))
	}
	gauge("rocketgo_namesrv_brokers", "Brokers (masters and slaves) registered and alive.", brokers)
	gauge("rocketgo_namesrv_broker_groups", "Broker groups (broker names) with a registered broker.", groups)
	gauge("rocketgo_namesrv_clusters", "Clusters with a registered broker.", clusters)
	gauge("rocketgo_namesrv_topics", "Topics in the route table.", topics)
	desc := prometheus.NewDesc("rocketgo_namesrv_route_lookups_total", "GET_ROUTEINFO_BY_TOPIC requests, by whether a route was found.",
		[]string{"result"}, c.m.constLabels)
	ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(c.m.found.Load()), "found")
	ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(c.m.missed.Load()), "not_found")
}

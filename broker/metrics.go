package broker

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rocketgo/rocketgo/internal/metrics"
)

// brokerMetrics is the broker's Prometheus endpoint (metricsExporterType=PROM):
// RocketMQ 5.1's names and labels, and rocketgo_ ones for what RocketMQ
// does not export (replication per slave, the send stages, fsyncs, the
// connections' queues).
//
// The send path counts through the *topicMetrics handle its TopicConfig
// carries (the topic table resolves it when the topic enters the table),
// so a message costs atomic adds and no lookup. Handles per topic and per
// (topic, group) are capped (metricsMaxTopicLabels, metricsMaxGroupLabels);
// past the cap they share the "_overflow_" series. Gauges are computed
// when scraped.
type brokerMetrics struct {
	b   *Broker
	reg *prometheus.Registry
	srv *metrics.Server
	rpc *metrics.RPCLatency

	topics *metrics.LabelSet[*topicMetrics]
	pairs  *metrics.LabelSet[*outMetrics] // key: topic + "@" + group

	outMsgs, outBytes *prometheus.CounterVec // topic, consumer_group
	dlq               *prometheus.CounterVec

	fsync prometheus.Observer
}

// Message types, RocketMQ 5's message_type label values.
const (
	msgNormal = iota
	msgFIFO
	msgDelay
	msgTransaction
	msgTypes
)

var msgTypeNames = [msgTypes]string{"normal", "fifo", "delay", "transaction"}

// messageSizeBuckets are RocketMQ 5.1's, in bytes.
var messageSizeBuckets = []float64{1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}

// topicMetrics is one topic's handle.
type topicMetrics struct {
	m     *brokerMetrics
	name  string // the label value: the topic, or metrics.Overflow
	types [msgTypes]atomic.Pointer[typeMetrics]
}

// typeMetrics is one (topic, message type)'s size histogram: its count
// and sum are also rocketmq_messages_in_total and
// rocketmq_throughput_in_total (written when scraped), so a message costs
// one Observe: two atomic adds on a shard.
type typeMetrics struct {
	size *metrics.Histogram
}

// outMetrics is one (topic, consumer group)'s handle.
type outMetrics struct {
	msgs, bytes prometheus.Counter
	mu          sync.Mutex
	pulled      map[int32]int64 // per queue, the next offset the last pull answered
}

func newBrokerMetrics(b *Broker) *brokerMetrics {
	cfg := &b.cfg
	reg := metrics.NewRegistry()
	constLabels := prometheus.Labels{
		metrics.LabelCluster:  cfg.BrokerClusterName,
		metrics.LabelNodeType: metrics.NodeBroker,
		metrics.LabelNodeID:   cfg.BrokerName,
	}
	m := &brokerMetrics{b: b, reg: reg, rpc: metrics.NewRPCLatency(reg, constLabels)}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: constLabels}, labels)
		reg.MustRegister(v)
		return v
	}
	m.outMsgs = counter("rocketmq_messages_out_total", "Messages returned to consumers' pulls.", metrics.LabelTopic, metrics.LabelConsumerGroup)
	m.outBytes = counter("rocketmq_throughput_out_total", "Stored message bytes returned to consumers' pulls.", metrics.LabelTopic, metrics.LabelConsumerGroup)
	m.dlq = counter("rocketmq_send_to_dlq_messages_total", "Messages moved to a group's dead-letter topic.", metrics.LabelTopic, metrics.LabelConsumerGroup)
	// A dropped topic's handle leaves the set, and with it its series.
	m.topics = metrics.NewLabelSet(cfg.MetricsMaxTopicLabels,
		func(topic string) *topicMetrics { return &topicMetrics{m: m, name: topic} }, nil)
	m.pairs = metrics.NewLabelSet(cfg.MetricsMaxGroupLabels,
		func(key string) *outMetrics {
			topic, group := splitPair(key)
			return &outMetrics{msgs: m.outMsgs.WithLabelValues(topic, group), bytes: m.outBytes.WithLabelValues(topic, group),
				pulled: map[int32]int64{}}
		},
		func(key string, _ *outMetrics) {
			topic, group := splitPair(key)
			m.outMsgs.DeleteLabelValues(topic, group)
			m.outBytes.DeleteLabelValues(topic, group)
		})

	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rocketgo_commitlog_fsync_seconds", Help: "Time of each msync of the CommitLog by the flusher.",
		Buckets: durationBuckets, ConstLabels: constLabels,
	})
	reg.MustRegister(fsync)
	m.fsync = fsync
	reg.MustRegister(&scraped{m: m, constLabels: constLabels})
	return m
}

// start serves the endpoint; the address is checked here so a port in use
// stops the broker's start with the key named.
func (m *brokerMetrics) start() error {
	cfg := &m.b.cfg
	host := cfg.MetricsPromExporterHost
	if host == "" {
		host = cfg.BrokerIP1
	}
	srv, err := metrics.Serve(net.JoinHostPort(host, strconv.Itoa(cfg.MetricsPromExporterPort)), m.reg, cfg.EnablePprof, m.b.log)
	if err != nil {
		return fmt.Errorf("metricsPromExporterHost=%s metricsPromExporterPort=%d: %w", host, cfg.MetricsPromExporterPort, err)
	}
	m.srv = srv
	return nil
}

// onSync is the store's OnSync hook, nil when metrics are off.
func (m *brokerMetrics) onSync() func(time.Duration, int64) {
	if m == nil {
		return nil
	}
	return func(d time.Duration, _ int64) { m.fsync.Observe(d.Seconds()) }
}

// observer is the remoting server's Observe hook, nil when metrics are off.
func (m *brokerMetrics) observer() func(code, respCode int32, d time.Duration, connID uint64) {
	if m == nil {
		return nil
	}
	return m.rpc.Observe
}

func (m *brokerMetrics) close() {
	if m != nil && m.srv != nil {
		m.srv.Close()
	}
}

func splitPair(key string) (topic, group string) {
	topic, group, _ = strings.Cut(key, "@")
	return topic, group
}

// handle returns the topic's handle (nil receiver: metrics are off).
func (m *brokerMetrics) handle(topic string) *topicMetrics {
	if m == nil {
		return nil
	}
	return m.topics.Get(topic)
}

// forget drops a deleted topic's series.
func (m *brokerMetrics) forget(topic string) {
	if m != nil {
		m.topics.Drop(topic)
	}
}

// in counts one stored message of the given type and body size; hint
// (the connection's id) picks the histogram's shard.
func (t *topicMetrics) in(typ int, size int, hint uint64) {
	if t == nil {
		return
	}
	tm := t.types[typ].Load()
	if tm == nil {
		tm = &typeMetrics{size: metrics.NewHistogram(messageSizeBuckets, 1)}
		if !t.types[typ].CompareAndSwap(nil, tm) {
			tm = t.types[typ].Load()
		}
	}
	tm.size.Observe(uint64(size), hint)
}

// out counts messages returned to a group's pull of a queue and notes how
// far the group has pulled it.
func (m *brokerMetrics) out(topic, group string, queueID int32, next int64, msgs, bytes int) {
	if m == nil {
		return
	}
	o := m.pairs.Get(topic + "@" + group)
	o.msgs.Add(float64(msgs))
	o.bytes.Add(float64(bytes))
	o.mu.Lock()
	o.pulled[queueID] = next
	o.mu.Unlock()
}

// toDLQ counts a message moved to group's dead-letter topic.
func (m *brokerMetrics) toDLQ(topic, group string) {
	if m == nil {
		return
	}
	if _, own := m.pairs.Resolve(topic + "@" + group); !own {
		topic, group = metrics.Overflow, metrics.Overflow
	}
	m.dlq.WithLabelValues(topic, group).Inc()
}

// durationBuckets are the buckets of the rocketgo_ time histograms, in
// seconds: 10 µs to ~5 s by doubling.
var durationBuckets = prometheus.ExponentialBuckets(10e-6, 2, 20)

// messageType is the message_type label of a send.
func messageType(tc *TopicConfig, sysFlag int32, props string) int {
	switch {
	case sysFlag&txMask == txPrepared:
		return msgTransaction
	case hasDelay(props):
		return msgDelay
	case tc.Order:
		return msgFIFO
	}
	return msgNormal
}

func hasDelay(props string) bool {
	v, ok := property(props, propDelay)
	return ok && v != "" && v != "0"
}

// scraped computes the gauges when Prometheus scrapes.
type scraped struct {
	m           *brokerMetrics
	constLabels prometheus.Labels
}

func (s *scraped) desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, s.constLabels)
}

var scrapedHelp = []struct{ name, help string }{
	{"rocketmq_consumer_ready_messages", "Messages stored and not yet pulled by the group."},
	{"rocketmq_consumer_inflight_messages", "Messages pulled by the group and not yet committed."},
	{"rocketmq_consumer_queueing_latency", "Milliseconds the oldest message not yet pulled by the group has been ready."},
	{"rocketmq_consumer_lag_latency", "Milliseconds since the oldest message the group has not committed was stored."},
}

// Describe describes nothing: scraped is an unchecked collector, since
// which series exist depends on the broker's role and state.
func (s *scraped) Describe(chan<- *prometheus.Desc) {}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	m, b := s.m, s.m.b
	gauge := func(name, help string, v float64, labels ...string) {
		var names []string
		for i := 0; i+1 < len(labels); i += 2 {
			names = append(names, labels[i])
		}
		var values []string
		for i := 1; i < len(labels); i += 2 {
			values = append(values, labels[i])
		}
		ch <- prometheus.MustNewConstMetric(s.desc(name, help, names...), prometheus.GaugeValue, v, values...)
	}
	counter := func(name, help string, v float64) {
		ch <- prometheus.MustNewConstMetric(s.desc(name, help), prometheus.CounterValue, v)
	}
	now := time.Now()

	// Storage.
	st := b.store.Stats()
	if oldest, ok := b.store.OldestStoreTime(); ok {
		gauge("rocketmq_storage_message_reserve_time", "Milliseconds since the oldest stored message was stored.", float64(now.UnixMilli()-oldest))
	} else {
		gauge("rocketmq_storage_message_reserve_time", "Milliseconds since the oldest stored message was stored.", 0)
	}
	gauge("rocketmq_storage_dispatch_behind_bytes", "CommitLog bytes not yet in consume queues (0: queues are written with the log).", 0)
	gauge("rocketmq_storage_flush_behind_bytes", "CommitLog bytes written and not yet flushed.", float64(max(b.store.MaxOffset()-b.store.FlushedOffset(), 0)))
	gauge("rocketgo_commitlog_bytes", "CommitLog bytes held (max offset - min offset).", float64(b.store.MaxOffset()-b.store.MinOffset()))
	gauge("rocketgo_commitlog_segments", "CommitLog segment files.", float64(st.Segments))
	counter("rocketgo_commitlog_written_bytes_total", "CommitLog bytes written (records and padding, replicated bytes included).", float64(st.BytesWritten))
	counter("rocketgo_commitlog_syncs_total", "Msyncs of the CommitLog.", float64(st.Syncs))
	counter("rocketgo_commitlog_sync_errors_total", "Failed msyncs of the CommitLog or consume queues.", float64(st.SyncErrors))
	gauge("rocketmq_topic_number", "Topics in the topic table.", float64(len(b.topics.state().entries)))
	gauge("rocketmq_consumer_group_number", "Subscription groups.", float64(len(b.groups.t.state().entries)))

	r := b.role()
	role := "master"
	if r.name == Slave {
		role = "slave"
	}
	gauge("rocketgo_broker_info", "1, with the broker's role, id and client address as labels.", 1,
		"role", role, "broker_id", strconv.FormatInt(r.id, 10), "addr", b.addr)
	net := prometheus.NewDesc("rocketgo_network_bytes_total", "Bytes received (frames decoded) and sent (handed to the sockets), by port: client, or ha (the CommitLog stream, sendfile bytes on a master).",
		[]string{"port", "direction"}, s.constLabels)
	netBytes := func(port, dir string, v int64) {
		ch <- prometheus.MustNewConstMetric(net, prometheus.CounterValue, float64(v), port, dir)
	}

	// Connections and the request queue.
	if b.server != nil {
		ss := b.server.Stats()
		netBytes("client", "in", ss.BytesIn)
		netBytes("client", "out", ss.BytesOut)
		gauge("rocketmq_thread_pool_wartermark", "Tasks queued for the pool.", float64(ss.QueuedRequests), "name", "remoting_workers")
		gauge("rocketgo_connections", "Client connections open.", float64(ss.Conns))
		gauge("rocketgo_queued_answer_bytes", "Bytes of answers queued for connections and not yet taken by their sockets.", float64(ss.QueuedBytes))
		gauge("rocketgo_held_request_bytes", "Bytes of requests held for workers (serverWorkerQueueMaxBytes).", float64(ss.HeldBytes))
		counter("rocketgo_slow_consumer_closed_total", "Connections closed because their peer did not read its answers.", float64(ss.SlowClosed))
		counter("rocketgo_busy_answers_total", "Requests answered SYSTEM_BUSY by the server's bounds.", float64(ss.BusyAnswers))
	}
	gauge("rocketgo_pull_requests_held", "Pull requests held by long polling.", float64(b.polls.count.Load()))
	counter("rocketgo_label_overflow_total", "Times a topic or (topic, group) past its cap was counted under _overflow_.",
		float64(m.topics.Overflowed()+m.pairs.Overflowed()))

	// Replication.
	if b.master != nil && r.name != Slave {
		end := b.store.MaxOffset()
		for _, sl := range b.master.Slaves() {
			lag := end - sl.AckedOffset
			lagTime := 0.0
			if lag > 0 {
				lagTime = now.Sub(sl.CaughtUp).Seconds()
			}
			gauge("rocketgo_replication_slave_connected", "1 for each slave connected to this master.", 1, "slave", sl.Addr)
			gauge("rocketgo_replication_acked_offset", "The CommitLog offset the slave reported holding.", float64(sl.AckedOffset), "slave", sl.Addr)
			gauge("rocketgo_replication_lag_bytes", "CommitLog bytes the slave does not hold yet.", float64(max(lag, 0)), "slave", sl.Addr)
			gauge("rocketgo_replication_lag_seconds", "Seconds since the slave last held the whole CommitLog (0 when it does).", lagTime, "slave", sl.Addr)
		}
		gauge("rocketgo_replication_slaves", "Slaves connected to this master.", float64(len(b.master.Slaves())))
		netBytes("ha", "out", b.master.Stats().BytesSendfile)
	}
	if b.slave != nil && r.name == Slave {
		ss := b.slave.Stats()
		connected := 0.0
		if ss.Connected {
			connected = 1
		}
		gauge("rocketgo_replication_master_connected", "1 when this slave is connected to its master.", connected)
		counter("rocketgo_replication_received_bytes_total", "CommitLog bytes received from the master.", float64(ss.Bytes))
		netBytes("ha", "in", ss.Bytes)
	}

	s.collectConsumers(ch, now)
	s.collectIn(ch)
	s.collectStages(ch)
}

// collectIn writes rocketmq_messages_in_total and
// rocketmq_throughput_in_total from the size histograms' counts and sums.
func (s *scraped) collectIn(ch chan<- prometheus.Metric) {
	labels := []string{metrics.LabelTopic, metrics.LabelMessageType}
	msgs := s.desc("rocketmq_messages_in_total", "Messages stored by producers' sends.", labels...)
	bytes := s.desc("rocketmq_throughput_in_total", "Message body bytes stored by producers' sends.", labels...)
	size := s.desc("rocketmq_message_size", "Sizes of the message bodies stored by sends, in bytes.", labels...)
	s.m.topics.Each(func(topic string, t *topicMetrics) {
		for typ := range t.types {
			tm := t.types[typ].Load()
			if tm == nil {
				continue
			}
			count, sum, buckets := tm.size.Snapshot()
			ch <- prometheus.MustNewConstMetric(msgs, prometheus.CounterValue, float64(count), topic, msgTypeNames[typ])
			ch <- prometheus.MustNewConstMetric(bytes, prometheus.CounterValue, sum, topic, msgTypeNames[typ])
			ch <- prometheus.MustNewConstHistogram(size, count, sum, buckets, topic, msgTypeNames[typ])
		}
	})
}

// collectStages writes rocketgo_send_stage_seconds from the HdrHistograms
// the broker keeps per stage (stages.go): nothing more per message.
func (s *scraped) collectStages(ch chan<- prometheus.Metric) {
	desc := s.desc("rocketgo_send_stage_seconds", "Time of each stage of a send inside the broker: sendStore (decoded to appended), "+
		"sendFlushWait (appended to durable, SYNC_FLUSH), sendSlaveWait (appended to held by a slave, SYNC_MASTER), sendTotal (decoded to answered).", "stage")
	s.m.b.lat.each(func(stage string, h *hdrhistogram.Histogram) {
		if h.TotalCount() == 0 {
			return
		}
		buckets := make(map[float64]uint64, len(durationBuckets))
		for _, bar := range h.Distribution() {
			if bar.Count == 0 {
				continue
			}
			v := float64(bar.To) / 1e6 // µs → s, the bar's upper end
			for _, ub := range durationBuckets {
				if v <= ub {
					buckets[ub] += uint64(bar.Count)
				}
			}
		}
		sum := h.Mean() * float64(h.TotalCount()) / 1e6
		ch <- prometheus.MustNewConstHistogram(desc, uint64(h.TotalCount()), sum, buckets, stage)
	})
}

// collectConsumers computes the consumer gauges of every (topic, group)
// with committed offsets or pulls, within the pair cap.
func (s *scraped) collectConsumers(ch chan<- prometheus.Metric, now time.Time) {
	m, b := s.m, s.m.b
	type acc struct {
		ready, inflight int64
		queueing, lag   int64 // ms
	}
	pairs := map[string]*acc{} // by label pair; the pairs past the cap add up under _overflow_
	for key, queues := range b.offsets.snapshotQueues() {
		topic, _ := splitPair(key)
		o, own := m.pairs.Resolve(key)
		label := key
		if !own {
			label = metrics.Overflow + "@" + metrics.Overflow
		}
		a := pairs[label]
		if a == nil {
			a = &acc{}
			pairs[label] = a
		}
		o.mu.Lock()
		pulled := make(map[int32]int64, len(o.pulled))
		for q, v := range o.pulled {
			pulled[q] = v
		}
		o.mu.Unlock()
		for q, committed := range queues {
			maxOff := b.store.QueueMaxOffset(topic, q)
			if maxOff < 0 {
				continue
			}
			p, ok := pulled[q]
			if !ok || p < committed {
				p = committed
			}
			p = min(p, maxOff)
			a.ready += maxOff - p
			a.inflight += max(p-committed, 0)
			if maxOff > p {
				if ts, err := b.store.StoreTimeFrom(topic, q, p); err == nil && ts > 0 {
					a.queueing = max(a.queueing, now.UnixMilli()-ts)
				}
			}
			if maxOff > committed {
				if ts, err := b.store.StoreTimeFrom(topic, q, committed); err == nil && ts > 0 {
					a.lag = max(a.lag, now.UnixMilli()-ts)
				}
			}
		}
	}
	labels := []string{metrics.LabelTopic, metrics.LabelConsumerGroup}
	descs := make([]*prometheus.Desc, len(scrapedHelp))
	for i, h := range scrapedHelp {
		descs[i] = s.desc(h.name, h.help, labels...)
	}
	for key, a := range pairs {
		topic, group := splitPair(key)
		for i, v := range []int64{a.ready, a.inflight, max(a.queueing, 0), max(a.lag, 0)} {
			ch <- prometheus.MustNewConstMetric(descs[i], prometheus.GaugeValue, float64(v), topic, group)
		}
	}
}

// Package metrics holds what the broker's and the namesrv's Prometheus
// endpoints share: the HTTP listener (with pprof behind a switch), the
// RocketMQ 5 request-latency histogram fed by the remoting server, and
// label sets with a cap.
//
// Instruments are client_golang's; nothing here writes the exposition
// format. Hot paths hold handles (a Counter, an Observer) resolved once, so
// counting a message costs an atomic add, not a label lookup.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label names and values of RocketMQ 5.1's metrics.
const (
	LabelCluster       = "cluster"
	LabelNodeType      = "node_type"
	LabelNodeID        = "node_id"
	LabelTopic         = "topic"
	LabelMessageType   = "message_type"
	LabelConsumerGroup = "consumer_group"

	NodeBroker  = "broker"
	NodeNamesrv = "nameserver"
)

// Overflow is the label value that stands for every topic or group past
// a label set's cap.
const Overflow = "_overflow_"

// NewRegistry returns a registry holding the Go runtime and process
// collectors (process_cpu_seconds_total, RSS, GC pauses).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server is a running metrics endpoint.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Serve listens on addr ("host:0" picks a free port) and serves reg at
// /metrics, in the Prometheus text format or OpenMetrics when the scraper
// asks for it; with withPprof, net/http/pprof under /debug/pprof/. It logs
// msg=listening service=metrics addr=HOST:PORT.
func Serve(addr string, reg *prometheus.Registry, withPprof bool, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slogPrinter{log},
		ErrorHandling:     promhttp.ContinueOnError,
	}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	log.Info("listening", "service", "metrics", "addr", s.addr, "pprof", withPprof)
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "addr", s.addr, "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops the endpoint.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "err", fmt.Sprint(v...)) }

// RPCLatency is RocketMQ 5's rocketmq_rpc_latency histogram (milliseconds,
// by protocol_type, request_code and response_code), fed by
// remoting.ServerConfig.Observe. A (request, response) code pair is looked
// up in two arrays, not a map, and observed on a sharded Histogram.
type RPCLatency struct {
	desc   *prometheus.Desc
	byCode [maxCode]atomic.Pointer[codeLatency]
	mu     sync.Mutex
	other  map[[2]int32]*Histogram // codes out of the arrays' range
	all    []rpcSeries             // every series made, for Collect
}

type codeLatency [maxCode]atomic.Pointer[Histogram]

type rpcSeries struct {
	code, resp string
	h          *Histogram
}

// maxCode bounds the codes held in arrays (RocketMQ's go up to ~400 for
// requests and ~210 for responses).
const maxCode = 1024

// rpcBuckets are RocketMQ 5.1's, in milliseconds.
var rpcBuckets = []float64{1, 3, 5, 7, 10, 100, 1000, 2000, 3000}

// NewRPCLatency registers the histogram with reg; constant labels go on
// every series.
func NewRPCLatency(reg prometheus.Registerer, constLabels prometheus.Labels) *RPCLatency {
	r := &RPCLatency{
		desc: prometheus.NewDesc("rocketmq_rpc_latency", "Time from a request's arrival to its answer, in milliseconds.",
			[]string{"protocol_type", "request_code", "response_code"}, constLabels),
		other: map[[2]int32]*Histogram{},
	}
	reg.MustRegister(r)
	return r
}

// Observe records one answered request; hint spreads concurrent
// observers over shards (a connection's id).
func (r *RPCLatency) Observe(code, respCode int32, d time.Duration, hint uint64) {
	r.histogram(code, respCode).Observe(uint64(max(d, 0)), hint)
}

func (r *RPCLatency) histogram(code, respCode int32) *Histogram {
	if code < 0 || code >= maxCode || respCode < 0 || respCode >= maxCode {
		r.mu.Lock()
		defer r.mu.Unlock()
		key := [2]int32{code, respCode}
		if h := r.other[key]; h != nil {
			return h
		}
		h := r.newSeriesLocked(code, respCode)
		r.other[key] = h
		return h
	}
	byResp := r.byCode[code].Load()
	if byResp == nil {
		r.byCode[code].CompareAndSwap(nil, new(codeLatency))
		byResp = r.byCode[code].Load()
	}
	if h := byResp[respCode].Load(); h != nil {
		return h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := byResp[respCode].Load(); h != nil {
		return h
	}
	h := r.newSeriesLocked(code, respCode)
	byResp[respCode].Store(h)
	return h
}

func (r *RPCLatency) newSeriesLocked(code, respCode int32) *Histogram {
	h := NewHistogram(rpcBuckets, float64(time.Millisecond))
	r.all = append(r.all, rpcSeries{strconv.Itoa(int(code)), strconv.Itoa(int(respCode)), h})
	return h
}

// Describe and Collect make RPCLatency a prometheus.Collector.
func (r *RPCLatency) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *RPCLatency) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	all := r.all[:len(r.all):len(r.all)]
	r.mu.Unlock()
	for _, s := range all {
		ch <- s.h.Metric(r.desc, "remoting", s.code, s.resp)
	}
}

// LabelSet hands out one handle per label value up to a cap; past it,
// every new value shares the handle of Overflow. Values given back with
// Drop free their place. Handles are made by the function given to
// NewLabelSet and undone (their series deleted) by the one given for drop.
type LabelSet[H any] struct {
	mu      sync.Mutex
	cap     int
	handles map[string]H
	newH    func(value string) H
	drop    func(value string, h H)
	over    H
	hasOver bool
	dropped atomic.Int64 // values sent to Overflow
}

// NewLabelSet returns a set of at most max values besides Overflow.
func NewLabelSet[H any](max int, newH func(string) H, drop func(string, H)) *LabelSet[H] {
	return &LabelSet[H]{cap: max, handles: map[string]H{}, newH: newH, drop: drop}
}

// Get returns value's handle, making it if there is room, else the
// overflow handle (counted in Overflowed).
func (s *LabelSet[H]) Get(value string) H {
	h, own := s.Resolve(value)
	if !own {
		s.dropped.Add(1)
	}
	return h
}

// Resolve is Get without counting an overflow: it reports whether the
// handle is value's own.
func (s *LabelSet[H]) Resolve(value string) (H, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.handles[value]; ok {
		return h, true
	}
	if len(s.handles) < s.cap && value != Overflow {
		h := s.newH(value)
		s.handles[value] = h
		return h, true
	}
	if !s.hasOver {
		s.over, s.hasOver = s.newH(Overflow), true
	}
	return s.over, false
}

// Drop forgets value (a deleted topic): its series go, and its place is
// free. Handles already given out keep working, unexported.
func (s *LabelSet[H]) Drop(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.handles[value]; ok {
		delete(s.handles, value)
		if s.drop != nil {
			s.drop(value, h)
		}
	}
}

// Len is the number of values with a handle of their own.
func (s *LabelSet[H]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.handles)
}

// Overflowed is how many times a value was given the overflow handle.
func (s *LabelSet[H]) Overflowed() int64 { return s.dropped.Load() }

// Each calls fn for every value with its own handle, and for Overflow once
// it is in use, under the set's lock: fn must not call the set.
func (s *LabelSet[H]) Each(fn func(value string, h H)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, h := range s.handles {
		fn(v, h)
	}
	if s.hasOver {
		fn(Overflow, s.over)
	}
}

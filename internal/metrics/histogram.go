package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram is a histogram of integer values (nanoseconds, bytes) for a
// hot path: an observation is two atomic adds on one of several shards,
// picked by a hint the caller has at hand (a connection's id), so event
// loops observing the same series do not contend on one cache line, as
// they do on a client_golang Histogram (a count, a bucket and a
// compare-and-swap loop on the float sum). Metric renders it, through
// client_golang, when scraped.
type Histogram struct {
	bounds []uint64 // upper bounds, ascending, in the observed unit
	scale  float64  // exported value = observed / scale (ns → ms: 1e6)
	shards [histShards]histShard
}

const histShards = 8

type histShard struct {
	counts []atomic.Uint64 // per bucket, +Inf last; not cumulative
	sum    atomic.Uint64
	_      [64]byte // keeps shards apart
}

// NewHistogram returns a histogram whose exported buckets are bounds (in
// the exported unit) and whose observations are in units scale times
// smaller (scale 1e6 for nanoseconds exported as milliseconds).
func NewHistogram(bounds []float64, scale float64) *Histogram {
	h := &Histogram{scale: scale}
	for _, b := range bounds {
		h.bounds = append(h.bounds, uint64(b*scale))
	}
	for i := range h.shards {
		h.shards[i].counts = make([]atomic.Uint64, len(bounds)+1)
	}
	return h
}

// Observe records v on the shard of hint.
func (h *Histogram) Observe(v uint64, hint uint64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	s := &h.shards[hint%histShards]
	s.counts[i].Add(1)
	s.sum.Add(v)
}

// Snapshot returns the count, the sum in the exported unit and the
// cumulative count of each bound.
func (h *Histogram) Snapshot() (count uint64, sum float64, cumulative map[float64]uint64) {
	per := make([]uint64, len(h.bounds)+1)
	var total uint64
	for i := range h.shards {
		s := &h.shards[i]
		for b := range s.counts {
			per[b] += s.counts[b].Load()
		}
		total += s.sum.Load()
	}
	cumulative = make(map[float64]uint64, len(h.bounds))
	for b, ub := range h.bounds {
		count += per[b]
		cumulative[float64(ub)/h.scale] = count
	}
	count += per[len(h.bounds)]
	return count, float64(total) / h.scale, cumulative
}

// Metric renders the histogram as desc with the given label values.
func (h *Histogram) Metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	count, sum, buckets := h.Snapshot()
	return prometheus.MustNewConstHistogram(desc, count, sum, buckets, labels...)
}

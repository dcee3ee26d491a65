package metrics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestLabelSetCap: 10 000 values through a set capped at 100 leave 100
// handles of their own and one overflow handle; dropping a value frees its
// place and deletes its series.
func TestLabelSetCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"topic"})
	reg.MustRegister(vec)
	set := NewLabelSet(100, func(v string) prometheus.Counter { return vec.WithLabelValues(v) },
		func(v string, _ prometheus.Counter) { vec.DeleteLabelValues(v) })
	for i := range 10_000 {
		set.Get(fmt.Sprintf("t%05d", i)).Inc()
	}
	series := func() int {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return len(fams[0].Metric)
	}
	if n := series(); n != 101 {
		t.Fatalf("%d series, want 100 and %s", n, Overflow)
	}
	if set.Len() != 100 || set.Overflowed() != 9_900 {
		t.Fatalf("Len %d Overflowed %d", set.Len(), set.Overflowed())
	}
	if h, own := set.Resolve("t00000"); !own || h == nil {
		t.Fatal("a value within the cap lost its handle")
	}
	if _, own := set.Resolve("t05000"); own {
		t.Fatal("a value past the cap got a handle of its own")
	}
	set.Drop("t00000")
	if n := series(); n != 100 {
		t.Fatalf("after Drop: %d series, want 100", n)
	}
	if _, own := set.Resolve("new"); !own {
		t.Fatal("a dropped value's place was not freed")
	}
	if _, own := set.Resolve(Overflow); own {
		t.Fatalf("%s itself got a handle of its own", Overflow)
	}
}

// TestRPCLatency: codes inside and outside the arrays land in their own
// series, in milliseconds.
func TestRPCLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewRPCLatency(reg, prometheus.Labels{LabelNodeType: NodeBroker})
	r.Observe(10, 0, 2*time.Millisecond, 1)
	r.Observe(10, 0, 4*time.Millisecond, 2)
	r.Observe(5000, -1, time.Second, 3)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.Histogram{}
	for _, m := range fams[0].Metric {
		var code, resp string
		for _, l := range m.Label {
			switch l.GetName() {
			case "request_code":
				code = l.GetValue()
			case "response_code":
				resp = l.GetValue()
			}
		}
		got[code+"/"+resp] = m.Histogram
	}
	if h := got["10/0"]; h == nil || h.GetSampleCount() != 2 || h.GetSampleSum() != 6 {
		t.Fatalf("10/0: %v", h)
	}
	if h := got["5000/-1"]; h == nil || h.GetSampleCount() != 1 || h.GetSampleSum() != 1000 {
		t.Fatalf("5000/-1: %v", h)
	}
}

// BenchmarkCountMessage: what counting one stored message costs the send
// path: its size on the topic's histogram and its request's latency.
func BenchmarkCountMessage(b *testing.B) {
	size := NewHistogram([]float64{1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}, 1)
	r := NewRPCLatency(prometheus.NewRegistry(), nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		hint := uint64(rand.Int64())
		for pb.Next() {
			size.Observe(1024, hint)
			r.Observe(310, 0, 100*time.Microsecond, hint)
		}
	})
}

// TestHistogram: observations land in their buckets, cumulative, with
// the sum in the exported unit, whichever shard took them.
func TestHistogram(t *testing.T) {
	h := NewHistogram([]float64{1, 10}, 1e6) // ms, observed in ns
	for i, ns := range []uint64{500_000, 1_000_000, 2_000_000, 50_000_000} {
		h.Observe(ns, uint64(i))
	}
	count, sum, buckets := h.Snapshot()
	if count != 4 || sum != 53.5 || buckets[1] != 2 || buckets[10] != 3 {
		t.Fatalf("count %d sum %v buckets %v", count, sum, buckets)
	}
}

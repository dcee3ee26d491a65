package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// boundHeap lets the collector run rarely while little is live (GOGC=400:
// a broker allocates a buffer per request and keeps little) without letting
// a burst of live memory leave the heap at five times the burst: after each
// collection it sets the runtime's soft memory limit to twice the live heap
// that collection found, plus headroom. While the live heap is under
// headroom/3 the limit is above what GOGC=400 allows and changes nothing;
// above it, collections come more often than GOGC=400's but never more
// often than Go's default GOGC=100 (the heap still grows by the live heap
// plus headroom between them). Large requests, queued answers and requests
// in flight are each bounded by their own keys (remoting.Limits); this
// bounds what the collector adds on top.
func boundHeap(headroom int64) {
	debug.SetGCPercent(400)
	s := &heapSentinel{headroom: headroom, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	runtime.SetFinalizer(s, (*heapSentinel).collected)
}

// heapSentinel is garbage from the start: its finalizer runs after each
// collection and registers itself again for the next.
type heapSentinel struct {
	headroom int64
	live     []metrics.Sample
}

func (s *heapSentinel) collected() {
	metrics.Read(s.live)
	if s.live[0].Value.Kind() == metrics.KindUint64 {
		live := s.live[0].Value.Uint64()
		if live < math.MaxInt64/4 {
			debug.SetMemoryLimit(2*int64(live) + s.headroom)
		}
	}
	runtime.SetFinalizer(s, (*heapSentinel).collected)
}

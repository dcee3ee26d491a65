package broker

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Broker-side latency of sends, by stage, in µs. GET_BROKER_RUNTIME_INFO
// carries each as an HdrHistogram (V2 compressed, base64) under
// "latency.<stage>", cumulative since start: a load generator takes one
// before and one after a run and subtracts them, to split the latency its
// clients saw into the broker's part and the rest (network, client,
// scheduling).
const (
	stageStore     = "sendStore"     // handler start (right after decode: sends run inline) → message appended
	stageFlushWait = "sendFlushWait" // appended → durable (SYNC_FLUSH group commit)
	stageSlaveWait = "sendSlaveWait" // appended → a slave has it (SYNC_MASTER)
	stageTotal     = "sendTotal"     // handler start → answer handed to the connection
)

// stageMaxUs bounds the recorded values (a minute).
const stageMaxUs = 60_000_000

type stageStats struct {
	mu    sync.Mutex
	hists map[string]*hdrhistogram.Histogram
}

func newStageStats() *stageStats {
	s := &stageStats{hists: map[string]*hdrhistogram.Histogram{}}
	for _, name := range []string{stageStore, stageFlushWait, stageSlaveWait, stageTotal} {
		s.hists[name] = hdrhistogram.New(1, stageMaxUs, 3)
	}
	return s
}

// record adds d to a stage.
func (s *stageStats) record(stage string, d time.Duration) {
	us := min(max(d.Microseconds(), 1), stageMaxUs)
	s.mu.Lock()
	_ = s.hists[stage].RecordValue(us)
	s.mu.Unlock()
}

// each calls fn for every stage under the lock: fn must not keep h.
func (s *stageStats) each(fn func(stage string, h *hdrhistogram.Histogram)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, h := range s.hists {
		fn(name, h)
	}
}

// encode returns the runtime-info entries of the stages that have data.
func (s *stageStats) encode(into map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, h := range s.hists {
		if h.TotalCount() == 0 {
			continue
		}
		if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
			into["latency."+name] = string(b)
		}
	}
}

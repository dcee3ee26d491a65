package loadgen

import (
	"fmt"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// recordState is a recorder as a worker sends it to the driver: counts,
// HdrHistograms in their compressed encoding (base64 in JSON), per-second
// intervals, and the ledgers of acknowledged and consumed sequence numbers
// by producer. Merging the states of every worker gives the recorder one
// process would have filled measuring everything (mergeStates).
type recordState struct {
	Sent      int64            `json:"sent"`
	Acked     int64            `json:"acked"`
	Errors    int64            `json:"errors"`
	Consumed  int64            `json:"consumed"`
	Dup       int64            `json:"duplicates"`
	Statuses  map[string]int64 `json:"statuses"`
	Hists     histSet          `json:"hists"`
	Intervals []intervalState  `json:"intervals"`
	// Ledgers by producer number (decimal keys): bitsets, bit n of word
	// n/64 set for sequence number n.
	AckedSeq    map[string][]uint64 `json:"ackedSeq,omitempty"`
	ConsumedSeq map[string][]uint64 `json:"consumedSeq,omitempty"`
	// OKAt counts SEND_OK answers per okTick since the window opened.
	OKAt []int32 `json:"okAt,omitempty"`
}

type intervalState struct {
	Sent     int64   `json:"sent"`
	Acked    int64   `json:"acked"`
	Errors   int64   `json:"errors"`
	Consumed int64   `json:"consumed"`
	Hists    histSet `json:"hists"`
}

// histSet holds the send, service, pacing and end-to-end histograms,
// encoded (hdrhistogram's V2 compressed encoding, base64).
type histSet struct {
	Send     string `json:"send"`
	Service  string `json:"service"`
	Pacing   string `json:"pacing"`
	EndToEnd string `json:"endToEnd"`
}

func encodeHists(send, service, pacing, endToEnd *hdrhistogram.Histogram) histSet {
	return histSet{encodeHist(send), encodeHist(service), encodeHist(pacing), encodeHist(endToEnd)}
}

func encodeHist(h *hdrhistogram.Histogram) string {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil { // only for an unknown encoding version
		panic(err)
	}
	return string(b)
}

// mergeInto adds the encoded histograms to send, service, pacing and
// endToEnd.
func (s histSet) mergeInto(send, service, pacing, endToEnd *hdrhistogram.Histogram) error {
	for _, x := range []struct {
		enc string
		to  *hdrhistogram.Histogram
	}{{s.Send, send}, {s.Service, service}, {s.Pacing, pacing}, {s.EndToEnd, endToEnd}} {
		if x.enc == "" {
			continue
		}
		h, err := hdrhistogram.Decode([]byte(x.enc))
		if err != nil {
			return fmt.Errorf("histogram: %w", err)
		}
		if dropped := x.to.Merge(h); dropped > 0 {
			return fmt.Errorf("histogram: %d values out of range", dropped)
		}
	}
	return nil
}

// export snapshots the recorder.
func (r *recorder) export() *recordState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &recordState{
		Sent: r.sent, Acked: r.acked, Errors: r.errs, Consumed: r.consumed, Dup: r.dup,
		Statuses: map[string]int64{},
		Hists:    encodeHists(r.send, r.service, r.pacing, r.endToEnd),
	}
	for k, v := range r.statuses {
		s.Statuses[k] = v
	}
	for _, iv := range r.intervals {
		s.Intervals = append(s.Intervals, intervalState{Sent: iv.sent, Acked: iv.acked, Errors: iv.errs, Consumed: iv.consumed,
			Hists: encodeHists(iv.send, iv.service, iv.pacing, iv.endToEnd)})
	}
	s.AckedSeq, s.ConsumedSeq = ledgerMap(r.ackedSeq), ledgerMap(r.consumedSeq)
	s.OKAt = append([]int32(nil), r.okAt...)
	return s
}

// ledgerState is a part's ledgers alone (the driver's drain reads them).
type ledgerState struct {
	AckedSeq    map[string][]uint64 `json:"ackedSeq,omitempty"`
	ConsumedSeq map[string][]uint64 `json:"consumedSeq,omitempty"`
}

func (r *recorder) ledgers() ledgerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ledgerState{ledgerMap(r.ackedSeq), ledgerMap(r.consumedSeq)}
}

func ledgerMap(bs []bitset) map[string][]uint64 {
	m := map[string][]uint64{}
	for p, b := range bs {
		if len(b) > 0 {
			m[strconv.Itoa(p)] = append([]uint64(nil), b...)
		}
	}
	return m
}

// merge adds a worker's state to r (a recorder with the run's producers
// and intervals). A message consumed on two workers is a duplicate: it
// counts once as consumed (its end-to-end latency, recorded by both,
// stays in twice; it is rare, since each queue has one reader).
func (r *recorder) merge(s *recordState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(s.Intervals) != len(r.intervals) {
		return fmt.Errorf("worker recorded %d intervals, the run has %d", len(s.Intervals), len(r.intervals))
	}
	if err := s.Hists.mergeInto(r.send, r.service, r.pacing, r.endToEnd); err != nil {
		return err
	}
	for i, iv := range s.Intervals {
		to := r.intervals[i]
		to.sent += iv.Sent
		to.acked += iv.Acked
		to.errs += iv.Errors
		to.consumed += iv.Consumed
		if err := iv.Hists.mergeInto(to.send, to.service, to.pacing, to.endToEnd); err != nil {
			return err
		}
	}
	r.sent += s.Sent
	r.acked += s.Acked
	r.errs += s.Errors
	r.consumed += s.Consumed
	r.dup += s.Dup
	if len(s.OKAt) > len(r.okAt) {
		return fmt.Errorf("worker counted SEND_OK over %d ticks, the run has %d", len(s.OKAt), len(r.okAt))
	}
	for i, n := range s.OKAt {
		r.okAt[i] += n
	}
	for k, v := range s.Statuses {
		r.statuses[k] += v
	}
	if _, err := orInto(r.ackedSeq, s.AckedSeq); err != nil {
		return err
	}
	both, err := orInto(r.consumedSeq, s.ConsumedSeq)
	if err != nil {
		return err
	}
	r.dup += both
	r.consumed -= both
	return nil
}

// orInto sets in to the bits of from (a ledger by producer number) and
// counts the bits that were set in both.
func orInto(to []bitset, from map[string][]uint64) (both int64, err error) {
	for key, words := range from {
		p, err := strconv.Atoi(key)
		if err != nil || p < 0 || p >= len(to) {
			return 0, fmt.Errorf("ledger of producer %q: the run has %d producers", key, len(to))
		}
		b := to[p]
		for len(b) < len(words) {
			b = append(b, 0)
		}
		for w, x := range words {
			both += int64(popcount(b[w] & x))
			b[w] |= x
		}
		to[p] = b
	}
	return both, nil
}

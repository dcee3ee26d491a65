package main

import (
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestStatusValueLatency(t *testing.T) {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for _, us := range []int64{100, 100, 100, 100, 100, 100, 100, 100, 100, 2500} {
		h.RecordValue(us)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	got := statusValue("latency.sendTotal", string(enc))
	if want := "count 10  p50 100µs  p90 100µs  p99 2.501ms  p99.9 2.501ms  max 2.501ms"; got != want {
		t.Errorf("statusValue = %q, want %q", got, want)
	}
	if got := statusValue("commitLogMaxOffset", "1234"); got != "1234" {
		t.Errorf("a plain value became %q", got)
	}
	if got := statusValue("latency.sendStore", "not base64"); !strings.Contains(got, "not a histogram") {
		t.Errorf("a bad histogram reads %q", got)
	}
}

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// statusValue is how brokerStatus prints one entry of a broker's runtime
// info: as it is, but for the send stages' latency histograms
// ("latency.<stage>", HdrHistograms of µs, V2 compressed, base64), which
// read as their count and percentiles.
func statusValue(key, v string) string {
	if !strings.HasPrefix(key, "latency.") {
		return v
	}
	h, err := hdrhistogram.Decode([]byte(v))
	if err != nil {
		return fmt.Sprintf("%s (not a histogram: %v)", v, err)
	}
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	var b strings.Builder
	fmt.Fprintf(&b, "count %d", h.TotalCount())
	for _, q := range []float64{50, 90, 99, 99.9} {
		fmt.Fprintf(&b, "  p%g %s", q, us(h.ValueAtQuantile(q)))
	}
	fmt.Fprintf(&b, "  max %s", us(h.Max()))
	return b.String()
}

package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Errors of the result writers.
var (
	ErrNoHistogram = errors.New("loadgen: nil histogram")
	ErrUnitRatio   = errors.New("loadgen: unit ratio must be a positive finite number")
)

// HgrmTicksPerHalf is the number of percentile rows WriteHgrm prints per
// half-distance to 100%, the value HdrHistogram's own tools use.
const HgrmTicksPerHalf = 5

// PercentilesOf summarises a histogram of microsecond values. Mean and
// StdDev are computed as HdrHistogram's Java implementation computes them
// (from each bucket's median equivalent value), so they match the footer
// of the .hgrm file written from the same histogram. A nil or empty
// histogram gives the zero Percentiles.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	v := viewOf(h)
	mean, std := v.meanStdDev()
	return Percentiles{
		Count:  h.TotalCount(),
		Mean:   mean,
		Min:    h.Min(),
		P50:    h.ValueAtQuantile(50),
		P90:    h.ValueAtQuantile(90),
		P99:    h.ValueAtQuantile(99),
		P999:   h.ValueAtQuantile(99.9),
		P9999:  h.ValueAtQuantile(99.99),
		Max:    v.max(),
		StdDev: std,
	}
}

// WriteHgrm writes h's percentile distribution in HdrHistogram's text
// format, byte for byte as Java's
// AbstractHistogram.outputPercentileDistribution(out, 5, unitRatio) writes
// it, so that HdrHistogram's plotter and tools read the file:
//
//	       Value     Percentile TotalCount 1/(1-Percentile)
//
//	       1.000 0.000000000000          1           1.00
//	     …
//	      10.000 1.000000000000         10
//	#[Mean    =        5.500, StdDeviation   =        2.872]
//	#[Max     =       10.000, Total count    =           10]
//	#[Buckets =            4, SubBuckets     =         2048]
//
// Values are divided by unitRatio and printed with as many decimals as the
// histogram has significant digits; numbers are rounded half-up on their
// shortest decimal form, as Java's Formatter does. An empty histogram
// writes the header and the footer only.
func WriteHgrm(w io.Writer, h *hdrhistogram.Histogram, unitRatio float64) error {
	if h == nil {
		return ErrNoHistogram
	}
	if !(unitRatio > 0) || math.IsInf(unitRatio, 0) {
		return fmt.Errorf("%w: %v", ErrUnitRatio, unitRatio)
	}
	v := viewOf(h)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	for _, r := range v.percentileRows(HgrmTicksPerHalf) {
		p := r.level / 100
		bw.WriteString(padLeft(javaFixed(float64(r.value)/unitRatio, v.digits), 12))
		bw.WriteByte(' ')
		bw.WriteString(padLeft(javaFixed(p, 12), 2))
		bw.WriteByte(' ')
		bw.WriteString(padLeft(strconv.FormatInt(r.total, 10), 10))
		if r.level != 100 {
			bw.WriteByte(' ')
			bw.WriteString(padLeft(javaFixed(1/(1-p), 2), 14))
		}
		bw.WriteByte('\n')
	}
	mean, std := v.meanStdDev()
	fmt.Fprintf(bw, "#[Mean    = %s, StdDeviation   = %s]\n",
		padLeft(javaFixed(mean/unitRatio, v.digits), 12), padLeft(javaFixed(std/unitRatio, v.digits), 12))
	fmt.Fprintf(bw, "#[Max     = %s, Total count    = %12d]\n",
		padLeft(javaFixed(float64(v.max())/unitRatio, v.digits), 12), v.total)
	fmt.Fprintf(bw, "#[Buckets = %12d, SubBuckets     = %12d]\n", v.bucketCount, v.subBucketCount)
	return bw.Flush()
}

// WriteHgrmFile writes h's percentile distribution (see WriteHgrm) to the
// file at path, replacing it.
func WriteHgrmFile(path string, h *hdrhistogram.Histogram, unitRatio float64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write hgrm: %w", err)
	}
	if err := WriteHgrm(f, h, unitRatio); err != nil {
		f.Close()
		return fmt.Errorf("write hgrm %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write hgrm %s: %w", path, err)
	}
	return nil
}

// histBucket is one sub-bucket of a histogram: the values lo..hi share
// its count.
type histBucket struct{ lo, hi, count int64 }

// histView is a histogram seen as HdrHistogram's Java iterators see it.
type histView struct {
	digits         int   // significant value digits
	bucketCount    int64 // as the Java implementation sizes it
	subBucketCount int64
	total          int64
	buckets        []histBucket // in value order, through the last non-empty one
}

func viewOf(h *hdrhistogram.Histogram) histView {
	snap := h.Export()
	v := histView{digits: int(snap.SignificantFigures), total: h.TotalCount()}
	// The geometry as AbstractHistogram.init computes it.
	largest := 2 * math.Pow10(v.digits)
	mag := int(math.Ceil(math.Log2(largest)))
	if mag < 1 {
		mag = 1
	}
	v.subBucketCount = 1 << mag
	if half := v.subBucketCount / 2; half > 0 {
		v.bucketCount = int64(len(snap.Counts))/half - 1
	}
	if v.total > 0 {
		for _, b := range h.Distribution() {
			v.buckets = append(v.buckets, histBucket{lo: b.From, hi: b.To, count: b.Count})
		}
	}
	return v
}

// max is Java's getMaxValue: the highest equivalent value of the largest
// recorded value, 0 when nothing was recorded.
func (v histView) max() int64 {
	for i := len(v.buckets) - 1; i >= 0; i-- {
		if v.buckets[i].count > 0 {
			return v.buckets[i].hi
		}
	}
	return 0
}

// meanStdDev follows Java's getMean and getStdDeviation operation for
// operation, so that the printed digits agree.
func (v histView) meanStdDev() (mean, std float64) {
	if v.total == 0 {
		return 0, 0
	}
	median := func(b histBucket) float64 { return float64(b.lo + (b.hi-b.lo+1)>>1) }
	var sum float64
	for _, b := range v.buckets {
		if b.count > 0 {
			sum += median(b) * float64(b.count)
		}
	}
	mean = sum * 1.0 / float64(v.total)
	var dev float64
	for _, b := range v.buckets {
		if b.count > 0 {
			d := median(b)*1.0 - mean
			dev += (d * d) * float64(b.count)
		}
	}
	return mean, math.Sqrt(dev / float64(v.total))
}

// pctRow is one row of the percentile distribution: the level (0..100)
// reached, the highest equivalent value of the bucket that reached it and
// the count up to and including that bucket.
type pctRow struct {
	value int64
	level float64
	total int64
}

// percentileRows walks the histogram as Java's PercentileIterator does:
// levels start at 0% and advance by 100/(ticks·2^k)% where k counts the
// halvings of the distance to 100% already passed; a bucket that crosses
// several levels yields a row for each; the last non-empty bucket yields
// one row for the next level and a final row at 100%.
func (v histView) percentileRows(ticksPerHalf int) []pctRow {
	if v.total == 0 || ticksPerHalf < 1 {
		return nil
	}
	var rows []pctRow
	level := 0.0
	var cum int64
	var last histBucket
	for _, b := range v.buckets {
		cum += b.count
		if b.count == 0 {
			continue
		}
		last = b
		for 100*float64(cum)/float64(v.total) >= level {
			rows = append(rows, pctRow{value: b.hi, level: level, total: cum})
			next := nextPercentileLevel(level, ticksPerHalf)
			if cum >= v.total || !(next > level) || next >= 100 {
				// Java leaves the bucket after one row once every value
				// is counted; a level that can no longer advance (past
				// 2^50 samples) ends the bucket too instead of looping.
				level = next
				break
			}
			level = next
		}
		if cum >= v.total {
			break
		}
	}
	return append(rows, pctRow{value: last.hi, level: 100, total: v.total})
}

// nextPercentileLevel is PercentileIterator.incrementIterationLevel,
// including its (long) truncations and its log-ratio arithmetic.
func nextPercentileLevel(level float64, ticksPerHalf int) float64 {
	halvings := int64(math.Log(100.0/(100.0-level)) / math.Log(2))
	ticks := int64(ticksPerHalf) * int64(math.Pow(2, float64(halvings+1)))
	return level + 100.0/float64(ticks)
}

// javaFixed formats v as Java's Formatter formats a double with "%.Nf":
// the shortest decimal digits that identify v, rounded half-up to prec
// decimals. (Go's strconv rounds the exact binary value half-to-even,
// which differs at ties such as 0.125 → "0.12" where Java prints "0.13".)
func javaFixed(v float64, prec int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	neg := math.Signbit(v)
	s := strconv.FormatFloat(math.Abs(v), 'e', -1, 64) // d.ddde±x
	e := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[e+1:])
	digits := []byte(strings.Replace(s[:e], ".", "", 1))
	point := exp + 1 // value = 0.digits × 10^point
	keep := point + prec
	switch {
	case keep < 0:
		digits, point = nil, 0
	case keep < len(digits):
		up := digits[keep] >= '5'
		digits = digits[:keep]
		if up {
			i := len(digits) - 1
			for ; i >= 0 && digits[i] == '9'; i-- {
				digits[i] = '0'
			}
			if i >= 0 {
				digits[i]++
			} else {
				digits = append([]byte{'1'}, digits...)
				point++
			}
		}
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	digit := func(i int) byte { // the i-th digit after the leading "0."
		if i >= 0 && i < len(digits) {
			return digits[i]
		}
		return '0'
	}
	if point <= 0 {
		b.WriteByte('0')
	} else {
		for i := 0; i < point; i++ {
			b.WriteByte(digit(i))
		}
	}
	if prec > 0 {
		b.WriteByte('.')
		for i := 0; i < prec; i++ {
			b.WriteByte(digit(point + i))
		}
	}
	return b.String()
}

func padLeft(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat(" ", width-len(s)) + s
}

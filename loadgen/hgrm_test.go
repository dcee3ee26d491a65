package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The golden .hgrm files are derived by hand (the derivation of small.hgrm
// is below) and were confirmed byte for byte against HdrHistogram 2.1.11's
// outputPercentileDistribution. They are not regenerated from this code.
//
// small.hgrm: the values 1..10, once each, in New(1, 10000, 3):
//   - 3 digits → 2048 sub-buckets; 2048 → 4096 → 8192 → 16384 > 10000 gives
//     4 buckets. Every value below 2048 has its own bucket, so a value's
//     highest equivalent value is itself.
//   - Levels advance by 10% below 50%, 5% up to 75%, 2.5% up to 87.5%,
//     1.25% beyond (5 ticks per half-distance to 100%).
//   - A value is printed once for every level its cumulative share reaches:
//     1 (10%) covers 0% and 10%; 6 (60%) covers 55% and 60%; 9 (90%)
//     covers 82.5% … 90%; 10 is the last value, so it gives one row (91.25%)
//     and the final 100% row, which has no 1/(1-Percentile) column.
//   - Mean = 5.5; StdDeviation = sqrt(82.5/10) = 2.872.
//
// scaled.hgrm: 100, 2500, 5000 twice and 70000 in New(1, 3600000000, 3),
// printed in thousands (unitRatio 1000): 2500 and 5000 share buckets of 2
// and 4 values (2500–2501, 5000–5003), 70000 one of 64 (69952–70015);
// the mean uses each bucket's median (2501, 5002, 69984).
func TestWriteHgrmGolden(t *testing.T) {
	cases := []struct {
		file    string
		highest int64
		values  map[int64]int64
		ratio   float64
	}{
		{"small.hgrm", 10000, map[int64]int64{1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1}, 1},
		{"scaled.hgrm", 3_600_000_000, map[int64]int64{100: 1, 2500: 1, 5000: 2, 70000: 1}, 1000},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			h := hdrhistogram.New(1, c.highest, 3)
			for v, n := range c.values {
				if err := h.RecordValues(v, n); err != nil {
					t.Fatal(err)
				}
			}
			var got bytes.Buffer
			if err := WriteHgrm(&got, h, c.ratio); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("WriteHgrm:\n%s\nwant (testdata/%s):\n%s", got.String(), c.file, want)
			}
		})
	}
}

func TestWriteHgrmEmptyAndErrors(t *testing.T) {
	var got bytes.Buffer
	if err := WriteHgrm(&got, hdrhistogram.New(1, 60_000_000, 3), 1); err != nil {
		t.Fatal(err)
	}
	want := "       Value     Percentile TotalCount 1/(1-Percentile)\n\n" +
		"#[Mean    =        0.000, StdDeviation   =        0.000]\n" +
		"#[Max     =        0.000, Total count    =            0]\n" +
		"#[Buckets =           16, SubBuckets     =         2048]\n"
	if got.String() != want {
		t.Errorf("empty histogram:\n%s\nwant:\n%s", got.String(), want)
	}

	h := hdrhistogram.New(1, 1000, 3)
	h.RecordValue(5)
	for _, c := range []struct {
		name  string
		h     *hdrhistogram.Histogram
		ratio float64
		w     *failWriter
		want  error
	}{
		{"nil histogram", nil, 1, nil, ErrNoHistogram},
		{"zero ratio", h, 0, nil, ErrUnitRatio},
		{"NaN ratio", h, math.NaN(), nil, ErrUnitRatio},
		{"infinite ratio", h, math.Inf(1), nil, ErrUnitRatio},
		{"writer fails", h, 1, &failWriter{}, errWriteFailed},
	} {
		var w io.Writer = &bytes.Buffer{}
		if c.w != nil {
			w = c.w
		}
		if err := WriteHgrm(w, c.h, c.ratio); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}

	path := filepath.Join(t.TempDir(), "missing", "x.hgrm")
	if err := WriteHgrmFile(path, h, 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteHgrmFile into a missing folder: %v, want an error naming the file", err)
	}
}

var errWriteFailed = errors.New("write failed")

type failWriter struct{}

func (*failWriter) Write([]byte) (int, error) { return 0, errWriteFailed }

// TestJavaNumbers checks the percentile level sequence and the "%.Nf"
// rounding against values OpenJDK 17 printed (testdata/java_format.txt).
func TestJavaNumbers(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "java_format.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	level, levels, formats := 0.0, 0, 0
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || fs[0] == "#" {
			continue
		}
		sbits, err := strconv.ParseInt(fs[1], 10, 64) // Java's signed raw bits
		bits := uint64(sbits)
		if err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		switch fs[0] {
		case "L":
			if math.Float64bits(level) != bits {
				t.Fatalf("level %d = %v, Java has %v", levels, level, math.Float64frombits(bits))
			}
			level = nextPercentileLevel(level, HgrmTicksPerHalf)
			levels++
		case "F":
			prec, _ := strconv.Atoi(fs[2])
			d := math.Float64frombits(bits)
			if got := javaFixed(d, prec); got != fs[3] {
				t.Errorf("javaFixed(%v, %d) = %s, Java prints %s", d, prec, got, fs[3])
			}
			formats++
		}
	}
	if levels < 100 || formats < 500 {
		t.Fatalf("read %d levels and %d formats; testdata/java_format.txt is truncated", levels, formats)
	}
}

// TestHgrmMatchesJava writes random histograms with WriteHgrm and with
// HdrHistogram's Java implementation and compares the bytes. It runs where
// javac and the Debian package libhdrhistogram-java are installed.
func TestHgrmMatchesJava(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	const jar = "/usr/share/java/hdrhistogram.jar"
	if _, err := os.Stat(jar); err != nil {
		t.Skip("no HdrHistogram jar (apt-get install libhdrhistogram-java)")
	}
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("no javac")
	}
	dir := t.TempDir()
	if out, err := exec.Command("javac", "-d", dir, "-cp", jar, filepath.Join("testdata", "javahgrm", "Hgrm.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	rng := rand.New(rand.NewSource(1))
	var paths []string
	want := map[string][]byte{}
	for i := range 120 {
		digits := 1 + i%5
		highest := []int64{60_000_000, 3_600_000_000, 10_000, 4096}[i%4]
		ratio := []float64{1, 1000, 3.7, 1e6, 0.5}[i/4%5]
		h := hdrhistogram.New(1, highest, digits)
		var in bytes.Buffer
		fmt.Fprintf(&in, "1 %d %d %v\n", highest, digits, ratio)
		mu := rng.Float64() * 10
		for range []int{0, 1, 2, 10, 100, 3000}[i%6] {
			v := min(int64(math.Exp(mu+rng.NormFloat64()*1.5)), highest)
			if i%7 == 0 {
				v = int64(rng.Intn(20))
			}
			n := int64(1 + rng.Intn(3))
			if i%11 == 0 {
				n = int64(1 + rng.Intn(1_000_000))
			}
			if err := h.RecordValues(v, n); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&in, "%d %d\n", v, n)
		}
		p := filepath.Join(dir, fmt.Sprintf("case%03d", i))
		if err := os.WriteFile(p, in.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := WriteHgrm(&out, h, ratio); err != nil {
			t.Fatal(err)
		}
		paths, want[p] = append(paths, p), out.Bytes()
	}
	args := append([]string{"-cp", jar + string(os.PathListSeparator) + dir, "Hgrm"}, paths...)
	if out, err := exec.Command("java", args...).CombinedOutput(); err != nil {
		t.Fatalf("java: %v\n%s", err, out)
	}
	for _, p := range paths {
		got, err := os.ReadFile(p + ".java")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[p]) {
			in, _ := os.ReadFile(p)
			t.Errorf("%s differs from Java.\ninput:\n%.300s\nGo:\n%s\nJava:\n%s", filepath.Base(p), in, want[p], got)
		}
	}
}

func TestPercentilesOf(t *testing.T) {
	if got := PercentilesOf(nil); got != (Percentiles{}) {
		t.Errorf("nil: %+v", got)
	}
	if got := PercentilesOf(hdrhistogram.New(1, 1000, 3)); got != (Percentiles{}) {
		t.Errorf("empty: %+v", got)
	}
	h := hdrhistogram.New(1, 60_000_000, 3)
	for v := int64(1); v <= 10000; v++ {
		h.RecordValue(v)
	}
	got := PercentilesOf(h)
	check := func(name string, got, lo, hi int64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %d, want %d..%d", name, got, lo, hi)
		}
	}
	if got.Count != 10000 {
		t.Errorf("Count = %d", got.Count)
	}
	check("Min", got.Min, 1, 1)
	check("P50", got.P50, 4995, 5005)
	check("P90", got.P90, 8990, 9010)
	check("P99", got.P99, 9890, 9910)
	check("P999", got.P999, 9985, 10000)
	check("Max", got.Max, 10000, 10007)
	if math.Abs(got.Mean-5000.5) > 5 || math.Abs(got.StdDev-2886.8) > 5 {
		t.Errorf("Mean %v StdDev %v, want about 5000.5 and 2886.8", got.Mean, got.StdDev)
	}
}

// FuzzWriteHgrm records fuzzed values and checks that the output is
// well formed: no panic, rows in value order, counts ending at the total.
func FuzzWriteHgrm(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 7}, uint8(3))
	f.Add([]byte{}, uint8(1))
	f.Add([]byte{0, 0, 0, 255, 255, 255, 255}, uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, digits uint8) {
		h := hdrhistogram.New(1, 60_000_000, 1+int(digits%5))
		for i := 0; i+1 < len(data); i += 2 {
			v := int64(data[i])<<int(data[i+1]%20) + int64(data[i+1])
			h.RecordValue(min(v, 60_000_000))
		}
		var out bytes.Buffer
		if err := WriteHgrm(&out, h, 1); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		var prevValue float64
		var lastCount int64
		rows := 0
		for _, l := range lines[2 : len(lines)-3] {
			fs := strings.Fields(l)
			v, _ := strconv.ParseFloat(fs[0], 64)
			c, _ := strconv.ParseInt(fs[2], 10, 64)
			if v < prevValue || c < lastCount {
				t.Fatalf("rows go backwards at %q:\n%s", l, out.String())
			}
			prevValue, lastCount = v, c
			rows++
		}
		if h.TotalCount() > 0 && lastCount != h.TotalCount() {
			t.Fatalf("last row counts %d of %d:\n%s", lastCount, h.TotalCount(), out.String())
		}
		if h.TotalCount() == 0 && rows != 0 {
			t.Fatalf("empty histogram printed rows:\n%s", out.String())
		}
	})
}

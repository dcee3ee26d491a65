package index

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
)

func benchLog(b *testing.B) *commitlog.Log {
	l, err := commitlog.Open(commitlog.Config{Dir: b.TempDir(), SegmentSize: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// keyed is a 1 KiB message with a unique key and one key, as the official
// clients send them.
func keyed(i int, body []byte) commitlog.Message {
	return commitlog.Message{
		Topic:         "Bench",
		QueueID:       int32(i % 4),
		Body:          body,
		Properties:    fmt.Sprintf("KEYS\x01order-%d\x02UNIQ_KEY\x017F0000010001%020X\x02WAIT\x01true\x02", i, i),
		BornTimestamp: 1700000000000,
		BornHost:      netip.MustParseAddrPort("10.0.0.1:5000"),
		StoreHost:     netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

// BenchmarkAppend measures what the send path pays for the index: an
// append (the part of a send the store does) with the builder following
// the log on its own goroutine, woken by the arrival listener as the broker
// wakes it, against no index at all. The builder's lag is reported as
// indexLag-µs: how long after the last append it had indexed everything.
func BenchmarkAppend(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("index=%v", on), func(b *testing.B) {
			l := benchLog(b)
			var x *Index
			if on {
				var err error
				if x, err = Open(Config{Dir: filepath.Join(b.TempDir(), "index")}, l); err != nil {
					b.Fatal(err)
				}
				l.SetArrivalListener(func(string, int32, int64, int64) { x.Kick() })
				x.Start()
				defer x.Close()
			}
			body := make([]byte, 1024)
			msgs := make([]commitlog.Message, 4096)
			for i := range msgs {
				msgs[i] = keyed(i, body)
			}
			b.SetBytes(int64(len(body)))
			i := 0
			for b.Loop() {
				if _, err := l.Append(&msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if x != nil {
				start := time.Now()
				for x.IndexedTo() < l.MaxOffset() {
					time.Sleep(10 * time.Microsecond)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds()), "indexLag-µs")
			}
		})
	}
}

// BenchmarkBuild is the builder's own cost per record (two keys each).
func BenchmarkBuild(b *testing.B) {
	l := benchLog(b)
	body := make([]byte, 1024)
	const n = 50000
	for i := range n {
		m := keyed(i, body)
		if _, err := l.Append(&m); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		x, err := Open(Config{Dir: filepath.Join(b.TempDir(), "index")}, l)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		x.catchUp()
		b.StopTimer()
		x.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

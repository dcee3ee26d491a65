package ha_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/broker/ha"
	"github.com/rocketgo/rocketgo/commitlog"
)

// BenchmarkCatchUp measures how fast an empty slave copies a master's log
// over loopback: the master sends with sendfile from its segment files, the
// slave appends into its own mapped log and builds its consume queues.
// One op is one full catch-up of a 256 MiB log of 1 KiB messages.
func BenchmarkCatchUp(b *testing.B) {
	const logBytes = 256 << 20
	for _, batch := range []int{32 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			master := openLog(b)
			body := make([]byte, 1024)
			m := commitlog.Message{Topic: "CatchUp", Body: body, Properties: "TAGS\x01t\x02",
				BornHost: netip.MustParseAddrPort("127.0.0.1:1"), StoreHost: netip.MustParseAddrPort("127.0.0.1:2")}
			for master.MaxOffset() < logBytes {
				m.QueueID = int32(master.MaxOffset() % 8)
				if _, err := master.Append(&m); err != nil {
					b.Fatal(err)
				}
			}
			srv := ha.NewMaster(ha.MasterConfig{Listen: "127.0.0.1:0", Source: master, BatchSize: batch, Log: quiet})
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			end := master.MaxOffset()
			b.SetBytes(end)
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				slaveLog := openLog(b)
				s := ha.NewSlave(ha.SlaveConfig{MasterAddr: srv.Addr, Sink: slaveLog, Log: quiet})
				b.StartTimer()
				start := time.Now()
				s.Start()
				for slaveLog.MaxOffset() < end {
					time.Sleep(time.Millisecond)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				s.Close()
				slaveLog.Close()
				b.StartTimer()
			}
			st := srv.Stats()
			b.ReportMetric(float64(end)*float64(b.N)/elapsed.Seconds()/1e9, "GB/s")
			b.ReportMetric(float64(st.BytesSendfile)/float64(end*int64(b.N)), "sendfile-bytes/byte")
		})
	}
}

var quiet = slog.New(slog.DiscardHandler)

func openLog(b *testing.B) *commitlog.Log {
	l, err := commitlog.Open(commitlog.Config{Dir: b.TempDir(), SegmentSize: 1 << 30, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

// BenchmarkIndexedSend sends 1 KiB messages, each with a unique key and a
// key as the official clients send them, to one ASYNC_MASTER broker
// process with the message index on and off (messageIndexEnable), 64
// requests in flight, and reports throughput and latency (µs): what
// indexing costs a send, builder included (it shares the CPUs).
func BenchmarkIndexedSend(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("index=%v", on), func(b *testing.B) {
			if testing.Short() {
				b.Skip("starts real processes")
			}
			ns := proctest.Start(b, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0").Addr("namesrv")
			addr := proctest.Start(b, filepath.Join(binDir, "broker"), "-namesrvAddr", ns, "-brokerName", "bench-idx",
				"-listenPort", "0", "-haListenPort", "0", "-storePathRootDir", b.TempDir(),
				"-mappedFileSizeCommitLog", strconv.Itoa(1<<30), "-messageIndexEnable", strconv.FormatBool(on)).Addr("broker")
			rpc := remoting.NewClient(remoting.ClientConfig{})
			defer rpc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := rpc.Invoke(ctx, addr, remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", "Bench", "readQueueNums", "4", "writeQueueNums", "4"))
			cancel()
			if err != nil || resp.Code != remoting.Success {
				b.Fatalf("create topic: %v %+v", err, resp)
			}
			body := kib()
			sendLoop(b, rpc, addr, 64, len(body), func(n int) *remoting.Command {
				req := sendRequest(body, n%4)
				req.SetExt("i", fmt.Sprintf("KEYS\x01order-%d\x02UNIQ_KEY\x017F00000100002A9F%016X\x02WAIT\x01true\x02", n, n))
				return req
			})
		})
	}
}

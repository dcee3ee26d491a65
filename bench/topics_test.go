package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/loadgen"
	"github.com/rocketgo/rocketgo/remoting"
)

// BenchmarkSendWhileCreatingTopics: one producer sends 1 KiB messages at a
// fixed rate (open loop: latency counts from each send's intended time) to
// an ASYNC_MASTER while, after a quiet baseline, 1000 topics are created on
// the same broker, one after the other: by UPDATE_AND_CREATE_TOPIC
// (createTopics) or by sending one message to each new topic
// (autoCreateTopics). It reports the producer's p99 over the seconds before
// the creation began and over the seconds it ran, and their ratio; issue 8
// asks for a ratio within 2. The hiccup p99 (a thread that only sleeps,
// woken late) shows how loaded the machine itself was; the broker's
// sendStore stage (request decoded → appended, which includes waiting for
// the topic table and the log's lock) over the whole measured window shows
// stalls inside the broker apart from the machine's. With autoCreateTopics
// the creating sends are in it too, each with its own topic's creation.
// worst-second-p99 is the producer's worst second of the whole run, and
// the log gives each second's p99 split into the servers' part (service),
// the tool's (pacing) and the machine's worst stall (hiccup). The topics
// are created from a child process of loadgen's, not beside the pacers.
// One run per iteration: run it with
//
//	go test ./bench -run '^$' -bench SendWhileCreatingTopics -benchtime 1x -count 5
func BenchmarkSendWhileCreatingTopics(b *testing.B) {
	const (
		topics   = 1000
		rate     = 2000
		baseline = 8 * time.Second
	)
	for _, action := range []string{"createTopics", "autoCreateTopics"} {
		b.Run("by="+action, func(b *testing.B) {
			if testing.Short() {
				b.Skip("starts real processes")
			}
			var base, during, hiccup, store loadgen.Percentiles
			var took time.Duration
			var worst int64 // µs
			for b.Loop() {
				ctx := context.Background()
				log := slog.New(slog.DiscardHandler)
				c, err := loadgen.Launch(ctx, loadgen.TopologySpec{Namesrvs: 1, Cluster: "BenchCluster", SegmentSize: 256 << 20,
					Groups: []loadgen.GroupSpec{{Name: "churn", Role: "ASYNC_MASTER", Flush: "ASYNC_FLUSH"}}}, binDir, b.TempDir(), log)
				if err != nil {
					b.Fatal(err)
				}
				w := loadgen.Workload{Name: "1KiB", Topics: 1, QueuesPerTopic: 4, MessageSize: 1024, RandomBytesRatio: 0.5,
					ProducersPerTopic: 1, Rate: rate, InFlight: 256, BatchSize: 1,
					Warmup: 2 * time.Second, Duration: 30 * time.Second, SendTimeout: 5 * time.Second}
				out, err := loadgen.Execute(ctx, loadgen.RunSpec{Namesrvs: c.NamesrvAddrs(), Workload: w, Label: action, Group: "churn",
					Cluster: c, Log: log, Faults: []loadgen.FaultPlan{{At: baseline, Action: action, Target: "churn/master", Value: topics}}})
				if err != nil {
					c.Stop()
					b.Fatal(err)
				}
				n := topicCount(b, c.Groups[0].Master.Addr)
				c.Stop()
				if len(out.Run.Faults) != 1 || n < topics {
					b.Fatalf("the broker has %d topics after creating %d (faults %+v)", n, topics, out.Run.Faults)
				}
				f := out.Run.Faults[0]
				if f.At > w.Duration {
					b.Fatalf("creating %d topics took %v and outlasted the measured window", topics, f.Took)
				}
				if out.Run.Errors > 0 {
					b.Fatalf("%d sends failed: %v", out.Run.Errors, out.Run.Statuses)
				}
				var series strings.Builder
				worst = 0
				for _, iv := range out.Run.Intervals {
					worst = max(worst, iv.SendP99)
					fmt.Fprintf(&series, " %.1f/%.1f/%.1f/%.1f", ms(iv.SendP99), ms(iv.ServiceP99), ms(iv.PacingP99), ms(iv.HiccupMax))
				}
				b.Logf("creation from %v to %v; per second, ms: send p99/service p99/pacing p99/hiccup max:%s", f.At-f.Took, f.At, series.String())
				began := f.At - f.Took
				base, during, took = out.SendBetween(0, began.Truncate(time.Second)), out.SendBetween(began, f.At), f.Took
				hiccup, store = out.Run.Hiccup, out.Run.Broker[loadgen.StageStore]
			}
			b.ReportMetric(float64(base.P99), "base-p99-µs")
			b.ReportMetric(float64(during.P99), "create-p99-µs")
			b.ReportMetric(float64(during.P99)/float64(max(base.P99, 1)), "p99-ratio")
			b.ReportMetric(float64(during.Max), "create-max-µs")
			b.ReportMetric(topics/took.Seconds(), "topics/s")
			b.ReportMetric(float64(worst), "worst-second-p99-µs") // the producer's worst second of the run, creation or not
			b.ReportMetric(float64(hiccup.P99), "hiccup-p99-µs")  // this machine's own stalls over the run
			b.ReportMetric(float64(store.P999), "store-p99.9-µs")
			b.ReportMetric(float64(store.Max), "store-max-µs")
		})
	}
}

// topicCount asks a broker how many topics it has.
func topicCount(tb testing.TB, addr string) int {
	tb.Helper()
	rpc := remoting.NewClient(remoting.ClientConfig{})
	defer rpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := rpc.Invoke(ctx, addr, remoting.NewRequest(remoting.GetAllTopicConfig))
	if err != nil || resp.Code != remoting.Success {
		tb.Fatalf("GET_ALL_TOPIC_CONFIG from %s: %v %+v", addr, err, resp)
	}
	var all struct {
		TopicConfigTable map[string]json.RawMessage `json:"topicConfigTable"`
	}
	if err := json.Unmarshal(resp.Body, &all); err != nil {
		tb.Fatalf("GET_ALL_TOPIC_CONFIG from %s: %v", addr, err)
	}
	return len(all.TopicConfigTable)
}

func ms(us int64) float64 { return float64(us) / 1000 }

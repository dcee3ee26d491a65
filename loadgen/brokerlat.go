package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rocketgo/rocketgo/remoting"
)

// Broker-side send stages, as a rocketgo broker reports them in
// GET_BROKER_RUNTIME_INFO under "latency.<stage>" (cumulative HdrHistograms
// in µs). A run takes the master's histograms when its measured window
// starts and when its sends are answered, and keeps the difference: how
// much of the latency its clients saw was spent inside the broker, and on
// what. Other brokers (Apache RocketMQ) report none; the run then has no
// breakdown.
const (
	StageStore     = "sendStore"     // request decoded → message appended
	StageFlushWait = "sendFlushWait" // appended → durable (SYNC_FLUSH)
	StageSlaveWait = "sendSlaveWait" // appended → a slave has it (SYNC_MASTER)
	StageTotal     = "sendTotal"     // request decoded → answer handed to the connection
)

const latencyKeyPrefix = "latency."

// brokerSnapshot is what a run takes from the master's runtime info.
type brokerSnapshot struct {
	stages    map[string]*hdrhistogram.Histogram // cumulative, by stage
	logOffset int64                              // commitLogMaxOffset; -1 when not reported
}

// brokerStages fetches the cumulative stage histograms and the CommitLog
// end offset of group's master.
func brokerStages(ctx context.Context, namesrvs []string, group string, cred *remoting.Credentials) (*brokerSnapshot, error) {
	rpc := remoting.NewClient(remoting.ClientConfig{Credentials: cred})
	defer rpc.Close()
	master, err := masterOf(ctx, rpc, namesrvs, group)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := rpc.Invoke(cctx, master, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
	if err != nil {
		return nil, fmt.Errorf("runtime info of %s: %w", master, err)
	}
	if resp.Code != remoting.Success {
		return nil, fmt.Errorf("runtime info of %s: code %d: %s", master, resp.Code, resp.Remark)
	}
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		return nil, fmt.Errorf("runtime info of %s: %w", master, err)
	}
	out := map[string]*hdrhistogram.Histogram{}
	snap := &brokerSnapshot{stages: out, logOffset: -1}
	if v, err := strconv.ParseInt(kv.Table["commitLogMaxOffset"], 10, 64); err == nil {
		snap.logOffset = v
	}
	for k, v := range kv.Table {
		name, ok := strings.CutPrefix(k, latencyKeyPrefix)
		if !ok {
			continue
		}
		h, err := hdrhistogram.Decode([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("runtime info of %s: %s: %w", master, k, err)
		}
		out[name] = h
	}
	return snap, nil
}

// stageDiff is what each stage recorded between two snapshots. It reports
// false when the histograms cannot be subtracted (the broker restarted in
// between, or changed their shape).
func stageDiff(before, after map[string]*hdrhistogram.Histogram) (map[string]Percentiles, bool) {
	out := map[string]Percentiles{}
	for name, a := range after {
		sa := a.Export()
		if b := before[name]; b != nil {
			sb := b.Export()
			if sb.LowestTrackableValue != sa.LowestTrackableValue || sb.HighestTrackableValue != sa.HighestTrackableValue ||
				sb.SignificantFigures != sa.SignificantFigures || len(sb.Counts) > len(sa.Counts) {
				return nil, false
			}
			counts := make([]int64, len(sa.Counts))
			for i := range counts {
				counts[i] = sa.Counts[i]
				if i < len(sb.Counts) {
					counts[i] -= sb.Counts[i]
				}
				if counts[i] < 0 {
					return nil, false
				}
			}
			sa.Counts = counts
		}
		if d := hdrhistogram.Import(sa); d.TotalCount() > 0 {
			out[name] = PercentilesOf(d)
		}
	}
	return out, true
}

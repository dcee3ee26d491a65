package broker

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/rocketgo/rocketgo/remoting"
)

// runtimeInfo returns the broker's state as RocketMQ's GET_BROKER_RUNTIME_INFO
// key/value table: the commit log's range, counters and replication state.
func (b *Broker) runtimeInfo() map[string]string {
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	st := b.store.Stats()
	r := b.role()
	t := map[string]string{
		"brokerRole":             r.name,
		"brokerId":               i64(r.id),
		"flushDiskType":          b.cfg.FlushDiskType,
		"commitLogMinOffset":     i64(b.store.MinOffset()),
		"commitLogMaxOffset":     i64(b.store.MaxOffset()),
		"commitLogFlushedOffset": i64(b.store.FlushedOffset()),
		"msgPutTotal":            i64(b.stats.sent.Load()),
		"msgGetTotal":            i64(b.stats.pulled.Load()),
		"storeSyncs":             i64(st.Syncs),
		"commitLogDiskRatio":     strconv.FormatFloat(b.cleaner.usedRatio(), 'f', 4, 64),
		"diskFull":               strconv.FormatBool(b.cleaner.diskFull.Load()),
		"segmentsDeleted":        i64(st.SegmentsDeleted),
		"pullRequestsHeld":       i64(b.polls.count.Load()),
	}
	b.lat.encode(t)
	if b.ctl != nil {
		b.ctl.mu.Lock()
		t["controllerBrokerId"] = i64(b.ctl.selfID)
		t["syncStateSet"] = fmt.Sprint(b.ctl.inSync)
		t["syncStateSetEpoch"] = strconv.Itoa(int(b.ctl.inSyncEpoch))
		t["controllerMaster"] = b.ctl.master
		b.ctl.mu.Unlock()
		t["masterEpoch"] = strconv.Itoa(int(r.epoch))
		if last, ok := b.ctl.epochs.Last(); ok {
			t["lastEpoch"] = strconv.Itoa(int(last.Epoch))
		}
	}
	if b.master != nil && r.name != Slave {
		ms := b.master.Stats()
		t["haConnections"] = strconv.Itoa(ms.Slaves)
		t["haAckedOffset"] = i64(ms.AckedOffset)
		t["haSendfileBytes"] = i64(ms.BytesSendfile)
		t["haFrames"] = i64(ms.Frames)
		t["haWaiters"] = strconv.Itoa(ms.WaitersPending)
		t["metadataPollsHeld"] = strconv.Itoa(b.metaWait.count())
	}
	if b.slave != nil && r.name == Slave {
		ss := b.slave.Stats()
		t["haMasterAddr"] = ss.Master
		t["haConnected"] = strconv.FormatBool(ss.Connected)
		t["haReplicatedBytes"] = i64(ss.Bytes)
		t["haFrames"] = i64(ss.Frames)
		t["haReconnects"] = i64(ss.Reconnects)
		t["haRejectedFrames"] = i64(ss.Rejected)
	}
	return t
}

// getBrokerRuntimeInfo handles GET_BROKER_RUNTIME_INFO (28).
func (b *Broker) getBrokerRuntimeInfo(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := json.Marshal(struct {
		Table map[string]string `json:"table"`
	}{b.runtimeInfo()})
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode runtime info: %v", err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

package broker

import (
	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// Transaction types in a record's sysFlag (REMOTING.md §6.3).
const (
	txMask     = 0xC
	txPrepared = 0x4
	txCommit   = 0x8
	txRollback = 0xC
)

// endTransaction handles END_TRANSACTION (37). A half message is stored in
// its real topic as PREPARED, which gives it no consume-queue entry; a
// commit appends it again as COMMIT, which makes it visible; a rollback
// leaves it invisible. An unknown outcome (0) is ignored, as Java does.
func (b *Broker) endTransaction(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	if b.cfg.BrokerRole == Slave {
		return remoting.Errorf(req, remoting.SlaveNotAvailable, "broker %s is a slave; end transactions on its master", b.cfg.BrokerName)
	}
	kind, err := req.Int32("commitOrRollback")
	if err != nil {
		return fieldErr(req, err)
	}
	phys, err := req.Int64("commitLogOffset")
	if err != nil {
		return fieldErr(req, err)
	}
	switch kind {
	case 0:
		return remoting.NewResponse(req, remoting.Success, "")
	case txRollback:
		return remoting.NewResponse(req, remoting.Success, "")
	case txCommit:
	default:
		return remoting.Errorf(req, remoting.InvalidParameter, "commitOrRollback=%d: want 8 (commit), 12 (rollback) or 0 (unknown)", kind)
	}
	rec, resp := b.readRecord(req, phys)
	if resp != nil {
		return resp
	}
	if rec.SysFlag&txMask != txPrepared {
		return remoting.Errorf(req, remoting.SystemError, "the message at commit-log offset %d is not a prepared transaction message", phys)
	}
	m := commitlog.Message{
		Topic: rec.Topic, QueueID: rec.QueueID, Flag: rec.Flag, Body: rec.Body,
		Properties: withoutProperty(string(rec.Properties), propTranMsg),
		SysFlag:    rec.SysFlag&^txMask | txCommit, BornTimestamp: rec.BornTimestamp,
		BornHost: rec.BornHost, StoreHost: b.storeHost, ReconsumeTimes: rec.ReconsumeTimes,
		PreparedTransactionOffset: phys,
	}
	if _, err := b.store.Append(&m); err != nil {
		return storeErr(req, err)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

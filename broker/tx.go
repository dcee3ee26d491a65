package broker

import (
	"strconv"
	"sync"
	"time"

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

// Transactional messages (BROKER-INTERNALS §16.3). A half message is stored
// in halfTopic queue 0 as an ordinary record, its real topic and queue in
// properties; the consume queue of halfTopic is the list of transactions.
// END_TRANSACTION commits (appends the real message, type COMMIT) or rolls
// back (appends nothing), and either way appends an "op" record to opTopic
// whose body is the half message's queue offset. The checker asks the
// producer group about half messages left without an op.
const (
	halfTopic          = "RMQ_SYS_TRANS_HALF_TOPIC"
	opTopic            = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	txCheckGroup       = "CID_RMQ_SYS_TRANS" // its offsets are the checker's progress
	propPGroup         = "PGROUP"
	propTxCheckTimes   = "TRANSACTION_CHECK_TIMES"
	propCheckImmunity  = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	propTransactionID  = "__transactionId__"
	opTag              = "d"
	maxChecksPerRun    = 2000
	maxHalfScanPerRun  = 20000
	transactionOpBatch = 64
)

// toHalf turns a PREPARED send into the half message stored for it.
func toHalf(m *commitlog.Message) {
	props := withProperty(m.Properties, propRealTopic, m.Topic)
	m.Properties = withProperty(props, propRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = halfTopic, 0
	m.SysFlag &^= txMask
}

// endTransaction handles END_TRANSACTION (37). An unknown outcome (0) is
// ignored, as Java does: the checker will ask again. A commit stores the
// real message, and either outcome stores the op record, through the send
// pipeline; the answer waits until both are durable (the op comes later in
// the log, so its durability covers the commit's) and carries the
// "stored, but" code if a stage failed.
func (b *Broker) endTransaction(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp, err := b.endTx(c, req)
	if err != nil {
		return errResponse(req, err)
	}
	return resp
}

func (b *Broker) endTx(c *remoting.Conn, req *remoting.Command) (*remoting.Command, error) {
	if b.isSlave() {
		return nil, refuse(remoting.SlaveNotAvailable, "broker %s is a slave; end transactions on its master", b.cfg.BrokerName)
	}
	kind, err := req.Int32("commitOrRollback")
	if err != nil {
		return nil, err
	}
	phys, err := req.Int64("commitLogOffset")
	if err != nil {
		return nil, err
	}
	switch kind {
	case 0:
		return remoting.NewResponse(req, remoting.Success, ""), nil
	case txCommit, txRollback:
	default:
		return nil, refuse(remoting.InvalidParameter, "commitOrRollback=%d: want 8 (commit), 12 (rollback) or 0 (unknown)", kind)
	}
	rec, err := b.readRecord(phys)
	if err != nil {
		return nil, err
	}
	if rec.Topic != halfTopic {
		return b.endLegacyTransaction(c, req, rec, kind, phys)
	}
	if !b.tx.resolve(rec.QueueOffset) {
		return remoting.NewResponse(req, remoting.Success, ""), nil // already ended
	}
	if kind == txCommit {
		topic, _ := property(rec.Properties, propRealTopic)
		qid, err := strconv.Atoi(func() string { v, _ := property(rec.Properties, propRealQueueID); return v }())
		if topic == "" || err != nil {
			b.tx.unresolve(rec.QueueOffset)
			return nil, refuse(remoting.SystemError, "the half message at commit-log offset %d has no real topic/queue", phys)
		}
		props := rec.Properties
		for _, k := range []string{propRealTopic, propRealQueueID, propTranMsg, propTxCheckTimes} {
			props = withoutProperty(props, k)
		}
		m := b.reputMessage(&rec, topic, int32(qid), props)
		m.SysFlag = rec.SysFlag&^txMask | txCommit
		m.PreparedTransactionOffset = phys
		b.delayIfAsked(&m)
		if _, err := b.put(false, m); err != nil {
			b.tx.unresolve(rec.QueueOffset)
			return nil, err
		}
	}
	st, err := b.appendOp(rec.QueueOffset)
	if err != nil {
		return nil, err
	}
	return b.finish(c, req, st.EndOffset(), true, time.Time{}, time.Time{}, withCode(remoting.NewResponse(req, remoting.Success, ""))), nil
}

// appendOp records that the half message at queue offset half has ended.
func (b *Broker) appendOp(half int64) (stored, error) {
	return b.put(false, b.newMessage(commitlog.Message{
		Topic: opTopic, Body: []byte(strconv.FormatInt(half, 10)),
		Properties: withProperty("", propTags, opTag), BornTimestamp: time.Now().UnixMilli(), BornHost: b.storeHost,
	}))
}

// endLegacyTransaction ends a half message stored by an earlier rocketgo
// in its real topic with type PREPARED (no consume-queue entry).
func (b *Broker) endLegacyTransaction(c *remoting.Conn, req *remoting.Command, rec commitlog.Record, kind int32, phys int64) (*remoting.Command, error) {
	if rec.SysFlag&txMask != txPrepared {
		return nil, refuse(remoting.SystemError, "the message at commit-log offset %d is not a half (prepared) transaction message", phys)
	}
	if kind == txRollback {
		return remoting.NewResponse(req, remoting.Success, ""), nil
	}
	m := b.reputMessage(&rec, rec.Topic, rec.QueueID, withoutProperty(rec.Properties, propTranMsg))
	m.SysFlag = rec.SysFlag&^txMask | txCommit
	m.PreparedTransactionOffset = phys
	st, err := b.put(false, m)
	if err != nil {
		return nil, err
	}
	return b.finish(c, req, st.EndOffset(), true, time.Time{}, time.Time{}, withCode(remoting.NewResponse(req, remoting.Success, ""))), nil
}

// txChecker asks producers about half messages left without an outcome
// (Java's TransactionalMessageCheckService). Its progress, the first half
// offset not known to be ended, and the op offset from which the ops of the
// later halves can be read again, are kept as txCheckGroup's consumer
// offsets, so a restart resumes where it was. Check counts are kept in
// memory only: after a restart a half message may be checked
// transactionCheckMax more times.
type txChecker struct {
	b *Broker

	mu     sync.Mutex
	loaded bool
	next   int64           // first half offset not known to be ended
	opNext int64           // next op offset to read
	ended  map[int64]int64 // half offset → its op's offset (-1: op not read back yet)
	checks map[int64]int   // half offset → checks sent
}

func newTxChecker(b *Broker) *txChecker {
	return &txChecker{b: b, ended: map[int64]int64{}, checks: map[int64]int{}}
}

// resolve marks half as ended and reports whether it was not already.
func (t *txChecker) resolve(half int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.ended[half]; ok || (t.loaded && half < t.next) {
		return false
	}
	t.ended[half] = -1
	return true
}

// unresolve undoes resolve after a failed commit.
func (t *txChecker) unresolve(half int64) {
	t.mu.Lock()
	delete(t.ended, half)
	t.mu.Unlock()
}

// check is one round: read the new ops, then walk the half messages from
// the progress mark, asking about those older than transactionTimeOut.
func (t *txChecker) check(now time.Time) {
	b := t.b
	store := b.store
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		t.next = b.progress(halfTopic)
		t.opNext = b.progress(opTopic)
		t.loaded = true
	}
	// Ops (from the first one retention kept).
	t.opNext = max(t.opNext, store.QueueMinOffset(opTopic, 0))
	var entries []commitlog.Entry
	for {
		var err error
		entries, err = store.QueueEntries(opTopic, 0, t.opNext, transactionOpBatch, entries)
		if err != nil || len(entries) == 0 {
			break
		}
		for _, e := range entries {
			off := t.opNext
			t.opNext++
			raw, err := store.Read(e.PhysOffset, e.Size)
			if err != nil {
				continue
			}
			rec, _, err := commitlog.DecodeRecord(raw)
			if err != nil {
				continue
			}
			if half, err := strconv.ParseInt(string(rec.Body), 10, 64); err == nil && half >= t.next {
				t.ended[half] = off
			}
		}
	}
	// Halves.
	half := max(t.next, store.QueueMinOffset(halfTopic, 0))
	end := store.QueueMaxOffset(halfTopic, 0)
	sent := 0
	timeout := b.cfg.TransactionTimeOut
	advance := true // every half below `half` has ended
	for scanned := 0; half < end && scanned < maxHalfScanPerRun && sent < maxChecksPerRun; half, scanned = half+1, scanned+1 {
		if _, ok := t.ended[half]; ok {
			if advance {
				t.next = half + 1
			}
			continue
		}
		rec, ok := t.readHalf(half)
		if !ok { // gone (retention) or unreadable: nothing to ask about
			if advance {
				t.next = half + 1
			}
			continue
		}
		age := now.Sub(time.UnixMilli(rec.StoreTimestamp))
		if age < timeout {
			break // the later ones are younger still
		}
		if v, ok := property(rec.Properties, propCheckImmunity); ok {
			if secs, err := strconv.Atoi(v); err == nil && age < time.Duration(secs)*time.Second {
				advance = false
				continue
			}
		}
		if t.checks[half] >= b.cfg.TransactionCheckMax {
			b.log.Warn("transaction never ended: half message discarded after transactionCheckMax checks",
				"halfOffset", half, "commitLogOffset", rec.PhysOffset, "checks", t.checks[half])
			t.ended[half] = -1
			if advance {
				t.next = half + 1
			}
			continue
		}
		advance = false
		// A round counts as a check even when no producer of the group is
		// connected (as in Java), so a transaction whose producer is gone
		// is discarded after transactionCheckMax rounds instead of holding
		// the progress mark forever.
		t.checks[half]++
		if t.ask(rec) {
			sent++
		}
	}
	// Forget what lies below the progress mark; keep the ops from the
	// oldest one still needed.
	opKeep := t.opNext
	for h, op := range t.ended {
		if h < t.next {
			delete(t.ended, h)
			delete(t.checks, h)
		} else if op >= 0 && op < opKeep {
			opKeep = op
		}
	}
	for h := range t.checks {
		if h < t.next {
			delete(t.checks, h)
		}
	}
	b.offsets.commit(txCheckGroup, halfTopic, 0, t.next)
	b.offsets.commit(txCheckGroup, opTopic, 0, opKeep)
}

// progress is txCheckGroup's committed offset on topic's queue 0, or 0.
func (b *Broker) progress(topic string) int64 {
	off, _ := b.offsets.query(txCheckGroup, topic, 0)
	return off
}

// readHalf reads the half message at a queue offset of halfTopic.
func (t *txChecker) readHalf(half int64) (commitlog.Record, bool) {
	store := t.b.store
	es, err := store.QueueEntries(halfTopic, 0, half, 1, nil)
	if err != nil || len(es) != 1 {
		return commitlog.Record{}, false
	}
	raw, err := store.Read(es[0].PhysOffset, es[0].Size)
	if err != nil {
		return commitlog.Record{}, false
	}
	rec, _, err := commitlog.DecodeRecord(raw)
	return rec, err == nil
}

// ask sends CHECK_TRANSACTION_STATE about a half message (already counted
// in t.checks) to one live producer of its group (the Go client answers
// only checks for its own group). It reports whether a producer was asked.
func (t *txChecker) ask(rec commitlog.Record) bool {
	b := t.b
	group, _ := property(rec.Properties, propPGroup)
	conn := b.consumers.producerConn(group)
	if conn == nil {
		return false
	}
	topic, _ := property(rec.Properties, propRealTopic)
	qv, _ := property(rec.Properties, propRealQueueID)
	qid, _ := strconv.Atoi(qv)
	checks := t.checks[rec.QueueOffset]
	m := commitlog.Message{
		Topic: topic, QueueID: int32(qid), Flag: rec.Flag, Body: rec.Body,
		Properties: withProperty(rec.Properties, propTxCheckTimes, strconv.Itoa(checks)),
		SysFlag:    rec.SysFlag&^txMask | txPrepared, BornTimestamp: rec.BornTimestamp,
		BornHost: rec.BornHost, StoreHost: rec.StoreHost, ReconsumeTimes: rec.ReconsumeTimes,
	}
	body, err := commitlog.EncodeRecord(&m, rec.QueueOffset, rec.PhysOffset, rec.StoreTimestamp)
	if err != nil {
		b.log.Warn("encode a transaction check", "commitLogOffset", rec.PhysOffset, "err", err)
		return false
	}
	uniq, _ := property(rec.Properties, propUniqKey)
	txID, ok := property(rec.Properties, propTransactionID)
	if !ok {
		txID = uniq
	}
	req := remoting.NewRequest(remoting.CheckTransactionState,
		"tranStateTableOffset", strconv.FormatInt(rec.QueueOffset, 10),
		"commitLogOffset", strconv.FormatInt(rec.PhysOffset, 10),
		"msgId", uniq,
		"transactionId", txID,
		"offsetMsgId", offsetMsgID(b.storeHost, rec.PhysOffset),
		"topic", topic,
		"bname", b.cfg.BrokerName,
	)
	req.Body = body
	if err := conn.Oneway(req); err != nil {
		return false
	}
	return true
}

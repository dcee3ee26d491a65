package broker

import (
	"strconv"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// Pull sysFlag bits (REMOTING.md §6.4).
const (
	pullCommitOffset = 0x1
	pullSuspend      = 0x2
	pullSubscription = 0x4
)

// pullRequest is PullMessageRequestHeader, parsed.
type pullRequest struct {
	group         string
	topic         string
	queueID       int32
	offset        int64
	maxMsgs       int32
	sysFlag       int32
	commitOffset  int64
	suspendMillis int64
	sub           *subscription
}

func parsePullHeader(req *remoting.Command) (pullRequest, error) {
	var p pullRequest
	var err error
	if p.group, err = req.String("consumerGroup"); err != nil {
		return p, err
	}
	if p.topic, err = req.String("topic"); err != nil {
		return p, err
	}
	if p.queueID, err = req.Int32("queueId"); err != nil {
		return p, err
	}
	if p.offset, err = req.Int64("queueOffset"); err != nil {
		return p, err
	}
	if p.maxMsgs, err = req.Int32Or("maxMsgNums", 32); err != nil {
		return p, err
	}
	if p.sysFlag, err = req.Int32Or("sysFlag", 0); err != nil {
		return p, err
	}
	if p.commitOffset, err = req.Int64Or("commitOffset", 0); err != nil {
		return p, err
	}
	if p.suspendMillis, err = req.Int64Or("suspendTimeoutMillis", 20000); err != nil {
		return p, err
	}
	return p, nil
}

// pullMessage handles PULL_MESSAGE (11).
func (b *Broker) pullMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	p, err := parsePullHeader(req)
	if err != nil {
		return fieldErr(req, err)
	}
	tc, resp := b.readQueue(req, p.topic, p.queueID)
	if resp != nil {
		return resp
	}
	if tc.Perm&permRead == 0 {
		return remoting.Errorf(req, remoting.NoPermission, "the topic %s is not readable (perm=%d)", p.topic, tc.Perm)
	}
	if p.sysFlag&pullSubscription != 0 {
		p.sub = parseSubscription(p.topic, req.ExtValue("subscription"), req.ExtValue("expressionType"))
		// The Go pull consumer says TAG even for SQL92; trust the heartbeat's type.
		if hb := b.consumers.subscription(p.group, p.topic); hb != nil && hb.exprType != "TAG" {
			p.sub = hb
		}
	} else {
		p.sub = b.consumers.subscription(p.group, p.topic)
	}
	if p.sysFlag&pullCommitOffset != 0 && !b.isSlave() && p.commitOffset >= 0 {
		b.offsets.commit(p.group, p.topic, p.queueID, p.commitOffset)
	}
	return b.pullOnce(c, req, &p, p.sysFlag&pullSuspend != 0)
}

// pullOnce looks for messages. It returns the answer, or req.Answered()
// when it wrote the answer itself (a zero-copy body); with suspend set and
// nothing to read it parks the request for long polling and returns
// req.Later().
func (b *Broker) pullOnce(c *remoting.Conn, req *remoting.Command, p *pullRequest, suspend bool) *remoting.Command {
	minOff := b.store.QueueMinOffset(p.topic, p.queueID)
	stored := b.store.QueueMaxOffset(p.topic, p.queueID)
	maxOff := b.readMaxOf(p.topic, p.queueID, stored)
	answer := func(code int32, next int64, remark string) *remoting.Command {
		resp := remoting.NewResponse(req, code, remark)
		setPullExt(resp, next, minOff, maxOff, 0)
		return resp
	}
	// A slave that is behind its master has not seen the consumer's
	// offset yet: wait for replication rather than correct the offset.
	// Nor is an offset in the unconfirmed tail of a controller-mode
	// master's queue corrected (a consumer may have read that far on
	// the master before this one).
	slaveBehind := b.isSlave() && p.offset > maxOff
	unconfirmed := p.offset > maxOff && p.offset <= stored
	switch {
	case maxOff == 0 && p.offset == 0, p.offset == maxOff, slaveBehind, unconfirmed:
		if suspend && req.FrameSize() <= maxHeldPullFrame {
			return b.polls.hold(c, req, p)
		}
		return answer(remoting.PullNotFound, p.offset, "no new message")
	case maxOff == 0:
		return answer(remoting.PullOffsetMoved, 0, "the queue is empty")
	case p.offset < minOff:
		return answer(remoting.PullOffsetMoved, minOff, "the offset is below the queue's minimum")
	case p.offset > maxOff:
		return answer(remoting.PullOffsetMoved, maxOff, "the offset is past the queue's end")
	}

	maxMsgs := int(p.maxMsgs)
	if maxMsgs <= 0 {
		maxMsgs = 1
	}
	maxMsgs = min(maxMsgs, b.cfg.MaxTransferCountOnMessageInMemory)
	scanLimit := int(min(int64(max(800, maxMsgs)), maxOff-p.offset))
	entries, err := b.store.QueueEntries(p.topic, p.queueID, p.offset, scanLimit, nil)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "read consume queue %s/%d: %v", p.topic, p.queueID, err)
	}
	// The parts are written zero-copy after this returns: the pin keeps
	// their segments mapped until the connection is done with them.
	pin := new(commitlog.Pin)
	var parts [][]byte
	var found, bytes int
	next := p.offset
	var firstPhys, lastPhys int64
	for _, e := range entries {
		if found >= maxMsgs || (found > 0 && bytes+int(e.Size) > b.cfg.MaxTransferBytesOnMessageInMemory) {
			break
		}
		next++
		lastPhys = e.PhysOffset
		if !p.sub.matches(e.TagsCode) {
			continue
		}
		rec, err := b.store.ReadPinned(pin, e.PhysOffset, e.Size)
		if err != nil {
			// The record is gone (or not readable yet): skip it as Java
			// skips a removed message.
			continue
		}
		if found == 0 {
			firstPhys = e.PhysOffset
		}
		found++
		bytes += len(rec)
		parts = append(parts, rec)
	}
	if found == 0 {
		pin.Release()
		if next == p.offset {
			// Entries are not readable yet: ask again right away.
			return answer(remoting.PullRetryImmediately, next, "no message readable yet")
		}
		return answer(remoting.PullRetryImmediately, next, "no message matched the subscription")
	}
	b.stats.pulled.Add(int64(found))
	b.metrics.out(p.topic, p.group, p.queueID, next, found, bytes)
	resp := remoting.NewResponse(req, remoting.Success, "")
	setPullExt(resp, next, minOff, maxOff, b.suggestBroker(p.group, lastPhys))
	// The event loop writes the parts: fault in cold ones here, on the
	// worker, so the loop never waits for the disk.
	b.store.Prefault(firstPhys, parts)
	if err := c.AnswerBody(req, resp, parts, pin.Release); err != nil {
		b.log.Debug("answer pull", "addr", c.RemoteAddr(), "err", err)
	}
	return req.Answered()
}

func setPullExt(resp *remoting.Command, next, minOff, maxOff, suggest int64) {
	resp.SetExt("nextBeginOffset", strconv.FormatInt(next, 10))
	resp.SetExt("minOffset", strconv.FormatInt(minOff, 10))
	resp.SetExt("maxOffset", strconv.FormatInt(maxOff, 10))
	resp.SetExt("suggestWhichBrokerId", strconv.FormatInt(suggest, 10))
}

// suggestBroker tells a consumer where to pull next (BROKER-INTERNALS §12.9):
// a master whose consumer reads further back than accessMessageInMemoryMaxRatio
// percent of RAM sends it to a connected slave (the group's
// whichBrokerWhenConsumeSlowly), sparing its own page cache; everyone else
// pulls from the master.
func (b *Broker) suggestBroker(group string, lastPhys int64) int64 {
	if b.master == nil || !b.cfg.SlaveReadEnable || b.master.Stats().Slaves == 0 {
		return 0
	}
	behind := b.store.MaxOffset() - lastPhys
	if behind <= int64(float64(b.memTotal)*float64(b.cfg.AccessMessageInMemoryMaxRatio)/100) {
		return 0
	}
	if g, ok := b.groups.get(group); ok {
		return g.WhichBrokerWhenConsumeSlowly
	}
	return 1
}

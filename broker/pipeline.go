package broker

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// The send pipeline. Every message the broker writes to its commit log goes
// the same way, whoever it comes from:
//
//	SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE   a producer's send (send.go)
//	SEND_REPLY_MESSAGE(_V2)                 a responder's reply (reply.go)
//	CONSUMER_SEND_MSG_BACK                  a message given back, to the retry or dead-letter topic (retry.go)
//	a delayed message coming due            the scheduler's re-put (schedule.go)
//	END_TRANSACTION                         a half message's commit and the op record (tx.go)
//
//  1. build: clientMessage or reputMessage, both through newMessage, which
//     adds the CLUSTER property and names this broker the store host;
//  2. store: b.put, the only place the broker appends to its log;
//  3. durability: b.durable waits, by callback (no goroutine blocks), for
//     what the broker's role and flush type require of the log up to the
//     message's end: the stages in b.sendStages (the SYNC_FLUSH group
//     commit, a SYNC_MASTER slave's ack);
//  4. done: only then is the message answered, or counted as delivered.
//
// What each path makes of a stage that fails, the message stored here but
// not flushed or not on a slave:
//   - sends, batches, replies and END_TRANSACTION answer the "stored, but"
//     code (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE);
//     a reply is pushed to its requester after the wait in any case, since
//     it is stored;
//   - a send-back answers SYSTEM_ERROR with the reason, as RocketMQ's
//     consumerSendMsgBack answers anything but PUT_OK: the consumer then
//     retries the message itself, so it survives this broker's loss;
//   - the scheduler keeps its delivered offset before messages it re-put
//     until they are durable, and waits for them again on its next tick
//     without storing them again; the offset it persists never passes a
//     message that could be lost, and a restart redelivers (at least once).

// codeError is a refusal with the RocketMQ response code it is answered
// with.
type codeError struct {
	code int32
	msg  string
}

func (e *codeError) Error() string { return e.msg }

// refuse returns a codeError.
func refuse(code int32, format string, args ...any) error {
	return &codeError{code: code, msg: fmt.Sprintf(format, args...)}
}

// errResponse is the one place an error of the send pipeline becomes an
// answer.
func errResponse(req *remoting.Command, err error) *remoting.Command {
	var ce *codeError
	var fe *remoting.FieldError
	switch {
	case errors.As(err, &ce):
		return remoting.NewResponse(req, ce.code, ce.msg)
	case errors.As(err, &fe):
		return fieldErr(req, err)
	case errors.Is(err, commitlog.ErrMessageTooLarge), errors.Is(err, commitlog.ErrInvalidMessage):
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	case errors.Is(err, commitlog.ErrClosed):
		return remoting.NewResponse(req, remoting.ServiceNotAvailable, "the store is shutting down")
	case errors.Is(err, commitlog.ErrWouldBlock): // only on a loop, which offloads first
		return remoting.NewResponse(req, remoting.SystemBusy, err.Error())
	}
	// An I/O error (no space, EIO): the message is not stored. The error
	// names the step that failed, e.g. "store the message: roll to segment
	// …: create segment …: preallocate: no space left on device".
	return remoting.NewResponse(req, remoting.SystemError, err.Error())
}

// fieldErr answers a request whose ext fields are missing or malformed.
func fieldErr(req *remoting.Command, err error) *remoting.Command {
	return remoting.NewResponse(req, remoting.InvalidParameter, err.Error())
}

// newMessage is the message the broker stores for m: every path builds its
// message here, so each record carries the CLUSTER property (a re-put
// keeps the one it has) and names this broker its store host.
func (b *Broker) newMessage(m commitlog.Message) commitlog.Message {
	if _, ok := property(m.Properties, propCluster); !ok {
		m.Properties = withProperty(m.Properties, propCluster, b.cfg.BrokerClusterName)
	}
	m.StoreHost = b.storeHost
	return m
}

// clientMessage is the message stored for one message a client sent on c.
func (b *Broker) clientMessage(c *remoting.Conn, h *sendHeader, flag int32, body []byte, props string) commitlog.Message {
	return b.newMessage(commitlog.Message{
		Topic: h.topic, QueueID: h.queueID, Flag: flag, Body: body, Properties: props,
		SysFlag: h.sysFlag, BornTimestamp: h.bornTimestamp, BornHost: bornHost(c), ReconsumeTimes: h.reconsumeTimes,
	})
}

// reputMessage is the message stored when the broker writes a stored
// record again, to topic and queueID with props: a send-back, a delayed
// message coming due, a transaction's commit.
func (b *Broker) reputMessage(rec *commitlog.Record, topic string, queueID int32, props string) commitlog.Message {
	return b.newMessage(commitlog.Message{
		Topic: topic, QueueID: queueID, Flag: rec.Flag, Body: rec.Body, Properties: props,
		SysFlag: rec.SysFlag, BornTimestamp: rec.BornTimestamp, BornHost: rec.BornHost, ReconsumeTimes: rec.ReconsumeTimes,
	})
}

// stored is what one put wrote.
type stored struct {
	commitlog.AppendResult
	offsets []int64 // a batch's record offsets
}

// put appends one message, or a batch for one queue: the only place the
// broker appends to its log. On an event loop (onLoop) it never waits for a
// file to be created: it returns an error wrapping commitlog.ErrWouldBlock,
// having stored nothing, and the handler offloads to a worker.
func (b *Broker) put(onLoop bool, msgs ...commitlog.Message) (stored, error) {
	var st stored
	var err error
	msgs[0].NoBlock = onLoop
	if len(msgs) == 1 {
		st.AppendResult, err = b.store.Append(&msgs[0])
	} else {
		st.AppendResult, st.offsets, err = b.store.AppendBatch(msgs)
	}
	if err != nil {
		return st, fmt.Errorf("store the message: %w", err)
	}
	return st, nil
}

// finish answers req once the log up to end is durable (b.durable), with
// what answer makes of the outcome. It returns what the handler returns:
// the answer itself when there is nothing to wait for (!wait, or no
// stages), else req.Later(). A client's send is timed: its stages from
// appended, its total from start; zero times leave a re-put untimed.
func (b *Broker) finish(c *remoting.Conn, req *remoting.Command, end int64, wait bool, start, appended time.Time,
	answer func(code int32, remark string) *remoting.Command) *remoting.Command {
	if !wait || len(b.sendStages) == 0 {
		if !start.IsZero() {
			b.stageDone(stageTotal, start)
		}
		return answer(0, "")
	}
	later := req.Later()
	b.durable(end, appended, func(code int32, remark string) {
		resp := answer(code, remark)
		if !start.IsZero() {
			b.stageDone(stageTotal, start)
		}
		if err := c.Answer(req, resp); err != nil {
			b.log.Debug("answer a stored message", "addr", c.RemoteAddr(), "code", req.Code, "err", err)
		}
	})
	return later
}

// withCode is an answer for finish: resp, with a stage's "stored, but"
// code and remark when one failed.
func withCode(resp *remoting.Command) func(int32, string) *remoting.Command {
	return func(code int32, remark string) *remoting.Command {
		if code != 0 {
			resp.Code, resp.Remark = code, remark
		}
		return resp
	}
}

// sendResponse is the SendMessageResponseHeader of a stored send.
func (b *Broker) sendResponse(req *remoting.Command, msgID string, queueID int32, queueOffset int64) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", msgID)
	resp.SetExt("queueId", strconv.Itoa(int(queueID)))
	resp.SetExt("queueOffset", strconv.FormatInt(queueOffset, 10))
	resp.SetExt("MSG_REGION", "DefaultRegion")
	resp.SetExt("TRACE_ON", "true")
	return resp
}

// A sendStage starts waiting for end to reach some state and calls done
// exactly once, with a non-zero code for a "stored, but" outcome.
type sendStage func(end int64, done func(code int32, remark string))

// durable calls done once the log up to end has passed every stage in
// b.sendStages, with code 0 or the highest "stored, but" code a stage
// reported and its remark (a replication outcome overrides a flush
// outcome, as in RocketMQ). Each stage's latency is recorded from
// appended, unless it is zero. done runs on this goroutine when there are
// no stages or all are met already, else on the goroutine of the stage
// that ends last (the flusher, the HA ack reader, a timer); it must not
// block.
func (b *Broker) durable(end int64, appended time.Time, done func(code int32, remark string)) {
	if len(b.sendStages) == 0 {
		done(0, "")
		return
	}
	w := &durableWait{done: done}
	w.pending.Store(int32(len(b.sendStages)))
	for i, stage := range b.sendStages {
		name := b.stageNames[i]
		stage(end, func(code int32, remark string) {
			if !appended.IsZero() {
				b.stageDone(name, appended)
			}
			w.stageDone(code, remark)
		})
	}
}

// durableWait gathers the outcomes of one durable call's stages.
type durableWait struct {
	done    func(code int32, remark string)
	pending atomic.Int32
	code    atomic.Int32
	remark  atomic.Pointer[string]
}

func (w *durableWait) stageDone(code int32, remark string) {
	for code != 0 {
		old := w.code.Load()
		if code <= old {
			break
		}
		if w.code.CompareAndSwap(old, code) {
			w.remark.Store(&remark)
			break
		}
	}
	if w.pending.Add(-1) != 0 {
		return
	}
	if code := w.code.Load(); code != 0 {
		w.done(code, *w.remark.Load())
		return
	}
	w.done(0, "")
}

// flushStage waits for the group commit (SYNC_FLUSH).
func (b *Broker) flushStage(end int64, done func(int32, string)) {
	b.store.WaitDurable(end, func(err error) {
		switch {
		case errors.Is(err, commitlog.ErrFlushTimeout):
			done(remoting.FlushDiskTimeout, fmt.Sprintf("the message is stored but not flushed within syncFlushTimeout=%v", b.cfg.SyncFlushTimeout))
		case err != nil: // as RocketMQ answers a failed group commit
			done(remoting.FlushDiskTimeout, fmt.Sprintf("the message is stored but flushing it to disk failed: %v", err))
		default:
			done(0, "")
		}
	})
}

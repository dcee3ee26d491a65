package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// sendHeader is SendMessageRequestHeader. SEND_MESSAGE uses the long
// field names, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE the one-letter ones
// (REMOTING.md §8.1, §8.2).
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	maxReconsumeTimes     int32
	batch                 bool
}

var (
	longSendKeys  = [...]string{"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag", "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch"}
	shortSendKeys = [...]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}
)

func parseSendHeader(req *remoting.Command) (sendHeader, error) {
	k := &longSendKeys
	if req.Code != remoting.SendMessage && req.Code != remoting.SendReplyMessage {
		k = &shortSendKeys
	}
	var h sendHeader
	var err error
	if h.topic, err = req.String(k[1]); err != nil {
		return h, err
	}
	if h.queueID, err = req.Int32(k[4]); err != nil {
		return h, err
	}
	if h.defaultTopicQueueNums, err = req.Int32Or(k[3], 4); err != nil {
		return h, err
	}
	if h.sysFlag, err = req.Int32Or(k[5], 0); err != nil {
		return h, err
	}
	if h.bornTimestamp, err = req.Int64Or(k[6], 0); err != nil {
		return h, err
	}
	if h.flag, err = req.Int32Or(k[7], 0); err != nil {
		return h, err
	}
	if h.reconsumeTimes, err = req.Int32Or(k[9], 0); err != nil {
		return h, err
	}
	if h.maxReconsumeTimes, err = req.Int32Or(k[11], 16); err != nil {
		return h, err
	}
	h.producerGroup = req.ExtValue(k[0])
	h.defaultTopic = req.ExtValue(k[2])
	h.properties = req.ExtValue(k[8])
	h.batch = req.Bool(k[12])
	return h, nil
}

// fieldErr answers a request whose ext fields are missing or malformed.
func fieldErr(req *remoting.Command, err error) *remoting.Command {
	return remoting.NewResponse(req, remoting.InvalidParameter, err.Error())
}

// storeErr maps a commitlog error to a response.
func storeErr(req *remoting.Command, err error) *remoting.Command {
	switch {
	case errors.Is(err, commitlog.ErrMessageTooLarge), errors.Is(err, commitlog.ErrInvalidMessage):
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	case errors.Is(err, commitlog.ErrClosed):
		return remoting.NewResponse(req, remoting.ServiceNotAvailable, "the store is shutting down")
	case errors.Is(err, commitlog.ErrWouldBlock): // not on a loop: cannot happen
		return remoting.Errorf(req, remoting.SystemBusy, "store the message: %v", err)
	}
	// An I/O error (no space, EIO): the message is not stored. The error
	// names the step that failed, e.g. "roll to segment …: create segment
	// …: preallocate: no space left on device".
	return remoting.Errorf(req, remoting.SystemError, "store the message: %v", err)
}

// checkSend applies the checks common to single and batch sends and
// returns the topic config to write to (creating the topic if allowed).
func (b *Broker) checkSend(req *remoting.Command, h *sendHeader) (TopicConfig, *remoting.Command) {
	if b.cfg.BrokerRole == Slave {
		return TopicConfig{}, remoting.Errorf(req, remoting.ServiceNotAvailable,
			"broker %s is a slave (brokerId=%d) and does not accept messages; send to its master", b.cfg.BrokerName, b.cfg.BrokerID)
	}
	if b.cleaner.diskFull.Load() {
		return TopicConfig{}, remoting.Errorf(req, remoting.ServiceNotAvailable,
			"broker %s refuses sends: its disk is %.1f%% used, over diskSpaceWarningLevelRatio=%g; retention is deleting old commit log segments",
			b.cfg.BrokerName, 100*b.cleaner.usedRatio(), b.cfg.DiskSpaceWarningLevelRatio)
	}
	if err := validateTopic(h.topic); err != nil {
		return TopicConfig{}, remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	if h.topic == autoCreateTopicKey {
		return TopicConfig{}, remoting.Errorf(req, remoting.NoPermission, "sending to the system topic %s is forbidden", h.topic)
	}
	if len(h.properties) > 32767 {
		return TopicConfig{}, remoting.Errorf(req, remoting.MessageIllegal, "the message properties are %d bytes, over the limit of 32767", len(h.properties))
	}
	tc, ok := b.topics.get(h.topic)
	if !ok {
		var resp *remoting.Command
		if tc, resp = b.autoCreate(req, h); resp != nil {
			return tc, resp
		}
	}
	if tc.Perm&permWrite == 0 {
		return tc, remoting.Errorf(req, remoting.NoPermission, "the topic %s is not writable (perm=%d)", h.topic, tc.Perm)
	}
	n := max(tc.WriteQueueNums, tc.ReadQueueNums)
	if h.queueID < 0 {
		h.queueID = rand.Int32N(max(tc.WriteQueueNums, 1))
	} else if h.queueID >= n {
		return tc, remoting.Errorf(req, remoting.SystemError, "queueId %d is illegal: topic %s has %d queues", h.queueID, h.topic, n)
	}
	return tc, nil
}

func (b *Broker) autoCreate(req *remoting.Command, h *sendHeader) (TopicConfig, *remoting.Command) {
	if strings.HasPrefix(h.topic, retryPrefix) {
		return b.ensureTopic(h.topic, 1, permRead|permWrite), nil
	}
	if !b.cfg.AutoCreateTopicEnable {
		return TopicConfig{}, remoting.Errorf(req, remoting.TopicNotExist,
			"topic[%s] not exist, apply first please! (autoCreateTopicEnable=false on broker %s)", h.topic, b.cfg.BrokerName)
	}
	n := b.cfg.DefaultTopicQueueNums
	if h.defaultTopicQueueNums > 0 && h.defaultTopicQueueNums < n {
		n = h.defaultTopicQueueNums
	}
	return b.ensureTopic(h.topic, n, permRead|permWrite), nil
}

// sendMessage handles SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and
// SEND_REPLY_MESSAGE (324).
func (b *Broker) sendMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	start := time.Now() // sends run inline, right after the frame is decoded
	h, err := parseSendHeader(req)
	if err != nil {
		return fieldErr(req, err)
	}
	if req.OnLoop() && b.sendMayBlock(&h) {
		return req.Offload()
	}
	if h.batch || req.Code == remoting.SendBatchMessage {
		return b.sendBatch(c, req, &h, start)
	}
	if len(req.Body) > int(b.cfg.MaxMessageSize) {
		return remoting.Errorf(req, remoting.MessageIllegal, "the message body is %d bytes, over the limit maxMessageSize=%d", len(req.Body), b.cfg.MaxMessageSize)
	}
	if resp := b.redirectRetry(req, &h); resp != nil {
		return resp
	}
	if _, resp := b.checkSend(req, &h); resp != nil {
		return resp
	}
	props := h.properties
	if _, ok := property(props, propCluster); !ok {
		props = withProperty(props, propCluster, b.cfg.BrokerClusterName)
	}
	wait := true
	if v, ok := property(props, propWait); ok {
		wait = v != "false"
		props = withoutProperty(props, propWait)
	}
	msg := commitlog.Message{
		Topic:          h.topic,
		QueueID:        h.queueID,
		Flag:           h.flag,
		Body:           req.Body,
		Properties:     props,
		SysFlag:        h.sysFlag,
		BornTimestamp:  h.bornTimestamp,
		BornHost:       bornHost(c),
		StoreHost:      b.storeHost,
		ReconsumeTimes: h.reconsumeTimes,
	}
	if h.sysFlag&txMask == txPrepared {
		toHalf(&msg) // invisible until END_TRANSACTION commits it
	} else {
		b.delayIfAsked(&msg)
	}
	msg.NoBlock = req.OnLoop() // a file to create: retried on a worker
	res, err := b.store.Append(&msg)
	if errors.Is(err, commitlog.ErrWouldBlock) {
		return req.Offload()
	}
	if err != nil {
		return storeErr(req, err)
	}
	appended := b.stageDone(stageStore, start)
	b.stats.sent.Add(1)
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", offsetMsgID(b.storeHost, res.PhysOffset))
	resp.SetExt("queueId", strconv.Itoa(int(h.queueID)))
	resp.SetExt("queueOffset", strconv.FormatInt(res.QueueOffset, 10))
	if uniq, ok := property(props, propUniqKey); ok {
		resp.SetExt("transactionId", uniq)
	}
	resp.SetExt("MSG_REGION", "DefaultRegion")
	resp.SetExt("TRACE_ON", "true")
	return b.finishSend(c, req, resp, res.EndOffset(), wait, start, appended)
}

// stageDone records the stage that began at since and returns now.
func (b *Broker) stageDone(stage string, since time.Time) time.Time {
	now := time.Now()
	b.lat.record(stage, now.Sub(since))
	return now
}

// sendMayBlock reports whether a send would write a config file (an fsync):
// a topic to create, or a retry topic that may divert to a new DLQ.
func (b *Broker) sendMayBlock(h *sendHeader) bool {
	if strings.HasPrefix(h.topic, retryPrefix) {
		return true
	}
	_, ok := b.topics.get(h.topic)
	return !ok
}

// redirectRetry applies the retry rules to a send aimed at a %RETRY% topic:
// past maxReconsumeTimes the message goes to the group's dead-letter topic.
func (b *Broker) redirectRetry(req *remoting.Command, h *sendHeader) *remoting.Command {
	if !strings.HasPrefix(h.topic, retryPrefix) || h.reconsumeTimes <= h.maxReconsumeTimes {
		return nil
	}
	dlq := dlqPrefix + strings.TrimPrefix(h.topic, retryPrefix)
	if err := validateTopic(dlq); err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	b.ensureTopic(dlq, 1, permRead|permWrite)
	h.topic, h.queueID = dlq, 0
	h.properties = withoutProperty(h.properties, propDelay)
	return nil
}

// finishSend answers a stored send: at once, or when the stages the role
// and flush type require (group-commit flush, later replication) are done.
// It returns req.Later() when the answer will be written later.
func (b *Broker) finishSend(c *remoting.Conn, req, resp *remoting.Command, end int64, wait bool, start, appended time.Time) *remoting.Command {
	if !wait || len(b.sendStages) == 0 {
		b.stageDone(stageTotal, start)
		return resp
	}
	w := &sendWait{b: b, c: c, req: req, resp: resp, start: start}
	w.pending.Store(int32(len(b.sendStages)))
	for i, stage := range b.sendStages {
		name := b.stageNames[i]
		stage(end, func(code int32, remark string) {
			b.stageDone(name, appended)
			w.done(code, remark)
		})
	}
	return req.Later() // resp may alias req
}

// A sendStage starts waiting for end to reach some state and calls done
// exactly once, with a non-zero code for a "stored, but" outcome.
type sendStage func(end int64, done func(code int32, remark string))

type sendWait struct {
	b         *Broker
	c         *remoting.Conn
	req, resp *remoting.Command
	start     time.Time // the request arrived
	pending   atomic.Int32
	code      atomic.Int32
	remark    atomic.Pointer[string]
}

func (w *sendWait) done(code int32, remark string) {
	// A replication outcome overrides a flush outcome, as in RocketMQ:
	// keep the highest code.
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
		w.resp.Code = code
		w.resp.Remark = *w.remark.Load()
	}
	w.b.stageDone(stageTotal, w.start)
	if err := w.c.Answer(w.req, w.resp); err != nil {
		w.b.log.Debug("answer send", "addr", w.c.RemoteAddr(), "err", err)
	}
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

// bornHost returns the client's address as the message's born host.
func bornHost(c *remoting.Conn) netip.AddrPort {
	if v, ok := c.Value().(netip.AddrPort); ok {
		return v
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr())
	if err != nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	c.SetValue(ap)
	return ap
}

// sendBatch handles SEND_BATCH_MESSAGE (320): one queue, consecutive
// offsets, one answer.
func (b *Broker) sendBatch(c *remoting.Conn, req *remoting.Command, h *sendHeader, start time.Time) *remoting.Command {
	if len(req.Body) > int(b.cfg.MaxMessageSize) {
		return remoting.Errorf(req, remoting.MessageIllegal, "the batch body is %d bytes, over the limit maxMessageSize=%d", len(req.Body), b.cfg.MaxMessageSize)
	}
	if strings.HasPrefix(h.topic, retryPrefix) {
		return remoting.Errorf(req, remoting.MessageIllegal, "batch sends to the retry topic %s are not supported", h.topic)
	}
	if _, resp := b.checkSend(req, h); resp != nil {
		return resp
	}
	entries, err := decodeBatch(req.Body)
	if err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	born := bornHost(c)
	msgs := make([]commitlog.Message, len(entries))
	for i, e := range entries {
		props := e.properties
		if h.properties != "" {
			if props != "" && props[len(props)-1] != propertySep {
				props += string(propertySep)
			}
			props += h.properties
		}
		if _, ok := property(props, propDelay); ok {
			return remoting.Errorf(req, remoting.MessageIllegal, "batch message %d has a delay level; batches cannot be delayed", i)
		}
		if _, ok := property(props, propCluster); !ok {
			props = withProperty(props, propCluster, b.cfg.BrokerClusterName)
		}
		msgs[i] = commitlog.Message{
			Topic: h.topic, QueueID: h.queueID, Flag: e.flag, Body: e.body, Properties: props,
			SysFlag: h.sysFlag, BornTimestamp: h.bornTimestamp, BornHost: born, StoreHost: b.storeHost,
			ReconsumeTimes: h.reconsumeTimes,
		}
	}
	msgs[0].NoBlock = req.OnLoop() // a file to create: retried on a worker
	res, offsets, err := b.store.AppendBatch(msgs)
	if errors.Is(err, commitlog.ErrWouldBlock) {
		return req.Offload()
	}
	if err != nil {
		return storeErr(req, err)
	}
	appended := b.stageDone(stageStore, start)
	b.stats.sent.Add(int64(len(msgs)))
	var ids strings.Builder
	for i, off := range offsets {
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.WriteString(offsetMsgID(b.storeHost, off))
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", ids.String())
	resp.SetExt("queueId", strconv.Itoa(int(h.queueID)))
	resp.SetExt("queueOffset", strconv.FormatInt(res.QueueOffset, 10))
	resp.SetExt("MSG_REGION", "DefaultRegion")
	resp.SetExt("TRACE_ON", "true")
	return b.finishSend(c, req, resp, res.EndOffset(), true, start, appended)
}

type batchEntry struct {
	flag       int32
	body       []byte
	properties string
}

// decodeBatch splits a batch body into its messages (REMOTING.md §8.2).
func decodeBatch(body []byte) ([]batchEntry, error) {
	var out []batchEntry
	for off := 0; off < len(body); {
		rest := body[off:]
		if len(rest) < 22 {
			return nil, fmt.Errorf("batch message %d at byte %d: %d bytes left, a message needs at least 22", len(out), off, len(rest))
		}
		total := int(int32(binary.BigEndian.Uint32(rest)))
		bodyLen := int(int32(binary.BigEndian.Uint32(rest[16:])))
		if bodyLen < 0 || 20+bodyLen+2 > len(rest) {
			return nil, fmt.Errorf("batch message %d at byte %d: body length %d runs past the batch", len(out), off, bodyLen)
		}
		propLen := int(int16(binary.BigEndian.Uint16(rest[20+bodyLen:])))
		if propLen < 0 || 22+bodyLen+propLen > len(rest) {
			return nil, fmt.Errorf("batch message %d at byte %d: properties length %d runs past the batch", len(out), off, propLen)
		}
		if total != 22+bodyLen+propLen {
			return nil, fmt.Errorf("batch message %d at byte %d: total size %d does not match its parts (%d)", len(out), off, total, 22+bodyLen+propLen)
		}
		out = append(out, batchEntry{
			flag:       int32(binary.BigEndian.Uint32(rest[12:])),
			body:       rest[20 : 20+bodyLen],
			properties: string(rest[22+bodyLen : 22+bodyLen+propLen]),
		})
		off += total
	}
	if len(out) == 0 {
		return nil, errors.New("the batch is empty")
	}
	return out, nil
}

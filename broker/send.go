package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
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

// checkSend applies the checks common to single and batch sends and
// returns the topic config to write to (creating the topic if allowed).
func (b *Broker) checkSend(h *sendHeader) (TopicConfig, error) {
	if r := b.role(); r.name == Slave {
		return TopicConfig{}, refuse(remoting.ServiceNotAvailable,
			"broker %s is a slave (brokerId=%d) and does not accept messages; send to its master", b.cfg.BrokerName, r.id)
	}
	if b.ctl != nil && b.cfg.BrokerRole == SyncMaster {
		if n := b.ctl.inSyncCount(); n < b.cfg.MinInSyncReplicas {
			return TopicConfig{}, refuse(remoting.SystemError,
				"IN_SYNC_REPLICAS_NOT_ENOUGH: broker %s has %d replicas in its SyncStateSet, minInSyncReplicas=%d", b.cfg.BrokerName, n, b.cfg.MinInSyncReplicas)
		}
	}
	if b.cleaner.diskFull.Load() {
		return TopicConfig{}, refuse(remoting.ServiceNotAvailable,
			"broker %s refuses sends: its disk is %.1f%% used, over diskSpaceWarningLevelRatio=%g; retention is deleting old commit log segments",
			b.cfg.BrokerName, 100*b.cleaner.usedRatio(), b.cfg.DiskSpaceWarningLevelRatio)
	}
	if err := validateTopic(h.topic); err != nil {
		return TopicConfig{}, refuse(remoting.MessageIllegal, "%v", err)
	}
	if h.topic == autoCreateTopicKey {
		return TopicConfig{}, refuse(remoting.NoPermission, "sending to the system topic %s is forbidden", h.topic)
	}
	if len(h.properties) > 32767 {
		return TopicConfig{}, refuse(remoting.MessageIllegal, "the message properties are %d bytes, over the limit of 32767", len(h.properties))
	}
	tc, ok := b.topics.get(h.topic)
	if !ok {
		var err error
		if tc, err = b.autoCreate(h); err != nil {
			return tc, err
		}
	}
	if tc.Perm&permWrite == 0 {
		return tc, refuse(remoting.NoPermission, "the topic %s is not writable (perm=%d)", h.topic, tc.Perm)
	}
	n := max(tc.WriteQueueNums, tc.ReadQueueNums)
	if h.queueID < 0 {
		h.queueID = rand.Int32N(max(tc.WriteQueueNums, 1))
	} else if h.queueID >= n {
		return tc, refuse(remoting.SystemError, "queueId %d is illegal: topic %s has %d queues", h.queueID, h.topic, n)
	}
	return tc, nil
}

// autoCreate creates the topic of a send to a topic the broker does not
// have, if allowed. It returns once the topic is persisted.
func (b *Broker) autoCreate(h *sendHeader) (TopicConfig, error) {
	if strings.HasPrefix(h.topic, retryPrefix) {
		return b.ensureTopic(h.topic, 1, permRead|permWrite)
	}
	if !b.cfg.AutoCreateTopicEnable {
		return TopicConfig{}, refuse(remoting.TopicNotExist,
			"topic[%s] not exist, apply first please! (autoCreateTopicEnable=false on broker %s)", h.topic, b.cfg.BrokerName)
	}
	n := b.cfg.DefaultTopicQueueNums
	if h.defaultTopicQueueNums > 0 && h.defaultTopicQueueNums < n {
		n = h.defaultTopicQueueNums
	}
	tc, round, err := b.createTopic(h.topic, n, permRead|permWrite)
	if round != nil && b.cfg.AutoCreateTopicRegisterWait > 0 {
		// The send runs on a worker (sendMayBlock). A consumer started
		// after SEND_OK asks a namesrv for the route: have it there, unless
		// a namesrv is slow to take it (autoCreateTopicRegisterWait).
		t := time.NewTimer(b.cfg.AutoCreateTopicRegisterWait)
		select {
		case <-round:
		case <-t.C:
			b.log.Warn("a topic created by a send is not routed by every namesrv yet; answering the send",
				"topic", h.topic, "waited", b.cfg.AutoCreateTopicRegisterWait)
		case <-b.done:
		}
		t.Stop()
	}
	return tc, err
}

// sendMessage handles SEND_MESSAGE (10), SEND_MESSAGE_V2 (310),
// SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE(_V2) (324, 325).
func (b *Broker) sendMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	start := time.Now() // sends run inline, right after the frame is decoded
	h, err := parseSendHeader(req)
	if err != nil {
		return errResponse(req, err)
	}
	if len(req.Body) > int(b.cfg.MaxMessageSize) {
		return remoting.Errorf(req, remoting.MessageIllegal, "the message body is %d bytes, over the limit maxMessageSize=%d", len(req.Body), b.cfg.MaxMessageSize)
	}
	if req.OnLoop() && b.sendMayBlock(&h) {
		return req.Offload()
	}
	var resp *remoting.Command
	switch {
	case req.Code == remoting.SendReplyMessage || req.Code == remoting.SendReplyMessageV2:
		resp, err = b.sendReply(c, req, &h, start)
	case h.batch || req.Code == remoting.SendBatchMessage:
		resp, err = b.sendBatch(c, req, &h, start)
	default:
		resp, err = b.sendOne(c, req, &h, start)
	}
	if errors.Is(err, commitlog.ErrWouldBlock) {
		return req.Offload() // nothing was stored: a file to create first, on a worker
	}
	if err != nil {
		return errResponse(req, err)
	}
	return resp
}

// sendOne stores one message and answers it (send pipeline).
func (b *Broker) sendOne(c *remoting.Conn, req *remoting.Command, h *sendHeader, start time.Time) (*remoting.Command, error) {
	if err := b.redirectRetry(h); err != nil {
		return nil, err
	}
	tc, err := b.checkSend(h)
	if err != nil {
		return nil, err
	}
	props, wait := h.properties, true
	if v, ok := property(props, propWait); ok {
		wait = v != "false"
		props = withoutProperty(props, propWait)
	}
	m := b.clientMessage(c, h, h.flag, req.Body, props)
	typ := messageType(&tc, h.sysFlag, props)
	if h.sysFlag&txMask == txPrepared {
		toHalf(&m) // invisible until END_TRANSACTION commits it
	} else {
		b.delayIfAsked(&m)
	}
	st, err := b.put(req.OnLoop(), m)
	if err != nil {
		return nil, err
	}
	appended := b.stageDone(stageStore, start)
	b.stats.sent.Add(1)
	tc.metrics.in(typ, len(req.Body), c.ID())
	resp := b.sendResponse(req, offsetMsgID(b.storeHost, st.PhysOffset), h.queueID, st.QueueOffset)
	if uniq, ok := property(props, propUniqKey); ok {
		resp.SetExt("transactionId", uniq)
	}
	return b.finish(c, req, st.EndOffset(), wait, start, appended, withCode(resp)), nil
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
func (b *Broker) redirectRetry(h *sendHeader) error {
	if !strings.HasPrefix(h.topic, retryPrefix) || h.reconsumeTimes <= h.maxReconsumeTimes {
		return nil
	}
	group := strings.TrimPrefix(h.topic, retryPrefix)
	dlq := dlqPrefix + group
	if err := validateTopic(dlq); err != nil {
		return refuse(remoting.MessageIllegal, "%v", err)
	}
	if _, err := b.ensureTopic(dlq, 1, permRead|permWrite); err != nil {
		return err
	}
	origin, ok := property(h.properties, propRetryTopic)
	if !ok {
		origin = h.topic
	}
	b.metrics.toDLQ(origin, group)
	h.topic, h.queueID = dlq, 0
	h.properties = withoutProperty(h.properties, propDelay)
	return nil
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

// sendBatch stores a SEND_BATCH_MESSAGE (320): one queue, consecutive
// offsets, one answer (send pipeline).
func (b *Broker) sendBatch(c *remoting.Conn, req *remoting.Command, h *sendHeader, start time.Time) (*remoting.Command, error) {
	if strings.HasPrefix(h.topic, retryPrefix) {
		return nil, refuse(remoting.MessageIllegal, "batch sends to the retry topic %s are not supported", h.topic)
	}
	tc, err := b.checkSend(h)
	if err != nil {
		return nil, err
	}
	entries, err := decodeBatch(req.Body)
	if err != nil {
		return nil, refuse(remoting.MessageIllegal, "%v", err)
	}
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
			return nil, refuse(remoting.MessageIllegal, "batch message %d has a delay level; batches cannot be delayed", i)
		}
		msgs[i] = b.clientMessage(c, h, e.flag, e.body, props)
	}
	st, err := b.put(req.OnLoop(), msgs...)
	if err != nil {
		return nil, err
	}
	appended := b.stageDone(stageStore, start)
	b.stats.sent.Add(int64(len(msgs)))
	typ := messageType(&tc, 0, "")
	for _, e := range entries {
		tc.metrics.in(typ, len(e.body), c.ID())
	}
	var ids strings.Builder
	for i, off := range st.offsets {
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.WriteString(offsetMsgID(b.storeHost, off))
	}
	resp := b.sendResponse(req, ids.String(), h.queueID, st.QueueOffset)
	return b.finish(c, req, st.EndOffset(), true, start, appended, withCode(resp)), nil
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

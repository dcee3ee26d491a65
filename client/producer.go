package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// SendStatus is the outcome of a stored send.
type SendStatus int

// Send statuses (RocketMQ SendStatus). Every one means the broker stored
// the message; the last three say a durability step did not finish in time.
const (
	SendOK SendStatus = iota
	FlushDiskTimeout
	FlushSlaveTimeout
	SlaveNotAvailable
)

func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case FlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case FlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "SendStatus(" + strconv.Itoa(int(s)) + ")"
}

// SendResult describes a stored message.
type SendResult struct {
	Status      SendStatus
	MsgID       string // UNIQ_KEY; for a batch, the messages' ids joined by ","
	OffsetMsgID string // the broker's id (store host + commit-log offset); comma-joined for a batch
	Queue       MessageQueue
	QueueOffset int64 // of the (first) message
}

// Producer sends messages to the master brokers of topics' routes. Its
// methods are safe for concurrent use.
type Producer struct {
	c     *core
	group string
	ids   *uniqIDs
	cmds  sync.Pool // *remoting.Command, reused once encoded
	calls sync.Pool // *asyncCall
}

// NewProducer returns a producer that finds routes through the given
// namesrvs ("host:port"; entries may also be ";"-separated lists).
func NewProducer(namesrvs []string, opts ...Option) (*Producer, error) {
	o := defaultOptions()
	if err := o.apply(opts); err != nil {
		return nil, err
	}
	c, err := newCore(namesrvs, o, true)
	if err != nil {
		return nil, err
	}
	p := &Producer{c: c, group: o.group, ids: newUniqIDs(localIPv4())}
	p.cmds.New = func() any { return &remoting.Command{} }
	p.calls.New = func() any {
		ac := &asyncCall{p: p}
		ac.cb = ac.complete
		return ac
	}
	return p, nil
}

// Start starts refreshing the cached routes every RouteRefresh. Sends work
// before Start too; their routes are then only looked up once.
func (p *Producer) Start() error { return p.c.start() }

// Close stops the producer and closes its connections. Asynchronous sends
// still waiting get their done call with an error wrapping ErrClosed.
func (p *Producer) Close() error { return p.c.close() }

// Queues returns topic's publish queues: those of brokers with WRITE
// permission and a master, ordered by broker name and queue id. A topic
// the namesrvs do not know yet gets the auto-create topic's queues.
func (p *Producer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	r, _, err := p.c.route(ctx, topic)
	if err != nil {
		return nil, err
	}
	if len(r.pub) == 0 {
		return nil, fmt.Errorf("publish queues of %s: %w", topic, ErrNoRoute)
	}
	return append([]MessageQueue(nil), r.pub...), nil
}

// Send sends m to the next queue of its topic (round robin) and waits for
// the answer. After a transport error or a SYSTEM_ERROR,
// SERVICE_NOT_AVAILABLE, NO_PERMISSION or TOPIC_NOT_EXIST answer it tries
// again, up to Retries more times, on a queue of another broker when there
// is one. The whole call, retries included, ends by ctx's deadline or
// SendTimeout, whichever is first.
func (p *Producer) Send(ctx context.Context, m *Message) (SendResult, error) {
	if p.c.closed.Load() {
		return SendResult{}, ErrClosed
	}
	if m == nil {
		return SendResult{}, fmt.Errorf("send a nil message: %w", ErrInvalidMessage)
	}
	if err := checkTopic(m.Topic); err != nil {
		return SendResult{}, err
	}
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	r, e, err := p.c.route(ctx, m.Topic)
	if err != nil {
		return SendResult{}, fmt.Errorf("send to %s: %w", m.Topic, err)
	}
	var o outgoing
	if err := p.prepare(&o, m.Topic, m); err != nil {
		return SendResult{}, err
	}
	defer o.release()
	avoid := ""
	for attempt := 0; ; attempt++ {
		q, ok := pick(e, r, avoid)
		if !ok {
			p.c.markStale(m.Topic)
			return SendResult{}, fmt.Errorf("send to %s: no writable queue with a master: %w", m.Topic, ErrNoRoute)
		}
		res, err := p.sendSync(ctx, remoting.SendMessageV2, q, r.brokers[q.BrokerName], &o)
		if err == nil {
			return res, nil
		}
		var be *BrokerError
		if isTransport(err) {
			p.c.markStale(m.Topic)
		} else if !errors.As(err, &be) || !retryableCode(be.Code) {
			return SendResult{}, err
		}
		if attempt >= p.c.opts.retries || ctx.Err() != nil || p.c.closed.Load() {
			return SendResult{}, err
		}
		avoid = q.BrokerName
		if nr := e.route.Load(); nr != nil {
			r = nr
		}
	}
}

// pick returns the next publish queue, one not on broker avoid when there
// is such a queue.
func pick(e *topicEntry, r *route, avoid string) (MessageQueue, bool) {
	n := uint32(len(r.pub))
	if n == 0 {
		return MessageQueue{}, false
	}
	i := e.rr.Add(1)
	if avoid != "" {
		for k := uint32(0); k < n; k++ {
			if q := r.pub[(i+k)%n]; q.BrokerName != avoid {
				return q, true
			}
		}
	}
	return r.pub[i%n], true
}

// SendTo sends m to queue q and waits for the answer: one attempt, ended
// by ctx's deadline or SendTimeout, whichever is first.
func (p *Producer) SendTo(ctx context.Context, q MessageQueue, m *Message) (SendResult, error) {
	if p.c.closed.Load() {
		return SendResult{}, ErrClosed
	}
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	r, _, err := p.c.route(ctx, q.Topic)
	if err != nil {
		return SendResult{}, fmt.Errorf("send to %s: %w", q, err)
	}
	var o outgoing
	if err := p.prepare(&o, q.Topic, m); err != nil {
		return SendResult{}, err
	}
	defer o.release()
	res, err := p.sendSync(ctx, remoting.SendMessageV2, q, r.brokers[q.BrokerName], &o)
	if err != nil && (isTransport(err) || routeChanged(err)) {
		p.c.markStale(q.Topic)
	}
	return res, err
}

// SendBatch sends ms as one SEND_BATCH_MESSAGE to queue q and waits for
// the answer: one attempt, ended by ctx's deadline or SendTimeout. The
// broker stores the messages at consecutive offsets from
// SendResult.QueueOffset. Batch bodies are not compressed.
func (p *Producer) SendBatch(ctx context.Context, q MessageQueue, ms []*Message) (SendResult, error) {
	if p.c.closed.Load() {
		return SendResult{}, ErrClosed
	}
	if len(ms) == 0 {
		return SendResult{}, fmt.Errorf("send an empty batch: %w", ErrInvalidMessage)
	}
	if err := checkTopic(q.Topic); err != nil {
		return SendResult{}, err
	}
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	r, _, err := p.c.route(ctx, q.Topic)
	if err != nil {
		return SendResult{}, fmt.Errorf("send to %s: %w", q, err)
	}
	bp := getBuf()
	defer putBuf(bp)
	body := (*bp)[:0]
	ids := make([]byte, 0, 33*len(ms))
	for i, m := range ms {
		if m == nil {
			return SendResult{}, fmt.Errorf("batch message %d is nil: %w", i, ErrInvalidMessage)
		}
		if m.Topic != "" && m.Topic != q.Topic {
			return SendResult{}, fmt.Errorf("batch message %d is for topic %q, the queue's is %q: %w", i, m.Topic, q.Topic, ErrInvalidMessage)
		}
		// | totalSize 4 | magic 4 | bodyCRC 4 | flag 4 | bodyLen 4 | body | propsLen 2 | props |
		start := len(body)
		body = binary.BigEndian.AppendUint32(body, 0)
		body = binary.BigEndian.AppendUint32(body, 0)
		body = binary.BigEndian.AppendUint32(body, 0)
		body = binary.BigEndian.AppendUint32(body, uint32(m.Flag))
		body = binary.BigEndian.AppendUint32(body, uint32(len(m.Body)))
		body = append(body, m.Body...)
		propsAt := len(body)
		body = append(body, 0, 0)
		var from, to int
		body, from, to, err = appendProperties(body, m, p.ids)
		if err != nil {
			*bp = body
			return SendResult{}, fmt.Errorf("batch message %d: %w", i, err)
		}
		binary.BigEndian.PutUint16(body[propsAt:], uint16(len(body)-propsAt-2))
		binary.BigEndian.PutUint32(body[start:], uint32(len(body)-start))
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = append(ids, body[from:to]...)
	}
	*bp = body
	o := outgoing{body: body, sysFlag: "0", flag: "0", born: strconv.FormatInt(time.Now().UnixMilli(), 10), msgID: string(ids)}
	res, err := p.sendSync(ctx, remoting.SendBatchMessage, q, r.brokers[q.BrokerName], &o)
	if err != nil && isTransport(err) {
		p.c.markStale(q.Topic)
	}
	return res, err
}

// SendAsync sends m to queue q and returns without waiting for the
// answer; done gets the result or the error exactly once, unless SendAsync
// itself returns an error. It returns at once unless the connection's
// window (InFlight) is full, when it waits for a slot while ctx allows, or
// q's topic has no cached route yet, when it waits for the lookup. The send
// times out at ctx's deadline or SendTimeout after the call, whichever is
// first. One attempt, no retry.
//
// done runs on a connection's I/O goroutine (or on the caller's goroutine
// when the connection fails during the call) and must not block: it
// delays every answer on that connection. The window slot is free again
// when done runs, but a SendAsync from done may still find the window full
// and wait, stalling the connection; hand such work to another goroutine.
func (p *Producer) SendAsync(ctx context.Context, q MessageQueue, m *Message, done func(SendResult, error)) error {
	if done == nil {
		return fmt.Errorf("send to %s: nil done func: %w", q, ErrInvalidMessage)
	}
	if p.c.closed.Load() {
		return ErrClosed
	}
	r, _, err := p.c.route(ctx, q.Topic)
	if err != nil {
		return fmt.Errorf("send to %s: %w", q, err)
	}
	b := r.brokers[q.BrokerName]
	if b == nil || b.win == nil {
		p.c.markStale(q.Topic) // the group may have a new master by now
		return fmt.Errorf("send to %s: no master for broker %q: %w", q, q.BrokerName, ErrNoRoute)
	}
	if err := b.win.acquire(ctx, p.c.ctx.Done()); err != nil {
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("send to %s: %w", q, ErrClosed)
		}
		return ctxErr(err, "wait for a send slot on "+b.master)
	}
	var o outgoing
	if err := p.prepare(&o, q.Topic, m); err != nil {
		b.win.release()
		return err
	}
	ac := p.calls.Get().(*asyncCall)
	ac.q, ac.addr, ac.win, ac.done, ac.msgID = q, b.master, b.win, done, o.msgID
	cmd := p.command(remoting.SendMessageV2, q, &o)
	ictx := ctx
	deadline := time.Now().Add(p.c.opts.sendTimeout)
	if d, ok := ctx.Deadline(); !ok || d.After(deadline) {
		ac.dctx = deadlineCtx{parent: ctx, deadline: deadline, never: p.c.never}
		ictx = &ac.dctx
	}
	addr, win := b.master, b.win
	// From here on ac may complete, and be reused, at any moment.
	err = p.c.rpc.InvokeAsync(ictx, addr, cmd, ac.cb)
	p.putCommand(cmd)
	o.release() // InvokeAsync has copied the body out
	if err != nil {
		win.release()
		ac.reset()
		p.calls.Put(ac)
		if isTransport(err) && !errors.Is(err, context.Canceled) {
			p.c.markStale(q.Topic) // a dead master refuses at once: look for its successor
		}
		return p.c.wrap("send to", addr, err)
	}
	return nil
}

// asyncCall is a pooled SendAsync in flight.
type asyncCall struct {
	p     *Producer
	cb    func(*remoting.Command, error) // ac.complete, bound once
	q     MessageQueue
	addr  string
	msgID string
	win   *window
	done  func(SendResult, error)
	dctx  deadlineCtx
}

func (ac *asyncCall) complete(resp *remoting.Command, err error) {
	p := ac.p
	var res SendResult
	if err != nil {
		if isTransport(err) && !errors.Is(err, context.Canceled) {
			p.c.markStale(ac.q.Topic)
		}
		err = p.c.wrap("send to", ac.addr, err)
	} else if res, err = sendResult(resp, ac.q, ac.msgID, ac.addr); routeChanged(err) {
		p.c.markStale(ac.q.Topic)
	}
	done, win := ac.done, ac.win
	ac.reset()
	p.calls.Put(ac)
	win.release()
	done(res, err)
}

func (ac *asyncCall) reset() {
	*ac = asyncCall{p: ac.p, cb: ac.cb}
}

// routeChanged reports a broker answer that suggests the cached route is
// out of date: the address is not (or no longer) a writable master of the
// topic — a slave standing in for a dead master, a drained broker, a
// deleted topic.
func routeChanged(err error) bool {
	var be *BrokerError
	if !errors.As(err, &be) {
		return false
	}
	switch be.Code {
	case remoting.ServiceNotAvailable, remoting.NoPermission, remoting.TopicNotExist:
		return true
	}
	return false
}

// isTransport reports an error that did not come from a broker's answer
// or from the request itself.
func isTransport(err error) bool {
	var be *BrokerError
	return !errors.As(err, &be) && !errors.Is(err, ErrInvalidMessage) && !errors.Is(err, ErrNoRoute) && !errors.Is(err, ErrClosed)
}

// timeout bounds ctx by SendTimeout.
func (p *Producer) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.c.opts.sendTimeout)
}

// outgoing is a message encoded for SEND_MESSAGE_V2: its ext values and
// the body to send.
type outgoing struct {
	body    []byte
	sysFlag string
	flag    string
	born    string
	props   string
	msgID   string
	zbuf    *[]byte // pooled buffer holding the compressed body
}

// prepare encodes m for topic. The properties, the born timestamp and,
// when it is not small, the flag share one string allocation.
func (p *Producer) prepare(o *outgoing, topic string, m *Message) error {
	if m == nil {
		return fmt.Errorf("send a nil message: %w", ErrInvalidMessage)
	}
	if m.Topic != "" && m.Topic != topic {
		return fmt.Errorf("message for topic %q sent to a queue of %q: %w", m.Topic, topic, ErrInvalidMessage)
	}
	if err := checkTopic(topic); err != nil {
		return err
	}
	bp := getBuf()
	buf, from, to, err := appendProperties((*bp)[:0], m, p.ids)
	if err != nil {
		*bp = buf
		putBuf(bp)
		return err
	}
	propsEnd := len(buf)
	buf = strconv.AppendInt(buf, time.Now().UnixMilli(), 10)
	bornEnd := len(buf)
	if m.Flag >= 0 && m.Flag < 100 {
		o.flag = strconv.Itoa(int(m.Flag)) // small: no allocation
	} else {
		buf = strconv.AppendInt(buf, int64(m.Flag), 10)
	}
	s := string(buf)
	*bp = buf
	putBuf(bp)
	o.props, o.born, o.msgID = s[:propsEnd], s[propsEnd:bornEnd], s[from:to]
	if o.flag == "" {
		o.flag = s[bornEnd:]
	}
	o.body, o.sysFlag = m.Body, "0"
	if n := p.c.opts.compressOver; n > 0 && len(m.Body) >= n {
		zb := getBuf()
		z, err := compress((*zb)[:0], m.Body)
		*zb = z
		if err != nil {
			putBuf(zb)
			return err
		}
		o.body, o.sysFlag, o.zbuf = z, "1", zb
	}
	return nil
}

func (o *outgoing) release() {
	putBuf(o.zbuf)
	*o = outgoing{}
}

// command returns a pooled request with o's SEND_MESSAGE_V2 ext fields
// (short names, REMOTING.md §8.2).
func (p *Producer) command(code int32, q MessageQueue, o *outgoing) *remoting.Command {
	cmd := p.cmds.Get().(*remoting.Command)
	cmd.Code = code
	cmd.SerializeType = p.c.header
	batch := "false"
	if code == remoting.SendBatchMessage {
		batch = "true"
	}
	cmd.SetExt("a", p.group)
	cmd.SetExt("b", q.Topic)
	cmd.SetExt("c", autoCreateTopicKey)
	cmd.SetExt("d", "4")
	cmd.SetExt("e", strconv.Itoa(q.QueueID))
	cmd.SetExt("f", o.sysFlag)
	cmd.SetExt("g", o.born)
	cmd.SetExt("h", o.flag)
	cmd.SetExt("i", o.props)
	cmd.SetExt("j", "0")
	cmd.SetExt("k", "false")
	cmd.SetExt("l", "0")
	cmd.SetExt("m", batch)
	cmd.SetExt("n", q.BrokerName)
	cmd.Body = o.body
	return cmd
}

// putCommand returns an encoded request to the pool.
func (p *Producer) putCommand(cmd *remoting.Command) {
	cmd.Body = nil
	p.cmds.Put(cmd)
}

// sendSync sends o to q on broker b and waits.
func (p *Producer) sendSync(ctx context.Context, code int32, q MessageQueue, b *brokerInfo, o *outgoing) (SendResult, error) {
	if b == nil || b.master == "" {
		p.c.markStale(q.Topic) // the group may have a new master by now
		return SendResult{}, fmt.Errorf("send to %s: no master for broker %q: %w", q, q.BrokerName, ErrNoRoute)
	}
	cmd := p.command(code, q, o)
	resp, err := p.c.rpc.Invoke(ctx, b.master, cmd)
	p.putCommand(cmd)
	if err != nil {
		return SendResult{}, p.c.wrap("send to", b.master, err)
	}
	return sendResult(resp, q, o.msgID, b.master)
}

// sendResult reads a send response (REMOTING.md §8.3).
func sendResult(resp *remoting.Command, q MessageQueue, msgID, addr string) (SendResult, error) {
	var st SendStatus
	switch resp.Code {
	case remoting.Success:
		st = SendOK
	case remoting.FlushDiskTimeout:
		st = FlushDiskTimeout
	case remoting.FlushSlaveTimeout:
		st = FlushSlaveTimeout
	case remoting.SlaveNotAvailable:
		st = SlaveNotAvailable
	default:
		return SendResult{}, fmt.Errorf("send to %s: %w", q, brokerError(addr, resp))
	}
	res := SendResult{Status: st, MsgID: msgID, OffsetMsgID: resp.ExtValue("msgId"), Queue: q}
	if v, ok := resp.Ext("queueId"); ok {
		if id, err := strconv.Atoi(v); err == nil {
			res.Queue.QueueID = id
		}
	}
	res.QueueOffset, _ = strconv.ParseInt(resp.ExtValue("queueOffset"), 10, 64)
	return res, nil
}

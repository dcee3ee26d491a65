package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/rocketgo/rocketgo/remoting"
)

// PullStatus is the outcome of a pull.
type PullStatus int

// Pull statuses (RocketMQ PullStatus).
const (
	Found         PullStatus = iota // messages in PullResult.Messages
	NoNewMsg                        // caught up: nothing after the offset
	NoMatchedMsg                    // messages exist, none matched the subscription
	OffsetIllegal                   // the offset is outside the queue; continue at NextBeginOffset
)

func (s PullStatus) String() string {
	switch s {
	case Found:
		return "FOUND"
	case NoNewMsg:
		return "NO_NEW_MSG"
	case NoMatchedMsg:
		return "NO_MATCHED_MSG"
	case OffsetIllegal:
		return "OFFSET_ILLEGAL"
	}
	return "PullStatus(" + strconv.Itoa(int(s)) + ")"
}

// PullResult is a pull's answer. NextBeginOffset is where the next pull of
// the queue should start.
type PullResult struct {
	Status                                PullStatus
	NextBeginOffset, MinOffset, MaxOffset int64
	SuggestBrokerID                       int64
	Messages                              []*MessageExt
}

// heartbeatInterval is how often a consumer tells the brokers of its
// topics that it is alive.
const heartbeatInterval = 30 * time.Second

// pullGrace is how much longer than the suspend time a pull waits, at
// least, for the broker's answer.
const pullGrace = time.Second

// Pull sysFlag bits (REMOTING.md §6.4).
const (
	pullSuspend      = 0x2
	pullSubscription = 0x4
)

// PullConsumer reads queues at offsets the application chooses, and keeps
// the group's committed offsets on the brokers. Its methods are safe for
// concurrent use.
type PullConsumer struct {
	c        *core
	group    string
	clientID string

	mu   sync.Mutex
	subs map[string]*subscription // by topic

	suggested sync.Map      // MessageQueue → int64 broker id for the next pull
	beat      chan struct{} // capacity 1: heartbeat now
}

// subscription is one Subscribe call, parsed.
type subscription struct {
	topic   string
	expr    string
	tags    []string // nil: every tag
	version int64
}

func (s *subscription) matches(tags string) bool {
	return s == nil || s.tags == nil || slices.Contains(s.tags, tags)
}

// NewPullConsumer returns a consumer of group that finds routes through
// the given namesrvs.
func NewPullConsumer(namesrvs []string, group string, opts ...Option) (*PullConsumer, error) {
	if group == "" {
		return nil, errors.New("client: empty consumer group")
	}
	o := defaultOptions()
	if err := o.apply(opts); err != nil {
		return nil, err
	}
	c, err := newCore(namesrvs, o, false)
	if err != nil {
		return nil, err
	}
	id := newUniqIDs(localIPv4())
	pc := &PullConsumer{
		c:        c,
		group:    group,
		clientID: fmt.Sprintf("%s@%d@%s", localIPv4(), os.Getpid(), id.prefix[8:]),
		subs:     map[string]*subscription{},
		beat:     make(chan struct{}, 1),
	}
	// The broker tells consumers of membership changes; a pull consumer
	// has nothing to rebalance.
	c.rpc.Handle(remoting.NotifyConsumerIdsChanged, func(string, *remoting.Command) *remoting.Command { return nil })
	return pc, nil
}

// ClientID returns the id the consumer heartbeats with.
func (c *PullConsumer) ClientID() string { return c.clientID }

// Start starts the route refresher and the heartbeat (CONSUME_ACTIVELY, at
// once and every 30 s) to every broker of the subscribed topics.
func (c *PullConsumer) Start() error {
	return c.c.start(c.heartbeatLoop)
}

// Close stops the consumer and closes its connections.
func (c *PullConsumer) Close() error { return c.c.close() }

// Subscribe sets topic's tag expression: "*" (or "") for every message,
// else tags joined by "||". Pulls of topic send it to the broker and keep
// only matching messages; heartbeats announce it.
func (c *PullConsumer) Subscribe(topic, expr string) {
	s := &subscription{topic: topic, expr: strings.TrimSpace(expr), version: time.Now().UnixNano()}
	if s.expr == "" || s.expr == "*" {
		s.expr = "*"
	} else {
		for _, t := range strings.Split(s.expr, "||") {
			if t = strings.TrimSpace(t); t != "" {
				s.tags = append(s.tags, t)
			}
		}
		if len(s.tags) == 0 {
			s.expr, s.tags = "*", nil
		}
	}
	c.mu.Lock()
	c.subs[topic] = s
	c.mu.Unlock()
	select {
	case c.beat <- struct{}{}:
	default:
	}
}

func (c *PullConsumer) subscription(topic string) *subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[topic]
}

// Queues returns topic's subscribe queues (READ permission), ordered by
// broker name and queue id.
func (c *PullConsumer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	r, _, err := c.c.route(ctx, topic)
	if err != nil {
		return nil, err
	}
	if len(r.sub) == 0 {
		return nil, fmt.Errorf("subscribe queues of %s: %w", topic, ErrNoRoute)
	}
	return append([]MessageQueue(nil), r.sub...), nil
}

// Pull reads up to maxMsgs messages of q from offset. With suspend > 0 a
// broker that has nothing holds the request (long polling) up to suspend,
// cut so the answer can arrive before ctx's deadline; suspend 0 asks for
// an answer at once. The pull goes to the broker id the previous pull of q
// suggested (REMOTING.md §12.8): the master, a slave, or any address of the
// group when the suggested one is absent. Messages not matching the
// topic's subscription are dropped (their offsets still count).
func (c *PullConsumer) Pull(ctx context.Context, q MessageQueue, offset int64, maxMsgs int, suspend time.Duration) (PullResult, error) {
	if c.c.closed.Load() {
		return PullResult{}, ErrClosed
	}
	r, _, err := c.c.route(ctx, q.Topic)
	if err != nil {
		return PullResult{}, fmt.Errorf("pull %s: %w", q, err)
	}
	b := r.brokers[q.BrokerName]
	if b == nil {
		return PullResult{}, fmt.Errorf("pull %s: broker %q is not in the route: %w", q, q.BrokerName, ErrNoRoute)
	}
	want := int64(0)
	if v, ok := c.suggested.Load(q); ok {
		want = v.(int64)
	}
	addr, id, ok := b.addr(want)
	if !ok {
		return PullResult{}, fmt.Errorf("pull %s: broker %q has no address: %w", q, q.BrokerName, ErrNoRoute)
	}
	suspend = max0(suspend)
	if d, ok := ctx.Deadline(); ok && suspend > 0 {
		left := time.Until(d)
		suspend = min(suspend, max0(left-min(left/4, pullGrace)))
	}
	sub := c.subscription(q.Topic)
	expr := "*"
	if sub != nil {
		expr = sub.expr
	}
	sysFlag := pullSubscription
	suspendMillis := suspend.Milliseconds()
	if suspendMillis > 0 {
		sysFlag |= pullSuspend
	} else {
		suspend = 0
	}
	if maxMsgs < 1 {
		maxMsgs = 1
	}
	req := remoting.NewRequest(remoting.PullMessage,
		"consumerGroup", c.group,
		"topic", q.Topic,
		"queueId", strconv.Itoa(q.QueueID),
		"queueOffset", strconv.FormatInt(offset, 10),
		"maxMsgNums", strconv.Itoa(maxMsgs),
		"sysFlag", strconv.Itoa(sysFlag),
		"commitOffset", "0",
		"suspendTimeoutMillis", strconv.FormatInt(suspendMillis, 10),
		"subscription", expr,
		"subVersion", "0",
		"expressionType", "TAG",
		"bname", q.BrokerName,
	)
	req.SerializeType = c.c.header
	ctx, cancel := context.WithTimeout(ctx, suspend+max(c.c.opts.sendTimeout, pullGrace))
	defer cancel()
	resp, err := c.c.rpc.Invoke(ctx, addr, req)
	if err != nil {
		if id != 0 {
			c.suggested.Delete(q) // back to the master next time
		}
		if isTransport(err) {
			c.c.markStale(q.Topic)
		}
		return PullResult{}, c.c.wrap("pull "+q.String()+" from", addr, err)
	}
	return c.pullResult(q, addr, id, sub, resp)
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

// pullResult reads a pull response (REMOTING.md §9.6).
func (c *PullConsumer) pullResult(q MessageQueue, addr string, id int64, sub *subscription, resp *remoting.Command) (PullResult, error) {
	var res PullResult
	switch resp.Code {
	case remoting.Success:
		res.Status = Found
	case remoting.PullNotFound:
		res.Status = NoNewMsg
	case remoting.PullRetryImmediately:
		res.Status = NoMatchedMsg
	case remoting.PullOffsetMoved:
		res.Status = OffsetIllegal
	default:
		return res, fmt.Errorf("pull %s: %w", q, brokerError(addr, resp))
	}
	var err error
	if res.NextBeginOffset, err = resp.Int64("nextBeginOffset"); err != nil {
		return res, fmt.Errorf("pull %s from %s: %w", q, addr, err)
	}
	res.MinOffset, _ = resp.Int64Or("minOffset", 0)
	res.MaxOffset, _ = resp.Int64Or("maxOffset", 0)
	res.SuggestBrokerID, _ = resp.Int64Or("suggestWhichBrokerId", 0)
	if res.SuggestBrokerID != id {
		if res.SuggestBrokerID == 0 {
			c.suggested.Delete(q)
		} else {
			c.suggested.Store(q, res.SuggestBrokerID)
		}
	}
	if res.Status != Found {
		return res, nil
	}
	msgs, err := DecodeMessages(resp.Body)
	if err != nil {
		return res, fmt.Errorf("pull %s from %s: %w", q, addr, err)
	}
	if sub != nil && sub.tags != nil {
		kept := msgs[:0]
		for _, m := range msgs {
			if sub.matches(m.Tags) {
				kept = append(kept, m)
			}
		}
		clear(msgs[len(kept):])
		msgs = kept
	}
	res.Messages = msgs
	return res, nil
}

// CommitOffset stores offset, the next offset to consume, as the group's
// position in q on q's master.
func (c *PullConsumer) CommitOffset(ctx context.Context, q MessageQueue, offset int64) error {
	req := remoting.NewRequest(remoting.UpdateConsumerOffset,
		"consumerGroup", c.group,
		"topic", q.Topic,
		"queueId", strconv.Itoa(q.QueueID),
		"commitOffset", strconv.FormatInt(offset, 10),
		"bname", q.BrokerName,
	)
	resp, addr, err := c.callMaster(ctx, "commit the offset of", q, req, false)
	if err != nil {
		return err
	}
	if resp.Code != remoting.Success {
		return fmt.Errorf("commit the offset of %s: %w", q, brokerError(addr, resp))
	}
	return nil
}

// CommittedOffset returns the group's committed offset in q, or -1 when
// it has none.
func (c *PullConsumer) CommittedOffset(ctx context.Context, q MessageQueue) (int64, error) {
	req := remoting.NewRequest(remoting.QueryConsumerOffset,
		"consumerGroup", c.group,
		"topic", q.Topic,
		"queueId", strconv.Itoa(q.QueueID),
		"bname", q.BrokerName,
	)
	resp, addr, err := c.callMaster(ctx, "query the offset of", q, req, false)
	if err != nil {
		return 0, err
	}
	switch resp.Code {
	case remoting.Success:
		off, err := resp.Int64("offset")
		if err != nil {
			return 0, fmt.Errorf("query the offset of %s from %s: %w", q, addr, err)
		}
		return off, nil
	case remoting.QueryNotFound:
		return -1, nil
	}
	return 0, fmt.Errorf("query the offset of %s: %w", q, brokerError(addr, resp))
}

// MaxOffset returns the offset the next message stored in q will get,
// asking q's master (or, without one, another broker of the group).
func (c *PullConsumer) MaxOffset(ctx context.Context, q MessageQueue) (int64, error) {
	req := remoting.NewRequest(remoting.GetMaxOffset,
		"topic", q.Topic,
		"queueId", strconv.Itoa(q.QueueID),
		"bname", q.BrokerName,
	)
	resp, addr, err := c.callMaster(ctx, "query the max offset of", q, req, true)
	if err != nil {
		return 0, err
	}
	if resp.Code != remoting.Success {
		return 0, fmt.Errorf("query the max offset of %s: %w", q, brokerError(addr, resp))
	}
	off, err := resp.Int64("offset")
	if err != nil {
		return 0, fmt.Errorf("query the max offset of %s from %s: %w", q, addr, err)
	}
	return off, nil
}

// callMaster sends req to q's master (any address when anyAddr and the
// master is absent), bounded by SendTimeout.
func (c *PullConsumer) callMaster(ctx context.Context, what string, q MessageQueue, req *remoting.Command, anyAddr bool) (*remoting.Command, string, error) {
	if c.c.closed.Load() {
		return nil, "", ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, c.c.opts.sendTimeout)
	defer cancel()
	r, _, err := c.c.route(ctx, q.Topic)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", what, q, err)
	}
	b := r.brokers[q.BrokerName]
	addr := ""
	if b != nil {
		addr = b.master
		if addr == "" && anyAddr {
			addr, _, _ = b.addr(0)
		}
	}
	if addr == "" {
		return nil, "", fmt.Errorf("%s %s: no master for broker %q: %w", what, q, q.BrokerName, ErrNoRoute)
	}
	req.SerializeType = c.c.header
	resp, err := c.c.rpc.Invoke(ctx, addr, req)
	if err != nil {
		if isTransport(err) {
			c.c.markStale(q.Topic)
		}
		return nil, addr, c.c.wrap(what+" "+q.String()+" on", addr, err)
	}
	return resp, addr, nil
}

func (c *PullConsumer) heartbeatLoop() {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	c.heartbeat()
	for {
		select {
		case <-c.c.ctx.Done():
			return
		case <-t.C:
		case <-c.beat:
		}
		c.heartbeat()
	}
}

// Heartbeat body (REMOTING.md §9.1).
type heartbeatData struct {
	ClientID        string             `json:"clientID"`
	ProducerDataSet []struct{}         `json:"producerDataSet"`
	ConsumerDataSet []consumerDataJSON `json:"consumerDataSet"`
}

type consumerDataJSON struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	UnitMode            bool               `json:"unitMode"`
	SubscriptionDataSet []subscriptionJSON `json:"subscriptionDataSet"`
}

type subscriptionJSON struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	Topic           string   `json:"topic"`
	SubString       string   `json:"subString"`
	TagsSet         []string `json:"tagsSet"`
	CodeSet         []string `json:"codeSet"`
	SubVersion      int64    `json:"subVersion"`
	ExpressionType  string   `json:"expressionType"`
}

// heartbeatBody encodes the consumer's heartbeat and lists the topics.
func (c *PullConsumer) heartbeatBody() ([]byte, []string) {
	c.mu.Lock()
	subs := make([]subscriptionJSON, 0, len(c.subs))
	topics := make([]string, 0, len(c.subs))
	for _, s := range c.subs {
		sj := subscriptionJSON{Topic: s.topic, SubString: s.expr, TagsSet: []string{}, CodeSet: []string{}, SubVersion: s.version, ExpressionType: "TAG"}
		for _, t := range s.tags {
			sj.TagsSet = append(sj.TagsSet, t)
			sj.CodeSet = append(sj.CodeSet, strconv.Itoa(int(javaHashCode(t))))
		}
		subs = append(subs, sj)
		topics = append(topics, s.topic)
	}
	c.mu.Unlock()
	slices.SortFunc(subs, func(a, b subscriptionJSON) int { return strings.Compare(a.Topic, b.Topic) })
	slices.Sort(topics)
	body, _ := json.Marshal(heartbeatData{ // plain strings and numbers: cannot fail
		ClientID:        c.clientID,
		ProducerDataSet: []struct{}{},
		ConsumerDataSet: []consumerDataJSON{{
			GroupName:           c.group,
			ConsumeType:         "CONSUME_ACTIVELY",
			MessageModel:        "CLUSTERING",
			ConsumeFromWhere:    "CONSUME_FROM_FIRST_OFFSET",
			SubscriptionDataSet: subs,
		}},
	})
	return body, topics
}

// heartbeat sends one HEART_BEAT to every address of every broker of the
// subscribed topics.
func (c *PullConsumer) heartbeat() {
	body, topics := c.heartbeatBody()
	seen := map[string]bool{}
	var addrs []string
	for _, topic := range topics {
		ctx, cancel := context.WithTimeout(c.c.ctx, c.c.opts.sendTimeout)
		r, _, err := c.c.route(ctx, topic)
		cancel()
		if err != nil {
			if c.c.ctx.Err() == nil {
				c.c.log.Warn("heartbeat: no route", "topic", topic, "err", err)
			}
			continue
		}
		for _, b := range r.brokers {
			for _, a := range b.addrs {
				if !seen[a] {
					seen[a] = true
					addrs = append(addrs, a)
				}
			}
		}
	}
	slices.Sort(addrs)
	for _, addr := range addrs {
		ctx, cancel := context.WithTimeout(c.c.ctx, c.c.opts.sendTimeout)
		req := remoting.NewRequest(remoting.HeartBeat)
		req.Body = body
		resp, err := c.c.rpc.Invoke(ctx, addr, req)
		cancel()
		switch {
		case c.c.ctx.Err() != nil:
			return
		case err != nil:
			c.c.log.Warn("heartbeat", "addr", addr, "err", err)
		case resp.Code != remoting.Success:
			c.c.log.Warn("heartbeat", "addr", addr, "err", brokerError(addr, resp))
		}
	}
}

// javaHashCode is Java's String.hashCode, over UTF-16 code units.
func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

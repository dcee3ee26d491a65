package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

const (
	// namesrvTimeout bounds one route query to one namesrv.
	namesrvTimeout = 3 * time.Second
	// staleGap is the least time between two refreshes triggered by
	// failed sends, so a dead broker does not turn into a namesrv storm.
	staleGap = time.Second
	// autoCreateTopicKey is the topic whose route stands in for a topic the
	// namesrvs do not know yet; brokers create the topic on the first send.
	autoCreateTopicKey   = "TBW102"
	defaultTopicQueueNum = 4
)

// core is what a Producer and a PullConsumer share: the remoting client,
// the namesrv list and the topic route cache with its refresher.
type core struct {
	opts       options
	log        *slog.Logger
	rpc        *remoting.Client
	namesrvs   []string
	ns         atomic.Uint32 // index of the namesrv in use
	autoCreate bool          // fall back to the TBW102 route (producers)
	header     byte          // header encoding of sends, pulls and offset calls

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	kick   chan struct{} // capacity 1: some topic turned stale
	never  chan struct{} // never closed; see deadlineCtx

	topics atomic.Pointer[map[string]*topicEntry] // copy on write under mu

	mu      sync.Mutex
	windows map[string]*window // by master address
	loading map[string]*loadCall
	started bool
	closed  atomic.Bool // set under mu
	wg      sync.WaitGroup
}

// topicEntry is a cached topic.
type topicEntry struct {
	route atomic.Pointer[route]
	rr    atomic.Uint32 // round-robin position for Send
	stale atomic.Bool   // a send failed in transport: refresh soon
}

// loadCall is a first route lookup that callers wait for.
type loadCall struct {
	done chan struct{}
	r    *route
	e    *topicEntry
	err  error
}

func newCore(namesrvs []string, opts options, autoCreate bool) (*core, error) {
	var list []string
	for _, s := range namesrvs {
		for _, a := range strings.Split(s, ";") {
			if a = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a), "http://")); a != "" {
				list = append(list, a)
			}
		}
	}
	if len(list) == 0 {
		return nil, errors.New("client: no namesrv address")
	}
	c := &core{
		opts:       opts,
		log:        opts.log,
		rpc:        remoting.NewClient(remoting.ClientConfig{Log: opts.log, Credentials: opts.cred, TLS: opts.tls}),
		namesrvs:   list,
		autoCreate: autoCreate,
		kick:       make(chan struct{}, 1),
		never:      make(chan struct{}),
		windows:    map[string]*window{},
		loading:    map[string]*loadCall{},
	}
	if opts.binaryHeaders {
		c.header = remoting.SerializeRocketMQ
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ns.Store(uint32(rand.IntN(len(list))))
	empty := map[string]*topicEntry{}
	c.topics.Store(&empty)
	return c, nil
}

// start starts the route refresher and the given loops.
func (c *core) start(loops ...func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	c.started = true
	for _, loop := range append([]func(){c.refreshLoop}, loops...) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			loop()
		}()
	}
	return nil
}

func (c *core) close() error {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil
	}
	c.closed.Store(true)
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return c.rpc.Close()
}

// wrap adds context to a transport error, and ErrClosed when it came from
// closing.
func (c *core) wrap(what, addr string, err error) error {
	if c.closed.Load() && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%s %s: %w: %w", what, addr, ErrClosed, err)
	}
	return fmt.Errorf("%s %s: %w", what, addr, err)
}

// ctxErr reports a context that ended while waiting for something other
// than a request, wrapping remoting.ErrTimeout for a passed deadline.
func ctxErr(err error, what string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w (%w)", what, remoting.ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// route returns the cached route of topic, looking it up on first use.
func (c *core) route(ctx context.Context, topic string) (*route, *topicEntry, error) {
	if e := (*c.topics.Load())[topic]; e != nil {
		if r := e.route.Load(); r != nil {
			return r, e, nil
		}
	}
	return c.load(ctx, topic)
}

// load looks up a topic not in the cache. Concurrent callers share one
// lookup, which runs in the background: each caller waits only as long
// as its ctx and SendTimeout allow.
func (c *core) load(ctx context.Context, topic string) (*route, *topicEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.sendTimeout)
	defer cancel()
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, nil, ErrClosed
	}
	call := c.loading[topic]
	if call == nil {
		call = &loadCall{done: make(chan struct{})}
		c.loading[topic] = call
		c.wg.Add(1)
		go c.runLoad(topic, call)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.r, call.e, call.err
	case <-ctx.Done():
		return nil, nil, ctxErr(ctx.Err(), "look up the route of "+topic)
	case <-c.ctx.Done():
		return nil, nil, fmt.Errorf("look up the route of %s: %w", topic, ErrClosed)
	}
}

func (c *core) runLoad(topic string, call *loadCall) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, time.Duration(len(c.namesrvs))*namesrvTimeout)
	r, err := c.fetch(ctx, topic)
	cancel()
	if err == nil {
		call.r, call.e = r, c.store(topic, r)
	} else if c.closed.Load() {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	call.err = err
	c.mu.Lock()
	delete(c.loading, topic)
	c.mu.Unlock()
	close(call.done)
}

// store publishes r as topic's route and returns the topic's entry.
func (c *core) store(topic string, r *route) *topicEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := *c.topics.Load()
	e := m[topic]
	if e == nil {
		e = &topicEntry{}
		nm := maps.Clone(m)
		nm[topic] = e
		c.topics.Store(&nm)
	}
	if old := e.route.Load(); !sameRoute(old, r) {
		e.route.Store(r)
		if old != nil {
			c.log.Info("route changed", "topic", topic, "publishQueues", len(r.pub), "subscribeQueues", len(r.sub), "fallback", r.fallback)
		}
	}
	return e
}

// fetch asks the namesrvs for topic's route; for producers a topic they
// do not know yet gets the auto-create topic's route, at most 4 queues per
// broker (the broker creates the topic on the first send).
func (c *core) fetch(ctx context.Context, topic string) (*route, error) {
	rd, err := c.queryRoute(ctx, topic)
	if err == nil {
		return buildRoute(topic, rd, 0, c.windowFunc()), nil
	}
	var be *BrokerError
	if c.autoCreate && topic != autoCreateTopicKey && errors.As(err, &be) && be.Code == remoting.TopicNotExist {
		if rd, err2 := c.queryRoute(ctx, autoCreateTopicKey); err2 == nil {
			r := buildRoute(topic, rd, defaultTopicQueueNum, c.windowFunc())
			r.fallback = true
			return r, nil
		}
	}
	return nil, err
}

// queryRoute sends GET_ROUTEINFO_BY_TOPIC to the namesrv in use, moving
// round robin to the next one after a transport failure. An answer, even
// TOPIC_NOT_EXIST, is final.
func (c *core) queryRoute(ctx context.Context, topic string) (*wire.TopicRoute, error) {
	n := len(c.namesrvs)
	start := int(c.ns.Load()) % n
	var errs []error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		addr := c.namesrvs[idx]
		tctx, cancel := context.WithTimeout(ctx, namesrvTimeout)
		resp, err := c.rpc.Invoke(tctx, addr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
		cancel()
		if err != nil {
			if ctx.Err() != nil || c.closed.Load() {
				return nil, c.wrap("query the route of "+topic+" from", addr, err)
			}
			errs = append(errs, err)
			c.ns.CompareAndSwap(uint32(idx), uint32((idx+1)%n))
			continue
		}
		c.ns.Store(uint32(idx))
		switch resp.Code {
		case remoting.Success:
			if len(resp.Body) == 0 {
				return nil, fmt.Errorf("route of %s from %s: empty body: %w", topic, addr, ErrNoRoute)
			}
			rd, err := parseRoute(resp.Body)
			if err != nil {
				return nil, fmt.Errorf("route of %s from %s: %w", topic, addr, err)
			}
			if fn := c.opts.brokerAddr; fn != nil {
				for i := range rd.BrokerDatas {
					for id, a := range rd.BrokerDatas[i].BrokerAddrs {
						rd.BrokerDatas[i].BrokerAddrs[id] = fn(a)
					}
				}
			}
			return rd, nil
		case remoting.TopicNotExist:
			return nil, fmt.Errorf("route of %s: %w: %w", topic, ErrNoRoute, brokerError(addr, resp))
		default:
			return nil, fmt.Errorf("route of %s: %w", topic, brokerError(addr, resp))
		}
	}
	return nil, fmt.Errorf("query the route of %s: every namesrv failed: %w", topic, errors.Join(errs...))
}

func (c *core) windowFunc() func(string) *window {
	if !c.autoCreate { // consumers send nothing asynchronously
		return nil
	}
	return c.window
}

// window returns the send window of the connection to addr.
func (c *core) window(addr string) *window {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.windows[addr]
	if w == nil {
		w = &window{slots: make(chan struct{}, c.opts.inFlight)}
		c.windows[addr] = w
	}
	return w
}

// markStale asks the refresher to fetch topic's route again soon.
func (c *core) markStale(topic string) {
	e := (*c.topics.Load())[topic]
	if e == nil || e.stale.Swap(true) {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *core) refreshLoop() {
	t := time.NewTicker(c.opts.routeRefresh)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.refresh(false)
		case <-c.kick:
			c.refresh(true)
			gap := time.NewTimer(staleGap)
			select {
			case <-c.ctx.Done():
				gap.Stop()
				return
			case <-gap.C:
			}
		}
	}
}

// refresh fetches the routes of every cached topic (only the stale ones
// when onlyStale). A failed refresh keeps the old route.
func (c *core) refresh(onlyStale bool) {
	for topic, e := range *c.topics.Load() {
		if onlyStale && !e.stale.Load() {
			continue
		}
		e.stale.Store(false)
		ctx, cancel := context.WithTimeout(c.ctx, time.Duration(len(c.namesrvs))*namesrvTimeout)
		r, err := c.fetch(ctx, topic)
		cancel()
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("refresh route", "topic", topic, "err", err)
			continue
		}
		c.store(topic, r)
	}
}

// window bounds the asynchronous sends awaiting an answer on one
// connection.
type window struct {
	slots chan struct{}
}

// acquire takes a slot, waiting for one while ctx allows.
func (w *window) acquire(ctx context.Context, closed <-chan struct{}) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrClosed
	}
}

func (w *window) release() { <-w.slots }

// deadlineCtx gives a context without an early enough deadline the send
// timeout, without the timer and allocations of context.WithDeadline. It
// is only handed to remoting.Client.InvokeAsync, whose timeout sweeper
// reads the deadline; Done is the parent's (or never closes) and Err is
// the parent's, so the context reports cancellation by its parent only.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time
	never    chan struct{}
}

func (d *deadlineCtx) Deadline() (time.Time, bool) { return d.deadline, true }

func (d *deadlineCtx) Done() <-chan struct{} {
	if ch := d.parent.Done(); ch != nil {
		return ch
	}
	return d.never
}

func (d *deadlineCtx) Err() error      { return d.parent.Err() }
func (d *deadlineCtx) Value(k any) any { return d.parent.Value(k) }

package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

type queueKey struct {
	topic   string
	queueID int32
}

type heldPull struct {
	c        *remoting.Conn
	req      *remoting.Command
	p        pullRequest
	deadline time.Time
}

// polls parks pulls that found nothing until a message arrives in their
// queue or their suspend time (at most maxPullSuspendTimeout) ends. One
// goroutine answers them: it is woken by the commit log's arrival listener
// (not by polling) and sweeps expired requests every pollSweep. The pulls
// of a connection that closes are dropped unanswered. How many one
// connection may hold is bounded by serverChannelMaxInflightRequests.
type polls struct {
	b *Broker

	count atomic.Int64 // held requests, so arrivals can skip the lock

	mu      sync.Mutex
	waiting map[queueKey][]*heldPull
	byConn  map[*remoting.Conn]int // held requests per connection
	pending map[queueKey]bool
	// unconfirmed are the queues with a held pull that waits only for
	// the store's messages to become readable (a controller-mode master's
	// confirmed offset): arrivedAll wakes these, not every held queue.
	unconfirmed map[queueKey]bool
	wake        chan struct{}
}

const pollSweep = 100 * time.Millisecond

// maxHeldPullFrame is the largest pull request held for long polling; a
// larger one (real ones are well under a KiB) is answered at once, since a
// held request keeps its memory, and a large one that much of the server's
// request budget, for as long as it is held.
const maxHeldPullFrame = 64 << 10

func newPolls(b *Broker) *polls {
	return &polls{
		b:       b,
		waiting: map[queueKey][]*heldPull{},
		byConn:  map[*remoting.Conn]int{},
		pending: map[queueKey]bool{},
		wake:    make(chan struct{}, 1),

		unconfirmed: map[queueKey]bool{},
	}
}

// hold parks a pull and returns what its handler returns. A message that
// arrived between the caller's check and now wakes it at once.
func (ps *polls) hold(c *remoting.Conn, req *remoting.Command, p *pullRequest) *remoting.Command {
	timeout := min(time.Duration(p.suspendMillis)*time.Millisecond, ps.b.cfg.MaxPullSuspendTimeout)
	if !ps.b.cfg.LongPollingEnable {
		timeout = ps.b.cfg.ShortPollingTimeMills
	}
	later := req.Later() // p's strings alias req
	k := queueKey{p.topic, p.queueID}
	h := &heldPull{c: c, req: req, p: *p, deadline: time.Now().Add(timeout)}
	ps.mu.Lock()
	ps.waiting[k] = append(ps.waiting[k], h)
	ps.count.Add(1)
	ps.byConn[c]++
	ps.mu.Unlock()
	if stored := ps.b.store.QueueMaxOffset(p.topic, p.queueID); stored > p.offset {
		if ps.b.readMaxOf(p.topic, p.queueID, stored) > p.offset {
			ps.arrived(p.topic, p.queueID)
		} else {
			ps.mu.Lock()
			ps.unconfirmed[k] = true
			ps.mu.Unlock()
			if ps.b.readMaxOf(p.topic, p.queueID, stored) > p.offset { // confirmed meanwhile
				ps.arrived(p.topic, p.queueID)
			}
		}
	}
	return later
}

// arrived is the commit log's arrival listener: it must be cheap.
func (ps *polls) arrived(topic string, queueID int32) {
	if ps.count.Load() == 0 {
		return
	}
	k := queueKey{topic, queueID}
	ps.mu.Lock()
	if len(ps.waiting[k]) == 0 || ps.pending[k] {
		ps.mu.Unlock()
		return
	}
	ps.pending[k] = true
	ps.mu.Unlock()
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

// arrivedAll wakes every held pull to look again: what consumers may
// read grew without an arrival (a controller-mode master's confirmed
// offset advanced). Cheap when nothing is held.
func (ps *polls) arrivedAll() {
	if ps.count.Load() == 0 {
		return
	}
	ps.mu.Lock()
	if len(ps.unconfirmed) == 0 {
		ps.mu.Unlock()
		return
	}
	for k := range ps.unconfirmed {
		if len(ps.waiting[k]) > 0 {
			ps.pending[k] = true
		}
		delete(ps.unconfirmed, k)
	}
	ps.mu.Unlock()
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

// run answers woken and expired pulls until done is closed.
func (ps *polls) run(done <-chan struct{}) {
	t := time.NewTicker(pollSweep)
	defer t.Stop()
	for {
		select {
		case <-done:
			ps.drain()
			return
		case <-ps.wake:
			ps.serveWoken()
		case now := <-t.C:
			ps.serveWoken()
			ps.expire(now)
		}
	}
}

func (ps *polls) serveWoken() {
	ps.mu.Lock()
	keys := make([]queueKey, 0, len(ps.pending))
	for k := range ps.pending {
		keys = append(keys, k)
		delete(ps.pending, k)
	}
	ps.mu.Unlock()
	var ready []*heldPull
	for _, k := range keys {
		// Ask the store without holding ps.mu: the arrival listener takes
		// ps.mu from inside the append path.
		stored := ps.b.store.QueueMaxOffset(k.topic, k.queueID)
		maxOff := ps.b.readMaxOf(k.topic, k.queueID, stored)
		ps.mu.Lock()
		hs := ps.waiting[k]
		keep := hs[:0]
		for _, h := range hs {
			switch {
			case maxOff > h.p.offset:
				ready = append(ready, h)
				ps.releaseLocked(h)
			case stored > h.p.offset: // stored, not yet readable
				ps.unconfirmed[k] = true
				keep = append(keep, h)
			default:
				keep = append(keep, h)
			}
		}
		ps.setLocked(k, keep)
		ps.mu.Unlock()
	}
	for _, h := range ready {
		ps.answer(h)
	}
}

func (ps *polls) expire(now time.Time) {
	if ps.count.Load() == 0 {
		return
	}
	var due []*heldPull
	ps.mu.Lock()
	for k, hs := range ps.waiting {
		keep := hs[:0]
		for _, h := range hs {
			if !now.Before(h.deadline) {
				due = append(due, h)
				ps.releaseLocked(h)
			} else {
				keep = append(keep, h)
			}
		}
		ps.setLocked(k, keep)
	}
	ps.mu.Unlock()
	for _, h := range due {
		ps.answer(h)
	}
}

// releaseLocked forgets that h's connection holds h. ps.mu must be held.
func (ps *polls) releaseLocked(h *heldPull) {
	if n := ps.byConn[h.c] - 1; n > 0 {
		ps.byConn[h.c] = n
	} else {
		delete(ps.byConn, h.c)
	}
}

// dropConn drops the pulls held for c, a closed connection, unanswered.
func (ps *polls) dropConn(c *remoting.Conn) {
	ps.mu.Lock()
	if ps.byConn[c] == 0 {
		ps.mu.Unlock()
		return
	}
	var dropped []*heldPull
	for k, hs := range ps.waiting {
		keep := hs[:0]
		for _, h := range hs {
			if h.c == c {
				dropped = append(dropped, h)
			} else {
				keep = append(keep, h)
			}
		}
		ps.setLocked(k, keep)
	}
	delete(ps.byConn, c)
	ps.mu.Unlock()
	for _, h := range dropped {
		c.Drop(h.req)
	}
}

// setLocked replaces a key's list, keeping count right. ps.mu must be held.
func (ps *polls) setLocked(k queueKey, hs []*heldPull) {
	ps.count.Add(int64(len(hs) - len(ps.waiting[k])))
	if len(hs) == 0 {
		delete(ps.waiting, k)
		return
	}
	ps.waiting[k] = hs
}

// drain answers everything still held (at shutdown).
func (ps *polls) drain() {
	ps.mu.Lock()
	var all []*heldPull
	for k, hs := range ps.waiting {
		all = append(all, hs...)
		ps.setLocked(k, nil)
	}
	clear(ps.byConn)
	ps.mu.Unlock()
	for _, h := range all {
		ps.answer(h)
	}
}

func (ps *polls) answer(h *heldPull) {
	resp := ps.b.pullOnce(h.c, h.req, &h.p, false)
	if resp == h.req.Answered() {
		return
	}
	if err := h.c.Answer(h.req, resp); err != nil {
		ps.b.log.Debug("answer held pull", "addr", h.c.RemoteAddr(), "err", err)
	}
}

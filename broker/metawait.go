package broker

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// Topic and subscription-group changes reach a master's slaves by long
// polling. A slave sends GET_ALL_TOPIC_CONFIG with the data versions of the
// master's tables it has (ext topicsDataVersion, groupsDataVersion) and how
// long it will wait (suspendTimeoutMillis). When both versions are the
// master's current ones, the master holds the request (at most
// metadataLongPollTime, at most metadataLongPollMaxHeld requests at once,
// SYSTEM_BUSY beyond) until either table changes or the time is up. The
// answer carries both current versions in the same ext fields and, when the
// slave's topic version is not the current one, the topic table as body; a
// slave whose group version is behind then asks for the groups. Without
// suspendTimeoutMillis the request is RocketMQ's: answered at once, body
// always.
//
// Every topic change is announced to the namesrvs (requestRegister), which
// wakes the held requests; the group table wakes them itself
// (groupTable.changed).

// metaVersions are the data versions of the topic and subscription-group
// tables, as versionToken strings.
type metaVersions struct{ topics, groups string }

func versionToken(v DataVersion) string {
	return strconv.FormatInt(v.StateVersion, 10) + "." + strconv.FormatInt(v.Timestamp, 10) + "." + strconv.FormatInt(v.Counter, 10)
}

// heldMeta is a slave's metadata request waiting for a change.
type heldMeta struct {
	c        *remoting.Conn
	req      *remoting.Command
	have     metaVersions // what the slave has
	deadline time.Time
}

// metaWaiters holds the slaves' metadata requests. It owns no goroutine:
// the broker's answering loop (serveHeldMetadata) steps it with due.
type metaWaiters struct {
	max  int
	wake chan struct{}

	mu   sync.Mutex
	held []*heldMeta
}

func newMetaWaiters(max int) *metaWaiters {
	return &metaWaiters{max: max, wake: make(chan struct{}, 1)}
}

// add holds h and wakes the loop (to re-check the versions and arm h's
// deadline). It reports false, holding nothing, when max requests are
// held already.
func (w *metaWaiters) add(h *heldMeta) bool {
	w.mu.Lock()
	if len(w.held) >= w.max {
		w.mu.Unlock()
		return false
	}
	w.held = append(w.held, h)
	w.mu.Unlock()
	w.kick()
	return true
}

// kick wakes the loop: a table may have changed. It never blocks.
func (w *metaWaiters) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// due removes and returns the requests to answer at now when the tables
// are at cur: those whose versions differ from cur and those whose time is
// up. next is the earliest deadline of the requests left (zero if none).
func (w *metaWaiters) due(now time.Time, cur metaVersions) (ready []*heldMeta, next time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.held[:0]
	for _, h := range w.held {
		if h.have != cur || !now.Before(h.deadline) {
			ready = append(ready, h)
			continue
		}
		keep = append(keep, h)
		if next.IsZero() || h.deadline.Before(next) {
			next = h.deadline
		}
	}
	clear(w.held[len(keep):])
	w.held = keep
	return ready, next
}

// count is the number of requests held.
func (w *metaWaiters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// dropConn forgets the requests of a closed connection.
func (w *metaWaiters) dropConn(c *remoting.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.held)
	w.held = slices.DeleteFunc(w.held, func(h *heldMeta) bool { return h.c == c })
	clear(w.held[len(w.held):n])
}

// serveHeldMetadata answers held metadata requests when the tables change
// or their time is up, until done is closed.
func (b *Broker) serveHeldMetadata(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		case <-b.metaWait.wake:
		case <-timer.C:
		}
		var next time.Time
		if b.metaWait.count() > 0 {
			tv, topics, encErr := b.topics.versioned()
			cur := metaVersions{versionToken(tv), versionToken(b.groups.dataVersion())}
			var ready []*heldMeta
			ready, next = b.metaWait.due(time.Now(), cur)
			for _, h := range ready {
				if err := h.c.Answer(h.req, metadataAnswer(h.req, h.have, cur, topics, encErr)); err != nil {
					b.log.Debug("answer held metadata request", "addr", h.c.RemoteAddr(), "err", err)
				}
			}
		}
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// getAllTopicConfig handles GET_ALL_TOPIC_CONFIG (21), RocketMQ's request
// or a slave's long poll (see above).
func (b *Broker) getAllTopicConfig(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	hold, err := req.Int64Or("suspendTimeoutMillis", 0)
	if err != nil {
		return fieldErr(req, err)
	}
	if hold < 0 {
		return remoting.Errorf(req, remoting.InvalidParameter, "suspendTimeoutMillis=%d is negative", hold)
	}
	have := metaVersions{req.ExtValue("topicsDataVersion"), req.ExtValue("groupsDataVersion")}
	tv, topics, err := b.topics.versioned()
	cur := metaVersions{versionToken(tv), versionToken(b.groups.dataVersion())}
	if hold == 0 || have != cur {
		return metadataAnswer(req, have, cur, topics, err)
	}
	later := req.Later()
	d := min(time.Duration(hold)*time.Millisecond, b.cfg.MetadataLongPollTime)
	if !b.metaWait.add(&heldMeta{c: c, req: req, have: have, deadline: time.Now().Add(d)}) {
		busy := remoting.Errorf(req, remoting.SystemBusy, "%d metadata requests are held already (metadataLongPollMaxHeld); ask again later", b.cfg.MetadataLongPollMaxHeld)
		if err := c.Answer(req, busy); err != nil {
			b.log.Debug("answer metadata request", "addr", c.RemoteAddr(), "err", err)
		}
	}
	return later
}

// metadataAnswer tells a slave that has the versions have that the tables
// are at cur, with the topic table (topics, as topics.json holds it, or the
// error encoding it) as body when its version differs.
func metadataAnswer(req *remoting.Command, have, cur metaVersions, topics []byte, err error) *remoting.Command {
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode topics: %v", err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("topicsDataVersion", cur.topics)
	resp.SetExt("groupsDataVersion", cur.groups)
	if have.topics != cur.topics {
		resp.Body = topics
	}
	return resp
}

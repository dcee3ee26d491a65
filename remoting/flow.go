package remoting

import (
	"errors"
	"fmt"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Flow control: what one connection may cost the server.
//
// Answers queued for a connection (its pending batch, the batches the event
// loop holds and gnet's outbound buffer, zero-copy parts included) are
// bounded by Limits.HighWater: at that mark the event loop stops reading the
// connection. It decodes nothing more, and takes the socket out of its epoll
// read set (readpause_linux.go) so that TCP backpressure reaches the peer.
// It reads again once the queue is below Limits.LowWater. A connection whose
// peer takes no byte of what is queued for it for Limits.SlowConsumerTimeout
// is closed as a slow consumer, with one Warn line (so zero-copy parts of
// the commit log are never referenced for longer); so is one that keeps
// sending while it is not read (more than HighWater unread), which only
// happens where the socket could not be taken out of the read set.
//
// Requests in flight on a connection (queued for a worker, running, or kept
// with Later until Answer) are bounded by Limits.MaxInflight; beyond it the
// event loop answers SYSTEM_BUSY.
//
// The bytes of requests the server holds are bounded by Limits.QueueBytes:
// requests waiting for a worker count while they wait, and large requests
// (over maxPooledRequest) from their first byte until they are answered.
// A small request that does not fit is answered SYSTEM_BUSY, and so is one
// that finds the worker queue full (ServerConfig.QueueSize); a large one
// waits, unread, until it fits (one always fits when nothing else is held).
// A large request is read straight into a buffer of its own (readBig),
// never whole into gnet's input ring buffer, which gnet pools and keeps at
// its largest size; the request owns the buffer, and the garbage collector
// frees it with the request.
//
// gnet calls OnTraffic only on input or a wake-up, and says nothing when a
// socket drains. A connection that waits for its peer to read (to resume
// reading, to hand gnet more, or to carry out a Close) is polled: a timer
// wakes its event loop after pollMin, backing off to pollMax while nothing
// moves.

// Limits bound what one connection, and the worker queue, may hold. Zero
// fields take the defaults below. The tags are the broker's properties keys
// and the namesrv's flags.
type Limits struct {
	// HighWater is the number of bytes queued for a connection at which
	// the server stops reading its requests.
	HighWater int `prop:"writeBufferHighWaterMark"`
	// LowWater is the queue length below which it reads them again;
	// 0 means HighWater/2.
	LowWater int `prop:"writeBufferLowWaterMark"`
	// SlowConsumerTimeout is how long the peer of a connection with
	// answers queued may take none of their bytes before it is closed.
	SlowConsumerTimeout time.Duration `prop:"serverSlowConsumerTimeout"`
	// MaxInflight is the number of requests of one connection being
	// served or kept at a time; more are answered SYSTEM_BUSY.
	MaxInflight int `prop:"serverChannelMaxInflightRequests"`
	// QueueBytes bounds the bytes of the requests waiting for a worker
	// and of the large requests being read or served; see above. It must
	// hold the largest frame.
	QueueBytes int64 `prop:"serverWorkerQueueMaxBytes"`
}

// Defaults of Limits: a client that reads its answers never waits for them.
const (
	DefaultHighWater           = 4 << 20
	DefaultSlowConsumerTimeout = 10 * time.Second
	DefaultMaxInflight         = 2048
	DefaultQueueBytes          = 16 << 20
)

// DefaultLimits returns the defaults, LowWater left 0 (half of HighWater,
// whatever that is set to).
func DefaultLimits() Limits {
	return Limits{
		HighWater:           DefaultHighWater,
		SlowConsumerTimeout: DefaultSlowConsumerTimeout,
		MaxInflight:         DefaultMaxInflight,
		QueueBytes:          DefaultQueueBytes,
	}
}

// Validate reports every setting out of range, by its key; maxFrame is the
// largest frame the server accepts.
func (l *Limits) Validate(maxFrame int) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.HighWater < 4096 {
		bad("writeBufferHighWaterMark=%d: want at least 4096 bytes", l.HighWater)
	}
	if l.LowWater < 0 || l.LowWater > l.HighWater {
		bad("writeBufferLowWaterMark=%d: want 0 (half the high-water mark) to writeBufferHighWaterMark=%d", l.LowWater, l.HighWater)
	}
	if l.SlowConsumerTimeout <= 0 {
		bad("serverSlowConsumerTimeout=%v: must be positive", l.SlowConsumerTimeout)
	}
	if l.MaxInflight < 1 {
		bad("serverChannelMaxInflightRequests=%d: want at least 1", l.MaxInflight)
	}
	if l.QueueBytes < int64(maxFrame) {
		bad("serverWorkerQueueMaxBytes=%d: must hold a frame of frameMaxLength=%d", l.QueueBytes, maxFrame)
	}
	return errors.Join(errs...)
}

func (l *Limits) setDefaults() {
	if l.HighWater <= 0 {
		l.HighWater = DefaultHighWater
	}
	if l.LowWater <= 0 || l.LowWater > l.HighWater {
		l.LowWater = l.HighWater / 2
	}
	if l.SlowConsumerTimeout <= 0 {
		l.SlowConsumerTimeout = DefaultSlowConsumerTimeout
	}
	if l.MaxInflight <= 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.QueueBytes <= 0 {
		l.QueueBytes = DefaultQueueBytes
	}
}

// Polling of a connection that waits for its peer.
const (
	pollMin = time.Millisecond
	pollMax = 50 * time.Millisecond
)

// flowState is a connection's flow-control state, owned by its event loop.
type flowState struct {
	paused  bool      // above HighWater: requests are not read
	waiting bool      // a large request waits for room in Limits.QueueBytes
	handed  int64     // bytes handed to gnet's writev, ever
	taken   int64     // bytes the socket had taken when it last took any
	stalled time.Time // since when it has taken none of what is queued; zero when nothing is
	// reported is the queued bytes last added to the server's total
	// (ServerStats.QueuedBytes).
	reported int64
	poll     *time.Timer
	every    time.Duration
}

// stop stops the poll timer; the connection is closed.
func (f *flowState) stop() {
	if f.poll != nil {
		f.poll.Stop()
	}
}

// queued returns the bytes of answers queued for c. Event loop only.
func (c *Conn) queued() int64 {
	return c.pendBytes.Load() + c.outBytes + int64(c.gc.OutboundBuffered())
}

// sent returns the bytes the socket has taken, ever. Event loop only.
func (c *Conn) sent() int64 { return c.flow.handed - int64(c.gc.OutboundBuffered()) }

// pause stops reading c: its queue reached the high-water mark.
func (c *Conn) pause() {
	c.flow.paused = true
	c.updateReading()
}

// resume reads c again if its queue is below the low-water mark, and
// reports whether input is waiting to be decoded.
func (c *Conn) resume() bool {
	if c.queued() >= int64(c.s.lim.LowWater) {
		return false
	}
	c.flow.paused = false
	c.updateReading()
	return c.gc.InboundBuffered() > 0
}

// updateReading has the event loop read c unless it is paused or waiting.
func (c *Conn) updateReading() {
	on := !c.flow.paused && !c.flow.waiting
	if err := setReading(c.gc, on); err != nil {
		c.s.log.Debug("set reading", "addr", c.remote, "on", on, "err", err)
	}
}

// checkFlow runs at the end of OnTraffic: it closes a slow consumer or a
// connection whose Close can be carried out, and arms the poll of one that
// waits for its peer.
func (c *Conn) checkFlow() gnet.Action {
	now := c.s.now()
	f := &c.flow
	queued := c.queued()
	c.s.queued.Add(queued - f.reported)
	f.reported = queued
	switch sent := c.sent(); {
	case queued == 0:
		f.stalled, f.every = time.Time{}, 0
	case f.stalled.IsZero() || sent > f.taken:
		f.taken, f.stalled, f.every = sent, now, 0
	}
	if f.paused || f.waiting {
		c.updateReading() // gnet turns reading back on when its buffer drains
	}
	if !f.stalled.IsZero() {
		lim := &c.s.lim
		stalled, unread := now.Sub(f.stalled), c.gc.InboundBuffered()
		if stalled >= lim.SlowConsumerTimeout || f.paused && unread > lim.HighWater {
			c.s.slowClosed.Add(1)
			c.s.log.Warn("closing slow consumer", "addr", c.remote, "queued", queued,
				"highWater", lim.HighWater, "stalled", stalled.Round(time.Millisecond), "unread", unread)
			return gnet.Close
		}
	}
	closing := c.closeReq.Load()
	if closing && c.readyToClose() {
		return gnet.Close
	}
	if f.paused || f.waiting || closing || queued > 0 {
		f.every = min(max(2*f.every, pollMin), pollMax)
		if f.poll == nil {
			f.poll = time.AfterFunc(f.every, c.pollWake)
		} else {
			f.poll.Reset(f.every)
		}
	}
	return gnet.None
}

// pollWake wakes the event loop for a connection that waits for its peer.
func (c *Conn) pollWake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.woken = false
		c.wakeLocked()
	}
}

// holdBig counts the n bytes of a large request c is about to read against
// Limits.QueueBytes, or reports false, and stops reading c until a poll
// finds room. Event loop only.
func (c *Conn) holdBig(n int) bool {
	ok := c.s.hold(int64(n))
	if !ok && !c.flow.waiting {
		c.s.waits.Add(1)
	}
	if ok == c.flow.waiting {
		c.flow.waiting = !ok
		c.updateReading()
	}
	return ok
}

// hold counts n bytes of requests against Limits.QueueBytes, or reports
// false if they do not fit. With nothing held, anything fits.
func (s *Server) hold(n int64) bool {
	if h := s.held.Add(n); h > s.lim.QueueBytes && h != n {
		s.held.Add(-n)
		return false
	}
	return true
}

// unhold gives back what req holds of Limits.QueueBytes.
func (s *Server) unhold(req *Command) {
	if req.held != 0 {
		s.held.Add(-req.held)
		req.held = 0
	}
}

// big reports whether req was read into a buffer of its own.
func (c *Command) big() bool { return len(c.own) > maxPooledRequest }

// FrameSize returns the size of the frame a server decoded c from, length
// prefix included, or 0 for a Command it did not decode. A handler that
// would keep a request for long can refuse large ones: what it keeps holds
// that much of the server's request budget (serverWorkerQueueMaxBytes).
func (c *Command) FrameSize() int {
	if c.own == nil {
		return 0
	}
	return len(c.own) + frameHeadLen
}

// finish counts req out of c's requests in flight: it has been answered.
func (c *Conn) finish(req *Command) {
	c.inflight.Add(-1)
	c.s.unhold(req)
}

// admit counts req in flight on c, or answers it SYSTEM_BUSY and reports
// false when c has MaxInflight already. Event loop only.
func (c *Conn) admit(req *Command) bool {
	if n := c.inflight.Add(1); int(n) > c.s.lim.MaxInflight {
		c.inflight.Add(-1)
		c.s.busy.Add(1)
		c.replyFromLoop(req, Errorf(req, SystemBusy,
			"connection busy: %d requests are in flight on it (serverChannelMaxInflightRequests), try again later", n-1))
		return false
	}
	return true
}

// bigFrame is a request larger than maxPooledRequest being read into a
// buffer of its own.
type bigFrame struct {
	buf    []byte // the frame after its 8-byte prefix, as far as read
	need   int    // its full length
	typ    byte
	hdrLen int
}

// bigFrameStart is the first buffer of a big frame; it doubles as bytes
// arrive, so a peer that announces a large frame and sends little of it
// costs little.
const bigFrameStart = 64 << 10

// readBig moves the input of the big frame being read into its buffer and
// reports whether the frame is complete. Event loop only.
func (c *Conn) readBig() bool {
	b := &c.big
	for len(b.buf) < b.need && c.gc.InboundBuffered() > 0 {
		if len(b.buf) == cap(b.buf) {
			grown := make([]byte, len(b.buf), b.need)
			copy(grown, b.buf)
			b.buf = grown
		}
		n, _ := c.gc.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
	}
	return len(b.buf) == b.need
}

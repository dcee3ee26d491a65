package remoting

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Conn is one client connection accepted by a Server. Its methods are safe
// for concurrent use.
//
// Writes from any goroutine are appended to the connection's pending batch
// under c.mu; the first write into an empty batch wakes the event loop,
// which takes the whole batch and writes it with one writev. Frames written
// by the event loop itself (SYSTEM_BUSY, unknown codes) join the batch and
// are flushed at the end of OnTraffic.
type Conn struct {
	s      *Server
	gc     gnet.Conn
	id     uint64
	remote string
	val    atomic.Pointer[any]

	lastActive atomic.Int64 // unix ns of the last read or write, for the idle sweep
	closedFlag atomic.Bool  // mirrors closed for lock-free checks on the loop
	closeReq   atomic.Bool  // Close was called; the loop closes after flushing
	closeAt    atomic.Int64 // when, in unix ns

	mu      sync.Mutex
	closed  bool
	pend    *outBatch // frames waiting for the event loop; nil when none
	woken   bool      // a wake-up is on its way to the event loop
	futures map[int32]func(*Command)
	iov     [][]byte // flush scratch; event loop only
}

// outBatch is a run of frames waiting to be written. buf holds encoded
// frames back to back; segs are the iovecs cut so far, which alias buf or
// WriteBody parts; buf[cut:] is the tail not yet cut into segs.
type outBatch struct {
	buf   []byte
	cut   int
	segs  [][]byte
	dones []func()
}

var batchPool = sync.Pool{New: func() any { return &outBatch{buf: make([]byte, 0, 4096)} }}

// maxPooledBuf is the largest batch buffer kept for reuse.
const maxPooledBuf = 1 << 20

// iovMax is Linux's limit on iovecs per writev.
const iovMax = 1024

// ID returns a number unique among the server's connections.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's ip:port.
func (c *Conn) RemoteAddr() string { return c.remote }

// SetValue attaches v to the connection.
func (c *Conn) SetValue(v any) { c.val.Store(&v) }

// Value returns what SetValue attached, or nil.
func (c *Conn) Value() any {
	if p := c.val.Load(); p != nil {
		return *p
	}
	return nil
}

// Write encodes cmd and queues it for writing. It returns ErrClosed if the
// connection is closed.
func (c *Conn) Write(cmd *Command) error {
	var frame []byte
	if len(cmd.Body) > bigBody { // copy it without holding c.mu, which the event loop takes
		frame = cmd.Encode(nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("write to %s: %w", c.remote, ErrClosed)
	}
	b := c.batchLocked()
	if frame != nil {
		b.cutLocked()
		b.segs = append(b.segs, frame)
	} else {
		b.buf = cmd.Encode(b.buf)
	}
	c.wakeLocked()
	return nil
}

// bigBody is the body size above which Write encodes outside the lock.
const bigBody = 64 << 10

// cutLocked ends the current run of buf as a segment. c.mu must be held.
func (b *outBatch) cutLocked() {
	if b.cut < len(b.buf) {
		b.segs = append(b.segs, b.buf[b.cut:len(b.buf):len(b.buf)])
		b.cut = len(b.buf)
	}
}

// WriteBody writes cmd's header followed by a body made of parts (cmd.Body
// is ignored). The parts are handed to writev without being copied unless
// the socket is full. done runs exactly once, when the parts are no longer
// referenced: after the write, or when the connection closes, or before
// WriteBody returns an error. done may run on the event loop and must not
// block.
func (c *Conn) WriteBody(cmd *Command, parts [][]byte, done func()) error {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if done != nil {
			done()
		}
		return fmt.Errorf("write to %s: %w", c.remote, ErrClosed)
	}
	b := c.batchLocked()
	b.buf = cmd.EncodeHeader(b.buf, total)
	b.cutLocked()
	for _, p := range parts {
		if len(p) > 0 {
			b.segs = append(b.segs, p)
		}
	}
	if done != nil {
		b.dones = append(b.dones, done)
	}
	c.wakeLocked()
	c.mu.Unlock()
	return nil
}

// Invoke sends req to the client on this connection and waits for the
// answer or for ctx. It sets req's Opaque and Flag.
func (c *Conn) Invoke(ctx context.Context, req *Command) (*Command, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("invoke code %d on %s: %w", req.Code, c.remote, err)
	}
	ch := make(chan *Command, 1)
	op, err := c.send(req, func(resp *Command) { ch <- resp })
	if err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		if resp == nil {
			return nil, fmt.Errorf("invoke code %d on %s: %w", req.Code, c.remote, ErrClosed)
		}
		return resp, nil
	case <-ctx.Done():
		c.forget(op)
		return nil, ctxError(ctx.Err(), "invoke code %d on %s", req.Code, c.remote)
	}
}

// InvokeAsync sends req to the client on this connection and returns at
// once; cb gets the answer, or an error wrapping ErrTimeout when none came
// within timeout or ErrClosed when the connection closed first, exactly
// once unless InvokeAsync itself returns an error. cb runs on the event
// loop or a timer goroutine and must not block. It sets req's Opaque and
// Flag.
func (c *Conn) InvokeAsync(req *Command, timeout time.Duration, cb func(*Command, error)) error {
	var settled atomic.Bool
	var timer atomic.Pointer[time.Timer] // armed after the request is queued: the answer may come first
	finish := func(resp *Command, err error) {
		if settled.CompareAndSwap(false, true) {
			if t := timer.Load(); t != nil {
				t.Stop()
			}
			cb(resp, err)
		}
	}
	code := req.Code
	op, err := c.send(req, func(resp *Command) {
		if resp == nil {
			finish(nil, fmt.Errorf("invoke code %d on %s: %w", code, c.remote, ErrClosed))
			return
		}
		finish(resp, nil)
	})
	if err != nil {
		return err
	}
	timer.Store(time.AfterFunc(timeout, func() {
		c.forget(op)
		finish(nil, fmt.Errorf("invoke code %d on %s: no answer within %v: %w", code, c.remote, timeout, ErrTimeout))
	}))
	return nil
}

// send registers future under a new opaque and queues req. The future
// gets the answer, or nil when the connection closes.
func (c *Conn) send(req *Command, future func(*Command)) (int32, error) {
	op := c.s.opaque.Add(1)
	prepareRequest(req, op, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("invoke code %d on %s: %w", req.Code, c.remote, ErrClosed)
	}
	if c.futures == nil {
		c.futures = make(map[int32]func(*Command))
	}
	c.futures[op] = future
	b := c.batchLocked()
	b.buf = req.Encode(b.buf)
	c.wakeLocked()
	return op, nil
}

// forget drops the future of opaque op; its answer, if it still comes, is
// logged and dropped.
func (c *Conn) forget(op int32) {
	c.mu.Lock()
	delete(c.futures, op)
	c.mu.Unlock()
}

// Oneway sends req to the client with the oneway flag; no answer is
// expected. It sets req's Opaque and Flag.
func (c *Conn) Oneway(req *Command) error {
	prepareRequest(req, c.s.opaque.Add(1), FlagOneway)
	return c.Write(req)
}

// Close closes the connection after the frames already written to it have
// been handed to the socket.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && !c.closeReq.Swap(true) {
		c.closeAt.Store(time.Now().UnixNano())
		c.woken = false // force a wake-up: OnTraffic flushes, then closes
		c.wakeLocked()
	}
}

// closeLinger bounds how long a closing connection waits for its peer to
// take the bytes still buffered.
const closeLinger = 3 * time.Second

// readyToClose reports, on the event loop, whether a Close can be carried
// out: gnet drops what it could not write when it closes, so we wait for
// its outbound buffer to drain, polling every millisecond.
func (c *Conn) readyToClose() bool {
	if c.gc.OutboundBuffered() == 0 || time.Since(time.Unix(0, c.closeAt.Load())) > closeLinger {
		return true
	}
	time.AfterFunc(time.Millisecond, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			c.woken = false
			c.wakeLocked()
		}
	})
	return false
}

// reply writes resp as the answer to req, from a worker.
func (c *Conn) reply(req, resp *Command) {
	if req.IsOneway() {
		return
	}
	fixResponse(req, resp)
	if err := c.Write(resp); err != nil {
		c.s.log.Debug("response dropped", "addr", c.remote, "code", req.Code, "err", err)
	}
}

// replyFromLoop queues the answer to req from the event loop, which flushes
// it at the end of OnTraffic.
func (c *Conn) replyFromLoop(req, resp *Command) {
	if req.IsOneway() {
		return
	}
	fixResponse(req, resp)
	c.mu.Lock()
	if !c.closed {
		b := c.batchLocked()
		b.buf = resp.Encode(b.buf)
	}
	c.mu.Unlock()
}

func fixResponse(req, resp *Command) {
	resp.Opaque = req.Opaque
	resp.Flag |= FlagResponse
	resp.SerializeType = req.SerializeType
	if resp.Language == "" {
		resp.Language = "GO"
	}
}

// complete hands a response to the Invoke or InvokeAsync waiting for it.
func (c *Conn) complete(resp *Command) {
	c.mu.Lock()
	future, ok := c.futures[resp.Opaque]
	if ok {
		delete(c.futures, resp.Opaque)
	}
	c.mu.Unlock()
	if ok {
		future(resp)
	} else {
		c.s.log.Debug("response without a waiting request", "addr", c.remote, "opaque", resp.Opaque)
	}
}

// c.mu must be held.
func (c *Conn) batchLocked() *outBatch {
	if c.pend == nil {
		c.pend = batchPool.Get().(*outBatch)
	}
	return c.pend
}

// wakeLocked makes sure the event loop will flush the pending batch. It
// runs under c.mu so that the loop cannot have shut down (OnClose takes
// c.mu) while we trigger it. c.mu must be held.
func (c *Conn) wakeLocked() {
	if c.woken {
		return
	}
	c.woken = true
	if err := c.gc.Wake(nil); err != nil {
		c.s.log.Debug("wake event loop", "addr", c.remote, "err", err)
	}
}

// flush writes the pending batch. It runs on the event loop.
func (c *Conn) flush() {
	if c.closedFlag.Load() {
		return
	}
	c.lastActive.Store(time.Now().UnixNano())
	c.mu.Lock()
	b := c.pend
	c.pend = nil
	c.woken = false
	c.mu.Unlock()
	if b == nil {
		return
	}
	all := append(c.iov[:0], b.segs...)
	if b.cut < len(b.buf) {
		all = append(all, b.buf[b.cut:])
	}
	for iov := all; len(iov) > 0 && !c.closedFlag.Load(); {
		n := min(len(iov), iovMax)
		if _, err := c.gc.Writev(iov[:n]); err != nil {
			break // gnet has closed the connection and called OnClose
		}
		iov = iov[n:]
	}
	clear(all)
	c.iov = all[:0]
	b.release()
}

// release runs the batch's done callbacks and returns it to the pool.
func (b *outBatch) release() {
	for _, done := range b.dones {
		done()
	}
	clear(b.dones)
	b.dones = b.dones[:0]
	clear(b.segs)
	b.segs = b.segs[:0]
	b.cut = 0
	if cap(b.buf) > maxPooledBuf {
		b.buf = make([]byte, 0, 4096)
	}
	b.buf = b.buf[:0]
	batchPool.Put(b)
}

// shutdown marks the connection closed, releases what it had queued and
// fails the Invokes waiting on it. It runs on the event loop in OnClose.
func (c *Conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.closedFlag.Store(true)
	b := c.pend
	c.pend = nil
	futures := c.futures
	c.futures = nil
	c.mu.Unlock()
	if b != nil {
		b.release()
	}
	for _, future := range futures {
		future(nil)
	}
}

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
// which takes the whole batch and writes it with writev. Frames written by
// the event loop itself (SYSTEM_BUSY, unknown codes) join the batch and are
// flushed at the end of OnTraffic. The loop hands gnet at most flushChunk
// bytes the socket has not taken (flow.go): the rest stays queued here, zero
// copy parts uncopied, until the peer reads.
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

	mu        sync.Mutex
	closed    bool
	pend      *outBatch    // frames waiting for the event loop; nil when none
	pendBytes atomic.Int64 // bytes in pend; written under mu
	woken     bool         // a wake-up is on its way to the event loop
	futures   map[int32]func(*Command)

	inflight atomic.Int32 // requests being served or kept (Later), see flow.go

	// Event loop only.
	iov      [][]byte    // flush scratch
	out      []*outBatch // batches taken from pend, not yet all handed to gnet
	outBytes int64       // bytes of out not yet handed to gnet
	flow     flowState   // flow.go
	big      bigFrame    // a large request being read, see readBig
}

// outBatch is a run of frames waiting to be written. buf holds encoded
// frames back to back; segs are the iovecs cut so far, which alias buf or
// WriteBody parts; buf[cut:] is the tail not yet cut into segs. Once the
// event loop takes the batch, iov lists all of it and at is the first iovec
// not yet handed to gnet.
type outBatch struct {
	buf   []byte
	cut   int
	segs  [][]byte
	dones []func()
	iov   [][]byte
	at    int
}

var batchPool = sync.Pool{New: func() any { return &outBatch{buf: make([]byte, 0, 4096)} }}

// maxPooledBuf is the largest batch buffer kept for reuse.
const maxPooledBuf = 1 << 20

// iovMax is Linux's limit on iovecs per writev.
const iovMax = 1024

// flushChunk is the most the event loop hands gnet in one writev. gnet
// copies what the socket does not take into its own buffer; the loop hands
// it nothing more until that buffer is empty, so per connection gnet holds
// at most this much, and zero-copy parts wait uncopied in the batch.
const flushChunk = 256 << 10

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
		c.pendBytes.Add(int64(len(frame)))
	} else {
		n := len(b.buf)
		b.buf = cmd.Encode(b.buf)
		c.pendBytes.Add(int64(len(b.buf) - n))
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
	n := len(b.buf)
	b.buf = cmd.EncodeHeader(b.buf, total)
	c.pendBytes.Add(int64(len(b.buf) - n + total))
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
	n := len(b.buf)
	b.buf = req.Encode(b.buf)
	c.pendBytes.Add(int64(len(b.buf) - n))
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
		c.closeAt.Store(c.s.now().UnixNano())
		c.woken = false // force a wake-up: OnTraffic flushes, then closes
		c.wakeLocked()
	}
}

// closeLinger bounds how long a closing connection waits for its peer to
// take the bytes still buffered.
const closeLinger = 3 * time.Second

// readyToClose reports, on the event loop, whether a Close can be carried
// out: gnet drops what it could not write when it closes, so we wait for
// what is queued to drain (OnTraffic polls meanwhile, see flow.go).
func (c *Conn) readyToClose() bool {
	return len(c.out) == 0 && c.gc.OutboundBuffered() == 0 ||
		c.s.now().Sub(time.Unix(0, c.closeAt.Load())) > closeLinger
}

// reply writes resp as the answer to req, from a worker.
func (c *Conn) reply(req, resp *Command) {
	if req.IsOneway() {
		return
	}
	c.answering(req, resp)
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
	c.answering(req, resp)
	c.mu.Lock()
	if !c.closed {
		b := c.batchLocked()
		n := len(b.buf)
		b.buf = resp.Encode(b.buf)
		c.pendBytes.Add(int64(len(b.buf) - n))
	}
	c.mu.Unlock()
}

// answering makes resp the answer to req (fixResponse) and tells the
// server's observer.
func (c *Conn) answering(req, resp *Command) {
	fixResponse(req, resp)
	if obs := c.s.cfg.Observe; obs != nil && req.decoded != 0 {
		obs(req.Code, resp.Code, time.Duration(monoNow()-req.decoded), c.id)
	}
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

// flush takes the pending batch and hands gnet what is queued, a chunk at
// a time, while the socket takes it all. It runs on the event loop.
func (c *Conn) flush() {
	if c.closedFlag.Load() {
		return
	}
	c.lastActive.Store(c.s.now().UnixNano())
	c.mu.Lock()
	b := c.pend
	c.pend = nil
	c.woken = false
	n := c.pendBytes.Swap(0)
	c.mu.Unlock()
	if b != nil {
		b.iov = append(b.iov[:0], b.segs...)
		if b.cut < len(b.buf) {
			b.iov = append(b.iov, b.buf[b.cut:])
		}
		c.out = append(c.out, b)
		c.outBytes += n
	}
	for len(c.out) > 0 && c.gc.OutboundBuffered() == 0 {
		b := c.out[0]
		chunk, size := b.next(c.iov[:0], flushChunk)
		_, err := c.gc.Writev(chunk)
		clear(chunk)
		c.iov = chunk[:0]
		if err != nil {
			return // gnet has closed the connection; OnClose released the batches
		}
		c.outBytes -= int64(size)
		c.flow.handed += int64(size)
		c.s.bytesOut.Add(int64(size))
		if b.at == len(b.iov) {
			n := copy(c.out, c.out[1:]) // the queue is short: one or two batches
			c.out[n] = nil
			c.out = c.out[:n]
			b.release()
		}
	}
}

// next appends to iov the batch's next run of at most iovMax slices and
// max bytes, splitting a slice if need be, and returns it with its size.
// The event loop owns the batch.
func (b *outBatch) next(iov [][]byte, max int) ([][]byte, int) {
	size := 0
	for b.at < len(b.iov) && len(iov) < iovMax && size < max {
		p := b.iov[b.at]
		if size+len(p) > max {
			p = p[:max-size]
			b.iov[b.at] = b.iov[b.at][len(p):]
		} else {
			b.at++
		}
		iov = append(iov, p)
		size += len(p)
	}
	return iov, size
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
	clear(b.iov)
	b.iov = b.iov[:0]
	b.cut, b.at = 0, 0
	if cap(b.buf) > maxPooledBuf {
		b.buf = make([]byte, 0, 4096)
	}
	b.buf = b.buf[:0]
	batchPool.Put(b)
}

// Closed reports whether the connection has closed. It is true before the
// server's OnClose callback runs, so a handler that checks it under a lock
// the callback takes too never keeps a connection the callback missed.
func (c *Conn) Closed() bool { return c.closedFlag.Load() }

// shutdown marks the connection closed, releases what it had queued and
// fails the Invokes waiting on it. It runs on the event loop in OnClose.
func (c *Conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.closedFlag.Store(true)
	b := c.pend
	c.pend = nil
	c.pendBytes.Store(0)
	futures := c.futures
	c.futures = nil
	c.mu.Unlock()
	if b != nil {
		b.release()
	}
	for _, b := range c.out {
		b.release()
	}
	c.out, c.outBytes = nil, 0
	if c.big.buf != nil {
		c.s.held.Add(-int64(c.big.need))
		c.big = bigFrame{}
	}
	c.flow.stop()
	for _, future := range futures {
		future(nil)
	}
}

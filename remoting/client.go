package remoting

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinels for errors.Is.
var (
	// ErrTimeout: the context's deadline passed before the answer came.
	ErrTimeout = errors.New("remoting: timeout")
	// ErrClosed: the connection (or the client or server) is closed.
	ErrClosed = errors.New("remoting: connection closed")
)

// ClientConfig configures a Client. Zero fields take the defaults noted.
type ClientConfig struct {
	Log          *slog.Logger  // nil discards
	DialTimeout  time.Duration // default 3 s
	MaxFrameSize int           // largest frame accepted, length prefix included; default 16 MiB
	Credentials  *Credentials  // when set, every request is signed (ACL)
	// TLS, when set, makes every connection TLS (RocketMQ's tls.enable);
	// TLSClientSettings.Config builds one from RocketMQ's settings. An
	// empty ServerName is taken from the address dialled.
	TLS *tls.Config
}

// Client sends requests to remoting servers over one TCP connection per
// address, dialled on first use and again after a failure. Its methods are
// safe for concurrent use.
type Client struct {
	log         *slog.Logger
	dialTimeout time.Duration
	maxFrame    int
	cred        *Credentials
	tls         *tls.Config
	opaque      atomic.Int32

	mu     sync.Mutex
	conns  map[string]*clientConn
	closed bool

	handlers atomic.Pointer[map[int32]func(addr string, req *Command) *Command]
	hmu      sync.Mutex

	sweepOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup // connection goroutines, the sweeper, request handlers
}

// sweepInterval is how often InvokeAsync futures are checked for their
// deadline: ErrTimeout arrives at most this late.
const sweepInterval = 10 * time.Millisecond

// writeTimeout bounds one batched write to a peer that stopped reading.
const writeTimeout = 30 * time.Second

// readBufferSize is the per-connection read buffer; frames that fit are
// decoded straight out of it.
const readBufferSize = 64 << 10

// NewClient returns a client with no connections yet.
func NewClient(cfg ClientConfig) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		log:         log,
		dialTimeout: cfg.DialTimeout,
		maxFrame:    cfg.MaxFrameSize,
		cred:        cfg.Credentials,
		tls:         cfg.TLS,
		conns:       make(map[string]*clientConn),
		stop:        make(chan struct{}),
	}
	c.handlers.Store(&map[int32]func(string, *Command) *Command{})
	return c
}

// Handle registers h for requests with code that servers send down
// connections this client opened. h runs on its own goroutine; a non-nil
// result is sent back as the response unless the request is oneway.
func (c *Client) Handle(code int32, h func(addr string, req *Command) *Command) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	old := *c.handlers.Load()
	m := make(map[int32]func(string, *Command) *Command, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[code] = h
	c.handlers.Store(&m)
}

// Invoke sends req to addr and waits for the response or for ctx. It sets
// req's Opaque, Flag and, when unset, Language and Version.
func (c *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err, "invoke code %d on %s", req.Code, addr)
	}
	cc, err := c.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	f := futurePool.Get().(*future)
	op := c.opaque.Add(1)
	prepareRequest(req, op, 0)
	c.sign(req)
	if err := cc.send(req, f); err != nil {
		futurePool.Put(f)
		return nil, fmt.Errorf("invoke code %d on %s: %w", req.Code, addr, err)
	}
	select {
	case r := <-f.ch:
		futurePool.Put(f)
		if r.err != nil {
			return nil, fmt.Errorf("invoke code %d on %s: %w", req.Code, addr, r.err)
		}
		return r.resp, nil
	case <-ctx.Done():
		if !cc.remove(op, f) {
			<-f.ch // the reader took it first and is completing it now
		}
		futurePool.Put(f)
		return nil, ctxError(ctx.Err(), "invoke code %d on %s", req.Code, addr)
	}
}

// InvokeAsync sends req to addr and returns; cb gets the response or the
// error exactly once, unless InvokeAsync itself returns an error. cb runs
// on the connection's reader goroutine, the timeout sweeper or, if the
// connection fails while InvokeAsync writes, the caller's goroutine before
// InvokeAsync returns; it must not block: hand slow work to another
// goroutine. The ctx deadline is
// checked every 10 ms; a ctx without deadline or cancellation never times
// out.
func (c *Client) InvokeAsync(ctx context.Context, addr string, req *Command, cb func(*Command, error)) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err, "invoke code %d on %s", req.Code, addr)
	}
	cc, err := c.conn(ctx, addr)
	if err != nil {
		return err
	}
	c.sweepOnce.Do(c.startSweeper)
	f := futurePool.Get().(*future)
	f.cb, f.code = cb, req.Code
	if ctx.Done() != nil {
		f.ctx = ctx
		if d, ok := ctx.Deadline(); ok {
			f.deadline = d.UnixNano()
		}
	}
	prepareRequest(req, c.opaque.Add(1), 0)
	c.sign(req)
	if err := cc.send(req, f); err != nil {
		f.reset()
		futurePool.Put(f)
		return fmt.Errorf("invoke code %d on %s: %w", req.Code, addr, err)
	}
	return nil
}

// InvokeOneway sends req to addr with the oneway flag and does not wait.
func (c *Client) InvokeOneway(addr string, req *Command) error {
	cc, err := c.conn(context.Background(), addr)
	if err != nil {
		return err
	}
	prepareRequest(req, c.opaque.Add(1), FlagOneway)
	c.sign(req)
	if err := cc.send(req, nil); err != nil {
		return fmt.Errorf("invoke oneway code %d on %s: %w", req.Code, addr, err)
	}
	return nil
}

// CloseAddr closes the connection to addr, failing its pending requests
// with ErrClosed. The next request to addr dials again.
func (c *Client) CloseAddr(addr string) {
	c.mu.Lock()
	cc := c.conns[addr]
	c.mu.Unlock()
	if cc != nil {
		cc.fail(ErrClosed)
	}
}

// Close closes every connection and waits for the client's goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := make([]*clientConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	close(c.stop)
	for _, cc := range conns {
		cc.fail(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// sign signs req when the client has credentials.
func (c *Client) sign(req *Command) {
	if c.cred != nil {
		c.cred.Sign(req)
	}
}

func prepareRequest(req *Command, opaque, flag int32) {
	req.Opaque = opaque
	req.Flag = flag
	if req.Language == "" {
		req.Language = "GO"
	}
	if req.Version == 0 {
		req.Version = Version
	}
}

// ctxError turns the context error err met while doing what into an error
// wrapping ErrTimeout (deadline passed) or err (cancelled).
func ctxError(err error, what string, args ...any) error {
	what = fmt.Sprintf(what, args...)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w (%w)", what, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// conn returns a live connection to addr, dialling it if needed.
func (c *Client) conn(ctx context.Context, addr string) (*clientConn, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("connect %s: %w", addr, ErrClosed)
		}
		cc := c.conns[addr]
		if cc == nil {
			cc = &clientConn{cl: c, addr: addr, ready: make(chan struct{}), wake: make(chan struct{}, 1)}
			c.conns[addr] = cc
			c.mu.Unlock()
			c.dial(cc)
		} else {
			c.mu.Unlock()
			select {
			case <-cc.ready:
			case <-ctx.Done():
				return nil, ctxError(ctx.Err(), "connect %s", addr)
			}
		}
		if cc.dialErr != nil {
			return nil, cc.dialErr
		}
		if !cc.isClosed() || attempt > 0 {
			return cc, nil // a failed send reports ErrClosed if it died since
		}
		c.forget(cc) // found a dead one; dial afresh once
	}
}

func (c *Client) dial(cc *clientConn) {
	defer close(cc.ready)
	nc, err := net.DialTimeout("tcp", cc.addr, c.dialTimeout)
	if err == nil && c.tls != nil {
		nc, err = c.handshake(nc, cc.addr)
	}
	if err != nil {
		cc.dialErr = fmt.Errorf("dial %s: %w", cc.addr, err)
		c.forget(cc)
		return
	}
	cc.mu.Lock()
	if cc.closed { // CloseAddr or Close while dialling
		cc.mu.Unlock()
		_ = nc.Close()
		cc.dialErr = fmt.Errorf("dial %s: %w", cc.addr, ErrClosed)
		c.forget(cc)
		return
	}
	cc.nc = nc
	cc.dead = make(chan struct{})
	c.wg.Add(2)
	cc.mu.Unlock()
	go cc.readLoop()
	go cc.writeLoop()
}

// handshake runs the TLS handshake on nc within the dial timeout.
func (c *Client) handshake(nc net.Conn, addr string) (net.Conn, error) {
	cfg := c.tls
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, _ := net.SplitHostPort(addr)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	_ = nc.SetDeadline(time.Now().Add(c.dialTimeout))
	if err := tc.Handshake(); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

// forget drops cc from the table if it is still the entry for its address.
func (c *Client) forget(cc *clientConn) {
	c.mu.Lock()
	if c.conns[cc.addr] == cc {
		delete(c.conns, cc.addr)
	}
	c.mu.Unlock()
}

func (c *Client) startSweeper() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed { // Close may be waiting on wg already
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		var conns []*clientConn
		var expired []*future
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				conns = conns[:0]
				c.mu.Lock()
				for _, cc := range c.conns {
					conns = append(conns, cc)
				}
				c.mu.Unlock()
				for _, cc := range conns {
					expired = cc.expire(now.UnixNano(), expired[:0])
					for _, f := range expired {
						err := f.ctx.Err()
						if err == nil {
							err = context.DeadlineExceeded
						}
						f.finish(nil, ctxError(err, "invoke code %d on %s", f.code, cc.addr))
					}
				}
				clear(expired)
				clear(conns)
			}
		}
	}()
}

// future is a request waiting for its response: a synchronous Invoke waits
// on ch, an InvokeAsync has cb. Whoever removes a future from its
// connection's table completes it, exactly once.
type future struct {
	ch       chan result // capacity 1; empty whenever the future is pooled
	cb       func(*Command, error)
	ctx      context.Context
	deadline int64 // unix ns; 0 = none
	code     int32
}

type result struct {
	resp *Command
	err  error
}

var futurePool = sync.Pool{New: func() any { return &future{ch: make(chan result, 1)} }}

func (f *future) finish(resp *Command, err error) {
	if f.cb == nil {
		f.ch <- result{resp, err}
		return
	}
	cb := f.cb
	f.reset()
	futurePool.Put(f)
	cb(resp, err)
}

func (f *future) reset() {
	f.cb, f.ctx, f.deadline, f.code = nil, nil, 0, 0
}

// clientConn is one TCP connection of a Client. Requests are encoded into
// wbuf under mu. A sender that finds nobody writing swaps wbuf out and
// writes it itself; requests issued meanwhile coalesce in the other buffer
// and go out in the next single write. After a couple of rounds the sender
// hands over to the connection's writer goroutine.
type clientConn struct {
	cl      *Client
	addr    string
	ready   chan struct{} // closed when dialling is over
	dialErr error         // set before ready is closed
	nc      net.Conn
	wake    chan struct{} // capacity 1: the writer goroutine takes over
	dead    chan struct{} // closed by fail

	mu      sync.Mutex
	closed  bool
	err     error
	wbuf    []byte // encoded frames waiting to be written
	spare   []byte // the other buffer of the pair, while not being written
	writing bool   // a goroutine is writing; it will also write wbuf
	handoff bool   // writing passed to the writer goroutine, not yet taken
	futures map[int32]*future
	nasync  int
}

func (cc *clientConn) isClosed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.closed
}

// send registers f (if not nil) under req.Opaque and queues req.
func (cc *clientConn) send(req *Command, f *future) error {
	cc.mu.Lock()
	if cc.closed {
		err := cc.err
		cc.mu.Unlock()
		return err
	}
	if f != nil {
		if cc.futures == nil {
			cc.futures = make(map[int32]*future)
		}
		cc.futures[req.Opaque] = f
		if f.cb != nil {
			cc.nasync++
		}
	}
	cc.wbuf = req.Encode(cc.wbuf)
	if cc.writing {
		cc.mu.Unlock() // the writer in progress picks it up
		return nil
	}
	cc.writing = true
	if f != nil && f.cb != nil && cc.nasync > 1 {
		// An async request while others are in flight: the caller is
		// streaming. Let the writer goroutine write, so the requests
		// queued until it runs share one write.
		cc.handoff = true
		cc.mu.Unlock()
		select {
		case cc.wake <- struct{}{}:
		default:
		}
		return nil
	}
	// Nobody is writing and nothing is streaming: this goroutine writes,
	// saving a hand-off.
	buf := cc.swapOutLocked()
	cc.mu.Unlock()
	if err := cc.write(buf, maxCallerRounds); err != nil && f == nil {
		return err // a registered future learns of it from fail
	}
	return nil
}

// maxCallerRounds is how many batches a sending goroutine writes before it
// hands the rest to the connection's writer goroutine.
const maxCallerRounds = 2

// swapOutLocked takes the pending bytes. cc.mu must be held.
func (cc *clientConn) swapOutLocked() []byte {
	buf := cc.wbuf
	cc.wbuf = cc.spare[:0]
	cc.spare = nil
	return buf
}

// write writes buf and whatever is queued meanwhile, for at most rounds
// batches (0: until the queue is empty), then hands the rest to the writer
// goroutine. The caller must have set cc.writing. A write error fails the
// connection and is returned.
func (cc *clientConn) write(buf []byte, rounds int) error {
	for round := 1; ; round++ {
		_ = cc.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := cc.nc.Write(buf); err != nil {
			cc.cl.log.Debug("write failed", "addr", cc.addr, "err", err)
			cc.fail(err)
			cc.mu.Lock()
			err = cc.err
			cc.mu.Unlock()
			return err
		}
		cc.mu.Lock()
		if cap(buf) > maxPooledBuf {
			buf = nil
		}
		if len(cc.wbuf) == 0 || cc.closed {
			cc.spare = buf[:0]
			cc.writing = false
			cc.mu.Unlock()
			return nil
		}
		if rounds > 0 && round >= rounds {
			cc.spare = buf[:0]
			cc.handoff = true // cc.writing stays set: the writer goroutine owns it now
			cc.mu.Unlock()
			select {
			case cc.wake <- struct{}{}:
			default:
			}
			return nil
		}
		next := cc.wbuf
		cc.wbuf = buf[:0]
		buf = next
		cc.mu.Unlock()
	}
}

// take removes and returns the future for opaque, if any. cc.mu must be held.
func (cc *clientConn) takeLocked(opaque int32) *future {
	f := cc.futures[opaque]
	if f != nil {
		delete(cc.futures, opaque)
		if f.cb != nil {
			cc.nasync--
		}
	}
	return f
}

// remove drops f if it is still registered and reports whether it did.
func (cc *clientConn) remove(opaque int32, f *future) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.futures[opaque] != f {
		return false
	}
	cc.takeLocked(opaque)
	return true
}

// expire removes the async futures whose deadline passed or whose context
// ended and appends them to out.
func (cc *clientConn) expire(now int64, out []*future) []*future {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.nasync == 0 {
		return out
	}
	for op, f := range cc.futures {
		if f.cb == nil || f.ctx == nil {
			continue
		}
		if (f.deadline != 0 && now >= f.deadline) || f.ctx.Err() != nil {
			cc.takeLocked(op)
			out = append(out, f)
		}
	}
	return out
}

// fail closes the connection once and completes every pending future with
// an error wrapping ErrClosed.
func (cc *clientConn) fail(cause error) {
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		return
	}
	cc.closed = true
	if errors.Is(cause, ErrClosed) {
		cc.err = fmt.Errorf("connection to %s: %w", cc.addr, ErrClosed)
	} else {
		cc.err = fmt.Errorf("connection to %s: %w: %w", cc.addr, ErrClosed, cause)
	}
	futures := cc.futures
	cc.futures = nil
	cc.nasync = 0
	nc := cc.nc
	cc.mu.Unlock()
	cc.cl.forget(cc)
	if nc != nil {
		close(cc.dead)
		if tc, ok := nc.(*tls.Conn); ok {
			nc = tc.NetConn() // no close_notify: it could wait on a peer that does not read
		}
		_ = nc.Close()
	}
	for _, f := range futures {
		f.finish(nil, cc.err)
	}
}

// writeLoop takes over writing when a sending goroutine has written its
// share and more is queued.
func (cc *clientConn) writeLoop() {
	defer cc.cl.wg.Done()
	for {
		select {
		case <-cc.wake:
		case <-cc.dead:
			return
		}
		cc.mu.Lock()
		if !cc.handoff {
			cc.mu.Unlock()
			continue
		}
		cc.handoff = false
		buf := cc.swapOutLocked()
		cc.mu.Unlock()
		_ = cc.write(buf, 0) // failures reach the futures through fail
	}
}

func (cc *clientConn) readLoop() {
	defer cc.cl.wg.Done()
	br := bufio.NewReaderSize(cc.nc, readBufferSize)
	for {
		cmd, err := cc.readFrame(br)
		if err != nil {
			switch {
			case errors.Is(err, ErrBadFrame):
				cc.cl.log.Warn("bad frame", "addr", cc.addr, "err", err)
			case !cc.isClosed():
				cc.cl.log.Debug("connection lost", "addr", cc.addr, "err", err)
			}
			cc.fail(err)
			return
		}
		if cmd.IsResponse() {
			cc.mu.Lock()
			f := cc.takeLocked(cmd.Opaque)
			cc.mu.Unlock()
			if f != nil {
				f.finish(cmd, nil)
			}
			continue
		}
		cc.cl.wg.Add(1)
		go cc.serve(cmd)
	}
}

func (cc *clientConn) readFrame(br *bufio.Reader) (*Command, error) {
	head, err := br.Peek(frameHeadLen)
	if err != nil {
		return nil, err
	}
	length := binary.BigEndian.Uint32(head)
	typ, hdrLen := splitTypeWord(binary.BigEndian.Uint32(head[4:]))
	if uint64(length)+4 > uint64(cc.cl.maxFrame) {
		return nil, badFrame("frame of %d bytes exceeds the %d-byte limit", uint64(length)+4, cc.cl.maxFrame)
	}
	if err := checkFrame(int(length), typ, hdrLen); err != nil {
		return nil, err
	}
	n := 4 + int(length)
	if n <= br.Size() {
		frame, err := br.Peek(n)
		if err != nil {
			return nil, err
		}
		cmd, err := DecodeCommand(frame)
		_, _ = br.Discard(n)
		return cmd, err
	}
	// Too big for the read buffer: read it into the Command's own buffer.
	_, _ = br.Discard(frameHeadLen)
	buf := make([]byte, n-frameHeadLen)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	return decodeOwned(buf, typ, hdrLen)
}

// serve answers a request the server sent down this connection.
func (cc *clientConn) serve(req *Command) {
	defer cc.cl.wg.Done()
	h := (*cc.cl.handlers.Load())[req.Code]
	var resp *Command
	if h == nil {
		resp = unsupported(req)
	} else {
		resp = cc.call(h, req)
	}
	if resp == nil || req.IsOneway() {
		return
	}
	fixResponse(req, resp)
	if err := cc.send(resp, nil); err != nil {
		cc.cl.log.Debug("response dropped", "addr", cc.addr, "code", req.Code, "err", err)
	}
}

func (cc *clientConn) call(h func(string, *Command) *Command, req *Command) (resp *Command) {
	defer func() {
		if r := recover(); r != nil {
			cc.cl.log.Error("handler panic", "code", req.Code, "addr", cc.addr, "panic", r)
			resp = Errorf(req, SystemError, "request code %d: internal error: %v", req.Code, r)
		}
	}()
	return h(cc.addr, req)
}

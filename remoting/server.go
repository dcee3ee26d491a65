package remoting

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/internal/procs"
)

// HandlerFunc serves one request. It runs on a worker goroutine, or on the
// event loop for handlers registered with HandleInline. It returns the
// response, or says explicitly what became of the request: req.Later(),
// req.Answered() or req.Offload() (answer.go).
type HandlerFunc func(c *Conn, req *Command) *Command

// ServerConfig configures a Server. Zero fields take the defaults noted.
type ServerConfig struct {
	Addr         string       // "127.0.0.1:0" picks a free port
	Name         string       // for the log line: "namesrv", "broker"
	Log          *slog.Logger // nil discards
	MaxFrameSize int          // largest frame accepted, length prefix included; default 16 MiB
	Workers      int          // handler pool goroutines, default 64
	QueueSize    int          // queued requests before answering SYSTEM_BUSY, default 16384
	EventLoops   int          // default runtime.NumCPU()
	// IdleTimeout closes a connection that has neither sent nor been sent
	// anything for this long (Java's serverChannelMaxIdleTimeSeconds);
	// default 120 s, negative disables.
	IdleTimeout time.Duration
	Limits      Limits // per-connection flow control (flow.go)
	// TLS, when set, serves TLS on the port (tls.go); nil serves plain TCP
	// from gnet alone.
	TLS *ServerTLS
	// Observe, when set, is told of every answer the server writes: the
	// request's code, the answer's code and the time from the request's
	// decoding to its answer. It runs on the goroutine that answers (an
	// event loop for inline handlers), so it must be quick and not block.
	// connID is the connection's id (to spread concurrent observers).
	Observe func(code, respCode int32, d time.Duration, connID uint64)
}

// ServerStats is what a server holds at one moment and has done since it
// started.
type ServerStats struct {
	Conns          int64 // connections open
	QueuedBytes    int64 // bytes of answers queued for connections, not yet taken by their sockets
	QueuedRequests int   // requests waiting for a worker
	HeldBytes      int64 // bytes of requests counted against serverWorkerQueueMaxBytes
	SlowClosed     int64 // connections closed as slow consumers
	BusyAnswers    int64 // requests answered SYSTEM_BUSY by the server's own bounds
	BytesIn        int64 // bytes of frames decoded, ever
	BytesOut       int64 // bytes handed to the sockets, ever
}

// DefaultMaxFrameSize is Java's frameMaxLength.
const DefaultMaxFrameSize = 16 << 20

// Server serves remoting requests on a gnet engine. Event loops decode
// frames and hand requests to a bounded pool of worker goroutines.
type Server struct {
	cfg      ServerConfig
	lim      Limits // cfg.Limits with defaults
	log      *slog.Logger
	now      func() time.Time // the clock of idle and slow-consumer checks; tests replace it
	handlers atomic.Pointer[map[int32]handler]
	hmu      sync.Mutex // serializes Handle
	onClose  atomic.Pointer[func(*Conn)]

	queue  chan task
	held   atomic.Int64   // bytes of requests counted against Limits.QueueBytes (flow.go)
	waits  atomic.Int64   // times a large request waited for room in Limits.QueueBytes
	wg     sync.WaitGroup // workers and OnClose callbacks
	nextID atomic.Uint64
	opaque atomic.Int32

	conns    sync.Map // id → *Conn, for the idle sweep
	stopIdle chan struct{}

	nconns     atomic.Int64 // connections open
	queued     atomic.Int64 // sum of the connections' last reported queued bytes (flow.go)
	slowClosed atomic.Int64
	busy       atomic.Int64
	bytesIn    atomic.Int64
	bytesOut   atomic.Int64

	mu      sync.Mutex // guards the lifecycle below
	started bool
	closed  atomic.Bool
	engine  gnet.Engine
	addr    string
	runDone chan error // receives gnet.Run's result, then is closed

	releaseProcs func() // gives back the Ps reserved for the event loops

	tls *tlsServer // nil without TLS
}

type handler struct {
	fn     HandlerFunc
	scoped bool // see HandleScoped
	inline bool // see HandleInline
}

type task struct {
	c   *Conn
	req *Command
}

// NewServer returns a server that is not yet listening.
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16384
	}
	if cfg.EventLoops <= 0 {
		cfg.EventLoops = runtime.NumCPU()
	}
	cfg.Limits.setDefaults()
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, lim: cfg.Limits, log: log, now: time.Now}
	s.handlers.Store(&map[int32]handler{})
	return s
}

// Stats returns the server's counters and what it holds now.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Conns:          s.nconns.Load(),
		QueuedBytes:    s.queued.Load(),
		QueuedRequests: len(s.queue),
		HeldBytes:      s.held.Load(),
		SlowClosed:     s.slowClosed.Load(),
		BusyAnswers:    s.busy.Load(),
		BytesIn:        s.bytesIn.Load(),
		BytesOut:       s.bytesOut.Load(),
	}
}

// monoEpoch and monoNow time requests on the monotonic clock, as
// nanoseconds since the process's first use; 0 stays "not timed".
var monoEpoch = time.Now()

func monoNow() int64 { return int64(time.Since(monoEpoch)) + 1 }

// Handle registers h for request code. Registering while serving is safe;
// the usual place is before Start.
func (s *Server) Handle(code int32, h HandlerFunc) { s.register(code, handler{fn: h}) }

// HandleScoped registers h for request code, like Handle, for a handler
// that keeps nothing of its request once it returns: not the Command, not
// its Body, not a string taken from it (a map key, a config field) unless
// copied. The server then reuses the request's memory for a later request.
// A handler that answers later returns req.Later(), which keeps the request;
// one that keeps only strings or bytes of it calls req.Keep().
func (s *Server) HandleScoped(code int32, h HandlerFunc) {
	s.register(code, handler{fn: h, scoped: true})
}

// HandleInline registers h for request code to run on the event loop that
// read the request, as soon as it is decoded: no hand-off to a worker, and
// its response goes out with the loop's next write. On a small machine this
// saves two thread wake-ups per request. h must not block — no disk or
// network waits, no long-held locks; when it finds it would (req.OnLoop()
// tells where it runs), it returns req.Offload(). The rules of HandleScoped
// apply.
func (s *Server) HandleInline(code int32, h HandlerFunc) {
	s.register(code, handler{fn: h, scoped: true, inline: true})
}

func (s *Server) register(code int32, h handler) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	old := *s.handlers.Load()
	m := make(map[int32]handler, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[code] = h
	s.handlers.Store(&m)
}

// OnClose sets fn to be called on its own goroutine after a connection
// closes.
func (s *Server) OnClose(fn func(c *Conn)) { s.onClose.Store(&fn) }

// Start binds the address and returns once the server is listening.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("start %s server: already started", s.cfg.Name)
	}
	s.started = true
	// The event loops, and gnet's accepting loop, block in epoll_wait
	// holding a P each: give them Ps of their own (see internal/procs).
	s.releaseProcs = procs.Reserve(s.cfg.EventLoops + 1)
	s.queue = make(chan task, s.cfg.QueueSize)
	booted := make(chan struct{})
	s.runDone = make(chan error, 1)
	h := &eventHandler{s: s, booted: booted}
	network := "tcp://" + s.cfg.Addr
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.EventLoops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true), // rebind at once after a restart
		// No gnet.WithTCPKeepAlive: gnet sets it after a failed bind, on
		// the closed socket, and reports that ("setsockopt: bad file
		// descriptor") instead of the bind's error. OnBoot sets it.
		gnet.WithLogger(gnetLogger{s.log}),
	}
	if st := s.cfg.TLS; st != nil && st.Mode != TLSDisabled { // a Go listener owns the port (tls.go)
		s.tls = newTLSServer(s, st)
		var err error
		if network, err = s.tls.listen(); err != nil {
			s.started = false
			s.releaseProcs()
			return listenError(s.cfg.Addr, err)
		}
		opts = append(opts, gnet.WithTicker(true))
	}
	go func() {
		s.runDone <- gnet.Run(h, network, opts...)
		close(s.runDone)
	}()
	select {
	case <-booted:
	case err := <-s.runDone:
		s.started = false
		s.releaseProcs()
		if s.tls != nil {
			s.tls.close()
		}
		if err == nil {
			err = errors.New("engine stopped during boot")
		}
		return listenError(s.cfg.Addr, err)
	}
	if h.bootErr == nil && s.tls != nil {
		h.bootErr = s.tls.serve(s.runDone)
	}
	if h.bootErr != nil {
		_ = s.stopEngineLocked()
		if s.tls != nil {
			s.tls.close()
		}
		s.started = false
		s.releaseProcs()
		return listenError(s.cfg.Addr, h.bootErr)
	}
	for range s.cfg.Workers {
		s.wg.Add(1)
		go s.work()
	}
	if s.cfg.IdleTimeout > 0 {
		s.stopIdle = make(chan struct{})
		s.wg.Add(1)
		go s.sweepIdle()
	}
	s.log.Info("listening", "service", s.cfg.Name, "addr", s.addr)
	return nil
}

// listenError names the address a server could not listen on and the
// system's reason, without the calls it came through: a port already in
// use reads "listen 127.0.0.1:10911: address already in use".
func listenError(addr string, err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("listen %s: %w", addr, errno)
	}
	return fmt.Errorf("listen %s: %w", addr, err)
}

// keepAliveIdle is the idle time after which TCP probes a connection (the
// interval is a fifth of it, 5 probes), set on the listening socket so that
// accepted connections inherit it (Linux).
const keepAliveIdle = time.Minute

// setKeepAlive turns TCP keep-alive on for the socket fd.
func setKeepAlive(fd int) error {
	idle := int(keepAliveIdle.Seconds())
	for _, o := range []struct{ level, opt, v int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, idle / 5},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return fmt.Errorf("set keep-alive: %w", err)
		}
	}
	return nil
}

// Addr returns the address the server listens on, with a port 0 resolved.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close closes every connection, stops the event loops and waits for the
// workers. Requests still queued are dropped.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed.Swap(true) {
		return nil
	}
	err := s.stopEngineLocked()
	if s.tls != nil {
		s.tls.close()
	}
	close(s.queue)
	if s.stopIdle != nil {
		close(s.stopIdle)
	}
	s.wg.Wait()
	s.releaseProcs()
	return err
}

// sweepIdle closes connections idle for longer than IdleTimeout.
func (s *Server) sweepIdle() {
	defer s.wg.Done()
	t := time.NewTicker(min(s.cfg.IdleTimeout/4, 10*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stopIdle:
			return
		case <-t.C:
			s.closeIdle(s.now())
		}
	}
}

// closeIdle closes the connections that have been idle for IdleTimeout at
// now.
func (s *Server) closeIdle(now time.Time) {
	limit := now.Add(-s.cfg.IdleTimeout).UnixNano()
	s.conns.Range(func(_, v any) bool {
		if c := v.(*Conn); c.lastActive.Load() < limit {
			s.log.Info("closing idle connection", "addr", c.remote, "idle", s.cfg.IdleTimeout)
			c.Close()
		}
		return true
	})
}

// stopEngineLocked shuts the engine down and waits for gnet.Run to return.
// Engine.Stop polls for completion every 500 ms; with an already cancelled
// context it only signals, and the Run goroutine tells us when it is done.
func (s *Server) stopEngineLocked() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.engine.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop %s server: %w", s.cfg.Name, err)
	}
	if err := <-s.runDone; err != nil {
		return fmt.Errorf("stop %s server: %w", s.cfg.Name, err)
	}
	return nil
}

func (s *Server) work() {
	defer s.wg.Done()
	for t := range s.queue {
		if !t.req.big() {
			s.unhold(t.req) // a small request counts while it waits
		}
		if s.closed.Load() {
			continue // the connections are gone; nobody can read an answer
		}
		s.serve(t.c, t.req)
	}
}

func (s *Server) serve(c *Conn, req *Command) {
	h, ok := (*s.handlers.Load())[req.Code]
	if !ok { // unregistered after dispatch; answer like dispatch would
		c.finish(req)
		c.reply(req, unsupported(req))
		req.release()
		return
	}
	resp := s.call(h.fn, c, req)
	if resp == markOffload { // only an inline call may offload
		resp = Errorf(req, SystemError, "request code %d: the handler asked to be offloaded from a worker", req.Code)
	}
	if resp != markLater { // a deferred request is counted out by Answer
		c.finish(req)
	}
	if !isMarker(resp) {
		c.reply(req, resp) // encodes resp: nothing refers to req afterwards
	}
	if h.scoped {
		req.release()
	}
}

func (s *Server) call(h HandlerFunc, c *Conn, req *Command) (resp *Command) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "code", req.Code, "addr", c.remote, "panic", r, "stack", string(debug.Stack()))
			resp = Errorf(req, SystemError, "request code %d: internal error: %v", req.Code, r)
		}
	}()
	resp = h(c, req)
	if resp == nil {
		s.log.Error("handler returned no answer", "code", req.Code, "addr", c.remote)
		resp = Errorf(req, SystemError, "request code %d: internal error: the handler gave no answer", req.Code)
	}
	return resp
}

func unsupported(req *Command) *Command {
	return Errorf(req, RequestCodeNotSupported, "request code %d is not supported", req.Code)
}

// dispatch routes one decoded frame. It runs on the event loop.
func (s *Server) dispatch(c *Conn, cmd *Command) {
	s.bytesIn.Add(int64(cmd.FrameSize()))
	if cmd.IsResponse() {
		s.unhold(cmd)
		c.complete(cmd)
		return
	}
	if s.cfg.Observe != nil {
		cmd.decoded = monoNow()
	}
	h, ok := (*s.handlers.Load())[cmd.Code]
	if !ok {
		s.unhold(cmd)
		c.replyFromLoop(cmd, unsupported(cmd))
		cmd.release()
		return
	}
	if !c.admit(cmd) {
		s.unhold(cmd)
		cmd.release()
		return
	}
	if h.inline {
		cmd.onLoop = true
		resp := s.call(h.fn, c, cmd)
		cmd.onLoop = false
		if resp != markOffload {
			if resp != markLater {
				c.finish(cmd)
			}
			if !isMarker(resp) {
				c.replyFromLoop(cmd, resp) // flushed at the end of OnTraffic
			}
			cmd.release()
			return
		}
	}
	if !cmd.big() { // a big one counts from its first byte on
		size := int64(cmd.FrameSize())
		if !s.hold(size) {
			c.finish(cmd)
			s.busy.Add(1)
			c.replyFromLoop(cmd, Errorf(cmd, SystemBusy,
				"server busy: %d bytes of requests are already held (serverWorkerQueueMaxBytes), try again later", s.held.Load()))
			cmd.release()
			return
		}
		cmd.held = size
	}
	select {
	case s.queue <- task{c, cmd}:
	default:
		c.finish(cmd)
		s.busy.Add(1)
		c.replyFromLoop(cmd, Errorf(cmd, SystemBusy, "server busy: %d requests are already queued, try again later", cap(s.queue)))
		cmd.release()
	}
}

// eventHandler adapts gnet's callbacks; Server keeps them off its API.
type eventHandler struct {
	gnet.BuiltinEventEngine
	s       *Server
	booted  chan struct{}
	bootErr error
}

func (h *eventHandler) OnBoot(eng gnet.Engine) gnet.Action {
	defer close(h.booted)
	h.s.engine = eng
	if t := h.s.tls; t != nil {
		h.s.addr = t.ln.Addr().String()
		return gnet.None
	}
	fd, err := eng.Dup()
	if err != nil {
		h.bootErr = fmt.Errorf("dup listener: %w", err)
		return gnet.None
	}
	defer unix.Close(fd)
	// Before the loops accept: connections inherit the listener's options.
	if err := setKeepAlive(fd); err != nil {
		h.bootErr = err
		return gnet.None
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		h.bootErr = fmt.Errorf("getsockname: %w", err)
		return gnet.None
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		h.s.addr = net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		h.s.addr = net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	default:
		h.bootErr = fmt.Errorf("listener has unexpected address type %T", sa)
	}
	return gnet.None
}

func (h *eventHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := &Conn{s: h.s, gc: gc, id: h.s.nextID.Add(1)}
	if ra := gc.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	if h.s.tls != nil {
		h.s.tls.connOpened(c, gc.Context())
	}
	c.lastActive.Store(h.s.now().UnixNano())
	h.s.conns.Store(c.id, c)
	h.s.nconns.Add(1)
	gc.SetContext(c)
	return nil, gnet.None
}

func (h *eventHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.None
	}
	c.shutdown()
	h.s.conns.Delete(c.id)
	h.s.nconns.Add(-1)
	h.s.queued.Add(-c.flow.reported)
	c.flow.reported = 0
	if h.s.tls != nil {
		h.s.tls.connClosed(c)
	}
	if err != nil {
		h.s.log.Debug("connection closed", "addr", c.remote, "err", err)
	}
	if fn := h.s.onClose.Load(); fn != nil {
		h.s.wg.Add(1)
		go func() {
			defer h.s.wg.Done()
			(*fn)(c)
		}()
	}
	return gnet.None
}

// OnTraffic decodes the complete frames in the inbound buffer, unless the
// connection's queue is over its high-water mark, then flushes what is
// queued for the connection (flow.go).
func (h *eventHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok {
		return gnet.Close
	}
	c.lastActive.Store(h.s.now().UnixNano())
	for {
		if !c.flow.paused {
			if act := h.s.readFrames(c); act != gnet.None {
				return act
			}
		}
		c.flush()
		if !c.flow.paused || !c.resume() {
			break
		}
	}
	return c.checkFlow()
}

// readFrames decodes and dispatches the frames in c's inbound buffer until
// it runs out of complete frames or c's queue reaches the high-water mark.
func (s *Server) readFrames(c *Conn) gnet.Action {
	gc := c.gc
	for {
		if c.big.buf != nil {
			if !c.readBig() {
				break // wait for the rest of the frame
			}
			cmd, err := decodeOwnedRequest(c.big.buf, c.big.typ, c.big.hdrLen)
			held := int64(c.big.need)
			c.big = bigFrame{}
			if err != nil {
				s.held.Add(-held)
				s.log.Warn("bad frame", "addr", c.remote, "err", err)
				return gnet.Close
			}
			cmd.held = held
			s.dispatch(c, cmd)
			continue
		}
		if c.queued() >= int64(s.lim.HighWater) {
			c.pause()
			break
		}
		if gc.InboundBuffered() < frameHeadLen {
			break
		}
		head, err := gc.Peek(frameHeadLen)
		if err != nil {
			break
		}
		length := binary.BigEndian.Uint32(head)
		typ, hdrLen := splitTypeWord(binary.BigEndian.Uint32(head[4:]))
		n := 4 + int(length)
		if uint64(length)+4 > uint64(s.cfg.MaxFrameSize) {
			err := badFrame("frame of %d bytes exceeds the %d-byte limit", uint64(length)+4, s.cfg.MaxFrameSize)
			if looksLikeTLS(head) {
				err = errTLSOnPlainPort
			}
			s.log.Warn("bad frame", "addr", c.remote, "err", err)
			return gnet.Close
		}
		if err := checkFrame(int(length), typ, hdrLen); err != nil {
			s.log.Warn("bad frame", "addr", c.remote, "err", err)
			return gnet.Close
		}
		if n-frameHeadLen > maxPooledRequest { // read it into a buffer of its own
			if !c.holdBig(n - frameHeadLen) {
				break // wait until the server holds fewer bytes of requests
			}
			_, _ = gc.Discard(frameHeadLen)
			c.big = bigFrame{buf: []byte{}, need: n - frameHeadLen, typ: typ, hdrLen: hdrLen}
			continue
		}
		if gc.InboundBuffered() < n {
			break // wait for the rest of the frame
		}
		frame, err := gc.Peek(n)
		if err != nil {
			break
		}
		cmd, err := decodeRequest(frame) // copies what it keeps: frame dies at Discard
		_, _ = gc.Discard(n)
		if err != nil {
			s.log.Warn("bad frame", "addr", c.remote, "err", err)
			return gnet.Close
		}
		s.dispatch(c, cmd)
	}
	return gnet.None
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ log *slog.Logger }

func (l gnetLogger) logf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "gnet")
	}
}

func (l gnetLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }
func (l gnetLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l gnetLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args) }
func (l gnetLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }
func (l gnetLogger) Fatalf(format string, args ...any) { l.logf(slog.LevelError, format, args) }

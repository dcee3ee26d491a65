package remoting

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// TLS on a Server's port.
//
// gnet has no TLS. With ServerConfig.TLS set, a Go listener owns the port
// and the event loops listen on a Unix socket whose path is removed as soon
// as it is bound, so nothing can reach them but what the server hands over.
// Every accepted connection waits on a goroutine for its first byte: a TLS
// connection starts with a handshake record (0x16), a RocketMQ frame with
// a length whose first byte is 0. A plain connection (permissive mode) is
// given to the event loops as it is (gnet dups the descriptor), and costs
// nothing more than under gnet's own accept. A TLS connection finishes its
// handshake on the goroutine and is bridged to the event loops through a
// socketpair: fromPeer decrypts into it, toPeer encrypts what the loop
// writes, and the loop sees an ordinary connection (Conn.RemoteAddr is the
// peer's, not the socketpair's).
//
// Closing: when the peer goes, fromPeer closes the socketpair and the loop
// sees the connection close. When the loop closes a connection (Close,
// idle, a bad frame, a slow consumer), toPeer forwards what the loop wrote
// before closing and ends the TLS session; if the peer does not take it
// within closeLinger, the write deadline set at OnClose cuts it.

// ServerTLS turns on TLS for a Server.
type ServerTLS struct {
	Mode             TLSMode       // TLSPermissive or TLSEnforcing; TLSDisabled is as if ServerTLS were nil
	Config           *tls.Config   // certificates and client authentication
	HandshakeTimeout time.Duration // first byte and handshake of a new connection; default DefaultHandshakeTimeout
}

// tlsHandshakeRecord is the first byte of a TLS client (RFC 8446 §5.1). A
// RocketMQ frame starts with its big-endian length, whose first byte is 0
// below 16 MiB.
const tlsHandshakeRecord = 0x16

// errTLSOnPlainPort explains the "frame" a TLS client sends to a port
// without TLS: its record header read as a length is some 350 MiB.
var errTLSOnPlainPort = badFrame("a TLS handshake on a port without TLS (tls.server.mode=disabled)")

// looksLikeTLS reports whether a frame prefix is a TLS record header.
func looksLikeTLS(head []byte) bool { return head[0] == tlsHandshakeRecord && head[1] == 3 }

// maxRefusedHeader bounds what is read of a plain client's request in
// enforcing mode to answer it.
const maxRefusedHeader = 64 << 10

// maxRecordPlaintext is the most a TLS record carries, and so the most one
// tls.Conn.Read returns.
const maxRecordPlaintext = 16 << 10

// bridgeBufs hold what toPeer moves from the event loop to a TLS peer; a
// buffer is taken only once data is there, so idle connections hold none.
var bridgeBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// tlsServer accepts the Server's connections when TLS is on.
type tlsServer struct {
	s       *Server
	mode    TLSMode
	cfg     *tls.Config
	timeout time.Duration

	ln     net.Listener
	hidden string        // directory of the event loops' listening socket, removed once bound
	ticked chan struct{} // closed on gnet's first tick: the event loops run
	tick   sync.Once
	done   chan struct{} // closed by close

	regMu sync.Mutex // Engine.Register: gnet's round-robin balancer is not safe for concurrent use

	mu      sync.Mutex
	closed  bool
	raw     map[net.Conn]struct{} // accepted TCP connections not handed to gnet; close closes them
	bridges map[uint64]*tlsBridge // by Conn id
	wg      sync.WaitGroup        // accept loop, handshakes, bridge copies
	once    sync.Once
}

func newTLSServer(s *Server, st *ServerTLS) *tlsServer {
	timeout := st.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	return &tlsServer{
		s: s, mode: st.Mode, cfg: st.Config, timeout: timeout,
		ticked: make(chan struct{}), done: make(chan struct{}),
		raw: make(map[net.Conn]struct{}), bridges: make(map[uint64]*tlsBridge),
	}
}

// listen binds the server's address and returns the address the event
// loops are to listen on instead.
func (t *tlsServer) listen() (string, error) {
	if t.cfg == nil {
		return "", fmt.Errorf("tls.server.mode=%s without a certificate", t.mode)
	}
	lc := net.ListenConfig{KeepAlive: time.Minute} // as gnet.WithTCPKeepAlive
	ln, err := lc.Listen(context.Background(), "tcp", t.s.cfg.Addr)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "rocketgo-loops-")
	if err != nil {
		ln.Close()
		return "", fmt.Errorf("event loop socket: %w", err)
	}
	t.ln, t.hidden = ln, dir
	return "unix://" + filepath.Join(dir, "s"), nil
}

// serve starts accepting once the event loops run. The engine has booted:
// its socket is bound, and its path goes.
func (t *tlsServer) serve(runDone <-chan error) error {
	_ = os.RemoveAll(t.hidden)
	select {
	case <-t.ticked:
	case err := <-runDone:
		if err == nil {
			err = errors.New("engine stopped during boot")
		}
		return err
	}
	t.s.log.Info("TLS on", "service", t.s.cfg.Name, "mode", t.mode, "clientAuth", t.cfg.ClientAuth.String(),
		"handshakeTimeout", t.timeout)
	t.wg.Add(1)
	go t.acceptLoop()
	return nil
}

// OnTick runs first once every event loop is registered with the engine
// (gnet starts its ticker after them; the ticker is on only with TLS):
// from then on Engine.Register may be called.
func (h *eventHandler) OnTick() (time.Duration, gnet.Action) {
	if t := h.s.tls; t != nil {
		t.tick.Do(func() { close(t.ticked) })
	}
	return time.Hour, gnet.None
}

// close stops accepting, closes the connections not yet handed over and
// every bridged one, and waits for their goroutines. The engine is stopped
// first, so the loop sides are gone.
func (t *tlsServer) close() {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		conns := make([]net.Conn, 0, len(t.raw))
		for nc := range t.raw {
			conns = append(conns, nc)
		}
		t.mu.Unlock()
		close(t.done)
		if t.ln != nil {
			t.ln.Close()
		}
		_ = os.RemoveAll(t.hidden)
		for _, nc := range conns {
			nc.Close()
		}
		t.wg.Wait()
	})
}

func (t *tlsServer) acceptLoop() {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: wait rather than spin, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.s.log.Warn("accept", "service", t.s.cfg.Name, "err", err, "retryIn", backoff)
			select {
			case <-time.After(backoff):
			case <-t.done:
				return
			}
			continue
		}
		backoff = 0
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			nc.Close()
			return
		}
		t.raw[nc] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.handshake(nc)
	}
}

// drop closes nc and forgets it.
func (t *tlsServer) drop(nc net.Conn) {
	t.forget(nc)
	nc.Close()
}

func (t *tlsServer) forget(nc net.Conn) {
	t.mu.Lock()
	delete(t.raw, nc)
	t.mu.Unlock()
}

// handshake tells a new connection's kind by its first byte and hands it
// to the event loops, plain or through a TLS bridge.
func (t *tlsServer) handshake(nc net.Conn) {
	defer t.wg.Done()
	remote := nc.RemoteAddr().String()
	_ = nc.SetDeadline(time.Now().Add(t.timeout))
	first, err := peekByte(nc)
	if err != nil {
		t.s.log.Debug("connection closed before its first byte", "addr", remote, "err", err)
		t.drop(nc)
		return
	}
	if first != tlsHandshakeRecord {
		if t.mode == TLSEnforcing {
			t.refuse(nc, remote)
			t.drop(nc)
			return
		}
		t.forget(nc)
		_ = nc.SetDeadline(time.Time{})
		if err := t.enroll(nc, nil); err != nil { // gnet has closed nc
			t.s.log.Debug("hand connection to the event loops", "addr", remote, "err", err)
		}
		return
	}
	tc := tls.Server(nc, t.cfg)
	if err := tc.Handshake(); err != nil {
		t.s.log.Warn("TLS handshake failed", "service", t.s.cfg.Name, "addr", remote, "err", err)
		t.drop(nc)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	t.bridge(nc, tc, remote)
}

// peekByte waits for nc's first byte and returns it, leaving it unread.
func peekByte(nc net.Conn) (byte, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
			if rerr != unix.EINTR {
				break
			}
		}
		return rerr != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return b[0], nil
}

// refuse answers a plain client's first request, in enforcing mode, with
// NO_PERMISSION and a remark saying why, so that the client reports more
// than a dropped connection (RocketMQ only closes). Then the connection is
// closed.
func (t *tlsServer) refuse(nc net.Conn, remote string) {
	t.s.log.Warn("refused a plain connection: tls.server.mode=enforcing accepts TLS only",
		"service", t.s.cfg.Name, "addr", remote)
	var head [frameHeadLen]byte
	if _, err := io.ReadFull(nc, head[:]); err != nil {
		return
	}
	length := binary.BigEndian.Uint32(head[:])
	typ, hdrLen := splitTypeWord(binary.BigEndian.Uint32(head[4:]))
	if length > uint32(t.s.cfg.MaxFrameSize) || checkFrame(int(length), typ, hdrLen) != nil || hdrLen > maxRefusedHeader {
		return
	}
	hdr := make([]byte, hdrLen)
	if _, err := io.ReadFull(nc, hdr); err != nil {
		return
	}
	req, err := decodeOwned(hdr, typ, hdrLen)
	if err != nil || req.IsResponse() || req.IsOneway() {
		return
	}
	resp := Errorf(req, NoPermission, "%s %s accepts TLS connections only (tls.server.mode=enforcing): connect with TLS",
		t.s.cfg.Name, t.ln.Addr())
	fixResponse(req, resp)
	if _, err := nc.Write(resp.Encode(nil)); err != nil {
		return
	}
	// Closing with unread input resets the connection, and the reset can
	// overtake the answer: end our side and read until the client hangs up
	// (it reads the answer and goes) or the deadline passes.
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, nc, int64(length)+maxRefusedHeader)
}

// enroll hands conn to the event loops; br, if not nil, is the TLS bridge
// conn belongs to. gnet takes a duplicate of conn's descriptor and closes
// conn, whatever the outcome.
func (t *tlsServer) enroll(conn net.Conn, br *tlsBridge) error {
	ctx := gnet.NewNetConnContext(context.Background(), conn)
	if br != nil {
		ctx = gnet.NewContext(ctx, br) // OnOpen finds it in gnet.Conn.Context
	}
	t.regMu.Lock()
	res, err := t.s.engine.Register(ctx)
	t.regMu.Unlock()
	if err != nil {
		conn.Close()
		return err
	}
	select {
	case r := <-res:
		return r.Err
	case <-t.done: // the engine stopped and may never run the registration
		return ErrClosed
	}
}

// connOpened runs in OnOpen: a bridged connection takes its peer's address.
func (t *tlsServer) connOpened(c *Conn, ctx any) {
	br, ok := ctx.(*tlsBridge)
	if !ok {
		return
	}
	c.remote = br.remote
	t.mu.Lock()
	t.bridges[c.id] = br
	t.mu.Unlock()
}

// connClosed runs in OnClose, on the event loop: it must not block.
func (t *tlsServer) connClosed(c *Conn) {
	t.mu.Lock()
	br := t.bridges[c.id]
	delete(t.bridges, c.id)
	t.mu.Unlock()
	if br != nil {
		// toPeer forwards what the loop wrote, then ends the session; a
		// peer that does not read gets closeLinger to take it.
		_ = br.raw.SetWriteDeadline(time.Now().Add(closeLinger))
	}
}

// tlsBridge joins a TLS connection to the event loops through a socketpair.
type tlsBridge struct {
	t      *tlsServer
	remote string
	raw    net.Conn  // the TCP connection under tc
	tc     *tls.Conn //
	pair   net.Conn  // our end of the socketpair; the event loop has the other
	once   sync.Once
}

// bridge connects tc to the event loops and starts copying.
func (t *tlsServer) bridge(raw net.Conn, tc *tls.Conn, remote string) {
	ours, theirs, err := socketpair()
	if err != nil {
		t.s.log.Warn("TLS bridge", "addr", remote, "err", err)
		t.drop(raw)
		return
	}
	br := &tlsBridge{t: t, remote: remote, raw: raw, tc: tc, pair: ours}
	if err := t.enroll(theirs, br); err != nil {
		t.s.log.Debug("hand TLS connection to the event loops", "addr", remote, "err", err)
		ours.Close()
		t.drop(raw)
		return
	}
	t.wg.Add(2) // this goroutine holds a count: Add cannot race close's Wait
	go br.fromPeer()
	go br.toPeer()
}

// socketpair returns the two ends of a connected Unix stream socket pair.
func socketpair() (ours, theirs net.Conn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	conn := func(fd int) (net.Conn, error) {
		f := os.NewFile(uintptr(fd), "tls-bridge")
		defer f.Close() // FileConn keeps a duplicate
		return net.FileConn(f)
	}
	if ours, err = conn(fds[0]); err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	if theirs, err = conn(fds[1]); err != nil {
		ours.Close()
		return nil, nil, err
	}
	return ours, theirs, nil
}

// fromPeer decrypts what the peer sends into the socketpair.
func (b *tlsBridge) fromPeer() {
	defer b.t.wg.Done()
	defer b.shutdown()
	buf := make([]byte, maxRecordPlaintext)
	for {
		n, err := b.tc.Read(buf)
		if n > 0 {
			if _, werr := b.pair.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				b.t.s.log.Debug("TLS read", "addr", b.remote, "err", err)
			}
			return
		}
	}
}

// toPeer encrypts what the event loop writes and sends it to the peer.
// When the loop closes its end, toPeer ends the TLS session.
func (b *tlsBridge) toPeer() {
	defer b.t.wg.Done()
	defer b.shutdown()
	rc, err := b.pair.(syscall.Conn).SyscallConn()
	if err != nil {
		return
	}
	for {
		buf, n, err := readPooled(rc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = b.tc.Close() // close_notify, under tls's own 5 s write deadline
			}
			return
		}
		_, err = b.tc.Write((*buf)[:n])
		bridgeBufs.Put(buf)
		if err != nil {
			b.t.s.log.Debug("TLS write", "addr", b.remote, "err", err)
			return
		}
	}
}

// readPooled waits until rc is readable, then reads into a pooled buffer.
func readPooled(rc syscall.RawConn) (*[]byte, int, error) {
	var buf *[]byte
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		buf = bridgeBufs.Get().(*[]byte)
		for {
			n, rerr = unix.Read(int(fd), *buf)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			bridgeBufs.Put(buf)
			buf = nil
			return false // wait for data
		}
		return true
	})
	if err == nil && rerr == nil && n == 0 {
		err = io.EOF
	} else if err == nil {
		err = rerr
	}
	if err != nil {
		if buf != nil {
			bridgeBufs.Put(buf)
		}
		return nil, 0, err
	}
	return buf, n, nil
}

// shutdown closes both sides once: the event loop sees its end close, and
// the peer's connection goes.
func (b *tlsBridge) shutdown() {
	b.once.Do(func() {
		b.pair.Close()
		b.t.drop(b.raw)
	})
}

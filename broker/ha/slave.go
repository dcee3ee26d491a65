package ha

import (
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

// Sink is what the slave needs from its commit log.
type Sink interface {
	MaxOffset() int64
	// AppendAt appends bytes that must start exactly at MaxOffset (or
	// anywhere while the log is empty).
	AppendAt(off int64, data []byte) error
}

// WindowSink is a Sink that lets the slave receive straight into the end of
// its log: AppendWindow returns the log's end offset and writable mapped
// bytes from there; CommitWindow appends the first n of them.
type WindowSink interface {
	AppendWindow() (int64, []byte, error)
	CommitWindow(off int64, n int) error
}

// SlaveConfig configures the slave side.
type SlaveConfig struct {
	// MasterAddr returns the master's HA address, "" while unknown; it
	// is asked before every connection attempt.
	MasterAddr        func() string
	Sink              Sink
	Log               *slog.Logger
	HeartbeatInterval time.Duration // report at least this often, default 5 s
	IdleTimeout       time.Duration // reconnect after this long without a frame, default 20 s
	MaxBackoff        time.Duration // between failed connection attempts, default 5 s

	// Controller mode: Hello returns this slave's broker id and the master
	// epoch the controller announced; the session starts with a handshake
	// (handshake.go) and a master at an older epoch is refused. Reconcile
	// is given the master's epoch, epoch entries and log end before any
	// byte is replicated: it cuts the local log to the last point it
	// shares with the master's and adopts the master's entries.
	Hello     func() (id int64, epoch int32)
	Reconcile func(epoch int32, entries []EpochEntry, masterEnd int64) error
}

// SlaveStats counts replication work on a slave.
type SlaveStats struct {
	Connected  bool
	Master     string
	Frames     int64
	Bytes      int64
	Reconnects int64
	Rejected   int64 // frames the log refused (wrong offset, corrupt)
}

// Slave pulls the master's commit log.
type Slave struct {
	cfg SlaveConfig
	log *slog.Logger

	frames, bytes, reconnects, mismatches atomic.Int64
	connected                             atomic.Bool
	master                                atomic.Pointer[string]

	mu   sync.Mutex
	conn net.Conn
	gen  uint64 // bumped by Reconnect: a session of an older one stops

	session sync.Mutex // held while a session runs
	kick    chan struct{}

	done chan struct{}
	wg   sync.WaitGroup
}

// NewSlave returns a slave; Start runs it.
func NewSlave(cfg SlaveConfig) *Slave {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 20 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Slave{cfg: cfg, log: cfg.Log, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// Start begins replicating in the background.
func (s *Slave) Start() {
	s.wg.Add(1)
	go s.run()
}

// Close stops replicating.
func (s *Slave) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Reconnect ends the current session, if any, and returns once it has
// ended: no byte it received is appended afterwards. The slave then asks
// MasterAddr again at once.
func (s *Slave) Reconnect() {
	s.mu.Lock()
	s.gen++
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	s.session.Lock()
	s.session.Unlock() //nolint:staticcheck // waits for the session to end
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Stats returns counters.
func (s *Slave) Stats() SlaveStats {
	st := SlaveStats{
		Connected: s.connected.Load(), Frames: s.frames.Load(), Bytes: s.bytes.Load(),
		Reconnects: s.reconnects.Load(), Rejected: s.mismatches.Load(),
	}
	if p := s.master.Load(); p != nil {
		st.Master = *p
	}
	return st
}

func (s *Slave) run() {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-s.done:
			return
		default:
		}
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		addr := s.cfg.MasterAddr()
		if addr == "" {
			backoff = 100 * time.Millisecond
			if !s.sleep(time.Second) {
				return
			}
			continue
		}
		start := time.Now()
		s.session.Lock()
		err := s.replicate(addr, gen)
		s.connected.Store(false)
		s.session.Unlock()
		select {
		case <-s.done:
			return
		default:
		}
		s.reconnects.Add(1)
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		s.log.Info("replication from master interrupted", "master", addr, "err", err, "retry", backoff)
		if !s.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// sleep waits d, or less when Reconnect kicks; false once the slave closed.
func (s *Slave) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return false
	case <-t.C:
	case <-s.kick:
	}
	return true
}

// replicate runs one session: it replicates over one connection until it
// fails.
func (s *Slave) replicate(addr string, gen uint64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.gen != gen { // Reconnect since addr was asked: it may be stale
		s.mu.Unlock()
		c.Close()
		return errors.New("ha: master changed while connecting")
	}
	s.conn = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		c.Close()
	}()
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if s.cfg.Hello != nil {
		if err := s.handshake(c); err != nil {
			return err
		}
	}
	s.master.Store(&addr)
	s.connected.Store(true)

	var wmu sync.Mutex
	var reported atomic.Int64
	report := func(off int64) error {
		wmu.Lock()
		defer wmu.Unlock()
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(off))
		c.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		_, err := c.Write(b[:])
		if err == nil {
			reported.Store(off)
		}
		return err
	}
	if err := report(s.cfg.Sink.MaxOffset()); err != nil {
		return fmt.Errorf("report offset: %w", err)
	}
	s.log.Info("replicating from master", "master", addr, "offset", s.cfg.Sink.MaxOffset())

	// Report at least every HeartbeatInterval, so the master knows this
	// slave is alive even while nothing is replicated.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(s.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if report(s.cfg.Sink.MaxOffset()) != nil {
					c.Close()
					return
				}
			}
		}
	}()

	win, _ := s.cfg.Sink.(WindowSink)
	r := &frameReader{c: c, buf: make([]byte, 64<<10)}
	var spare []byte
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		off, n, err := r.header()
		if err != nil {
			return err
		}
		if n > 0 {
			if err := s.appendFrame(r, win, off, n, &spare); err != nil {
				return err
			}
			s.frames.Add(1)
			s.bytes.Add(int64(n))
		}
		// Ack once the frames already here are appended: one report per
		// burst, not per frame.
		if !r.buffered() {
			if max := s.cfg.Sink.MaxOffset(); max != reported.Load() {
				if err := report(max); err != nil {
					return fmt.Errorf("report offset: %w", err)
				}
			}
		}
	}
}

// handshake introduces this slave to the master and reconciles the local
// log with the master's before the first offset report.
func (s *Slave) handshake(c net.Conn) error {
	id, want := s.cfg.Hello()
	c.SetDeadline(time.Now().Add(s.cfg.IdleTimeout))
	if _, err := c.Write(encodeHello(id, want)); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	epoch, end, entries, err := readWelcome(c)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	c.SetDeadline(time.Time{})
	if epoch < want {
		return fmt.Errorf("%w: master at epoch %d, controller announced %d", ErrStaleEpoch, epoch, want)
	}
	if s.cfg.Reconcile != nil {
		if err := s.cfg.Reconcile(epoch, entries, end); err != nil {
			return fmt.Errorf("reconcile with master at epoch %d: %w", epoch, err)
		}
	}
	return nil
}

// appendFrame appends the n-byte body of a frame at off: received straight
// into the log's mapping when the sink offers a window there, else through
// a buffer.
func (s *Slave) appendFrame(r *frameReader, win WindowSink, off int64, n int, spare *[]byte) error {
	if win != nil && s.cfg.Sink.MaxOffset() == off {
		woff, w, err := win.AppendWindow()
		if err != nil {
			s.mismatches.Add(1)
			return fmt.Errorf("open append window: %w", err)
		}
		if woff == off && len(w) >= n {
			if err := r.readBody(w[:n]); err != nil {
				return err
			}
			if err := win.CommitWindow(off, n); err != nil {
				s.mismatches.Add(1)
				return fmt.Errorf("append at %d: %w", off, err)
			}
			return nil
		}
	}
	if cap(*spare) < n {
		*spare = make([]byte, n)
	}
	body := (*spare)[:n]
	if err := r.readBody(body); err != nil {
		return err
	}
	if err := s.cfg.Sink.AppendAt(off, body); err != nil {
		s.mismatches.Add(1)
		return fmt.Errorf("append at %d: %w", off, err)
	}
	return nil
}

// frameReader parses master frames from a connection into a reused buffer.
type frameReader struct {
	c          net.Conn
	buf        []byte
	start, end int
}

func (r *frameReader) buffered() bool { return r.end-r.start >= 12 }

// header returns the next frame's log offset and body size.
func (r *frameReader) header() (int64, int, error) {
	if err := r.fill(12); err != nil {
		return 0, 0, err
	}
	off := int64(binary.BigEndian.Uint64(r.buf[r.start:]))
	n := int(int32(binary.BigEndian.Uint32(r.buf[r.start+8:])))
	r.start += 12
	if n < 0 || n > 64<<20 {
		return 0, 0, fmt.Errorf("master frame size %d is out of range", n)
	}
	return off, n, nil
}

// readBody fills dst with the next len(dst) bytes: those already buffered,
// then the rest straight from the connection.
func (r *frameReader) readBody(dst []byte) error {
	k := copy(dst, r.buf[r.start:r.end])
	r.start += k
	if k < len(dst) {
		if _, err := io.ReadFull(r.c, dst[k:]); err != nil {
			return err
		}
	}
	return nil
}

// fill makes at least n (≤ len(r.buf)) bytes available from r.start.
func (r *frameReader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if r.start+n > len(r.buf) {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	for r.end-r.start < n {
		k, err := r.c.Read(r.buf[r.end:])
		r.end += k
		if err != nil {
			if errors.Is(err, io.EOF) && r.end-r.start >= n {
				return nil
			}
			return err
		}
	}
	return nil
}

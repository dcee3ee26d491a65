package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Source is what the master needs from its commit log.
type Source interface {
	MinOffset() int64
	MaxOffset() int64
	// Chunk returns the segment file holding offset from, and the
	// position and length (≤ max, > 0) of the readable bytes starting
	// there, never crossing the segment's end. The file stays open until
	// release is called.
	Chunk(from int64, max int) (f *os.File, pos int64, n int, release func(), err error)
}

// Outcomes of a replication wait, mapped by the broker to RocketMQ's
// SLAVE_NOT_AVAILABLE and FLUSH_SLAVE_TIMEOUT.
var (
	ErrNoSlave     = errors.New("ha: no slave is connected")
	ErrSlaveBehind = errors.New("ha: every slave is too far behind")
	ErrAckTimeout  = errors.New("ha: no slave acknowledged in time")
	ErrClosed      = errors.New("ha: closed")
)

// MasterConfig configures the master side.
type MasterConfig struct {
	Listen            string // ip:port; port 0 picks a free one
	Source            Source
	Log               *slog.Logger
	BatchSize         int           // haTransferBatchSize, default 32 KiB
	HeartbeatInterval time.Duration // default 5 s
	IdleTimeout       time.Duration // close a slave silent this long, default 20 s
	SendTimeout       time.Duration // close a slave that takes no byte of a frame this long (haSendTimeout), default 20 s
	FallbehindMax     int64         // haSlaveFallbehindMax, default 256 MiB

	// Controller mode. Epochs returns this broker's master epoch (0
	// while it is not the master) and its epoch entries; when set, every
	// slave connection starts with a handshake (handshake.go) and slaves
	// master epoch 0 refuses. With AllAck a replication wait needs every
	// slave of the SyncStateSet (SetInSync), not any one slave.
	Epochs func() (int32, []EpochEntry)
	AllAck bool
	// OnConfirm, when set, is called (on the goroutine of a slave's
	// report or of SetInSync; it must not block) each time Confirmed
	// advances.
	OnConfirm func()
}

// MasterStats counts replication work.
type MasterStats struct {
	Slaves         int
	AckedOffset    int64
	BytesSendfile  int64 // body bytes sent with sendfile, never copied through user space
	Frames         int64
	WaitersPending int
}

// Master serves the commit log to slaves.
type Master struct {
	cfg MasterConfig
	log *slog.Logger
	ln  net.Listener

	waiters waiters

	// AllAck: the slaves of the SyncStateSet and each slave's last report
	// by broker id; ackMu.
	ackMu   sync.Mutex
	inSync  []int64
	ackByID map[int64]int64
	// confirmed is the log offset every slave of the SyncStateSet
	// reported (controller mode; MaxInt64 with the master alone).
	confirmed atomic.Int64

	mu     sync.Mutex
	conns  map[*slaveConn]struct{}
	closed bool

	sendfileBytes atomic.Int64
	frames        atomic.Int64

	done chan struct{}
	wg   sync.WaitGroup
}

// NewMaster returns a master; Start listens.
func NewMaster(cfg MasterConfig) *Master {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32 << 10
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 20 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 20 * time.Second
	}
	if cfg.FallbehindMax <= 0 {
		cfg.FallbehindMax = 256 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Master{cfg: cfg, log: cfg.Log, conns: map[*slaveConn]struct{}{}, ackByID: map[int64]int64{}, done: make(chan struct{})}
	m.confirmed.Store(math.MaxInt64)
	return m
}

// Start listens on cfg.Listen and logs the address.
func (m *Master) Start() error {
	ln, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ha: %w", err) // "listen tcp ADDR: bind: reason"
	}
	m.ln = ln
	m.log.Info("listening", "service", "ha", "addr", ln.Addr().String())
	m.wg.Add(2)
	go m.accept()
	go m.sweep()
	return nil
}

// Addr returns the listening address.
func (m *Master) Addr() string { return m.ln.Addr().String() }

func (m *Master) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			m.log.Warn("ha accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		tc := c.(*net.TCPConn)
		tc.SetNoDelay(true)
		sc := &slaveConn{m: m, c: tc, wake: make(chan struct{}, 1), start: make(chan int64, 1), gone: make(chan struct{})}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.conns[sc] = struct{}{}
		m.mu.Unlock()
		m.log.Info("slave connected", "addr", c.RemoteAddr().String())
		m.wg.Add(2)
		go sc.readLoop()
		go sc.sendLoop()
	}
}

// sweep fails replication waits that ran out of time.
func (m *Master) sweep() {
	defer m.wg.Done()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case now := <-t.C:
			m.waiters.expire(now)
		}
	}
}

// Notify wakes the senders: the log grew. It is cheap enough to call on
// every append.
func (m *Master) Notify() {
	m.mu.Lock()
	for sc := range m.conns {
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
}

// Wait calls done once a slave acknowledged end (nil), or with ErrNoSlave
// or ErrSlaveBehind at once, or ErrAckTimeout after timeout. done runs on
// another goroutine or inline and must not block.
func (m *Master) Wait(end int64, timeout time.Duration, done func(error)) {
	m.mu.Lock()
	n := len(m.conns)
	closed := m.closed
	m.mu.Unlock()
	if closed {
		done(ErrClosed)
		return
	}
	if m.cfg.AllAck {
		m.ackMu.Lock()
		alone := len(m.inSync) == 0
		m.ackMu.Unlock()
		if alone { // the SyncStateSet is the master: it holds the message
			done(nil)
			return
		}
		m.waitAck(end, timeout, done)
		return
	}
	switch {
	case n == 0:
		done(ErrNoSlave)
		return
	case end-m.waiters.ackedOffset() >= m.cfg.FallbehindMax:
		done(ErrSlaveBehind)
		return
	}
	m.waitAck(end, timeout, done)
}

func (m *Master) waitAck(end int64, timeout time.Duration, done func(error)) {
	m.waiters.add(end, time.Now().Add(timeout), func(ok bool) {
		if ok {
			done(nil)
		} else {
			done(ErrAckTimeout)
		}
	})
	m.Notify()
}

// SetInSync sets the slaves (broker ids) a wait needs with AllAck: the
// SyncStateSet without the master. Waits it now covers are released; an
// empty set releases them all (the master alone holds what it stored).
func (m *Master) SetInSync(ids []int64) {
	m.ackMu.Lock()
	m.inSync = slices.Clone(ids)
	acked := m.groupAckLocked()
	advanced := m.confirmLocked(acked)
	m.ackMu.Unlock()
	m.waiters.set(acked)
	if advanced && m.cfg.OnConfirm != nil {
		m.cfg.OnConfirm()
	}
}

// Confirmed is the log offset up to which every replica of the
// SyncStateSet holds the log (controller mode): what consumers may read
// without seeing a message that a failover could take back (RocketMQ's
// confirmOffset). MaxInt64 when the master is alone in the set, and
// outside controller mode.
func (m *Master) Confirmed() int64 { return m.confirmed.Load() }

// confirmLocked records the SyncStateSet's offset and reports whether it
// advanced. m.ackMu must be held.
func (m *Master) confirmLocked(acked int64) bool {
	return m.confirmed.Swap(acked) < acked
}

// groupAckLocked is the offset every slave of the SyncStateSet reported.
// m.ackMu must be held.
func (m *Master) groupAckLocked() int64 {
	if len(m.inSync) == 0 {
		return math.MaxInt64
	}
	acked := int64(math.MaxInt64)
	for _, id := range m.inSync {
		acked = min(acked, m.ackByID[id])
	}
	return acked
}

// report takes a slave's offset report.
func (m *Master) report(sc *slaveConn, off int64) {
	if m.cfg.Epochs == nil { // classic HA: no SyncStateSet
		m.waiters.ack(off)
		return
	}
	m.ackMu.Lock()
	m.ackByID[sc.id.Load()] = off
	acked := m.groupAckLocked()
	advanced := m.confirmLocked(acked)
	m.ackMu.Unlock()
	if m.cfg.AllAck {
		m.waiters.set(acked)
	} else {
		m.waiters.ack(off)
	}
	if advanced && m.cfg.OnConfirm != nil {
		m.cfg.OnConfirm()
	}
}

// DropSlaves closes every slave connection, forgets their reports and
// fails the pending waits: this broker stopped being the master, or
// became it at a new epoch (controller mode).
func (m *Master) DropSlaves() {
	m.mu.Lock()
	conns := make([]*slaveConn, 0, len(m.conns))
	for sc := range m.conns {
		conns = append(conns, sc)
	}
	m.mu.Unlock()
	for _, sc := range conns {
		sc.close()
	}
	// What the slaves reported belongs to the old epoch: a slave may cut
	// its log when it handshakes again.
	m.ackMu.Lock()
	clear(m.ackByID)
	m.ackMu.Unlock()
	m.waiters.failAll()
}

// Stats returns counters.
func (m *Master) Stats() MasterStats {
	m.mu.Lock()
	n := len(m.conns)
	m.mu.Unlock()
	acked := m.waiters.ackedOffset()
	if acked == math.MaxInt64 { // AllAck with the master alone in the set
		acked = m.cfg.Source.MaxOffset()
	}
	return MasterStats{
		Slaves:         n,
		AckedOffset:    acked,
		BytesSendfile:  m.sendfileBytes.Load(),
		Frames:         m.frames.Load(),
		WaitersPending: m.waiters.len(),
	}
}

// Close stops listening, drops the slaves and fails pending waits.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	conns := make([]*slaveConn, 0, len(m.conns))
	for sc := range m.conns {
		conns = append(conns, sc)
	}
	m.mu.Unlock()
	close(m.done)
	err := m.ln.Close()
	for _, sc := range conns {
		sc.close()
	}
	m.wg.Wait()
	m.waiters.failAll()
	return err
}

func (m *Master) remove(sc *slaveConn) {
	m.mu.Lock()
	delete(m.conns, sc)
	m.mu.Unlock()
}

// slaveConn is one slave's connection.
type slaveConn struct {
	m     *Master
	c     *net.TCPConn
	wake  chan struct{}
	start chan int64    // the first report
	gone  chan struct{} // closed with the connection
	once  sync.Once
	acked atomic.Int64
	id    atomic.Int64 // the slave's broker id (controller mode)
	// caughtUp is when (unix ns) a report last covered the whole log as
	// the master had it then: lag in time is measured from there.
	caughtUp atomic.Int64
}

// SlaveStat is one connected slave's replication state.
type SlaveStat struct {
	Addr        string
	ID          int64     // its broker id, from the handshake (controller mode; else 0)
	AckedOffset int64     // the log offset the slave reported holding
	CaughtUp    time.Time // when its report last covered the master's whole log
}

// Slaves returns the connected slaves' states.
func (m *Master) Slaves() []SlaveStat {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SlaveStat, 0, len(m.conns))
	for sc := range m.conns {
		out = append(out, SlaveStat{Addr: sc.c.RemoteAddr().String(), ID: sc.id.Load(), AckedOffset: sc.acked.Load(),
			CaughtUp: time.Unix(0, sc.caughtUp.Load())})
	}
	return out
}

func (sc *slaveConn) close() {
	sc.once.Do(func() {
		close(sc.gone)
		sc.c.Close()
		sc.m.remove(sc)
		sc.m.log.Info("slave disconnected", "addr", sc.c.RemoteAddr().String(), "acked", sc.acked.Load())
	})
}

// readLoop takes the slave's offset reports; only the last complete one
// of a burst counts.
func (sc *slaveConn) readLoop() {
	defer sc.m.wg.Done()
	defer sc.close()
	if m := sc.m; m.cfg.Epochs != nil {
		if err := sc.welcome(); err != nil {
			m.log.Info("ha handshake with slave", "addr", sc.c.RemoteAddr().String(), "err", err)
			return
		}
	}
	buf := make([]byte, 4096)
	have := 0
	first := true
	for {
		sc.c.SetReadDeadline(time.Now().Add(sc.m.cfg.IdleTimeout))
		n, err := sc.c.Read(buf[have:])
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				sc.m.log.Warn("ha read from slave", "addr", sc.c.RemoteAddr().String(), "err", err)
			}
			return
		}
		have += n
		if have < 8 {
			continue
		}
		last := (have/8)*8 - 8
		off := int64(binary.BigEndian.Uint64(buf[last:]))
		have = copy(buf, buf[last+8:have])
		if off < 0 {
			sc.m.log.Warn("slave reported a negative offset", "addr", sc.c.RemoteAddr().String(), "offset", off)
			return
		}
		if first {
			first = false
			sc.start <- off
		} else if max := sc.m.cfg.Source.MaxOffset(); off > max {
			sc.m.log.Warn("slave is ahead of the master; closing", "addr", sc.c.RemoteAddr().String(), "slave", off, "master", max)
			return
		}
		sc.acked.Store(off)
		if off >= sc.m.cfg.Source.MaxOffset() || sc.caughtUp.Load() == 0 {
			sc.caughtUp.Store(time.Now().UnixNano())
		}
		sc.m.report(sc, off)
	}
}

// sendLoop streams the log from the slave's first report on.
func (sc *slaveConn) sendLoop() {
	defer sc.m.wg.Done()
	defer sc.close()
	m := sc.m
	var next int64
	select {
	case next = <-sc.start:
	case <-sc.gone: // the slave left before its first report
		return
	case <-m.done:
		return
	}
	if min := m.cfg.Source.MinOffset(); next < min {
		if next != 0 {
			m.log.Warn("slave asks for an offset the master no longer holds; starting from the master's oldest byte",
				"addr", sc.c.RemoteAddr().String(), "slave", next, "min", min)
		}
		next = min
	}
	raw, err := sc.c.SyscallConn()
	if err != nil {
		m.log.Warn("ha raw conn", "err", err)
		return
	}
	hb := time.NewTimer(m.cfg.HeartbeatInterval)
	defer hb.Stop()
	var hdr [12]byte
	for {
		if next < m.cfg.Source.MaxOffset() {
			f, pos, n, release, err := m.cfg.Source.Chunk(next, m.cfg.BatchSize)
			if err != nil {
				m.log.Warn("ha read log", "offset", next, "err", err)
				return
			}
			binary.BigEndian.PutUint64(hdr[:], uint64(next))
			binary.BigEndian.PutUint32(hdr[8:], uint32(n))
			err = sc.send(raw, hdr[:], f, pos, n)
			release()
			if err != nil {
				m.log.Info("ha send to slave", "addr", sc.c.RemoteAddr().String(), "err", err)
				return
			}
			m.sendfileBytes.Add(int64(n))
			m.frames.Add(1)
			next += int64(n)
			resetTimer(hb, m.cfg.HeartbeatInterval)
			continue
		}
		select {
		case <-m.done:
			return
		case <-sc.gone:
			return
		case <-sc.wake:
		case <-hb.C:
			binary.BigEndian.PutUint64(hdr[:], uint64(next))
			binary.BigEndian.PutUint32(hdr[8:], 0)
			if err := sc.send(raw, hdr[:], nil, 0, 0); err != nil {
				m.log.Info("ha heartbeat to slave", "addr", sc.c.RemoteAddr().String(), "err", err)
				return
			}
			hb.Reset(m.cfg.HeartbeatInterval)
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// send writes one frame with sendFrame within SendTimeout: a slave that
// reports but does not read cannot wedge the send loop.
func (sc *slaveConn) send(raw syscall.RawConn, hdr []byte, f *os.File, pos int64, n int) error {
	if err := sc.c.SetWriteDeadline(time.Now().Add(sc.m.cfg.SendTimeout)); err != nil {
		return err
	}
	return sendFrame(raw, hdr, f, pos, n)
}

// sendFrame writes hdr, then n bytes of f at pos with sendfile(2), on the
// connection's non-blocking socket; MSG_MORE lets the header and body
// share a segment.
func sendFrame(raw syscall.RawConn, hdr []byte, f *os.File, pos int64, n int) error {
	var werr error
	sent := 0
	off := pos
	left := n
	var fd int
	if f != nil {
		fd = int(f.Fd())
	}
	err := raw.Write(func(s uintptr) bool {
		for sent < len(hdr) {
			flags := 0
			if left > 0 {
				flags = unix.MSG_MORE
			}
			k, err := unix.SendmsgN(int(s), hdr[sent:], nil, nil, flags)
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				werr = err
				return true
			}
			sent += k
		}
		for left > 0 {
			k, err := unix.Sendfile(int(s), fd, &off, left)
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				werr = err
				return true
			}
			if k == 0 {
				werr = io.ErrUnexpectedEOF
				return true
			}
			left -= k
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

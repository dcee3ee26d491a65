package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// FlushMode is how appended bytes reach the disk (flushDiskType).
type FlushMode int

const (
	AsyncFlush FlushMode = iota // ASYNC_FLUSH: a background msync every FlushInterval
	SyncFlush                   // SYNC_FLUSH: WaitDurable group-commits
)

func (m FlushMode) String() string {
	switch m {
	case AsyncFlush:
		return "ASYNC_FLUSH"
	case SyncFlush:
		return "SYNC_FLUSH"
	}
	return fmt.Sprintf("FlushMode(%d)", int(m))
}

// Config configures a Log. Zero values take the defaults noted.
type Config struct {
	Dir              string        // storePathRootDir: commitlog/, consumequeue/, abort, checkpoint live under it
	SegmentSize      int64         // mappedFileSizeCommitLog, default 1 GiB
	QueueFileEntries int           // entries per consume-queue file, default 300000
	Flush            FlushMode     // default AsyncFlush
	FlushInterval    time.Duration // async flush period, default 500 ms
	SyncFlushTimeout time.Duration // WaitDurable bound, default 5 s
	// DeleteGrace is how long a segment deleted by retention stays mapped
	// and open at least, for readers that found it just before and hold
	// no Pin (Java's destroyMapedFileIntervalForcibly); default 120 s. A
	// pinned segment stays until its last pin is released, however long
	// that takes (logged when it outlasts the grace).
	DeleteGrace time.Duration
	Log         *slog.Logger // default: discard
	// FS is the file system, OS{} by default; tests inject faults here.
	FS FS
	// OnSync, when set, is told of every msync of the log by the flusher:
	// how long it took and how many bytes it covered. It runs on the
	// flusher's goroutine and must be quick.
	OnSync func(d time.Duration, bytes int64)

	now func() time.Time // the flusher's clock (tests); default time.Now
}

const (
	defaultSegmentSize      = 1 << 30
	defaultQueueFileEntries = 300000
	defaultFlushInterval    = 500 * time.Millisecond
	defaultSyncFlushTimeout = 5 * time.Second
	defaultDeleteGrace      = 120 * time.Second
	minSegmentSize          = 4096

	clockRebase = time.Second
)

func (c Config) withDefaults() Config {
	if c.SegmentSize == 0 {
		c.SegmentSize = defaultSegmentSize
	}
	if c.QueueFileEntries == 0 {
		c.QueueFileEntries = defaultQueueFileEntries
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = defaultFlushInterval
	}
	if c.SyncFlushTimeout == 0 {
		c.SyncFlushTimeout = defaultSyncFlushTimeout
	}
	if c.DeleteGrace == 0 {
		c.DeleteGrace = defaultDeleteGrace
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.FS = fsOrOS(c.FS)
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// validate reports every problem, not just the first.
func (c Config) validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("storePathRootDir is empty"))
	}
	if c.SegmentSize < minSegmentSize || c.SegmentSize%pageSize != 0 || c.SegmentSize > 1<<40 {
		errs = append(errs, fmt.Errorf("mappedFileSizeCommitLog=%d: want a multiple of %d in [%d, 2^40]", c.SegmentSize, pageSize, minSegmentSize))
	}
	if c.QueueFileEntries < 1 || c.QueueFileEntries > 1<<26 {
		errs = append(errs, fmt.Errorf("consume queue file entries=%d: want 1..%d", c.QueueFileEntries, 1<<26))
	}
	if c.Flush != AsyncFlush && c.Flush != SyncFlush {
		errs = append(errs, fmt.Errorf("flushDiskType=%v", c.Flush))
	}
	if c.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flushIntervalCommitLog=%v", c.FlushInterval))
	}
	if c.SyncFlushTimeout < 0 {
		errs = append(errs, fmt.Errorf("syncFlushTimeout=%v", c.SyncFlushTimeout))
	}
	if c.DeleteGrace < 0 {
		errs = append(errs, fmt.Errorf("destroyMapedFileIntervalForcibly=%v", c.DeleteGrace))
	}
	return errors.Join(errs...)
}

// Message is what a send appends.
type Message struct {
	Topic                     string
	QueueID                   int32
	Flag                      int32
	Body                      []byte
	Properties                string // name 0x01 value 0x02 …
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort // IPv4 or IPv6; sets SysFlag 0x10 for v6
	StoreHost                 netip.AddrPort // sets SysFlag 0x20 for v6
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	// NoBlock makes the append fail with ErrWouldBlock, having written
	// nothing, when it would have to create a file or wait for one (a
	// segment or consume-queue file that is not ready yet): an event loop
	// sets it, and retries the append on a goroutine that may block. For
	// AppendBatch, the first message's NoBlock counts.
	NoBlock bool
}

// ErrWouldBlock is what a NoBlock append returns instead of creating or
// waiting for a file.
var ErrWouldBlock = errors.New("commitlog: append would block on file creation")

// AppendResult describes what an append wrote. The records of one call are
// contiguous in one segment.
type AppendResult struct {
	PhysOffset     int64 // log offset of the (first) record
	WroteBytes     int32 // total bytes of the record(s)
	QueueOffset    int64 // queue offset of the (first) record
	StoreTimestamp int64
	Count          int // records appended
}

// EndOffset is the log offset just past the records: what to pass to
// WaitDurable.
func (r AppendResult) EndOffset() int64 { return r.PhysOffset + int64(r.WroteBytes) }

// Stats are cumulative counters.
type Stats struct {
	Appends         int64 // records appended by Append and AppendBatch
	Batches         int64 // AppendBatch calls that wrote
	BytesWritten    int64 // log bytes written: records, blanks and AppendAt bytes
	Replicated      int64 // records indexed from AppendAt bytes
	Rolls           int64 // segments started
	SegmentsDeleted int64 // segments deleted by retention
	Syncs           int64 // msync calls on the log
	QueueSyncs      int64 // msync calls on consume-queue files
	SyncWaits       int64 // WaitDurable calls that had to wait for the flusher
	SyncTimeouts    int64 // WaitDurable calls that ended with ErrFlushTimeout
	SyncErrors      int64 // failed msyncs of the log or the consume queues
	Prefaults       int64 // Prefault calls that read pages in
	Unmapped        int64 // deleted segments unmapped (their last pin released, their grace over)
	Segments        int64 // segments in the log now
	Truncations     int64 // Truncate calls that cut the log
	BytesTruncated  int64 // log bytes they cut
}

// ArrivalFunc is told that a queue's next offset has grown: once per
// append call and queue, with the queue's new next offset and the tags code
// of the last record. topic is the log's own copy of the name, which the
// function may keep.
type ArrivalFunc func(topic string, queueID int32, nextQueueOffset int64, tagsCode int64)

// Log is the message store: the commit log and its consume queues.
type Log struct {
	cfg    Config
	log    *slog.Logger
	fs     FS
	logDir string // <Dir>/commitlog
	cqDir  string // <Dir>/consumequeue

	lockFile *os.File
	ckpt     *checkpoint

	// mu is the appender lock; the fields below it are guarded by it.
	mu          sync.Mutex
	closed      bool
	segList     []*segment // == *segs
	active      *segment   // last segment, nil when there is none
	wrote       int64      // next write position (== maxOffset)
	dispatched  int64      // records below it are indexed; above it, a partial AppendAt record
	dispatchErr error      // sticky: the replicated stream is corrupt
	topics      map[string]*topicQueues
	stats       Stats     // the counters updated under mu
	lastQueue   *cqueue   // the queue of the last append
	lastTS      int64     // store time of the last appended record
	clockBase   time.Time // a wall-clock reading with its monotonic part
	clockMilli  int64     // clockBase in Unix ms
	notes       []note
	noteGen     uint64 // tells the notes of one call apart (cqueue.noteGen)
	warmAt      int64  // tell the allocator where we are once wrote reaches it
	cutGen      uint64 // Truncate calls; changed with mu and flushMu held, read with either

	// qmu guards the queue table for readers: topics and each queue's
	// files are written with mu and qmu held, read with either.
	qmu sync.RWMutex

	segs      atomic.Pointer[[]*segment] // copy-on-write list for readers
	minOffset atomic.Int64
	maxOffset atomic.Int64
	flushed   atomic.Int64
	closing   atomic.Bool
	arrival   atomic.Pointer[ArrivalFunc]

	alloc *allocator

	// flushMu is held by the flusher while it syncs the log or the
	// consume queues and writes the checkpoint, and by Truncate (with mu)
	// while it cuts: no sync overlaps a cut, and a flush that was under way
	// cannot move the flushed offset past the cut when it finishes.
	flushMu sync.Mutex

	// flusher state
	wmu      sync.Mutex
	waiters  []waiter
	wclosed  bool
	cutFloor int64 // the lowest Truncate cut since the flusher took its batch of waiters; wmu
	kick     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	forceCQ  atomic.Bool
	retireMu sync.Mutex
	retired  []func()
	doomMu   sync.Mutex
	doomed   []doomedSegment // deleted by retention or Truncate, unmapped when unpinned and past DeleteGrace

	// The last log or queue msync failed: the next one writes the range
	// again first (segment.sync). Flusher only.
	redirtyLog, redirtyQueues bool

	closeErr error // from the flusher's last round, for Close

	syncs, queueSyncs, syncWaits, syncTimeouts, syncErrors, prefaults, unmapped atomic.Int64
}

// note is one arrival to announce once the appender lock is released.
type note struct {
	topic    string
	queueID  int32
	next     int64
	tagsCode int64
}

// Open opens (creating if needed) the store under cfg.Dir, recovers it and
// starts its flusher and allocator.
func Open(cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("commitlog config: %w", err)
	}
	l := &Log{
		cfg:      cfg,
		log:      cfg.Log,
		fs:       cfg.FS,
		logDir:   filepath.Join(cfg.Dir, "commitlog"),
		cqDir:    filepath.Join(cfg.Dir, "consumequeue"),
		topics:   make(map[string]*topicQueues),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		cutFloor: noCut,
	}
	for _, d := range []string{l.logDir, l.cqDir} {
		if err := l.fs.MkdirAll(d); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	lock, err := lockDir(l.fs, cfg.Dir)
	if err != nil {
		return nil, err
	}
	l.lockFile = lock
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	// Entries of records that retention deleted before the last run ended
	// (or before a crash) are not served.
	if err := l.trimQueues(); err != nil {
		l.log.Warn("trim consume queues", "err", err)
	}
	l.alloc = newAllocator(l.fs, l.logDir, cfg.SegmentSize, l.log)
	if l.active != nil {
		// The rest of the active segment is written through the mapping.
		NoReadAround(l.active.data[(l.wrote-l.active.start)&^(pageSize-1):])
		l.alloc.activate(l.active)
		l.alloc.request(l.active.end())
		l.alloc.advance(l.wrote)
	} else {
		l.alloc.request(l.wrote - l.wrote%cfg.SegmentSize) // the first append's
	}
	l.wg.Add(1)
	go l.flushLoop()
	return l, nil
}

// Close flushes everything, writes the checkpoint, marks the shutdown clean
// and unmaps the files. Slices returned by Read die with it.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.closing.Store(true)
	l.mu.Unlock()

	l.alloc.close()
	close(l.stop)
	l.wg.Wait() // the flusher's last round flushes the log and the queues

	var errs []error
	if l.closeErr != nil {
		errs = append(errs, fmt.Errorf("close: %w", l.closeErr))
	} else if err := l.writeCheckpoint(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := removeAbort(l.fs, l.cfg.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.closeFiles(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeFiles unmaps and closes every file and releases the directory lock.
func (l *Log) closeFiles() error {
	l.runRetired()
	l.closeDoomed(time.Time{}, true)
	var errs []error
	l.qmu.Lock()
	for _, t := range l.topics {
		for _, q := range t.queues {
			q.gone.Store(true)
			if err := q.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	l.topics = map[string]*topicQueues{}
	l.qmu.Unlock()
	for _, s := range l.segList {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	l.segList, l.active = nil, nil
	l.publishSegments()
	if l.ckpt != nil {
		if err := l.ckpt.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.lockFile != nil {
		if err := l.lockFile.Close(); err != nil { // releases the flock
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetArrivalListener sets the function told about new consume-queue
// entries (nil to stop): once per append call and queue (see ArrivalFunc).
// It is called after the entries are written, with no lock held, from the
// appending goroutine, and must be cheap.
func (l *Log) SetArrivalListener(fn func(topic string, queueID int32, nextQueueOffset int64, tagsCode int64)) {
	if fn == nil {
		l.arrival.Store(nil)
		return
	}
	f := ArrivalFunc(fn)
	l.arrival.Store(&f)
}

// needFile is a file an append lacks: the log segment starting at start (q
// nil), or the file of queue q that starts at slot start. The appender
// makes it with l.mu released (makeFile) and tries again.
type needFile struct {
	q     *cqueue
	start int64
}

func (n *needFile) Error() string { return "commitlog: a file must be created first" }

// makeFile creates what an append lacks. l.mu must not be held: creating a
// file takes milliseconds (fallocate, directory fsync, mmap) and other
// appenders go on meanwhile.
func (l *Log) makeFile(n *needFile) error {
	if n.q != nil {
		_, err := l.makeQueueFile(n.q, n.start)
		return err
	}
	if err := l.alloc.prepare(n.start); err != nil {
		return fmt.Errorf("roll to segment %d: %w", n.start, err)
	}
	return nil
}

// missingFile handles an error met under l.mu, which the caller has
// released: a missing file is made (retry), or, for a NoBlock append,
// reported as ErrWouldBlock; any other error is returned as it is.
func (l *Log) missingFile(err error, noBlock bool) (retry bool, _ error) {
	n, ok := err.(*needFile)
	switch {
	case !ok:
		return false, err
	case noBlock:
		return false, ErrWouldBlock
	}
	if err := l.makeFile(n); err != nil {
		return false, err
	}
	return true, nil
}

// Append appends one record: it takes the next offset of the message's
// queue (none for PREPARED/ROLLBACK transaction records) and the next log
// position, writes the record and its consume-queue entry, and tells the
// arrival listener. The record is readable when Append returns. A file
// that must be created first is created without the appender's lock, or,
// with m.NoBlock, not at all: then the result is ErrWouldBlock.
func (l *Log) Append(m *Message) (AppendResult, error) {
	p, err := prepare(m, l.cfg.SegmentSize)
	if err != nil {
		return AppendResult{}, err
	}
retry:
	l.mu.Lock()
	err = l.writableLocked()
	var q *cqueue
	var qoff int64
	if err == nil && indexed(p.sysFlag) {
		if q, err = l.queueLocked(m.Topic, m.QueueID); err == nil {
			qoff = q.next.Load()
			err = q.reserveLocked(l, qoff)
		}
	}
	if err == nil {
		err = l.roomLocked(p.size)
	}
	if err != nil {
		l.mu.Unlock()
		again, err := l.missingFile(err, m.NoBlock)
		if again {
			goto retry
		}
		return AppendResult{}, err
	}
	phys := l.wrote
	now := l.nowLocked()
	pos := phys - l.active.start
	p.encode(l.active.data[pos:pos+int64(p.size)], qoff, phys, now)
	l.wrote += int64(p.size)
	l.dispatched = l.wrote
	l.maxOffset.Store(l.wrote)
	l.lastTS = now
	if q != nil {
		q.putLocked(l, qoff, phys, int32(p.size), p.tagsCode)
	}
	l.stats.Appends++
	l.stats.BytesWritten += int64(p.size)
	if l.wrote >= l.warmAt {
		l.advanceLocked()
	}
	l.mu.Unlock()

	if q != nil {
		if fn := l.arrival.Load(); fn != nil {
			(*fn)(q.topic, m.QueueID, qoff+1, p.tagsCode) // q.topic: m.Topic may be a caller's buffer
		}
	}
	return AppendResult{PhysOffset: phys, WroteBytes: int32(p.size), QueueOffset: qoff, StoreTimestamp: now, Count: 1}, nil
}

// AppendBatch appends the messages of one queue (all share Topic and
// QueueID) with consecutive queue offsets, contiguously in one segment. It
// returns each record's log offset. Transactional PREPARED/ROLLBACK records
// cannot be batched. The arrival listener hears of the batch once. Files
// are made as for Append; ms[0].NoBlock counts for the batch.
func (l *Log) AppendBatch(ms []Message) (AppendResult, []int64, error) {
	if len(ms) == 0 {
		return AppendResult{}, nil, fmt.Errorf("%w: empty batch", ErrInvalidMessage)
	}
	ps := make([]prepared, len(ms))
	total := int64(0)
	for i := range ms {
		m := &ms[i]
		if m.Topic != ms[0].Topic || m.QueueID != ms[0].QueueID {
			return AppendResult{}, nil, fmt.Errorf("%w: batch mixes %s/%d and %s/%d", ErrInvalidMessage, ms[0].Topic, ms[0].QueueID, m.Topic, m.QueueID)
		}
		p, err := prepare(m, l.cfg.SegmentSize)
		if err != nil {
			return AppendResult{}, nil, fmt.Errorf("batch message %d: %w", i, err)
		}
		if !indexed(p.sysFlag) {
			return AppendResult{}, nil, fmt.Errorf("%w: transactional message %d in a batch", ErrInvalidMessage, i)
		}
		ps[i] = p
		total += int64(p.size)
	}
	if total+blankLen > l.cfg.SegmentSize || total > 1<<31-1 {
		return AppendResult{}, nil, fmt.Errorf("%w: batch of %d bytes does not fit a %d-byte segment", ErrMessageTooLarge, total, l.cfg.SegmentSize)
	}
	offsets := make([]int64, len(ms))

retry:
	l.mu.Lock()
	var q *cqueue
	var qoff int64
	err := l.writableLocked()
	if err == nil {
		q, err = l.queueLocked(ms[0].Topic, ms[0].QueueID)
	}
	if err == nil {
		qoff = q.next.Load()
		err = q.reserveLocked(l, qoff+int64(len(ms))-1)
	}
	if err == nil {
		err = l.roomLocked(int(total))
	}
	if err != nil {
		l.mu.Unlock()
		again, err := l.missingFile(err, ms[0].NoBlock)
		if again {
			goto retry
		}
		return AppendResult{}, nil, err
	}
	first := l.wrote
	now := l.nowLocked()
	for i := range ps {
		phys := l.wrote
		pos := phys - l.active.start
		ps[i].encode(l.active.data[pos:pos+int64(ps[i].size)], qoff+int64(i), phys, now)
		offsets[i] = phys
		l.wrote += int64(ps[i].size)
	}
	l.dispatched = l.wrote
	l.maxOffset.Store(l.wrote)
	l.lastTS = now
	for i := range ps {
		q.putLocked(l, qoff+int64(i), offsets[i], int32(ps[i].size), ps[i].tagsCode)
	}
	l.stats.Appends += int64(len(ms))
	l.stats.Batches++
	l.stats.BytesWritten += total
	if l.wrote >= l.warmAt {
		l.advanceLocked()
	}
	l.mu.Unlock()

	if fn := l.arrival.Load(); fn != nil {
		(*fn)(q.topic, ms[0].QueueID, qoff+int64(len(ms)), ps[len(ps)-1].tagsCode)
	}
	return AppendResult{PhysOffset: first, WroteBytes: int32(total), QueueOffset: qoff, StoreTimestamp: now, Count: len(ms)}, offsets, nil
}

// nowLocked is the store time of the next record, in Unix ms. It is read
// from the monotonic clock (one clock read instead of time.Now's two) against
// a wall-clock base taken again every clockRebase, and never goes backwards.
// l.mu must be held.
func (l *Log) nowLocked() int64 {
	d := time.Since(l.clockBase)
	if d >= clockRebase || d < 0 {
		l.clockBase = time.Now()
		l.clockMilli = l.clockBase.UnixMilli()
		d = 0
	}
	return max(l.clockMilli+int64(d/time.Millisecond), l.lastTS)
}

// writableLocked checks that the appender may write, dropping a partial
// replicated record left at the tail (a replica promoted to master).
// l.mu must be held.
func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	if l.dispatchErr != nil {
		return l.dispatchErr
	}
	if l.dispatched < l.wrote {
		l.log.Warn("dropping partial replicated record", "offset", l.dispatched, "bytes", l.wrote-l.dispatched)
		end := l.wrote
		l.wrote = l.dispatched
		l.maxOffset.Store(l.wrote)
		l.flushMu.Lock() // a flush under way could write the bytes back
		if l.flushed.Load() > l.wrote {
			l.flushed.Store(l.wrote)
		}
		l.flushMu.Unlock()
		if s := l.segmentLocked(l.wrote); s != nil {
			clear(s.data[l.wrote-s.start : min(end, s.end())-s.start])
		}
	}
	return nil
}

// roomLocked makes sure size bytes plus a blank record fit in the active
// segment, ending it with a blank record and rolling to the prepared next
// segment when they do not. When that segment is not ready it returns a
// *needFile and changes nothing. l.mu must be held.
func (l *Log) roomLocked(size int) error {
	open := l.active != nil && l.wrote < l.active.end()
	if open && int64(size)+blankLen <= l.active.end()-l.wrote {
		return nil
	}
	start := l.wrote - l.wrote%l.cfg.SegmentSize
	if open {
		start = l.active.end()
	}
	s := l.alloc.takeReady(start)
	if s == nil {
		return &needFile{start: start}
	}
	if open {
		left := l.active.end() - l.wrote
		pos := l.wrote - l.active.start
		b := l.active.data[pos : pos+blankLen]
		binary.BigEndian.PutUint32(b, uint32(left))
		binary.BigEndian.PutUint32(b[4:], magicBlank)
		l.wrote = l.active.end()
		l.dispatched = l.wrote
		l.maxOffset.Store(l.wrote)
		l.stats.BytesWritten += left
	}
	l.startSegmentLocked(s)
	return nil
}

// rollLocked starts the segment at l.wrote (the end of the active one, or
// anywhere in an empty log), creating it if it is not ready: for the
// replica's appends, which hold the lock across a copy. l.mu must be held.
func (l *Log) rollLocked() error {
	start := l.wrote - l.wrote%l.cfg.SegmentSize
	s := l.alloc.takeReady(start)
	if s == nil {
		if err := l.alloc.prepare(start); err != nil {
			return fmt.Errorf("roll to segment %d: %w", start, err)
		}
		if s = l.alloc.takeReady(start); s == nil {
			return fmt.Errorf("roll to segment %d: the prepared segment went missing", start)
		}
	}
	l.startSegmentLocked(s)
	return nil
}

// startSegmentLocked makes s, taken from the allocator, the active segment
// and asks for the next one. l.mu must be held.
func (l *Log) startSegmentLocked(s *segment) {
	list := make([]*segment, len(l.segList), len(l.segList)+1)
	copy(list, l.segList)
	list = append(list, s)
	l.segList = list
	l.publishSegments()
	l.active = s
	l.stats.Rolls++
	l.alloc.request(s.end())
}

// advanceLocked tells the allocator where the appender is, every warmStep
// bytes. l.mu must be held.
func (l *Log) advanceLocked() {
	l.warmAt = l.wrote + warmStep
	l.alloc.advance(l.wrote)
}

// publishSegments hands readers a copy of the segment list header; the list
// itself is copied on write. l.mu must be held (or no reader may exist).
func (l *Log) publishSegments() {
	list := l.segList
	l.segs.Store(&list)
}

// segmentLocked returns the segment holding off, or nil. l.mu must be held.
func (l *Log) segmentLocked(off int64) *segment {
	return findSegment(l.segList, off, l.cfg.SegmentSize)
}

func findSegment(list []*segment, off, size int64) *segment {
	if len(list) == 0 || off < list[0].start {
		return nil
	}
	i := (off - list[0].start) / size
	if i >= int64(len(list)) {
		return nil
	}
	return list[i]
}

// Read returns the size bytes at phyOffset, which must lie in one segment
// and in [MinOffset, MaxOffset). The slice aliases the mapping (no copy) and
// stays valid until Close, or for Config.DeleteGrace after retention
// deletes its segment; do not write to it. A caller that keeps the slice
// longer than it takes to decode it (a zero-copy write) reads with
// ReadPinned.
func (l *Log) Read(phyOffset int64, size int32) ([]byte, error) {
	s, pos, err := l.locate(phyOffset, size)
	if err != nil {
		return nil, err
	}
	return s.data[pos : pos+int64(size) : pos+int64(size)], nil
}

// locate finds the segment holding [phyOffset, phyOffset+size) and the
// position in it.
func (l *Log) locate(phyOffset int64, size int32) (*segment, int64, error) {
	if l.closing.Load() {
		return nil, 0, ErrClosed
	}
	end := phyOffset + int64(size)
	if size < 0 || phyOffset < l.minOffset.Load() || end > l.maxOffset.Load() {
		return nil, 0, fmt.Errorf("%w: read [%d,%d) of [%d,%d)", ErrOutOfRange, phyOffset, end, l.minOffset.Load(), l.maxOffset.Load())
	}
	s := findSegment(*l.segs.Load(), phyOffset, l.cfg.SegmentSize)
	if s == nil || end > s.end() {
		return nil, 0, fmt.Errorf("%w: read [%d,%d) crosses a segment end", ErrOutOfRange, phyOffset, end)
	}
	return s, phyOffset - s.start, nil
}

// MinOffset is the first readable log offset.
func (l *Log) MinOffset() int64 { return l.minOffset.Load() }

// MaxOffset is the log offset the next byte will be written at: the end of
// the readable range.
func (l *Log) MaxOffset() int64 { return l.maxOffset.Load() }

// FlushedOffset is the log offset below which bytes are known to be on disk.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	s := l.stats
	l.mu.Unlock()
	s.Syncs = l.syncs.Load()
	s.QueueSyncs = l.queueSyncs.Load()
	s.SyncWaits = l.syncWaits.Load()
	s.SyncTimeouts = l.syncTimeouts.Load()
	s.SyncErrors = l.syncErrors.Load()
	s.Prefaults = l.prefaults.Load()
	s.Unmapped = l.unmapped.Load()
	s.Segments = int64(len(*l.segs.Load()))
	return s
}

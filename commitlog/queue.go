package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	cqEntrySize = 20
	blankSize   = math.MaxInt32 // size of a placeholder entry, with phys 0

	// The appender has the allocator fault in consume-queue pages up to
	// cqWarmAhead chunks (of 13107 entries) ahead of the one it writes
	// (cqWarmEnd).
	cqWarmShift = 18
	cqWarmChunk = 1 << cqWarmShift
	cqWarmAhead = 6
)

// Entry is one consume-queue entry: where a record is in the log. A
// placeholder for a record this store never had reads (0, math.MaxInt32, 0).
type Entry struct {
	PhysOffset int64
	Size       int32
	TagsCode   int64
}

func (e Entry) blank() bool { return e.PhysOffset == 0 && e.Size == blankSize }

// topicQueues holds a topic's queues by queue id.
type topicQueues struct {
	name   string
	queues map[int32]*cqueue
}

// cqueue is one consume queue: a sequence of files of entries slots each.
type cqueue struct {
	topic   string
	id      int32
	dir     string
	entries int64

	files []*cqFile // contiguous; written with Log.mu and Log.qmu held

	next atomic.Int64 // next queue offset to write: readers load it before reading entries
	min  atomic.Int64 // first queue offset with a record

	maxPhys     int64        // end of the last indexed record in the log; Log.mu
	flushedNext int64        // entries below it are msynced; the flusher's, under Log.flushMu
	newFiles    atomic.Int64 // files installed since the flusher last synced the directories

	// The next file is created ahead, without Log.mu (makeQueueFile), and
	// waits in spare until the appender installs it. mk serialises the
	// creations; gone tells them the queue was dropped.
	mk    sync.Mutex
	spare atomic.Pointer[cqFile]
	gone  atomic.Bool

	noteGen uint64 // Log.noteGen of the call that has a note for this queue at noteAt; Log.mu
	noteAt  int
}

// cqFile is one mapped consume-queue file holding slots [start, start+entries).
type cqFile struct {
	start int64
	path  string
	f     *os.File
	data  []byte
}

func (f *cqFile) close() error {
	var errs []error
	if f.data != nil {
		if err := unix.Munmap(f.data); err != nil {
			errs = append(errs, fmt.Errorf("munmap %s: %w", f.path, err))
		}
		f.data = nil
	}
	if err := f.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func createQueueFile(fsys FS, dir string, start, entries int64) (*cqFile, error) {
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("create consume queue: %w", err)
	}
	path := filepath.Join(dir, fileName(start*cqEntrySize))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create consume queue file: %w", err)
	}
	size := entries * cqEntrySize
	if err := fsys.Truncate(f, size); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("size consume queue file %s: %w", path, err)
	}
	cf, err := mapQueueFile(fsys, f, path, start, size)
	if err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, err
	}
	NoReadAround(cf.data)
	return cf, nil
}

func mapQueueFile(fsys FS, f *os.File, path string, start, size int64) (*cqFile, error) {
	data, err := fsys.Map(f, size)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return &cqFile{start: start, path: path, f: f, data: data}, nil
}

// discard closes a file that never joined its queue and deletes it.
func (f *cqFile) discard(fsys FS) error {
	err := f.close()
	if rerr := fsys.Remove(f.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// slot returns the 20 bytes of queue offset i, or nil when no file holds it.
func (q *cqueue) slot(i int64) []byte {
	if len(q.files) == 0 || i < q.files[0].start {
		return nil
	}
	k := (i - q.files[0].start) / q.entries
	if k >= int64(len(q.files)) {
		return nil
	}
	f := q.files[k]
	p := (i - f.start) * cqEntrySize
	return f.data[p : p+cqEntrySize : p+cqEntrySize]
}

func readEntry(b []byte) Entry {
	return Entry{
		PhysOffset: int64(binary.BigEndian.Uint64(b)),
		Size:       int32(binary.BigEndian.Uint32(b[8:])),
		TagsCode:   int64(binary.BigEndian.Uint64(b[12:])),
	}
}

func writeEntry(b []byte, phys int64, size int32, tags int64) {
	_ = b[19]
	binary.BigEndian.PutUint64(b, uint64(phys))
	binary.BigEndian.PutUint32(b[8:], uint32(size))
	binary.BigEndian.PutUint64(b[12:], uint64(tags))
}

// queueLocked returns the queue, creating it (without files) if needed.
// l.mu must be held.
func (l *Log) queueLocked(topic string, id int32) (*cqueue, error) {
	if q := l.lastQueue; q != nil && q.id == id && q.topic == topic {
		return q, nil
	}
	q, err := l.lookupLocked(topic, id)
	if q != nil {
		l.lastQueue = q
	}
	return q, err
}

func (l *Log) lookupLocked(topic string, id int32) (*cqueue, error) {
	t := l.topics[topic]
	if t != nil {
		if q := t.queues[id]; q != nil {
			return q, nil
		}
	}
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	if id < 0 {
		return nil, fmt.Errorf("%w: queue id %d", ErrInvalidMessage, id)
	}
	if t == nil {
		t = &topicQueues{name: strings.Clone(topic), queues: make(map[int32]*cqueue)}
	}
	q := &cqueue{
		topic:   t.name,
		id:      id,
		dir:     filepath.Join(l.cqDir, t.name, strconv.Itoa(int(id))),
		entries: int64(l.cfg.QueueFileEntries),
	}
	l.qmu.Lock()
	l.topics[t.name] = t
	t.queues[id] = q
	l.qmu.Unlock()
	return q, nil
}

// reserveLocked makes sure files hold every slot up to upTo, installing the
// files made ahead; a queue without files gets its first file at the one
// holding the next offset. A file not made yet is returned as a *needFile.
// l.mu must be held.
func (q *cqueue) reserveLocked(l *Log, upTo int64) error {
	for {
		start, ok := q.missingLocked(q.next.Load(), upTo)
		if !ok {
			return nil
		}
		if !q.installLocked(l, start) {
			return &needFile{q: q, start: start}
		}
	}
}

// reserveFromLocked is reserveLocked with the first file, if it must be
// created, holding slot from, and files created on the spot: for the
// replica's and recovery's indexing, which hold the lock across a whole
// stretch of log. l.mu must be held.
func (q *cqueue) reserveFromLocked(l *Log, from, upTo int64) error {
	for {
		start, ok := q.missingLocked(from, upTo)
		if !ok {
			return nil
		}
		if q.installLocked(l, start) {
			continue
		}
		if _, err := l.makeQueueFile(q, start); err != nil {
			return err
		}
		if !q.installLocked(l, start) {
			return fmt.Errorf("consume queue %s/%d at %d: the file made went missing", q.topic, q.id, start)
		}
	}
}

// missingLocked returns the first slot of the first file missing for slots
// up to upTo (the first file holding from, for a queue without files).
// l.mu (or l.qmu) must be held.
func (q *cqueue) missingLocked(from, upTo int64) (int64, bool) {
	n := len(q.files)
	if n == 0 {
		return from - from%q.entries, true
	}
	next := q.files[n-1].start + q.entries
	return next, upTo >= next
}

// installLocked adds the spare file to the queue if it starts at start. A
// spare that does not fit is dropped (the queue was cut meanwhile).
// l.mu must be held.
func (q *cqueue) installLocked(l *Log, start int64) bool {
	f := q.spare.Load()
	if f == nil {
		return false
	}
	if f.start != start {
		if q.spare.CompareAndSwap(f, nil) {
			l.retire(func() {
				if err := f.discard(l.fs); err != nil {
					l.log.Warn("drop unused consume queue file", "path", f.path, "err", err)
				}
			})
		}
		return false
	}
	q.spare.Store(nil)
	l.qmu.Lock()
	q.files = append(q.files, f)
	l.qmu.Unlock()
	q.newFiles.Add(1)
	return true
}

// makeQueueFile creates the file of q that starts at slot start, unless the
// queue has it or it is made already, and leaves it in q.spare for the
// appender to install. It returns the new file's mapping (nil if it made
// none). It may run with or without l.mu held.
func (l *Log) makeQueueFile(q *cqueue, start int64) ([]byte, error) {
	q.mk.Lock()
	defer q.mk.Unlock()
	if f := q.spare.Load(); f != nil && f.start == start {
		return nil, nil
	}
	// Only the file right after the queue's last one is made: a file
	// further on, for a queue Truncate cut meanwhile, would leave a gap
	// that the next Open refuses.
	l.qmu.RLock()
	next, missing := q.missingLocked(start, start)
	l.qmu.RUnlock()
	if !missing || next != start || q.gone.Load() {
		return nil, nil
	}
	f, err := createQueueFile(l.fs, q.dir, start, q.entries)
	if err != nil {
		return nil, fmt.Errorf("consume queue %s/%d at %d: %w", q.topic, q.id, start, err)
	}
	data := f.data
	prepareQueueMapping(data)
	if old := q.spare.Swap(f); old != nil {
		l.retire(func() { old.discard(l.fs) })
	}
	if q.gone.Load() && q.spare.CompareAndSwap(f, nil) {
		l.retire(func() { f.discard(l.fs) })
	}
	return data, nil
}

// prepareQueueMapping readies the mapping of a new consume-queue file
// before the appender sees it. The file is all holes, and a fault in a
// mapping reads around the faulting page (up to the disk's read_ahead_kb):
// the first entry written to a new queue allocated and zeroed all of its
// 5.7 MiB file (8 MiB read-ahead here), ~7 ms of CPU under the appender's
// lock, which every send waited out. With MADV_RANDOM a fault maps one
// page; the first chunk is faulted in here, off the lock, and the appender
// has the allocator fault in the next ones (enteredChunkLocked). Errors are
// ignored: the appender's writes fault in what is left.
func prepareQueueMapping(data []byte) {
	_ = unix.Madvise(data, unix.MADV_RANDOM)
	populate(data, 0, min(cqWarmChunk, int64(len(data))), nil)
}

// putLocked writes the entry of queue offset qoff, whose slot is reserved,
// and makes it visible. Entering a cqWarmChunk of its file, it has the
// allocator fault in the next one. l.mu must be held.
func (q *cqueue) putLocked(l *Log, qoff, phys int64, size int32, tags int64) {
	f := q.files[(qoff-q.files[0].start)/q.entries]
	p := (qoff - f.start) * cqEntrySize
	writeEntry(f.data[p:p+cqEntrySize:p+cqEntrySize], phys, size, tags)
	q.maxPhys = phys + int64(size)
	q.next.Store(qoff + 1)
	if end := p + cqEntrySize - 1; p&(cqWarmChunk-1) == 0 || p>>cqWarmShift != end>>cqWarmShift {
		q.enteredChunkLocked(l, f, end>>cqWarmShift)
	}
}

// enteredChunkLocked runs when the appender starts writing chunk k of f: it
// has the allocator fault in the chunks up to cqWarmEnd(k) that cqWarmEnd(k-1)
// left (chunk 0 was faulted in with the file), and, near the end of the last
// file, creates the next file early and has its first chunks faulted in:
// the appender then never faults. l.mu must be held.
func (q *cqueue) enteredChunkLocked(l *Log, f *cqFile, k int64) {
	if l.alloc == nil { // recovering
		return
	}
	size := int64(len(f.data))
	lo, hi := cqWarmEnd(k-1)<<cqWarmShift, cqWarmEnd(k)<<cqWarmShift
	if lo < size {
		l.alloc.warmQueue(f.data[lo:min(hi, size)])
	}
	if hi < size || f != q.files[len(q.files)-1] || q.spare.Load() != nil {
		return
	}
	next := f.start + q.entries
	l.alloc.queueJob(func() {
		data, err := l.makeQueueFile(q, next)
		if err != nil {
			l.log.Warn("create next consume queue file early", "topic", q.topic, "queueId", q.id, "err", err)
			return
		}
		// Only madvise touches data: a file dropped meanwhile fails it.
		populate(data, 0, min(cqWarmAhead*cqWarmChunk, int64(len(data))), l.alloc.stop)
	})
}

// cqWarmEnd is the end (in chunks, exclusive) of what is faulted in once
// the appender has entered chunk k of a file: k+1 chunks ahead of it at
// first, up to cqWarmAhead, so a queue that takes a few messages holds two
// chunks of page cache (512 KiB), not seven, and a busy one gets the full
// distance after a few chunks. cqWarmEnd(-1) = 1: chunk 0 comes with the
// file (prepareQueueMapping).
func cqWarmEnd(k int64) int64 {
	if k < 0 {
		return 1
	}
	return k + min(k+1, cqWarmAhead) + 1
}

// putAtLocked indexes a record found in the log (replication, recovery)
// under the queue offset the record carries. Records already indexed are
// skipped; a queue that has no records yet starts at qoff, with placeholder
// slots before it in its first file; a gap is filled with placeholders.
// It reports whether an entry was written. l.mu must be held.
func (q *cqueue) putAtLocked(l *Log, qoff, phys int64, size int32, tags int64) (bool, error) {
	if phys+int64(size) <= q.maxPhys {
		return false, nil
	}
	next := q.next.Load()
	if qoff < next {
		l.log.Warn("record's queue offset already taken; not indexed", "topic", q.topic, "queueId", q.id, "queueOffset", qoff, "next", next, "offset", phys)
		return false, nil
	}
	if err := q.reserveFromLocked(l, qoff, qoff); err != nil {
		return false, err
	}
	if qoff > next {
		from := max(next, q.files[0].start)
		if next == q.min.Load() {
			q.min.Store(qoff) // the queue starts here
		} else {
			l.log.Warn("gap in consume queue filled with placeholders", "topic", q.topic, "queueId", q.id, "from", next, "queueOffset", qoff)
		}
		for i := from; i < qoff; i++ {
			writeEntry(q.slot(i), 0, blankSize, 0)
		}
	}
	q.putLocked(l, qoff, phys, size, tags)
	return true, nil
}

// truncateQueueLocked removes the entries of records that end past cut and
// the files left without entries (the first file stays; deleteQueueFiles).
// l.mu must be held.
func (l *Log) truncateQueueLocked(q *cqueue, cut int64) error {
	next, lo := q.next.Load(), q.min.Load()
	i := next - 1
	q.maxPhys = 0
	for ; i >= lo; i-- {
		b := q.slot(i)
		if b == nil {
			continue
		}
		e := readEntry(b)
		if e.blank() {
			continue
		}
		if e.PhysOffset+int64(e.Size) <= cut {
			q.maxPhys = e.PhysOffset + int64(e.Size)
			break
		}
	}
	newNext := max(i+1, lo)
	if newNext == next {
		return nil
	}
	l.log.Info("truncating consume queue", "topic", q.topic, "queueId", q.id, "from", newNext, "to", next)
	keep := len(q.files)
	for keep > 1 && q.files[keep-1].start >= newNext {
		keep--
	}
	dead := q.files[keep:]
	// Under qmu: a reader (Truncate runs with readers) sees the entries
	// or the queue's new end, never a cleared entry below its old end.
	l.qmu.Lock()
	q.next.Store(newNext)
	for j := newNext; j < next; j++ {
		if b := q.slot(j); b != nil {
			clear(b)
		}
	}
	q.files = q.files[:keep:keep]
	l.qmu.Unlock()
	if len(dead) == 0 {
		return nil
	}
	return l.deleteQueueFiles(dead)
}

// close unmaps and closes the queue's files, the spare too.
func (q *cqueue) close() error {
	var errs []error
	for _, f := range q.files {
		if err := f.close(); err != nil {
			errs = append(errs, err)
		}
	}
	q.files = nil
	if f := q.spare.Swap(nil); f != nil {
		if err := f.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropLocked forgets the queue's files; the flusher, which may be syncing
// them, unmaps them between rounds. The caller deletes the directory.
// l.mu must be held, and q already be out of l.topics.
func (q *cqueue) dropLocked(l *Log) {
	q.gone.Store(true)
	files := q.files
	q.files = nil
	if f := q.spare.Swap(nil); f != nil {
		files = append(files, f)
	}
	l.retire(func() {
		for _, f := range files {
			if err := f.close(); err != nil {
				l.log.Warn("close dropped consume queue", "topic", q.topic, "queueId", q.id, "err", err)
			}
		}
	})
}

// lookup returns a queue or nil. l.qmu (or l.mu) must be held.
func (l *Log) lookup(topic string, id int32) *cqueue {
	if t := l.topics[topic]; t != nil {
		return t.queues[id]
	}
	return nil
}

// QueueEntries appends to dst[:0] the entries of queue offsets from,
// from+1, … while they exist, at most max of them: the i-th entry returned is
// that of offset from+i. Nothing is returned when from is below
// QueueMinOffset or not below QueueMaxOffset. A placeholder entry reads
// (0, math.MaxInt32, 0): skip it. ErrNoQueue if the queue does not exist.
func (l *Log) QueueEntries(topic string, queueID int32, from int64, max int, dst []Entry) ([]Entry, error) {
	dst = dst[:0]
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if l.closing.Load() {
		return dst, ErrClosed
	}
	q := l.lookup(topic, queueID)
	if q == nil {
		return dst, fmt.Errorf("%w: %s/%d", ErrNoQueue, topic, queueID)
	}
	next := q.next.Load()
	if from < q.min.Load() || from >= next || max <= 0 {
		return dst, nil
	}
	end := min(next, from+int64(max))
	for i := from; i < end; {
		k := (i - q.files[0].start) / q.entries
		f := q.files[k]
		stop := min(end, f.start+q.entries)
		for p := (i - f.start) * cqEntrySize; i < stop; i, p = i+1, p+cqEntrySize {
			dst = append(dst, readEntry(f.data[p:p+cqEntrySize]))
		}
	}
	return dst, nil
}

// QueueMaxOffset is the next queue offset to be written; 0 for a queue that
// does not exist.
func (l *Log) QueueMaxOffset(topic string, queueID int32) int64 {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if q := l.lookup(topic, queueID); q != nil {
		return q.next.Load()
	}
	return 0
}

// QueueMinOffset is the first queue offset with a record; 0 for a queue
// that does not exist.
func (l *Log) QueueMinOffset(topic string, queueID int32) int64 {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if q := l.lookup(topic, queueID); q != nil {
		return q.min.Load()
	}
	return 0
}

// QueueCount is one more than the highest queue id the topic has a
// consume queue for; 0 when it has none.
func (l *Log) QueueCount(topic string) int32 {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if t := l.topics[topic]; t != nil {
		return t.count()
	}
	return 0
}

// Queues returns QueueCount of every topic that has a consume queue.
func (l *Log) Queues() map[string]int32 {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	out := make(map[string]int32, len(l.topics))
	for name, t := range l.topics {
		if n := t.count(); n > 0 {
			out[name] = n
		}
	}
	return out
}

// count is one more than the highest queue id. l.qmu (or l.mu) must be held.
func (t *topicQueues) count() int32 {
	n := int32(0)
	for id := range t.queues {
		n = max(n, id+1)
	}
	return n
}

// storeTime reads the STORETIMESTAMP of the record at phys.
func (l *Log) storeTime(phys int64) (int64, bool) {
	b, err := l.Read(phys, posBornHost+20+8)
	if err != nil {
		// The shortest record (91 bytes) always covers the v6 position;
		// retry for a v4 record near the end of the readable range.
		if b, err = l.Read(phys, posBornHost+8+8); err != nil {
			return 0, false
		}
	}
	p := posBornHost + hostLen(int32(binary.BigEndian.Uint32(b[posSysFlag:]))&sysFlagBornHostV6 != 0)
	if p+8 > len(b) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[p:])), true
}

// SearchOffset returns the smallest queue offset whose record was stored at
// or after timestamp (ms), by binary search over the queue; QueueMaxOffset
// when there is none, and 0 for a queue that does not exist.
func (l *Log) SearchOffset(topic string, queueID int32, timestamp int64) int64 {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if l.closing.Load() {
		return 0
	}
	q := l.lookup(topic, queueID)
	if q == nil {
		return 0
	}
	lo, hi := q.min.Load(), q.next.Load()
	n := sort.Search(int(hi-lo), func(i int) bool {
		e := readEntry(q.slot(lo + int64(i)))
		if e.blank() {
			return false
		}
		ts, ok := l.storeTime(e.PhysOffset)
		return ok && ts >= timestamp
	})
	return lo + int64(n)
}

// EarliestStoreTime returns the store time of the record at the queue's
// min offset, or -1 when the queue is empty; ErrNoQueue if it does not exist.
func (l *Log) EarliestStoreTime(topic string, queueID int32) (int64, error) {
	return l.StoreTimeFrom(topic, queueID, 0)
}

// OldestStoreTime returns the store time of the log's first record, false
// when the log is empty or it cannot be read.
func (l *Log) OldestStoreTime() (int64, bool) {
	if l.MinOffset() >= l.MaxOffset() {
		return 0, false
	}
	return l.storeTime(l.MinOffset())
}

// StoreTimeFrom returns the store time of the queue's first record at or
// after queue offset from (or its min offset, if later), or -1 when there
// is none; ErrNoQueue if the queue does not exist.
func (l *Log) StoreTimeFrom(topic string, queueID int32, from int64) (int64, error) {
	l.qmu.RLock()
	defer l.qmu.RUnlock()
	if l.closing.Load() {
		return 0, ErrClosed
	}
	q := l.lookup(topic, queueID)
	if q == nil {
		return 0, fmt.Errorf("%w: %s/%d", ErrNoQueue, topic, queueID)
	}
	for i, next := max(q.min.Load(), from), q.next.Load(); i < next; i++ {
		e := readEntry(q.slot(i))
		if e.blank() {
			continue
		}
		ts, ok := l.storeTime(e.PhysOffset)
		if !ok {
			return 0, fmt.Errorf("%w: record at %d of %s/%d", ErrOutOfRange, e.PhysOffset, topic, queueID)
		}
		return ts, nil
	}
	return -1, nil
}

// DeleteTopic drops the topic's consume queues (files included) and their
// offsets; its records stay in the log. A topic appended to again starts
// from queue offset 0.
func (l *Log) DeleteTopic(topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if validTopic(topic) != nil {
		return nil // no such directory can exist
	}
	l.qmu.Lock()
	t := l.topics[topic]
	delete(l.topics, topic)
	l.qmu.Unlock()
	l.lastQueue = nil
	if t != nil {
		for _, q := range t.queues {
			q.dropLocked(l)
		}
	}
	if err := os.RemoveAll(filepath.Join(l.cqDir, topic)); err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	l.forceCQ.Store(true) // checkpoint soon, so a crash does not bring it back
	l.wakeFlusher()
	return nil
}

package commitlog

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// warmWindow is how far ahead of the append position the allocator
	// keeps pages faulted in; warmStep is how often the appender tells it
	// where that is. The window bounds the zero pages the warm-up dirties.
	warmWindow = 64 << 20
	warmStep   = 4 << 20
	// warmChunk is one madvise call: it holds the process's mmap lock
	// while it faults pages in, and a writer of the lock (an mmap of a new
	// file, the Go heap growing) and every fault queued behind that writer
	// wait that long.
	warmChunk = 128 << 10
)

// allocator creates the next segment in the background, and keeps the pages
// ahead of the append position faulted in for writing, so that neither a roll
// nor a page fault stalls the appender. It also creates consume-queue files
// before the appender needs them (queue.go). Segments are created one at a
// time, by the allocator or by an appender that found none ready (prepare),
// never under the appender's lock.
type allocator struct {
	fs   FS
	dir  string
	size int64
	log  *slog.Logger

	mu       sync.Mutex
	cond     sync.Cond
	want     int64    // start of the segment to prepare; -1 for none
	busy     int64    // start of the segment being created; -1 for none
	ready    *segment // prepared and not taken yet
	cur      []byte   // mapping of the active segment
	curStart int64
	sealed   [][]byte  // mappings of segments that filled up, for readAround
	warned   time.Time // last logged creation error; under mu

	jobs     chan func()  // consume-queue work: fault in a range, create a file
	head     atomic.Int64 // where the appender is (a hint)
	rewound  atomic.Bool  // the log was cut (rewind): warm from head again
	warmedTo int64        // pages below it are warm; goroutine only

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

func newAllocator(fsys FS, dir string, size int64, log *slog.Logger) *allocator {
	a := &allocator{
		fs:   fsys,
		dir:  dir,
		size: size,
		log:  log,
		want: -1,
		busy: -1,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		jobs: make(chan func(), 64),
	}
	a.cond.L = &a.mu
	a.wg.Add(2)
	go a.run()
	go a.runQueues()
	return a
}

// runQueues does consume-queue jobs as they are asked for. It is a
// goroutine of its own so that a segment being created or a stretch of the
// log being faulted in (milliseconds when fresh pages are slow to come)
// never holds back the small, urgent queue work.
func (a *allocator) runQueues() {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case job := <-a.jobs:
			job()
		}
	}
}

// queueJob asks for consume-queue work (dropped when the allocator is
// behind: the appender then does without, or creates the file itself).
func (a *allocator) queueJob(job func()) {
	select {
	case a.jobs <- job:
	default:
	}
}

func (a *allocator) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// request asks for the segment starting at start to be prepared.
func (a *allocator) request(start int64) {
	a.mu.Lock()
	a.want = start
	a.mu.Unlock()
	a.wake()
}

// advance tells where the appender writes now.
func (a *allocator) advance(off int64) {
	a.head.Store(off)
	a.wake()
}

// rewind tells that the appender moved back to off (Truncate): the pages
// from there are warmed again, whatever was warmed before.
func (a *allocator) rewind(off int64) {
	a.head.Store(off)
	a.rewound.Store(true)
	a.wake()
}

// warmQueue asks for a consume-queue range to be faulted in.
func (a *allocator) warmQueue(b []byte) {
	a.queueJob(func() { populate(b, 0, int64(len(b)), a.stop) })
}

// activate tells which segment the appender writes to.
func (a *allocator) activate(s *segment) {
	a.mu.Lock()
	a.cur, a.curStart = s.data, s.start
	a.mu.Unlock()
}

// takeReady returns the prepared segment starting at start, which becomes
// the active segment, or nil when there is none: not asked for yet, being
// created, or its creation failed. It never waits; prepare does.
func (a *allocator) takeReady(start int64) *segment {
	a.mu.Lock()
	s := a.ready
	if s == nil || s.start != start {
		a.mu.Unlock()
		return nil
	}
	a.ready = nil
	if a.want == start {
		a.want = -1
	}
	if a.cur != nil {
		a.sealed = append(a.sealed, a.cur)
	}
	a.cur, a.curStart = s.data, s.start
	a.mu.Unlock()
	a.advance(start)
	return s
}

// prepare makes the segment starting at start ready for takeReady: it waits
// for a creation in progress and creates the segment itself if it is still
// not there. It returns the creation's error; the next call tries again.
func (a *allocator) prepare(start int64) error {
	a.mu.Lock()
	for a.busy >= 0 {
		a.cond.Wait()
	}
	if a.ready != nil && a.ready.start == start {
		a.mu.Unlock()
		return nil
	}
	stale := a.ready
	a.ready, a.busy = nil, start
	if a.want == start {
		a.want = -1
	}
	a.mu.Unlock()
	if stale != nil {
		a.discardSegment(stale)
	}
	return a.create(start)
}

// create creates the segment at start, which the caller marked busy, and
// makes it the ready one.
func (a *allocator) create(start int64) error {
	s, err := createSegment(a.fs, a.dir, start, a.size)
	a.mu.Lock()
	a.busy = -1
	if err == nil {
		a.ready = s
	}
	a.cond.Broadcast()
	a.mu.Unlock()
	return err
}

// discard drops any prepared segment and pending request, waiting for a
// creation in progress, and forgets the active and the filled segments:
// the log was restarted or cut.
func (a *allocator) discard() {
	a.mu.Lock()
	for a.busy >= 0 {
		a.cond.Wait()
	}
	s := a.ready
	a.ready, a.want, a.cur, a.sealed = nil, -1, nil, nil
	a.mu.Unlock()
	if s != nil {
		a.discardSegment(s)
	}
}

func (a *allocator) discardSegment(s *segment) {
	if err := s.remove(a.fs); err != nil {
		a.log.Warn("remove unused segment", "path", s.path, "err", err)
	}
}

// close stops the goroutine and deletes the prepared, unused segment.
func (a *allocator) close() {
	close(a.stop)
	a.wg.Wait()
	a.discard()
}

func (a *allocator) run() {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case <-a.kick:
		}
		for a.step() {
		}
	}
}

// step does one job and reports whether there may be more.
func (a *allocator) step() bool {
	select {
	case <-a.stop:
		return false
	default:
	}
	a.mu.Lock()
	var stale *segment
	if a.ready != nil && a.want >= 0 && a.ready.start != a.want {
		stale, a.ready = a.ready, nil
	}
	start := int64(-1)
	if a.want >= 0 && a.ready == nil && a.busy < 0 {
		start, a.want, a.busy = a.want, -1, a.want
	}
	cur, curStart := a.cur, a.curStart
	sealed := a.sealed
	a.sealed = nil
	var next []byte
	var nextStart int64
	if a.ready != nil {
		next, nextStart = a.ready.data, a.ready.start
	}
	a.mu.Unlock()
	if stale != nil {
		a.discardSegment(stale)
	}
	for _, m := range sealed {
		// Off the appender's path: madvise takes the mmap lock as a writer.
		// A mapping that retention unmapped meanwhile only fails the call.
		readAround(m)
	}
	if start >= 0 {
		err := a.create(start)
		if err != nil {
			// The roll creates it itself and reports the error.
			a.mu.Lock()
			now := time.Now()
			quiet := now.Sub(a.warned) < errorLogInterval
			if !quiet {
				a.warned = now
			}
			a.mu.Unlock()
			if !quiet {
				a.log.Warn("prepare next segment", "offset", start, "err", err)
			}
		}
		return err == nil
	}
	return a.warm(cur, curStart, next, nextStart) || stale != nil
}

// warm faults in the pages from the append position to warmWindow ahead of
// it, in the active and the prepared segment, and reports whether it did.
// The mappings are only passed to madvise: a segment unmapped meanwhile
// makes the call fail, nothing worse.
func (a *allocator) warm(cur []byte, curStart int64, next []byte, nextStart int64) bool {
	h := a.head.Load()
	if a.rewound.Swap(false) || a.warmedTo < h || a.warmedTo > h+warmWindow {
		a.warmedTo = h
	}
	target := h + warmWindow
	did := false
	for a.warmedTo < target {
		var data []byte
		var base int64
		switch w := a.warmedTo; {
		case cur != nil && w >= curStart && w < curStart+int64(len(cur)):
			data, base = cur, curStart
		case next != nil && w >= nextStart && w < nextStart+int64(len(next)):
			data, base = next, nextStart
		default:
			return did
		}
		end := min(target, base+int64(len(data)), a.warmedTo+warmChunk)
		if !populate(data, a.warmedTo-base, end-base, a.stop) {
			a.warmedTo = target // unsupported or stopped: give up until the next kick
			return false
		}
		a.warmedTo = end
		did = true
	}
	return did
}

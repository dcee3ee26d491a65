package commitlog

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Truncation.
//
// A broker that changes roles in controller mode cuts its log's tail at
// runtime: a returning old master cuts the records the new master never had,
// at the last offset the two logs share, and replicates from there
// (AppendAt); a promoted replica cuts the partial record its stream ended in
// (Truncate(CompleteOffset())). Readers go on meanwhile, so the cut is
// published before anything is removed: MaxOffset drops to the cut first.
// Then the checkpoint stops vouching for consume-queue entries past the cut
// (recovery rebuilds them from the log, should a crash stop the cut
// half-way); the entries of the records past it go (their cleared slots
// synced); the segments past the cut's own segment leave the readers' list
// and are deleted as retention deletes them (a pinned slice stays valid
// until its release); and the rest of the cut's segment is zeroed on disk.
// A crash during
// Truncate recovers a prefix of the old log no shorter than the cut, with
// queues that match it; once Truncate has returned, the cut log, and no
// record or queue entry of the cut bytes ever comes back.

// noCut is Log.cutFloor when no Truncate ran since the flusher took its
// batch of waiters.
const noCut = math.MaxInt64

// CompleteOffset is the end of the last complete record in the log: the
// records below it are indexed. It is MaxOffset, except on a replica whose
// AppendAt bytes end within a record (or at a record that could not be
// indexed yet, or that is corrupt): a replica promoted to master first
// truncates the log there.
func (l *Log) CompleteOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dispatched
}

// Truncate cuts the log at cut: afterwards MaxOffset is cut, and the store
// is as if the bytes past it had never been written. Each consume queue
// loses the entries of records that end past cut, so its next offset is
// that of its first such record; the segments after the one holding cut are
// deleted, and the rest of that segment reads as zeros, on disk too; a
// restart, clean or not, recovers the cut log. Appends (Append, AppendAt
// at cut) continue from cut.
//
// cut must lie in [MinOffset, MaxOffset] and be where a record, an
// end-of-segment blank or a segment starts, or lie at or past
// CompleteOffset (within a partial record a replica received). Otherwise the
// error wraps ErrOutOfRange (outside the log) or ErrOffsetMismatch (within a
// record) and nothing changes. Truncate at MaxOffset changes nothing.
//
// Readers may go on: one that reads past cut gets ErrOutOfRange, a slice of
// a deleted segment stays valid as after retention (until its Pin is
// released, or for DeleteGrace), and one of the cut's own segment past cut
// reads zeros. WaitDurable callers waiting for bytes past cut get
// ErrTruncated. No arrival is announced. Appends wait for Truncate, which
// syncs files; a replica's stream (AppendAt, AppendWindow) must be stopped
// first. An I/O error making the cut durable is returned after the cut is
// made in memory.
func (l *Log) Truncate(cut int64) error {
	l.mu.Lock()
	if err := l.checkCutLocked(cut); err != nil || cut == l.wrote {
		l.mu.Unlock()
		return err
	}
	cutOff, err := l.cutLocked(cut)
	l.mu.Unlock()
	for _, w := range cutOff {
		w.done(truncatedError(cut, w.end))
	}
	return err
}

// checkCutLocked tells why the log cannot be cut at cut. l.mu must be held.
func (l *Log) checkCutLocked(cut int64) error {
	if l.closed {
		return ErrClosed
	}
	lo, hi := l.minOffset.Load(), l.wrote
	switch {
	case cut < lo || cut > hi:
		return fmt.Errorf("%w: truncate at %d: the log holds [%d,%d)", ErrOutOfRange, cut, lo, hi)
	case cut == lo || cut >= l.dispatched || l.recordAtLocked(cut):
		return nil
	}
	return fmt.Errorf("%w: truncate at %d: no record starts there (the log holds [%d,%d), complete records up to %d)",
		ErrOffsetMismatch, cut, lo, hi, l.dispatched)
}

// recordAtLocked reports whether a segment, a record or an end-of-segment
// blank starts at off, which lies below l.dispatched: a record there must
// parse and name off as its offset. l.mu must be held.
func (l *Log) recordAtLocked(off int64) bool {
	s := l.segmentLocked(off)
	if s == nil {
		return false
	}
	if off == s.start {
		return true
	}
	v, err := parse(s.data[off-s.start:min(l.dispatched, s.end())-s.start], false)
	switch {
	case err == nil:
		return v.physOffset == off
	case errors.Is(err, ErrBlank):
		return int64(v.size) == s.end()-off
	}
	return false
}

// cutLocked cuts the log at cut, a valid cut below l.wrote, and returns the
// waiters it took out, to be failed once no lock is held. l.mu must be held.
func (l *Log) cutLocked(cut int64) ([]waiter, error) {
	from := l.wrote
	l.log.Warn("truncating commit log", "offset", cut, "from", from, "bytes", from-cut)
	// Readers stop seeing the tail before anything goes.
	l.wrote = cut
	l.maxOffset.Store(cut)
	if l.dispatchErr != nil && cut <= l.dispatched {
		l.dispatchErr = nil // the corrupt bytes are gone
	}
	l.dispatched = min(l.dispatched, cut)

	// Wait out a sync under way: it would move the flushed offset past
	// the cut when it finishes, or write cut bytes back.
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.cutGen++
	if l.flushed.Load() > cut {
		l.flushed.Store(cut)
	}
	cutOff := l.cutWaiters(cut)

	var errs []error
	// Recovery after a crash trusts no queue entry past the cut, from now.
	l.ckpt.cut(cut)
	if err := l.writeCheckpoint(); err != nil {
		errs = append(errs, err)
	}
	for _, t := range l.topics {
		for _, q := range t.queues {
			if q.maxPhys <= cut {
				continue
			}
			err := l.cutQueueLocked(q, cut)
			if err == nil && q.next.Load() == 0 {
				err = l.dropQueueLocked(t, q)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("consume queue %s/%d: %w", q.topic, q.id, err))
			}
		}
	}
	if err := l.cutSegmentsLocked(cut); err != nil {
		errs = append(errs, err)
	}
	l.stats.Truncations++
	l.stats.BytesTruncated += from - cut
	if err := errors.Join(errs...); err != nil {
		return cutOff, fmt.Errorf("truncate log at %d: %w", cut, err)
	}
	return cutOff, nil
}

// cutWaiters takes the WaitDurable callers waiting for bytes past cut out
// of the queue and returns them; the flusher fails those of the batch it
// holds (cutFloor).
func (l *Log) cutWaiters(cut int64) []waiter {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.cutFloor = min(l.cutFloor, cut)
	var cutOff []waiter
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if w.end > cut {
			cutOff = append(cutOff, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
	return cutOff
}

func truncatedError(cut, end int64) error {
	return fmt.Errorf("%w at %d: the bytes up to %d are gone", ErrTruncated, cut, end)
}

// cutQueueLocked removes q's entries of records that end past cut, for
// good: the cleared slots are synced, and the queue's directory when files
// went, so that no entry past the cut comes back after a crash. A file
// made ahead that no longer follows the queue's last one goes too (the
// next Open would refuse the gap). l.mu and l.flushMu must be held.
func (l *Log) cutQueueLocked(q *cqueue, cut int64) error {
	q.mk.Lock() // no file is being made for the queue meanwhile
	defer q.mk.Unlock()
	next, files := q.next.Load(), len(q.files)
	var errs []error
	if err := l.truncateQueueLocked(q, cut); err != nil {
		errs = append(errs, err)
	}
	newNext := q.next.Load()
	q.flushedNext = min(q.flushedNext, newNext)
	gone := len(q.files) < files
	if f := q.spare.Load(); f != nil && (len(q.files) == 0 || f.start != q.files[len(q.files)-1].start+q.entries) {
		q.spare.Store(nil)
		errs = append(errs, l.deleteQueueFiles([]*cqFile{f}))
		gone = true
	}
	for _, f := range q.files {
		lo, hi := max(newNext, f.start), min(next, f.start+q.entries)
		if lo < hi {
			if err := syncMapped(l.fs, f.f, f.path, f.data, (lo-f.start)*cqEntrySize, (hi-f.start)*cqEntrySize, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if gone {
		if err := syncDir(l.fs, q.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropQueueLocked deletes q, which the cut left without an entry from its
// first slot on: had the bytes past the cut never been written, it would
// not exist (and a slave would not list its topic). Its topic goes with its
// last queue. l.mu must be held.
func (l *Log) dropQueueLocked(t *topicQueues, q *cqueue) error {
	q.mk.Lock() // a file being made for it finds it gone, and is discarded
	defer q.mk.Unlock()
	l.log.Info("deleting consume queue left empty by the cut", "topic", q.topic, "queueId", q.id)
	dir := q.dir
	l.qmu.Lock()
	delete(t.queues, q.id)
	if len(t.queues) == 0 {
		delete(l.topics, t.name)
		dir = filepath.Dir(q.dir)
	}
	l.qmu.Unlock()
	l.lastQueue = nil
	q.dropLocked(l)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete %s: %w", dir, err)
	}
	return syncDir(l.fs, filepath.Dir(dir))
}

// cutSegmentsLocked deletes the segments after the one holding cut, makes
// that one the active segment with zeros from cut to its end, on disk, and
// has the allocator prepare the segment after it. l.mu and l.flushMu must
// be held, and l.wrote be cut already.
func (l *Log) cutSegmentsLocked(cut int64) error {
	s := l.segmentLocked(cut)
	if s == nil { // cannot happen: bytes followed cut
		return fmt.Errorf("no segment holds offset %d", cut)
	}
	var errs []error
	// The allocator may hold a segment prepared after the last one.
	l.alloc.discard()
	k := int((s.start - l.segList[0].start) / l.cfg.SegmentSize)
	if dead := l.segList[k+1:]; len(dead) > 0 {
		l.segList = slices.Clone(l.segList[:k+1])
		l.publishSegments()
		for _, d := range dead {
			l.log.Info("deleting commit log segment past the cut", "path", d.path)
			if err := l.doom(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// A deleted segment that came back after a crash would be scanned and
	// its records kept; a prepared one, past a gap, would stop Open.
	if err := syncDir(l.fs, l.logDir); err != nil {
		errs = append(errs, err)
	}
	l.active = s
	l.alloc.activate(s)
	l.alloc.request(s.end())
	l.alloc.rewind(cut)
	l.warmAt = cut + warmStep
	// The rest of the segment is written through the mapping again.
	NoReadAround(s.data[(cut-s.start)&^(pageSize-1):])
	if err := s.zeroFrom(l.fs, cut-s.start); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"
)

const (
	// groupCommitInterval bounds how long a SyncFlush flusher sleeps
	// without a waiter, and how late a timeout is noticed.
	groupCommitInterval = 10 * time.Millisecond
	// queueFlushInterval is how often consume queues are msynced and the
	// checkpoint rewritten (flushIntervalConsumeQueue).
	queueFlushInterval = time.Second
	// errorLogInterval rate-limits the flusher's error log.
	errorLogInterval = 5 * time.Second
)

// waiter is a WaitDurable caller.
type waiter struct {
	end      int64
	deadline time.Time
	done     func(error)
}

// WaitDurable calls done(nil) once the log bytes below end are on disk, or
// done(ErrFlushTimeout) when that takes longer than SyncFlushTimeout (the
// bytes stay in the log), or done(err) with the error of a failed msync
// that should have covered them (the bytes stay in the log, and the flusher
// tries again), or done with an error wrapping ErrTruncated when Truncate
// cuts them first. In SyncFlush mode concurrent waiters share syncs:
// each sync of the flusher releases every waiter it covers. done runs on the
// flusher goroutine and must not block, except when the bytes are already
// flushed or the mode is AsyncFlush: then it runs at once, on the caller's
// goroutine. After Close, done gets ErrClosed.
func (l *Log) WaitDurable(end int64, done func(error)) {
	if l.cfg.Flush == AsyncFlush || end <= l.flushed.Load() {
		done(nil)
		return
	}
	w := waiter{end: end, deadline: l.cfg.now().Add(l.cfg.SyncFlushTimeout), done: done}
	l.wmu.Lock()
	if l.wclosed {
		l.wmu.Unlock()
		done(ErrClosed)
		return
	}
	l.waiters = append(l.waiters, w)
	l.wmu.Unlock()
	l.syncWaits.Add(1)
	l.wakeFlusher()
}

func (l *Log) wakeFlusher() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// retire hands a cleanup (an unmap) to the flusher, which runs it between
// rounds, when it holds no mapping.
func (l *Log) retire(fn func()) {
	l.retireMu.Lock()
	l.retired = append(l.retired, fn)
	l.retireMu.Unlock()
}

func (l *Log) runRetired() {
	l.retireMu.Lock()
	fns := l.retired
	l.retired = nil
	l.retireMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// flushLoop is the flusher goroutine: log msync (periodic, or group commit
// for waiters), consume-queue msync and checkpoint.
func (l *Log) flushLoop() {
	defer l.wg.Done()
	interval := l.cfg.FlushInterval
	if l.cfg.Flush == SyncFlush {
		interval = groupCommitInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var (
		batch     []waiter
		lastQueue = time.Now()
		lastErr   time.Time
	)
	logErr := func(msg string, err error) {
		if now := time.Now(); now.Sub(lastErr) >= errorLogInterval {
			lastErr = now
			l.log.Error(msg, "err", err)
		}
	}
	for {
		select {
		case <-l.stop:
			l.finalFlush()
			return
		case <-l.kick:
		case <-tick.C:
		}
		l.runRetired()
		l.closeDoomed(l.cfg.now(), false)
		l.wmu.Lock()
		batch, l.waiters = l.waiters, batch[:0]
		l.cutFloor = noCut
		l.wmu.Unlock()
		ferr := l.flushLog()
		if ferr != nil {
			logErr("flush commit log", ferr)
		}
		l.wmu.Lock()
		floor := l.cutFloor
		l.wmu.Unlock()
		if batch = l.release(batch, l.cfg.now(), ferr, floor); len(batch) > 0 {
			l.requeue(batch)
			batch = batch[:0]
		}
		if time.Since(lastQueue) >= queueFlushInterval || l.forceCQ.Swap(false) {
			lastQueue = time.Now()
			if err := l.flushQueues(); err != nil {
				logErr("flush consume queues", err)
			}
		}
	}
}

// release completes the waiters whose bytes a Truncate cut (at floor, since
// the batch was taken: the log may have grown past them again and been
// flushed), or are flushed, or whose time is up, or, when the flush failed
// (ferr), that it did not cover; it returns the others.
func (l *Log) release(ws []waiter, now time.Time, ferr error, floor int64) []waiter {
	flushed := l.flushed.Load()
	keep := ws[:0]
	for _, w := range ws {
		switch {
		case w.end > floor:
			w.done(truncatedError(floor, w.end))
		case w.end <= flushed:
			w.done(nil)
		case ferr != nil:
			w.done(fmt.Errorf("flush commit log: %w", ferr))
		case now.After(w.deadline):
			l.syncTimeouts.Add(1)
			w.done(ErrFlushTimeout)
		default:
			keep = append(keep, w)
		}
	}
	clear(ws[len(keep):])
	return keep
}

// requeue puts back the waiters release kept, failing those whose bytes a
// Truncate cut meanwhile.
func (l *Log) requeue(ws []waiter) {
	var cut []waiter
	l.wmu.Lock()
	floor := l.cutFloor
	for _, w := range ws {
		if w.end > floor {
			cut = append(cut, w)
		} else {
			l.waiters = append(l.waiters, w)
		}
	}
	l.wmu.Unlock()
	for _, w := range cut {
		w.done(truncatedError(floor, w.end))
	}
}

// finalFlush is the flusher's last round, at Close: no new waiters, a full
// flush (retried), every waiter answered, queues and checkpoint written.
// Close reports what failed (l.closeErr).
func (l *Log) finalFlush() {
	l.wmu.Lock()
	l.wclosed = true
	ws := l.waiters
	l.waiters = nil
	l.wmu.Unlock()
	var err error
	for range 10 {
		if err = l.flushLog(); err == nil {
			break
		}
	}
	flushed := l.flushed.Load()
	for _, w := range ws {
		if w.end <= flushed {
			w.done(nil)
		} else {
			w.done(ErrClosed)
		}
	}
	if qerr := l.flushQueues(); qerr != nil {
		err = errors.Join(err, fmt.Errorf("flush consume queues: %w", qerr))
	}
	l.runRetired()
	l.closeErr = err
}

// flushLog msyncs the log from the flushed offset to the current end. On
// an error the flushed offset moves to the end of the segments that did
// sync, and the next call writes the rest again before syncing it.
func (l *Log) flushLog() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	target := l.maxOffset.Load()
	from := l.flushed.Load()
	if target <= from {
		return nil
	}
	for _, s := range *l.segs.Load() {
		if s.end() <= from || s.start >= target {
			continue
		}
		lo, hi := max(from, s.start)-s.start, min(target, s.end())-s.start
		began := time.Now()
		err := s.sync(l.fs, lo, hi, l.redirtyLog)
		if l.cfg.OnSync != nil {
			l.cfg.OnSync(time.Since(began), hi-lo)
		}
		l.syncs.Add(1)
		if err != nil {
			l.syncErrors.Add(1)
			l.redirtyLog = true
			if s.start > from {
				l.flushed.CompareAndSwap(from, s.start)
			}
			return err
		}
	}
	l.redirtyLog = false
	l.flushed.CompareAndSwap(from, target)
	return nil
}

// flushQueues msyncs the consume-queue entries written since the last time
// and then records in the checkpoint how far the queues are safe.
func (l *Log) flushQueues() error {
	var safe, ts int64
	for {
		l.mu.Lock()
		safe, ts = l.dispatched, l.lastTS // records below safe are indexed
		gen := l.cutGen
		l.mu.Unlock()
		l.flushMu.Lock()
		if gen == l.cutGen {
			break
		}
		// A Truncate ran in between: safe may lie past its cut.
		l.flushMu.Unlock()
	}
	defer l.flushMu.Unlock()
	type dirty struct {
		q    *cqueue
		next int64
	}
	type span struct {
		f      *cqFile
		lo, hi int64
	}
	var qs []dirty
	var spans []span
	var dirs []string
	type created struct {
		q *cqueue
		n int64
	}
	var news []created
	l.qmu.RLock()
	for _, t := range l.topics {
		for _, q := range t.queues {
			if n := q.newFiles.Load(); n > 0 {
				news = append(news, created{q, n})
				dirs = append(dirs, q.dir, filepath.Dir(q.dir))
			}
			next := q.next.Load()
			if next <= q.flushedNext || len(q.files) == 0 {
				continue
			}
			qs = append(qs, dirty{q, next})
			for _, f := range q.files {
				lo, hi := max(q.flushedNext, f.start), min(next, f.start+q.entries)
				if lo < hi {
					spans = append(spans, span{f, (lo - f.start) * cqEntrySize, (hi - f.start) * cqEntrySize})
				}
			}
		}
	}
	l.qmu.RUnlock()
	var errs []error
	for _, s := range spans {
		l.queueSyncs.Add(1)
		if err := syncMapped(l.fs, s.f.f, s.f.path, s.f.data, s.lo, s.hi, l.redirtyQueues); err != nil {
			l.syncErrors.Add(1)
			errs = append(errs, err)
		}
	}
	if len(dirs) > 0 {
		// New files must be findable before the checkpoint vouches for
		// their entries.
		dirs = append(dirs, l.cqDir)
		slices.Sort(dirs)
		for _, d := range slices.Compact(dirs) {
			if err := syncDir(l.fs, d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		l.redirtyQueues = true
		return errors.Join(errs...)
	}
	l.redirtyQueues = false
	for _, c := range news {
		c.q.newFiles.CompareAndSwap(c.n, 0) // files created meanwhile: next time
	}
	for _, d := range qs {
		d.q.flushedNext = d.next
	}
	l.ckpt.setQueues(ts, safe)
	if l.flushed.Load() >= safe {
		l.ckpt.setPhysTS(ts)
	}
	return l.writeCheckpoint()
}

// writeCheckpoint stores the current offsets in the checkpoint file.
func (l *Log) writeCheckpoint() error {
	if l.ckpt == nil {
		return nil
	}
	l.ckpt.setOffsets(l.flushed.Load(), l.minOffset.Load())
	return l.ckpt.write()
}

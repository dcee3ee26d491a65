package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"time"
)

// Retention.
//
// DeleteSegments removes log segments from the front, oldest first and never
// the last one, so the log stays one contiguous range [MinOffset, MaxOffset).
// A deleted segment leaves the readers' list and MinOffset moves past it at
// once; its file is unlinked at once. Its mapping and descriptor stay while
// it is pinned (ReadPinned, Chunk: a pull response waiting for its writev, a
// sendfile to a slave), however long, and at least Config.DeleteGrace for
// readers without a pin (Read's callers decode at once); the flusher unmaps
// it right after the later of the two. So no reader touches unmapped memory
// or a reused descriptor. Consume-queue files whose entries all point below
// the new MinOffset are deleted too (never a queue's last file), and each
// queue's min offset moves to its first entry whose record remains.

// SegmentInfo describes a segment for a retention decision.
type SegmentInfo struct {
	Path       string
	Start, End int64 // log offsets
	// LastWrite is when the segment was last written to: the store time of
	// the first record of the next segment (the log rolled over then), or
	// the file's modification time when that record cannot be read.
	LastWrite time.Time
}

// doomedSegment is a deleted segment waiting for its pins and grace.
type doomedSegment struct {
	s      *segment
	at     time.Time // the grace ends
	warned bool      // pinned past the grace, logged
}

// DeleteSegments deletes at most max segments from the start of the log
// while eligible approves them, stopping at the first it refuses, at the
// last segment and at the first segment not yet flushed. It returns how
// many it deleted.
func (l *Log) DeleteSegments(max int, eligible func(SegmentInfo) bool) (int, error) {
	deleted := 0
	var err error
	for deleted < max {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return deleted, ErrClosed
		}
		if len(l.segList) < 2 || l.segList[0].end() > l.flushed.Load() {
			l.mu.Unlock()
			break
		}
		s, next := l.segList[0], l.segList[1]
		l.mu.Unlock()
		info := SegmentInfo{Path: s.path, Start: s.start, End: s.end(), LastWrite: l.lastWrite(s, next)}
		if !eligible(info) {
			break
		}
		ok, derr := l.dropFirst(s)
		if derr != nil {
			err = derr
			break
		}
		if !ok {
			break
		}
		deleted++
	}
	if deleted > 0 {
		l.forceCQ.Store(true) // write the checkpoint with the new min offset soon
		l.wakeFlusher()
		if qerr := l.trimQueues(); qerr != nil {
			err = errors.Join(err, qerr)
		}
	}
	return deleted, err
}

// lastWrite tells when s was last written (see SegmentInfo.LastWrite).
func (l *Log) lastWrite(s, next *segment) time.Time {
	if ts, ok := l.storeTime(next.start); ok && ts > 0 {
		return time.UnixMilli(ts)
	}
	if fi, err := s.f.Stat(); err == nil {
		return fi.ModTime()
	}
	return time.Now() // unknown: never expired by age
}

// dropFirst removes s, which must still be the first segment, from the log.
func (l *Log) dropFirst(s *segment) (bool, error) {
	l.mu.Lock()
	if l.closed || len(l.segList) < 2 || l.segList[0] != s {
		l.mu.Unlock()
		return false, nil
	}
	list := slices.Clone(l.segList[1:])
	l.segList = list
	l.publishSegments()
	l.minOffset.Store(list[0].start)
	l.stats.SegmentsDeleted++
	l.mu.Unlock()

	if err := l.doom(s); err != nil {
		return true, err
	}
	l.log.Info("deleted commit log segment", "path", s.path, "minOffset", list[0].start)
	return true, nil
}

// doom deletes s, which readers can no longer find (it left the published
// segment list): no new pins, its file unlinked at once, its mapping kept
// for its pins and DeleteGrace (closeDoomed).
func (l *Log) doom(s *segment) error {
	s.refs.Add(deadRef) // no new pins
	l.doomMu.Lock()
	l.doomed = append(l.doomed, doomedSegment{s: s, at: l.cfg.now().Add(l.cfg.DeleteGrace)})
	l.doomMu.Unlock()
	if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete segment: %w", err)
	}
	return nil
}

// closeDoomed unmaps and closes the deleted segments that are unpinned and
// past their grace (all of them when all is set: Close). It runs on the
// flusher, between its syncs.
func (l *Log) closeDoomed(now time.Time, all bool) {
	l.doomMu.Lock()
	var due []*segment
	keep := l.doomed[:0]
	for _, d := range l.doomed {
		pins := d.s.refs.Load() - deadRef
		over := !now.Before(d.at)
		switch {
		case all || over && pins == 0:
			due = append(due, d.s)
			continue
		case over && !d.warned:
			d.warned = true
			l.log.Warn("deleted commit log segment still pinned past destroyMapedFileIntervalForcibly: kept mapped until its readers finish",
				"path", d.s.path, "pins", pins, "grace", l.cfg.DeleteGrace)
		}
		keep = append(keep, d)
	}
	clear(l.doomed[len(keep):])
	l.doomed = keep
	l.doomMu.Unlock()
	for _, s := range due {
		if err := s.close(); err != nil {
			l.log.Warn("close deleted segment", "path", s.path, "err", err)
		}
		l.unmapped.Add(1)
	}
}

// trimQueues moves every consume queue's min offset past the entries whose
// records are gone and deletes the files left with none (never a queue's
// last file).
func (l *Log) trimQueues() error {
	var gone []*cqFile
	l.mu.Lock()
	logMin := l.minOffset.Load()
	l.qmu.Lock()
	for _, t := range l.topics {
		for _, q := range t.queues {
			lo, next := q.min.Load(), q.next.Load()
			// Entries are ordered by log offset, placeholders first.
			n := sort.Search(int(next-lo), func(i int) bool {
				e := readEntry(q.slot(lo + int64(i)))
				return !e.blank() && e.PhysOffset >= logMin
			})
			if newMin := lo + int64(n); newMin > lo {
				q.min.Store(newMin)
			}
			k := 0
			for k < len(q.files)-1 && q.files[k].start+q.entries <= q.min.Load() {
				k++
			}
			if k > 0 {
				gone = append(gone, q.files[:k]...)
				q.files = slices.Clone(q.files[k:])
			}
		}
	}
	l.qmu.Unlock()
	l.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	err := l.deleteQueueFiles(gone)
	l.forceCQ.Store(true)
	l.wakeFlusher()
	return err
}

// deleteQueueFiles unlinks consume-queue files that left their queues. The
// flusher may be syncing their mappings, and the allocator faulting them
// in: the flusher closes them between rounds. Readers copy entries under
// qmu and no longer see them.
func (l *Log) deleteQueueFiles(files []*cqFile) error {
	var errs []error
	for _, f := range files {
		if err := l.fs.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	l.retire(func() {
		for _, f := range files {
			if err := f.close(); err != nil {
				l.log.Warn("close deleted consume queue file", "path", f.path, "err", err)
			}
		}
	})
	return errors.Join(errs...)
}

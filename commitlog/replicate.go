package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// AppendAt appends raw log bytes received from a master. They must start
// exactly at MaxOffset, or anywhere when the log holds no bytes (MinOffset ==
// MaxOffset): the log then restarts at phyOffset, in a segment created at
// phyOffset rounded down to SegmentSize, and consume queues start at the
// queue offsets the records carry (earlier slots are placeholders). The bytes
// need not end at a record boundary: each record is indexed, and announced to
// the arrival listener, once all its bytes are in; a partial tail waits for
// the next call. ErrOffsetMismatch for any other offset; an error wrapping
// ErrCorrupt, and no further appends, when the stream is not a valid log.
func (l *Log) AppendAt(phyOffset int64, data []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.dispatchErr != nil {
		err := l.dispatchErr
		l.mu.Unlock()
		return err
	}
	if phyOffset != l.wrote {
		if phyOffset < 0 || l.wrote != l.minOffset.Load() {
			l.mu.Unlock()
			return fmt.Errorf("%w: append at %d, log ends at %d", ErrOffsetMismatch, phyOffset, l.wrote)
		}
		if err := l.restartLocked(phyOffset); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	n := int64(len(data))
	for len(data) > 0 {
		if l.active == nil || l.wrote == l.active.end() {
			if err := l.rollLocked(); err != nil {
				l.publishLocked()
				l.mu.Unlock()
				return err
			}
		}
		k := copy(l.active.data[l.wrote-l.active.start:], data)
		data = data[k:]
		l.wrote += int64(k)
	}
	return l.finishAppendLocked(n)
}

// AppendWindow returns the end of the log and the mapped bytes from there
// to the end of its segment (starting a new segment when the current one is
// full, created without the appender's lock if it is not ready), so that a
// replica can receive straight into the log without a copy. Bytes written
// there are not part of the log until CommitWindow takes them. Only one
// goroutine may use windows, and not together with AppendAt on the same
// bytes.
func (l *Log) AppendWindow() (int64, []byte, error) {
	for {
		l.mu.Lock()
		off, w, err := l.windowLocked()
		l.mu.Unlock()
		if err == nil {
			return off, w, nil
		}
		if again, err := l.missingFile(err, false); !again {
			return 0, nil, err
		}
	}
}

// windowLocked is AppendWindow's part under the lock. l.mu must be held.
func (l *Log) windowLocked() (int64, []byte, error) {
	if l.closed {
		return 0, nil, ErrClosed
	}
	if l.dispatchErr != nil {
		return 0, nil, l.dispatchErr
	}
	if l.active == nil || l.wrote == l.active.end() {
		if err := l.roomLocked(0); err != nil {
			return 0, nil, err
		}
	}
	return l.wrote, l.active.data[l.wrote-l.active.start:], nil
}

// CommitWindow appends the first n bytes of the window AppendWindow
// returned at off, exactly as AppendAt would append them. A record the
// bytes complete but that cannot be indexed (an I/O error creating its
// consume-queue file) stays in the log unindexed; the next call, even with
// n = 0, tries again.
func (l *Log) CommitWindow(off int64, n int) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.dispatchErr != nil {
		err := l.dispatchErr
		l.mu.Unlock()
		return err
	}
	if off != l.wrote || l.active == nil || n < 0 || off+int64(n) > l.active.end() {
		end := l.wrote
		l.mu.Unlock()
		return fmt.Errorf("%w: commit %d bytes at %d, log ends at %d", ErrOffsetMismatch, n, off, end)
	}
	l.wrote += int64(n)
	return l.finishAppendLocked(int64(n))
}

// finishAppendLocked publishes n replicated bytes just added at the end of
// the log, indexes the records they complete, unlocks l.mu and announces
// the arrivals. l.mu must be held; it is released.
func (l *Log) finishAppendLocked(n int64) error {
	l.stats.BytesWritten += n
	l.publishLocked()
	if l.wrote >= l.warmAt {
		l.advanceLocked()
	}
	fn := l.arrival.Load()
	var buf *[]note // arrivals to announce, collected only for a listener
	if fn != nil {
		b := l.notes[:0]
		buf = &b
		l.noteGen++
	}
	err := l.dispatchLocked(buf)
	var notes []note
	if buf != nil && len(*buf) > 0 {
		notes = append([]note(nil), *buf...) // l.notes is reused by the next caller
		l.notes = (*buf)[:0]
	}
	l.mu.Unlock()
	for _, n := range notes {
		(*fn)(n.topic, n.queueID, n.next, n.tagsCode)
	}
	return err
}

// publishLocked makes the written bytes readable. l.mu must be held.
func (l *Log) publishLocked() { l.maxOffset.Store(l.wrote) }

// restartLocked empties the log and makes it start at off. l.mu must be held.
func (l *Log) restartLocked(off int64) error {
	l.log.Info("restarting empty log", "from", l.wrote, "offset", off)
	l.alloc.discard()
	var errs []error
	for _, s := range l.segList {
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		l.retire(func() {
			if err := s.close(); err != nil {
				l.log.Warn("close dropped segment", "path", s.path, "err", err)
			}
		})
	}
	l.segList = nil
	if len(l.topics) > 0 {
		if err := l.dropQueuesLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	l.setOffsetsLocked(off, off)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restart log at %d: %w", off, err)
	}
	// A crash must not lose where the log starts: record it first.
	l.ckpt.setQueues(0, off)
	if err := l.writeCheckpoint(); err != nil {
		return fmt.Errorf("restart log at %d: %w", off, err)
	}
	return nil
}

// dispatchLocked indexes the complete records between l.dispatched and
// l.wrote. l.mu must be held.
func (l *Log) dispatchLocked(notes *[]note) error {
	for l.dispatched < l.wrote {
		off := l.dispatched
		s := l.segmentLocked(off)
		if s == nil {
			return nil
		}
		left := s.end() - off
		b := s.data[off-s.start : min(l.wrote, s.end())-s.start]
		v, err := parse(b, false)
		switch {
		case err == nil && v.physOffset != off:
			err = fmt.Errorf("%w: record says offset %d", ErrCorrupt, v.physOffset)
		case err == nil:
			if _, err := l.indexLocked(&v, off, notes); err != nil {
				return err // an I/O error: retried by the next call
			}
			l.dispatched += int64(v.size)
			l.stats.Replicated++
			continue
		case errors.Is(err, ErrBlank) && int64(v.size) == left:
			l.dispatched = s.end()
			continue
		case errors.Is(err, ErrBlank):
			err = fmt.Errorf("%w: blank record of %d bytes, %d to the segment end", ErrCorrupt, v.size, left)
		case errors.Is(err, errIncomplete):
			if left < blankLen {
				err = fmt.Errorf("%w: %d bytes before the segment end", ErrCorrupt, left)
				break
			}
			if len(b) < 8 || int64(be32(b)) <= left {
				return nil // wait for the rest
			}
			err = fmt.Errorf("%w: record of %d bytes, %d to the segment end", ErrCorrupt, be32(b), left)
		}
		l.dispatchErr = fmt.Errorf("replicated record at %d (appends stopped): %w", off, err)
		return l.dispatchErr
	}
	return nil
}

func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }

// indexLocked writes the consume-queue entry of a record found in the log at
// off, if it needs one and does not have it. l.mu must be held.
func (l *Log) indexLocked(v *view, off int64, notes *[]note) (bool, error) {
	if !indexed(v.sysFlag) {
		return false, nil
	}
	topic := bstr(v.topic)
	if validTopic(topic) != nil || v.queueID < 0 {
		l.log.Warn("record not indexed: bad topic or queue id", "topic", topic, "queueId", v.queueID, "offset", off)
		return false, nil
	}
	q, err := l.queueLocked(topic, v.queueID)
	if err != nil {
		return false, err
	}
	var tags int64
	if t, ok := Property(bstr(v.props), "TAGS"); ok {
		tags = TagsCode(t)
	}
	wrote, err := q.putAtLocked(l, v.queueOffset, off, int32(v.size), tags)
	if wrote && notes != nil {
		// One note per queue and call, with the last record's offset.
		n := note{topic: q.topic, queueID: q.id, next: v.queueOffset + 1, tagsCode: tags}
		if q.noteGen == l.noteGen && q.noteAt < len(*notes) {
			(*notes)[q.noteAt] = n
		} else {
			q.noteGen, q.noteAt = l.noteGen, len(*notes)
			*notes = append(*notes, n)
		}
	}
	return wrote, err
}

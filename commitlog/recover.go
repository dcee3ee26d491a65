package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// recover loads the segments and consume queues, finds the end of the valid
// log, cuts whatever is past it (log and queues), indexes what the queues
// miss and sets the offsets. It runs in Open, before any goroutine starts.
func (l *Log) recover() error {
	dir := l.cfg.Dir
	clean := !abortExists(dir)
	ckpt, err := openCheckpoint(l.fs, dir)
	if err != nil {
		return err
	}
	l.ckpt = ckpt
	if err := l.loadSegments(); err != nil {
		return err
	}
	if err := l.loadQueues(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	if len(l.segList) == 0 {
		if len(l.topics) > 0 {
			l.log.Warn("no commit log: dropping consume queues", "queues", l.queueCount())
			if err := l.dropQueuesLocked(); err != nil {
				return err
			}
		}
		l.setOffsetsLocked(0, 0)
		return l.finishRecovery(clean)
	}

	first := l.segList[0]
	logMin := first.start
	if ckpt.valid && ckpt.minOffset > first.start && ckpt.minOffset < first.end() {
		logMin = ckpt.minOffset
	}
	// Records from dispatchFrom on may be missing from the queues: after a
	// clean exit that is what comes after the last indexed record; after a
	// crash the queues are trusted only up to the checkpoint.
	cqMax := logMin
	for _, t := range l.topics {
		for _, q := range t.queues {
			cqMax = max(cqMax, q.maxPhys)
		}
	}
	dispatchFrom := cqMax
	if !clean {
		if ckpt.valid {
			dispatchFrom = min(dispatchFrom, ckpt.queueSafe)
		} else {
			dispatchFrom = logMin
		}
	}
	dispatchFrom = max(dispatchFrom, logMin)
	scanFrom := l.segList[max(0, len(l.segList)-3)].start
	if s := l.segmentLocked(dispatchFrom); s != nil {
		scanFrom = min(scanFrom, s.start)
	}
	scanFrom = max(scanFrom, logMin)

	cut := l.scanLocked(scanFrom)
	l.log.Info("recovering store", "clean", clean, "segments", len(l.segList), "scanFrom", scanFrom, "dispatchFrom", dispatchFrom, "offset", cut)
	if err := l.cutLogLocked(cut, clean); err != nil {
		return err
	}
	var errs []error
	for _, t := range l.topics {
		for _, q := range t.queues {
			if q.maxPhys > cut {
				if err := l.truncateQueueLocked(q, cut); err != nil {
					errs = append(errs, err)
				}
			}
			q.flushedNext = min(q.flushedNext, q.next.Load())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("truncate consume queues at %d: %w", cut, err)
	}
	if dispatchFrom < cut {
		n, err := l.redispatchLocked(scanFrom, dispatchFrom, cut)
		if err != nil {
			return fmt.Errorf("rebuild consume queues: %w", err)
		}
		if n > 0 {
			l.log.Info("rebuilt consume queue entries", "entries", n, "from", dispatchFrom, "to", cut)
		}
	}
	l.setOffsetsLocked(logMin, cut)
	if ckpt.valid {
		ckpt.cut(cut)
	}
	return l.finishRecovery(clean)
}

// setOffsetsLocked sets every position to end (a log starting at minOffset).
// l.mu must be held.
func (l *Log) setOffsetsLocked(minOffset, end int64) {
	if n := len(l.segList); n > 0 {
		l.active = l.segList[n-1]
	} else {
		l.active = nil
	}
	l.publishSegments()
	l.wrote, l.dispatched, l.warmAt = end, end, 0
	l.minOffset.Store(minOffset)
	l.maxOffset.Store(end)
	l.flushed.Store(end)
}

func (l *Log) finishRecovery(clean bool) error {
	if !clean {
		l.log.Warn("store was not closed cleanly: recovered", "offset", l.wrote)
	}
	if err := l.writeCheckpoint(); err != nil {
		return err
	}
	return createAbort(l.fs, l.cfg.Dir)
}

// scanLocked reads records with CRC checks from off (a record boundary) and
// returns where the valid log ends. l.mu must be held.
func (l *Log) scanLocked(off int64) int64 {
	for {
		s := l.segmentLocked(off)
		if s == nil {
			return off
		}
		b := s.data[off-s.start:]
		v, err := parse(b, true)
		switch {
		case err == nil && v.physOffset == off:
			off += int64(v.size)
			continue
		case err == nil:
			err = fmt.Errorf("%w: record says offset %d", ErrCorrupt, v.physOffset)
		case errors.Is(err, ErrBlank) && v.size == len(b):
			off = s.end()
			continue
		case errors.Is(err, ErrBlank):
			err = fmt.Errorf("%w: blank record of %d bytes, %d to the segment end", ErrCorrupt, v.size, len(b))
		}
		if len(b) < 8 || !allZero(b[:8]) {
			l.log.Warn("cutting commit log at a torn or corrupt record", "offset", off, "err", err)
		}
		return off
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cutLogLocked drops the segments past cut and, after a crash or when
// non-zero bytes follow the cut, zeroes the rest of the cut segment so that
// no stale record can surface later. l.mu must be held.
func (l *Log) cutLogLocked(cut int64, clean bool) error {
	keep := len(l.segList)
	for keep > 1 && l.segList[keep-1].start > cut {
		keep--
	}
	var errs []error
	for _, s := range l.segList[keep:] {
		l.log.Info("removing segment past the end of the log", "path", s.path)
		if err := s.remove(l.fs); err != nil {
			errs = append(errs, err)
		}
	}
	l.segList = l.segList[:keep:keep]
	if s := l.segmentLocked(cut); s != nil {
		pos := cut - s.start
		if !clean || !allZero(s.data[pos:min(pos+blankLen, s.size)]) {
			if err := s.zeroFrom(l.fs, pos); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// redispatchLocked indexes the records in [from, cut) (reading from scanFrom,
// a record boundary) that the queues miss. l.mu must be held.
func (l *Log) redispatchLocked(scanFrom, from, cut int64) (int, error) {
	n := 0
	for off := scanFrom; off < cut; {
		s := l.segmentLocked(off)
		if s == nil {
			break
		}
		v, err := parse(s.data[off-s.start:], false)
		if errors.Is(err, ErrBlank) {
			off = s.end()
			continue
		}
		if err != nil { // cannot happen below the cut
			return n, fmt.Errorf("record at %d: %w", off, err)
		}
		if off >= from {
			wrote, err := l.indexLocked(&v, off, nil)
			if err != nil {
				return n, err
			}
			if wrote {
				n++
			}
		}
		off += int64(v.size)
	}
	return n, nil
}

// loadSegments maps the segment files in order. They must be contiguous and
// exactly SegmentSize bytes; the last may be short (it is then extended).
func (l *Log) loadSegments() error {
	ents, err := os.ReadDir(l.logDir)
	if err != nil {
		return fmt.Errorf("load commit log: %w", err)
	}
	size := l.cfg.SegmentSize
	var starts []int64
	for _, e := range ents {
		start, ok := parseFileName(e.Name())
		if !ok || e.IsDir() {
			l.log.Warn("ignoring unexpected file in commit log directory", "path", filepath.Join(l.logDir, e.Name()))
			continue
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	// A short file can only be one that was being created at a crash: it
	// may be extended if no later segment holds data.
	growFrom := len(starts) - 1
	for growFrom > 0 && unusedSegment(filepath.Join(l.logDir, fileName(starts[growFrom]))) {
		growFrom--
	}
	for i, start := range starts {
		path := filepath.Join(l.logDir, fileName(start))
		if start%size != 0 {
			return fmt.Errorf("load commit log: segment %s is not at a multiple of %d (mappedFileSizeCommitLog changed?)", path, size)
		}
		if i > 0 && start != starts[i-1]+size {
			return fmt.Errorf("load commit log: segments %s and %s are not contiguous", fileName(starts[i-1]), fileName(start))
		}
		s, err := openSegment(l.fs, path, start, size, i >= growFrom)
		if err != nil {
			return fmt.Errorf("load commit log: %w", err)
		}
		l.segList = append(l.segList, s)
	}
	l.publishSegments()
	return nil
}

// unusedSegment reports whether a segment file has no record at its start,
// so holds no data (a segment is written from its start).
func unusedSegment(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [8]byte
	n, _ := f.ReadAt(b[:], 0)
	return allZero(b[:n])
}

// loadQueues maps every consume queue and finds each one's entries.
func (l *Log) loadQueues() error {
	tdirs, err := os.ReadDir(l.cqDir)
	if err != nil {
		return fmt.Errorf("load consume queues: %w", err)
	}
	for _, td := range tdirs {
		topic := td.Name()
		if !td.IsDir() || validTopic(topic) != nil {
			l.log.Warn("ignoring unexpected entry in consume queue directory", "path", filepath.Join(l.cqDir, topic))
			continue
		}
		qdirs, err := os.ReadDir(filepath.Join(l.cqDir, topic))
		if err != nil {
			return fmt.Errorf("load consume queues: %w", err)
		}
		for _, qd := range qdirs {
			id, err := strconv.ParseInt(qd.Name(), 10, 32)
			if !qd.IsDir() || err != nil || id < 0 || strconv.Itoa(int(id)) != qd.Name() {
				l.log.Warn("ignoring unexpected entry in consume queue directory", "path", filepath.Join(l.cqDir, topic, qd.Name()))
				continue
			}
			if err := l.loadQueue(topic, int32(id)); err != nil {
				return fmt.Errorf("load consume queue %s/%d: %w", topic, id, err)
			}
		}
	}
	return nil
}

func (l *Log) loadQueue(topic string, id int32) error {
	dir := filepath.Join(l.cqDir, topic, strconv.Itoa(int(id)))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	per := int64(l.cfg.QueueFileEntries)
	size := per * cqEntrySize
	var starts []int64
	for _, e := range ents {
		off, ok := parseFileName(e.Name())
		if !ok || e.IsDir() {
			l.log.Warn("ignoring unexpected file in consume queue directory", "path", filepath.Join(dir, e.Name()))
			continue
		}
		if off%size != 0 {
			return fmt.Errorf("file %s is not at a multiple of %d bytes (QueueFileEntries changed?)", e.Name(), size)
		}
		starts = append(starts, off/cqEntrySize)
	}
	slices.Sort(starts)
	q := &cqueue{topic: topic, id: id, dir: dir, entries: per}
	fail := func(err error) error {
		q.close()
		return err
	}
	for i, start := range starts {
		path := filepath.Join(dir, fileName(start*cqEntrySize))
		if i > 0 && start != starts[i-1]+per {
			return fail(fmt.Errorf("files %s and %s are not contiguous", fileName(starts[i-1]*cqEntrySize), fileName(start*cqEntrySize)))
		}
		f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fail(err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fail(err)
		}
		if fi.Size() != size {
			if fi.Size() == 0 && i == len(starts)-1 { // created, never sized
				f.Close()
				if err := l.fs.Remove(path); err != nil {
					return fail(err)
				}
				break
			}
			f.Close()
			return fail(fmt.Errorf("file %s has %d bytes, want %d (QueueFileEntries changed?)", path, fi.Size(), size))
		}
		cf, err := mapQueueFile(l.fs, f, path, start, size)
		if err != nil {
			f.Close()
			return fail(err)
		}
		q.files = append(q.files, cf)
	}
	if len(q.files) == 0 {
		return nil
	}
	// The queue ends at the first empty slot of the last file that has
	// entries; files after it were created ahead of need.
	last := q.files[len(q.files)-1]
	for i := len(q.files) - 1; i > 0 && readEntry(q.files[i].data).Size == 0; i-- {
		last = q.files[i-1]
	}
	n := int64(0)
	for ; n < per; n++ {
		e := readEntry(last.data[n*cqEntrySize:])
		if e.Size <= 0 || e.PhysOffset < 0 {
			break
		}
	}
	next := last.start + n
	// It starts at the first slot of the first file that is no placeholder.
	first := q.files[0]
	lo := first.start
	for lo < next && lo < first.start+per && readEntry(q.slot(lo)).blank() {
		lo++
	}
	q.next.Store(next)
	q.min.Store(lo)
	q.flushedNext = next
	for i := next - 1; i >= lo; i-- {
		if e := readEntry(q.slot(i)); !e.blank() {
			q.maxPhys = e.PhysOffset + int64(e.Size)
			break
		}
	}
	t := l.topics[topic]
	if t == nil {
		t = &topicQueues{name: topic, queues: make(map[int32]*cqueue)}
		l.topics[topic] = t
	}
	q.topic = t.name
	t.queues[id] = q
	return nil
}

func (l *Log) queueCount() int {
	n := 0
	for _, t := range l.topics {
		n += len(t.queues)
	}
	return n
}

// dropQueuesLocked deletes every consume queue. l.mu must be held.
func (l *Log) dropQueuesLocked() error {
	l.qmu.Lock()
	topics := l.topics
	l.topics = make(map[string]*topicQueues)
	l.qmu.Unlock()
	l.lastQueue = nil
	var errs []error
	for name, t := range topics {
		for _, q := range t.queues {
			q.dropLocked(l)
		}
		if err := os.RemoveAll(filepath.Join(l.cqDir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

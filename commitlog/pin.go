package commitlog

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Pin keeps the segments that bytes were read from mapped, and their
// files open, until Release, even when retention deletes them meanwhile: a
// zero-copy write holds one while its bytes wait in a connection's queue,
// however long that is. The zero Pin is ready to use. A Pin is not safe for
// concurrent use.
type Pin struct {
	l    *Log
	segs []*segment
}

// hold adds s to the pin, unless retention deleted it.
func (p *Pin) hold(l *Log, s *segment) bool {
	for _, h := range p.segs {
		if h == s {
			return true
		}
	}
	if !l.pin(s) {
		return false
	}
	p.l = l
	p.segs = append(p.segs, s)
	return true
}

// Release lets the pinned segments go; a deleted segment is unmapped soon
// after its last pin is released. Releasing twice is harmless.
func (p *Pin) Release() {
	for _, s := range p.segs {
		p.l.unpin(s)
	}
	clear(p.segs)
	p.segs = p.segs[:0]
}

// pin takes a reference on s; it fails for a segment retention deleted.
func (l *Log) pin(s *segment) bool {
	if s.refs.Add(1) >= deadRef {
		l.unpin(s)
		return false
	}
	return true
}

// unpin drops a reference; the last one of a deleted segment wakes the
// flusher, which unmaps it.
func (l *Log) unpin(s *segment) {
	if s.refs.Add(-1) == deadRef {
		l.wakeFlusher()
	}
}

// ReadPinned is Read for a slice that outlives the call: the slice stays
// valid until p is released (or Close), whatever retention does meanwhile.
// A segment that retention has already deleted reads as ErrOutOfRange.
func (l *Log) ReadPinned(p *Pin, phyOffset int64, size int32) ([]byte, error) {
	s, pos, err := l.locate(phyOffset, size)
	if err != nil {
		return nil, err
	}
	if !p.hold(l, s) {
		return nil, fmt.Errorf("%w: read at %d: segment %s deleted", ErrOutOfRange, phyOffset, s.path)
	}
	return s.data[pos : pos+int64(size) : pos+int64(size)], nil
}

// Chunk locates the readable log bytes starting at phyOffset for a
// zero-copy transfer: the segment file that holds them, their position in
// it, and their length, at most max and never past the segment's end or
// MaxOffset. The file stays open until release is called (or Close), even
// if retention deletes the segment meanwhile; read it with pread or
// sendfile at the position, never through its shared offset.
func (l *Log) Chunk(phyOffset int64, max int) (f *os.File, pos int64, n int, release func(), err error) {
	if l.closing.Load() {
		return nil, 0, 0, nil, ErrClosed
	}
	hi := l.maxOffset.Load()
	if phyOffset < l.minOffset.Load() || phyOffset >= hi || max <= 0 {
		return nil, 0, 0, nil, fmt.Errorf("%w: chunk at %d of [%d,%d)", ErrOutOfRange, phyOffset, l.minOffset.Load(), hi)
	}
	s := findSegment(*l.segs.Load(), phyOffset, l.cfg.SegmentSize)
	if s == nil || !l.pin(s) {
		return nil, 0, 0, nil, fmt.Errorf("%w: no segment holds offset %d", ErrOutOfRange, phyOffset)
	}
	n64 := min(int64(max), s.end()-phyOffset, hi-phyOffset)
	return s.f, phyOffset - s.start, int(n64), func() { l.unpin(s) }, nil
}

// coldDistance is how far behind MaxOffset bytes must be for Prefault to
// read them in: nearer bytes were written recently (or faulted in by the
// allocator's warm-up) and are in the page cache, so a pull of them pays
// no system call.
const coldDistance = 64 << 20

// Prefault reads the pages of parts, slices read from the log whose first
// starts at log offset from, into memory and maps them, on the calling
// goroutine: an event loop that writes them afterwards then waits for no
// disk. Bytes within coldDistance of MaxOffset are left alone. It reports
// whether it made system calls. The parts must be pinned (or otherwise
// known mapped) until it returns.
func (l *Log) Prefault(from int64, parts [][]byte) bool {
	if len(parts) == 0 || l.maxOffset.Load()-from <= coldDistance {
		return false
	}
	l.prefaults.Add(1)
	var run unsafe.Pointer // first page of the run of pages being gathered
	var lo, hi uintptr     // its addresses
	for _, b := range parts {
		if len(b) == 0 {
			continue
		}
		p := unsafe.Pointer(unsafe.SliceData(b))
		a := uintptr(p)
		plo, phi := a&^(pageSize-1), (a+uintptr(len(b))+pageSize-1)&^(pageSize-1)
		if run != nil && plo >= lo && plo <= hi {
			hi = max(hi, phi)
			continue
		}
		if run != nil {
			populateRead(unsafe.Slice((*byte)(run), hi-lo))
		}
		run, lo, hi = unsafe.Add(p, -int(a-plo)), plo, phi
	}
	if run != nil {
		populateRead(unsafe.Slice((*byte)(run), hi-lo))
	}
	return true
}

// noPopulateRead is set once the kernel turned MADV_POPULATE_READ down
// (Linux < 5.14).
var noPopulateRead atomic.Bool

// touched keeps the fallback's reads from being optimised away.
var touched atomic.Uint32

// populateRead faults in the mapped pages of b, which is page-aligned, for
// reading: MADV_WILLNEED starts the read-ahead of the whole range at once
// (a cold range then costs about one disk read, not one per page), and
// MADV_POPULATE_READ waits for the pages and maps them; where the kernel
// lacks it (Linux < 5.14), a read of one byte per page does. Errors are
// ignored: the write that follows faults in what is left.
func populateRead(b []byte) {
	if err := unix.Madvise(b, unix.MADV_WILLNEED); err != nil {
		return
	}
	if !noPopulateRead.Load() {
		err := unix.Madvise(b, unix.MADV_POPULATE_READ)
		if err != unix.EINVAL {
			return
		}
		noPopulateRead.Store(true)
	}
	var sum byte
	for i := 0; i < len(b); i += pageSize {
		sum += b[i]
	}
	touched.Add(uint32(sum))
}

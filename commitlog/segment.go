package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// segment is one memory-mapped log file covering [start, start+size).
type segment struct {
	start int64
	size  int64
	path  string
	f     *os.File
	// data is the mapping. It is never reassigned once the segment is
	// open: unmapped stops a second munmap, so an unpinned Read racing
	// retention's close reads the same slice header, not a field being
	// written (the bytes stay readable for DeleteGrace, as Read promises).
	data     []byte
	unmapped bool // by close, which the flusher or Close calls, never both

	// refs counts the pins on the segment (see Pin), plus deadRef once
	// retention has deleted it: a pin taken then is refused, and the
	// mapping goes when the count falls back to deadRef.
	refs atomic.Int64
}

const deadRef = 1 << 48

func (s *segment) end() int64 { return s.start + s.size }

// fileName is the 20-digit zero-padded offset RocketMQ names its files by.
func fileName(off int64) string { return fmt.Sprintf("%020d", off) }

// parseFileName returns the offset a file name stands for, or false for a
// name that is not 20 decimal digits.
func parseFileName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name, 10, 64)
	return n, err == nil
}

// createSegment creates the file of the segment starting at start,
// reserves its blocks, makes its name durable and maps it. A file left
// there by a creation that failed half-way is replaced: the log never has
// bytes at or past the segment it is about to start.
func createSegment(fsys FS, dir string, start, size int64) (*segment, error) {
	path := filepath.Join(dir, fileName(start))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		if err = fsys.Remove(path); err == nil {
			f, err = fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	if err := fsys.Allocate(f, size); err != nil {
		return fail(fmt.Errorf("preallocate: %w", err))
	}
	if err := syncDir(fsys, dir); err != nil {
		return fail(err)
	}
	s, err := mapSegment(fsys, f, path, start, size)
	if err != nil {
		return fail(err)
	}
	NoReadAround(s.data)
	return s, nil
}

// openSegment maps an existing segment file. A file shorter than size is
// extended when grow is set (the last file of a crashed store may not have
// been sized yet) and rejected otherwise; a longer one is always rejected.
func openSegment(fsys FS, path string, start, size int64, grow bool) (*segment, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat segment: %w", err)
	}
	if n := fi.Size(); n != size {
		if n > size || !grow {
			f.Close()
			return nil, fmt.Errorf("segment %s has %d bytes, want %d (mappedFileSizeCommitLog changed?)", path, n, size)
		}
		if err := fsys.Allocate(f, size); err != nil {
			f.Close()
			return nil, fmt.Errorf("extend segment %s: %w", path, err)
		}
	}
	s, err := mapSegment(fsys, f, path, start, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// NoReadAround tells the kernel that faults on b must not read around the
// faulting page (MADV_RANDOM), for a mapping written through page by page
// whose pages are mostly not in the file yet: a fault on a hole or a
// preallocated block otherwise brings in and zeroes the whole read-ahead
// window (read_ahead_kb, 8 MiB on some machines) in large folios, in one
// stretch of kernel time that a kernel without preemption never
// interrupts. On a 2-vCPU VM that held a CPU for 17-26 ms every 8 MiB of
// appends, and whatever waited behind it on that CPU, an event loop
// included, waited as long. With it, each fault brings in one page and
// the work yields between pages. Errors are ignored: it is advice.
func NoReadAround(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_RANDOM)
	}
}

// readAround undoes NoReadAround, for a segment that is full: its pages are
// in the file now, and a reader that faults on evicted ones should get
// read-ahead again.
func readAround(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_NORMAL)
	}
}

func mapSegment(fsys FS, f *os.File, path string, start, size int64) (*segment, error) {
	data, err := fsys.Map(f, size)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return &segment{start: start, size: size, path: path, f: f, data: data}, nil
}

// close unmaps and closes the segment.
func (s *segment) close() error {
	var errs []error
	if !s.unmapped && s.data != nil {
		if err := unix.Munmap(s.data); err != nil {
			errs = append(errs, fmt.Errorf("munmap %s: %w", s.path, err))
		}
		s.unmapped = true
	}
	if err := s.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove closes the segment and deletes its file.
func (s *segment) remove(fsys FS) error {
	err := s.close()
	if rerr := fsys.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// sync msyncs the bytes [lo, hi) of the segment (positions in the file).
// After a failed sync, redirty has the range written again first: the
// kernel may have marked pages whose write-back failed clean, and an msync
// of clean pages succeeds without writing them.
func (s *segment) sync(fsys FS, lo, hi int64, redirty bool) error {
	return syncMapped(fsys, s.f, s.path, s.data, lo, hi, redirty)
}

// syncMapped msyncs data[lo:hi], a mapping of f from position 0; see
// segment.sync for redirty.
func syncMapped(fsys FS, f *os.File, path string, data []byte, lo, hi int64, redirty bool) error {
	lo &^= pageSize - 1
	if hi <= lo {
		return nil
	}
	if redirty {
		if _, err := f.WriteAt(data[lo:hi], lo); err != nil {
			return fmt.Errorf("rewrite %s [%d,%d): %w", path, lo, hi, err)
		}
	}
	if err := fsys.Msync(f, data, lo, hi); err != nil {
		return fmt.Errorf("msync %s [%d,%d): %w", path, lo, hi, err)
	}
	return nil
}

// zeroFrom makes the bytes from file position pos to the end read as zeros,
// on disk too: the partial page is cleared through the mapping, whole pages
// are punched out and reserved again (a metadata operation), or cleared
// where the file system cannot punch holes; then the file is synced, so
// that a second crash cannot bring back what the first one cut.
func (s *segment) zeroFrom(fsys FS, pos int64) error {
	size := s.size
	up := min((pos+pageSize-1)&^(pageSize-1), size)
	clear(s.data[pos:up])
	full := up
	if up < size {
		fd := int(s.f.Fd())
		if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, up, size-up); err != nil {
			clear(s.data[up:])
			full = size
		} else {
			_ = unix.Fallocate(fd, 0, up, size-up) // best effort: holes also read as zeros
		}
	}
	if err := s.sync(fsys, pos, full, false); err != nil {
		return fmt.Errorf("zero the tail: %w", err)
	}
	if err := fsys.Sync(s.f); err != nil {
		return fmt.Errorf("zero the tail of %s: sync: %w", s.path, err)
	}
	return nil
}

// populate pre-faults the pages of data[from:to] for writing, in chunks, so
// that appends do not take page faults. It only issues madvise calls and never
// touches the bytes, so it may run concurrently with appends (and even after
// an unmap, when madvise just fails). It reports false when it stopped early:
// stop was closed or the kernel lacks MADV_POPULATE_WRITE (Linux < 5.14).
func populate(data []byte, from, to int64, stop <-chan struct{}) bool {
	for lo := from &^ (pageSize - 1); lo < to; lo += warmChunk {
		select {
		case <-stop:
			return false
		default:
		}
		if err := unix.Madvise(data[lo:min(lo+warmChunk, to)], unix.MADV_POPULATE_WRITE); err != nil {
			return false
		}
	}
	return true
}

package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// segment is one memory-mapped log file covering [start, start+len(data)).
type segment struct {
	start int64
	path  string
	f     *os.File
	data  []byte
}

func (s *segment) end() int64 { return s.start + int64(len(s.data)) }

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
// reserves its blocks, makes its name durable and maps it. It fails if the
// file exists.
func createSegment(dir string, start, size int64) (*segment, error) {
	path := filepath.Join(dir, fileName(start))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := preallocate(f, size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("preallocate segment %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	s, err := mapSegment(f, path, start, size)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return s, nil
}

// openSegment maps an existing segment file. A file shorter than size is
// extended when grow is set (the last file of a crashed store may not have
// been sized yet) and rejected otherwise; a longer one is always rejected.
func openSegment(path string, start, size int64, grow bool) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
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
		if err := preallocate(f, size); err != nil {
			f.Close()
			return nil, fmt.Errorf("extend segment %s: %w", path, err)
		}
	}
	s, err := mapSegment(f, path, start, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func mapSegment(f *os.File, path string, start, size int64) (*segment, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return &segment{start: start, path: path, f: f, data: data}, nil
}

// preallocate gives f size bytes of reserved blocks, or a sparse size where
// the file system cannot reserve.
func preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return f.Truncate(size)
	}
	return err
}

// close unmaps and closes the segment.
func (s *segment) close() error {
	var errs []error
	if s.data != nil {
		if err := unix.Munmap(s.data); err != nil {
			errs = append(errs, fmt.Errorf("munmap %s: %w", s.path, err))
		}
		s.data = nil
	}
	if err := s.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove closes the segment and deletes its file.
func (s *segment) remove() error {
	err := s.close()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// sync msyncs the bytes [lo, hi) of the segment (positions in the file).
func (s *segment) sync(lo, hi int64) error {
	lo &^= pageSize - 1
	if hi <= lo {
		return nil
	}
	if err := msync(s.data[lo:hi]); err != nil {
		return fmt.Errorf("msync %s [%d,%d): %w", s.path, lo, hi, err)
	}
	return nil
}

// zeroFrom makes the bytes from file position pos to the end read as zeros:
// the partial page is cleared through the mapping, whole pages are punched
// out and reserved again (a metadata operation), or cleared where the file
// system cannot punch holes.
func (s *segment) zeroFrom(pos int64) {
	size := int64(len(s.data))
	up := min((pos+pageSize-1)&^(pageSize-1), size)
	clear(s.data[pos:up])
	if up == size {
		return
	}
	fd := int(s.f.Fd())
	if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, up, size-up); err != nil {
		clear(s.data[up:])
		return
	}
	_ = unix.Fallocate(fd, 0, up, size-up) // best effort: holes also read as zeros
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

// msync writes back the pages of b, a page-aligned part of a mapping whose
// last page may be partly written. The whole pages are unmapped first
// (MADV_DONTNEED keeps a shared file mapping's contents; the next access maps
// them again): writing back a page that is mapped writable write-protects it
// with a TLB shootdown per page, which interrupts the appender on the other
// CPUs; unmapping the range costs one.
func msync(b []byte) error {
	if full := len(b) &^ (pageSize - 1); full > 0 {
		_ = unix.Madvise(b[:full], unix.MADV_DONTNEED) // an optimisation only
	}
	return unix.Msync(b, unix.MS_SYNC)
}

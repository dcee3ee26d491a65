package commitlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FS is the file-system calls a store makes to change files: the seam
// where tests inject errors (ENOSPC, EIO) and model a power loss. Bytes
// written through a mapping are memory, not calls: Msync is where they meet
// the disk, so the append path makes no FS call unless it starts a file.
// Reads (directory listings, stat, pread) go to the OS directly.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(path string, flag int, perm os.FileMode) (*os.File, error)
	// MkdirAll is os.MkdirAll with mode 0755.
	MkdirAll(dir string) error
	// Allocate makes f size bytes long with its blocks reserved
	// (fallocate), or sparse where the file system cannot reserve.
	Allocate(f *os.File, size int64) error
	// Truncate makes f size bytes long, sparse.
	Truncate(f *os.File, size int64) error
	// Map maps the first size bytes of f, shared, readable and writable.
	Map(f *os.File, size int64) ([]byte, error)
	// Msync writes back m[lo:hi], where m maps f from position 0 and lo
	// is page-aligned.
	Msync(f *os.File, m []byte, lo, hi int64) error
	// Sync writes f's data and size to disk (fdatasync).
	Sync(f *os.File) error
	// SyncDir makes the names in dir durable (fsync of the directory).
	SyncDir(dir string) error
	// Rename is os.Rename.
	Rename(from, to string) error
	// Remove is os.Remove.
	Remove(path string) error
}

// OS is the real file system.
type OS struct{}

func (OS) OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (OS) Allocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return f.Truncate(size)
	}
	return err
}

func (OS) Truncate(f *os.File, size int64) error { return f.Truncate(size) }

func (OS) Map(f *os.File, size int64) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// Msync unmaps the whole pages of the range before writing them back
// (MADV_DONTNEED keeps a shared file mapping's contents; the next access
// maps them again): writing back a page that is mapped writable
// write-protects it with a TLB shootdown per page, which interrupts the
// appender on the other CPUs; unmapping the range costs one.
func (OS) Msync(_ *os.File, m []byte, lo, hi int64) error {
	b := m[lo:hi]
	if full := len(b) &^ (pageSize - 1); full > 0 {
		_ = unix.Madvise(b[:full], unix.MADV_DONTNEED) // an optimisation only
	}
	return unix.Msync(b, unix.MS_SYNC)
}

func (OS) Sync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (OS) Rename(from, to string) error { return os.Rename(from, to) }

func (OS) Remove(path string) error { return os.Remove(path) }

// fsOrOS is fsys, or the real file system for nil.
func fsOrOS(fsys FS) FS {
	if fsys == nil {
		return OS{}
	}
	return fsys
}

func syncDir(fsys FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// ReplaceFile replaces path with data through fsys (nil: the real file
// system): it writes path.tmp, syncs it, renames it over path and syncs the
// directory, so a crash leaves either the old or the new content. On an
// error the old content stays.
func ReplaceFile(fsys FS, path string, data []byte) error {
	return ReplaceFileWith(fsys, path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// ReplaceFileWith is ReplaceFile with the content written by write, for a
// caller that has it in pieces and need not join them first.
func ReplaceFileWith(fsys FS, path string, write func(io.Writer) error) error {
	fsys = fsOrOS(fsys)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = write(f)
	if err == nil {
		if err = fsys.Sync(f); err != nil {
			err = fmt.Errorf("sync: %w", err)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return syncDir(fsys, filepath.Dir(path))
}

// WriteFileAtomic is ReplaceFile on the real file system.
func WriteFileAtomic(path string, data []byte) error { return ReplaceFile(nil, path, data) }

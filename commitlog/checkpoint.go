package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	checkpointSize = 4096
	checkpointUsed = 56 // bytes covered by the CRC at [56,60)
)

// checkpoint is the 4 KiB checkpoint file (layout in the package doc).
type checkpoint struct {
	fs FS
	f  *os.File

	mu        sync.Mutex
	valid     bool // loaded from a file with a good CRC
	physTS    int64
	logicsTS  int64
	flushed   int64
	queueSafe int64
	minOffset int64
}

func openCheckpoint(fsys FS, dir string) (*checkpoint, error) {
	path := filepath.Join(dir, "checkpoint")
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	c := &checkpoint{fs: fsys, f: f}
	buf := make([]byte, checkpointSize)
	// A missing, short or damaged checkpoint is no checkpoint: recovery
	// then scans more of the log.
	n, _ := f.ReadAt(buf, 0)
	if n >= checkpointUsed+4 && crc32.ChecksumIEEE(buf[:checkpointUsed]) == binary.BigEndian.Uint32(buf[checkpointUsed:]) {
		c.valid = true
		c.physTS = int64(binary.BigEndian.Uint64(buf[0:]))
		c.logicsTS = int64(binary.BigEndian.Uint64(buf[8:]))
		c.flushed = int64(binary.BigEndian.Uint64(buf[24:]))
		c.queueSafe = int64(binary.BigEndian.Uint64(buf[40:]))
		c.minOffset = int64(binary.BigEndian.Uint64(buf[48:]))
	}
	return c, nil
}

func (c *checkpoint) setPhysTS(ts int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.physTS = ts
	c.mu.Unlock()
}

func (c *checkpoint) setQueues(ts, safe int64) {
	c.mu.Lock()
	c.logicsTS, c.queueSafe = ts, safe
	c.mu.Unlock()
}

// cut keeps the checkpoint from vouching for consume-queue entries at or
// past off: the log was cut there.
func (c *checkpoint) cut(off int64) {
	c.mu.Lock()
	c.queueSafe = min(c.queueSafe, off)
	c.mu.Unlock()
}

func (c *checkpoint) setOffsets(flushed, minOffset int64) {
	c.mu.Lock()
	c.flushed, c.minOffset = flushed, minOffset
	c.mu.Unlock()
}

// write stores the fields and fdatasyncs.
func (c *checkpoint) write() error {
	var buf [checkpointSize]byte
	c.mu.Lock()
	binary.BigEndian.PutUint64(buf[0:], uint64(c.physTS))
	binary.BigEndian.PutUint64(buf[8:], uint64(c.logicsTS))
	binary.BigEndian.PutUint64(buf[24:], uint64(c.flushed))
	binary.BigEndian.PutUint64(buf[40:], uint64(c.queueSafe))
	binary.BigEndian.PutUint64(buf[48:], uint64(c.minOffset))
	binary.BigEndian.PutUint32(buf[checkpointUsed:], crc32.ChecksumIEEE(buf[:checkpointUsed]))
	defer c.mu.Unlock() // one writer at a time
	if _, err := c.f.WriteAt(buf[:], 0); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := c.fs.Sync(c.f); err != nil {
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	return nil
}

func (c *checkpoint) close() error { return c.f.Close() }

// lockDir takes the store's exclusive lock file.
func lockDir(fsys FS, dir string) (*os.File, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// createAbort marks the store open: a crash leaves the file behind.
func createAbort(fsys FS, dir string) error {
	f, err := fsys.OpenFile(filepath.Join(dir, "abort"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("create abort file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create abort file: %w", err)
	}
	return syncDir(fsys, dir)
}

func removeAbort(fsys FS, dir string) error {
	if err := fsys.Remove(filepath.Join(dir, "abort")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove abort file: %w", err)
	}
	return syncDir(fsys, dir)
}

func abortExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "abort"))
	return err == nil
}

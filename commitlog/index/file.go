package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/commitlog"
)

// The byte layout (doc.go).
const (
	headerSize = 40
	entrySize  = 20

	hBeginTS    = 0
	hEndTS      = 8
	hBeginPhy   = 16
	hEndPhy     = 24
	hSlotCount  = 32
	hIndexCount = 36
)

// errBadFile is a file whose size or header cannot be one the builder
// wrote with this configuration.
var errBadFile = errors.New("index: not an index file of this configuration")

// fileSize is the size of a file with the given geometry.
func fileSize(slots, entries int32) int64 {
	return headerSize + 4*int64(slots) + entrySize*int64(entries)
}

// file is one mapped index file. The builder writes it; lookups read it
// (doc.go, Concurrency).
type file struct {
	name    string
	path    string
	f       *os.File
	data    []byte
	slots   int32
	entries int32 // maxIndexNum

	// Mirrors of the header, for lookups.
	beginTS, endTS, beginPhy, endPhy atomic.Int64
	count                            atomic.Int32 // indexCount

	slotCount int32 // builder only
}

// createFile creates and maps an empty file at path.
func createFile(fsys commitlog.FS, path, name string, slots, entries int32) (*file, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create index file: %w", err)
	}
	x := &file{name: name, path: path, f: f, slots: slots, entries: entries}
	size := fileSize(slots, entries)
	if err = fsys.Truncate(f, size); err == nil {
		x.data, err = fsys.Map(f, size)
	}
	if err == nil {
		// Slots are written and read at random, and a fresh file is all holes.
		commitlog.NoReadAround(x.data)
	}
	if err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, fmt.Errorf("create index file %s: %w", path, err)
	}
	x.setCount(1)
	return x, nil
}

// openFile maps an existing file and loads its header.
func openFile(fsys commitlog.FS, path, name string, slots, entries int32) (*file, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open index file: %w", err)
	}
	size := fileSize(slots, entries)
	st, err := f.Stat()
	if err == nil && st.Size() != size {
		err = fmt.Errorf("%w: %d bytes, want %d (maxHashSlotNum=%d, maxIndexNum=%d)", errBadFile, st.Size(), size, slots, entries)
	}
	x := &file{name: name, path: path, f: f, slots: slots, entries: entries}
	if err == nil {
		x.data, err = fsys.Map(f, size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open index file %s: %w", path, err)
	}
	commitlog.NoReadAround(x.data)
	h := x.data
	x.beginTS.Store(be64(h[hBeginTS:]))
	x.endTS.Store(be64(h[hEndTS:]))
	x.beginPhy.Store(be64(h[hBeginPhy:]))
	x.endPhy.Store(be64(h[hEndPhy:]))
	x.slotCount = be32(h[hSlotCount:])
	n := be32(h[hIndexCount:])
	x.count.Store(n)
	if n < 1 || n > entries || x.slotCount < 0 || x.slotCount > slots || x.beginPhy.Load() < 0 || x.endPhy.Load() < 0 {
		x.close()
		return nil, fmt.Errorf("open index file %s: %w: indexCount %d, hashSlotCount %d, phy offsets %d..%d",
			path, errBadFile, n, x.slotCount, x.beginPhy.Load(), x.endPhy.Load())
	}
	return x, nil
}

func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }
func be64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

func (x *file) setCount(n int32) {
	binary.BigEndian.PutUint32(x.data[hIndexCount:], uint32(n))
	x.count.Store(n)
}

// setBegin and setEnd write header fields and their mirrors.
func (x *file) setBegin(phy, ts int64) {
	binary.BigEndian.PutUint64(x.data[hBeginPhy:], uint64(phy))
	binary.BigEndian.PutUint64(x.data[hBeginTS:], uint64(ts))
	x.beginPhy.Store(phy)
	x.beginTS.Store(ts)
}

func (x *file) setEnd(phy, ts int64) {
	binary.BigEndian.PutUint64(x.data[hEndPhy:], uint64(phy))
	binary.BigEndian.PutUint64(x.data[hEndTS:], uint64(ts))
	x.endPhy.Store(phy)
	x.endTS.Store(ts)
}

func (x *file) setSlotCount(n int32) {
	x.slotCount = n
	binary.BigEndian.PutUint32(x.data[hSlotCount:], uint32(n))
}

// slotWord is the slot's 4 bytes as a word for atomic access: 4-aligned,
// as the mapping is page-aligned and the header 40 bytes.
func (x *file) slotWord(i int32) *uint32 {
	return (*uint32)(unsafe.Pointer(&x.data[headerSize+4*int64(i)]))
}

// slot returns slot i's entry number (big-endian in the file).
func (x *file) slot(i int32) int32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], atomic.LoadUint32(x.slotWord(i)))
	return be32(b[:])
}

// setSlot publishes entry n as slot i's newest.
func (x *file) setSlot(i, n int32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	atomic.StoreUint32(x.slotWord(i), binary.NativeEndian.Uint32(b[:]))
}

func (x *file) entry(n int32) []byte {
	off := headerSize + 4*int64(x.slots) + entrySize*int64(n)
	return x.data[off : off+entrySize : off+entrySize]
}

// full reports whether the file has no entry left.
func (x *file) full() bool { return x.count.Load() >= x.entries }

// put adds an entry for a key of the record at phy stored at ts. It
// reports false when the file is full.
func (x *file) put(hash int32, phy, ts int64) bool {
	n := x.count.Load()
	if n >= x.entries {
		return false
	}
	if n <= 1 {
		x.setBegin(phy, ts)
	}
	diff := int64(0)
	if begin := x.beginTS.Load(); begin > 0 {
		diff = min(max((ts-begin)/1000, 0), 1<<31-1)
	}
	s := hash % x.slots
	prev := x.slot(s)
	if prev <= 0 || prev >= n {
		prev = 0
	}
	e := x.entry(n)
	binary.BigEndian.PutUint32(e[0:], uint32(hash))
	binary.BigEndian.PutUint64(e[4:], uint64(phy))
	binary.BigEndian.PutUint32(e[12:], uint32(diff))
	binary.BigEndian.PutUint32(e[16:], uint32(prev))
	// The order keeps a killed process's file consistent (doc.go).
	x.setCount(n + 1)
	x.setSlot(s, n)
	if prev == 0 {
		x.setSlotCount(x.slotCount + 1)
	}
	return true
}

// walk calls fn with the offset of each entry of hash whose time lies in
// [begin, end], newest first, until fn returns false (walk then returns
// false too).
func (x *file) walk(hash int32, begin, end int64, fn func(phy int64) bool) bool {
	n := x.count.Load()
	cur := x.slot(hash % x.slots)
	if cur <= 0 || cur >= n {
		return true
	}
	base := x.beginTS.Load()
	for {
		e := x.entry(cur)
		t := base + int64(be32(e[12:]))*1000
		if be32(e) == hash && t >= begin && t <= end {
			if !fn(be64(e[4:])) {
				return false
			}
		}
		prev := be32(e[16:])
		if t < begin || prev <= 0 || prev >= cur {
			return true // chains run from newer to older entries
		}
		cur = prev
	}
}

// timeMatches reports whether the file's time range meets [begin, end].
func (x *file) timeMatches(begin, end int64) bool {
	return begin <= x.endTS.Load() && end >= x.beginTS.Load()
}

// slotsValid reports whether every slot points below indexCount.
func (x *file) slotsValid() bool {
	n := x.count.Load()
	for i := range x.slots {
		if v := x.slot(i); v < 0 || v >= n {
			return false
		}
	}
	return true
}

// rebuildSlots rebuilds the slot table and the chains from the entries
// below indexCount, oldest first.
func (x *file) rebuildSlots() {
	clear(x.data[headerSize : headerSize+4*int64(x.slots)])
	used := int32(0)
	for n := int32(1); n < x.count.Load(); n++ {
		e := x.entry(n)
		h := be32(e)
		if h < 0 {
			h = 0 // not a hash the builder writes: keep it out of the way
			binary.BigEndian.PutUint32(e, 0)
		}
		s := h % x.slots
		prev := x.slot(s)
		if prev == 0 {
			used++
		}
		binary.BigEndian.PutUint32(e[16:], uint32(prev))
		x.setSlot(s, n)
	}
	x.setSlotCount(used)
}

// sync writes the file back to disk.
func (x *file) sync(fsys commitlog.FS) error {
	if err := fsys.Msync(x.f, x.data, 0, int64(len(x.data))); err != nil {
		return fmt.Errorf("sync index file %s: %w", x.path, err)
	}
	return nil
}

// close unmaps and closes the file.
func (x *file) close() error {
	var errs []error
	if x.data != nil {
		if err := unix.Munmap(x.data); err != nil {
			errs = append(errs, fmt.Errorf("munmap %s: %w", x.path, err))
		}
		x.data = nil
	}
	if err := x.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

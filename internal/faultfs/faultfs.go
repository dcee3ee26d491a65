// Package faultfs is a file system for tests of the store (commitlog.FS):
// it passes calls to a real one, fails the calls a test picks with the
// errors it picks (ENOSPC from fallocate, EIO from msync, …), and keeps
// what a power loss would leave behind, so that a test can take that image
// and recover from it.
//
// The power-loss model: a file's bytes are durable as of its last sync
// (Sync, or Msync of a range); its size, and which names a directory holds,
// as of the directory's last SyncDir (or the file's last sync, for the
// size). A file created, renamed or removed since its directory's last sync
// may or may not survive; the image takes the old state. Bytes never synced
// read as zeros. A directory is a name like a file: durable once its parent
// is synced. The kernel writing back dirty pages on its own is not
// modelled: what was not synced is lost.
//
// It is modelled on pebble's vfs/errorfs and its crash-testing MemFS.
package faultfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Inner is the file system calls pass through to (commitlog.OS{}).
type Inner interface {
	OpenFile(path string, flag int, perm os.FileMode) (*os.File, error)
	MkdirAll(dir string) error
	Allocate(f *os.File, size int64) error
	Truncate(f *os.File, size int64) error
	Map(f *os.File, size int64) ([]byte, error)
	Msync(f *os.File, m []byte, lo, hi int64) error
	Sync(f *os.File) error
	SyncDir(dir string) error
	Rename(from, to string) error
	Remove(path string) error
}

// Op names a call that can be made to fail.
type Op int

const (
	OpCreate   Op = iota // OpenFile with O_CREATE
	OpOpen               // OpenFile without O_CREATE
	OpMkdir              // MkdirAll
	OpAllocate           // fallocate
	OpTruncate           // ftruncate
	OpMap                // mmap
	OpMsync              // msync of a mapped range
	OpSync               // fdatasync
	OpSyncDir            // fsync of a directory
	OpRename             // rename
	OpRemove             // unlink
)

var opNames = [...]string{"create", "open", "mkdir", "allocate", "truncate", "map", "msync", "sync", "syncdir", "rename", "remove"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Ops is every Op.
var Ops = []Op{OpCreate, OpOpen, OpMkdir, OpAllocate, OpTruncate, OpMap, OpMsync, OpSync, OpSyncDir, OpRename, OpRemove}

// FS is the fault-injecting, crash-modelling file system. Its methods are
// safe for concurrent use.
type FS struct {
	inner Inner
	root  string

	mu     sync.Mutex
	faults []*fault
	hits   map[Op]int

	// The durable state: which names exist (path → inode) and what each
	// inode holds.
	names  map[string]ino
	inodes map[ino]*inode
	orphan ino // the next key for an inode whose number the OS reused
}

// ino identifies an inode: its number, or a number above every real one
// for an inode that lives on only in the durable state.
type ino uint64

const orphanBase ino = 1 << 63

type inode struct {
	dir  bool
	data []byte // durable content; len(data) is the durable size
}

type fault struct {
	op    Op
	sub   string // path substring; "" matches every path
	err   error
	left  int // calls still to fail; < 0: until Clear
	fired int

	// A stall instead: calls wait for gate; arrived is closed at the first.
	gate    chan struct{}
	arrived chan struct{}
}

// New returns a file system over inner that tracks the tree under root,
// whose present content counts as durable.
func New(inner Inner, root string) (*FS, error) {
	f := &FS{
		inner:  inner,
		root:   filepath.Clean(root),
		hits:   map[Op]int{},
		names:  map[string]ino{},
		inodes: map[ino]*inode{},
		orphan: orphanBase,
	}
	err := filepath.WalkDir(f.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n, err := inoOfPath(path)
		if err != nil {
			return err
		}
		in := &inode{dir: d.IsDir()}
		if !d.IsDir() {
			if in.data, err = os.ReadFile(path); err != nil {
				return err
			}
		}
		f.names[path], f.inodes[n] = n, in
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("faultfs: scan %s: %w", root, err)
	}
	return f, nil
}

// Inject makes the next times calls of op on a path containing sub fail
// with err (times < 0: every call, until Clear). A failed call does not
// reach the inner file system. For Msync and Sync the path is the file's.
func (f *FS) Inject(op Op, sub string, err error, times int) {
	f.mu.Lock()
	f.faults = append(f.faults, &fault{op: op, sub: sub, err: err, left: times})
	f.mu.Unlock()
}

// Stall makes calls of op on a path containing sub wait until release is
// called, then go through; arrived is closed when the first one waits.
func (f *FS) Stall(op Op, sub string) (arrived <-chan struct{}, release func()) {
	ft := &fault{op: op, sub: sub, left: -1, gate: make(chan struct{}), arrived: make(chan struct{})}
	f.mu.Lock()
	f.faults = append(f.faults, ft)
	f.mu.Unlock()
	var once sync.Once
	return ft.arrived, func() { once.Do(func() { close(ft.gate) }) }
}

// Clear removes every injected fault and releases every stall.
func (f *FS) Clear() {
	f.mu.Lock()
	for _, ft := range f.faults {
		if ft.gate != nil {
			select {
			case <-ft.gate:
			default:
				close(ft.gate)
			}
		}
	}
	f.faults = nil
	f.mu.Unlock()
}

// Fired reports how many calls the injected faults failed (or stalled) so
// far.
func (f *FS) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ft := range f.faults {
		n += ft.fired
	}
	return n
}

// Calls reports how many calls of op were made (failed ones included).
func (f *FS) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[op]
}

// check counts a call and returns the error it must fail with, if any,
// after waiting out a stall.
func (f *FS) check(op Op, path string) error {
	f.mu.Lock()
	f.hits[op]++
	for _, ft := range f.faults {
		if ft.op != op || ft.left == 0 || !strings.Contains(path, ft.sub) {
			continue
		}
		ft.fired++
		if ft.gate != nil {
			if ft.fired == 1 {
				close(ft.arrived)
			}
			f.mu.Unlock()
			<-ft.gate
			return nil
		}
		if ft.left > 0 {
			ft.left--
		}
		f.mu.Unlock()
		return &fs.PathError{Op: "faultfs " + op.String(), Path: path, Err: ft.err}
	}
	f.mu.Unlock()
	return nil
}

func (f *FS) OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	op := OpOpen
	if flag&os.O_CREATE != 0 {
		op = OpCreate
	}
	if err := f.check(op, path); err != nil {
		return nil, err
	}
	_, statErr := os.Lstat(path)
	file, err := f.inner.OpenFile(path, flag, perm)
	if err == nil && op == OpCreate && errors.Is(statErr, fs.ErrNotExist) {
		f.created(file)
	}
	return file, err
}

// created notes a new file. Its inode number may be one the OS hands out
// again: the durable state of the file that had it moves to a key of its
// own, with the names that still lead to it (they are not durably gone),
// and the new file starts empty.
func (f *FS) created(file *os.File) {
	n, err := inoOf(file)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.inodes[n]; ok {
		for path, m := range f.names {
			if m == n {
				f.names[path] = f.orphan
			}
		}
		f.inodes[f.orphan] = old
		f.orphan++
	}
	f.inodes[n] = &inode{}
}

func (f *FS) MkdirAll(dir string) error {
	if err := f.check(OpMkdir, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

func (f *FS) Allocate(file *os.File, size int64) error {
	if err := f.check(OpAllocate, file.Name()); err != nil {
		return err
	}
	return f.inner.Allocate(file, size)
}

func (f *FS) Truncate(file *os.File, size int64) error {
	if err := f.check(OpTruncate, file.Name()); err != nil {
		return err
	}
	return f.inner.Truncate(file, size)
}

func (f *FS) Map(file *os.File, size int64) ([]byte, error) {
	if err := f.check(OpMap, file.Name()); err != nil {
		return nil, err
	}
	return f.inner.Map(file, size)
}

// Msync passes the call on and, when it succeeds, makes m[lo:hi] and the
// file's size durable.
func (f *FS) Msync(file *os.File, m []byte, lo, hi int64) error {
	if err := f.check(OpMsync, file.Name()); err != nil {
		return err
	}
	if err := f.inner.Msync(file, m, lo, hi); err != nil {
		return err
	}
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	n, err := inoOf(file)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.inode(n)
	in.data = resize(in.data, fi.Size())
	copy(in.data[lo:min(hi, fi.Size())], m[lo:hi])
	return nil
}

// Sync passes the call on and, when it succeeds, makes the file's content
// and size durable.
func (f *FS) Sync(file *os.File) error {
	if err := f.check(OpSync, file.Name()); err != nil {
		return err
	}
	if err := f.inner.Sync(file); err != nil {
		return err
	}
	data, err := readAll(file)
	if err != nil {
		return err
	}
	n, err := inoOf(file)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.inode(n).data = data
	f.mu.Unlock()
	return nil
}

// SyncDir passes the call on and, when it succeeds, makes the names in dir
// and the sizes of its files durable.
func (f *FS) SyncDir(dir string) error {
	if err := f.check(OpSyncDir, dir); err != nil {
		return err
	}
	if err := f.inner.SyncDir(dir); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type child struct {
		path string
		n    ino
		dir  bool
		size int64
	}
	var kids []child
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			continue // removed meanwhile
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		kids = append(kids, child{path, ino(st.Ino), fi.IsDir(), fi.Size()})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for path := range f.names {
		if filepath.Dir(path) == dir && path != f.root {
			delete(f.names, path)
		}
	}
	for _, k := range kids {
		in := f.inode(k.n)
		in.dir = k.dir
		if !k.dir {
			in.data = resize(in.data, k.size)
		}
		f.names[k.path] = k.n
	}
	return nil
}

func (f *FS) Rename(from, to string) error {
	if err := f.check(OpRename, from); err != nil {
		return err
	}
	return f.inner.Rename(from, to)
}

func (f *FS) Remove(path string) error {
	if err := f.check(OpRemove, path); err != nil {
		return err
	}
	return f.inner.Remove(path)
}

// inode returns the durable state of n, new and empty if there is none.
// f.mu must be held.
func (f *FS) inode(n ino) *inode {
	in := f.inodes[n]
	if in == nil {
		in = &inode{}
		f.inodes[n] = in
	}
	return in
}

// Image writes what a power loss would leave of the tree under root into
// dst (which must not exist): the durable names, each with its durable
// content. Directories that exist now are created too.
func (f *FS) Image(dst string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	durable := func(path string) bool { // path and every parent up to the root
		for p := path; p != f.root; p = filepath.Dir(p) {
			if _, ok := f.names[p]; !ok {
				return false
			}
			if p == filepath.Dir(p) {
				return false
			}
		}
		return true
	}
	var errs []error
	for path, n := range f.names {
		rel, err := filepath.Rel(f.root, path)
		if err != nil || strings.HasPrefix(rel, "..") || !durable(path) {
			continue
		}
		in := f.inodes[n]
		to := filepath.Join(dst, rel)
		if in == nil || in.dir {
			errs = append(errs, os.MkdirAll(to, 0o755))
			continue
		}
		errs = append(errs, os.MkdirAll(filepath.Dir(to), 0o755), os.WriteFile(to, in.data, 0o644))
	}
	return errors.Join(errs...)
}

func resize(b []byte, n int64) []byte {
	if int64(len(b)) >= n {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

func readAll(file *os.File) ([]byte, error) {
	fi, err := file.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	if _, err := file.ReadAt(data, 0); err == nil || errors.Is(err, io.EOF) {
		return data, nil
	}
	return os.ReadFile(file.Name()) // opened write-only
}

func inoOf(file *os.File) (ino, error) {
	fi, err := file.Stat()
	if err != nil {
		return 0, err
	}
	return statIno(fi)
}

func inoOfPath(path string) (ino, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	return statIno(fi)
}

func statIno(fi os.FileInfo) (ino, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("faultfs: no inode number for %s", fi.Name())
	}
	return ino(st.Ino), nil
}

package index

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/wire"
)

// Defaults, RocketMQ's.
const (
	DefaultHashSlots  = 5_000_000  // maxHashSlotNum
	DefaultMaxEntries = 20_000_000 // maxIndexNum
	defaultInterval   = time.Second

	// maxFileSize is RocketMQ's bound: its IndexFile positions are ints.
	maxFileSize = math.MaxInt32
)

// Log is what the index reads: a commitlog.Log.
type Log interface {
	Read(phyOffset int64, size int32) ([]byte, error)
	MinOffset() int64
	MaxOffset() int64
}

// Config configures an Index. Zero values take the defaults noted.
type Config struct {
	Dir        string // <storePathRootDir>/index
	HashSlots  int    // maxHashSlotNum, default 5,000,000
	MaxEntries int    // maxIndexNum, default 20,000,000
	// Interval is how often the builder looks at the log when no Kick
	// came (records that wake no one: transaction half messages), and
	// deletes files retention has passed; default 1 s.
	Interval time.Duration
	FS       commitlog.FS // default commitlog.OS{}
	Log      *slog.Logger // default: discard

	now func() time.Time // file names (tests)
}

// CheckGeometry reports what is wrong with an index of slots hash slots
// and entries entries per file, naming RocketMQ's keys.
func CheckGeometry(slots, entries int) error {
	var errs []error
	if slots < 1 {
		errs = append(errs, fmt.Errorf("maxHashSlotNum=%d: want at least 1", slots))
	}
	if entries < 2 {
		errs = append(errs, fmt.Errorf("maxIndexNum=%d: want at least 2 (entry 0 is never used)", entries))
	}
	if size := headerSize + 4*int64(min(slots, maxFileSize)) + entrySize*int64(min(entries, maxFileSize)); slots >= 1 && entries >= 2 && size > maxFileSize {
		errs = append(errs, fmt.Errorf("maxHashSlotNum=%d and maxIndexNum=%d: an index file (40 + 4×slots + 20×entries bytes) would exceed RocketMQ's limit of %d bytes",
			slots, entries, maxFileSize))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.HashSlots == 0 {
		c.HashSlots = DefaultHashSlots
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.Interval <= 0 {
		c.Interval = defaultInterval
	}
	if c.FS == nil {
		c.FS = commitlog.OS{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Index is the set of index files of one store, and the builder that
// follows the log into them.
type Index struct {
	cfg     Config
	fs      commitlog.FS
	lg      *slog.Logger
	src     Log
	slots   int32
	entries int32

	mu    sync.RWMutex
	files []*file // oldest first; copied on change

	// Builder state: the builder goroutine's, or Open's before Start.
	pos      int64  // log offset of the next record to index
	lastMin  int64  // the log's min offset when last looked at
	rollNext bool   // start a new file before the next record (the log was cut)
	stall    string // what stopped the builder last, logged once

	indexed atomic.Int64 // pos, for IndexedTo
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	started bool
	closed  bool
}

// Open loads the index files under cfg.Dir, repairs the newest one if a
// crash left it inconsistent, and finds where indexing resumes in log
// (doc.go, Recovery). Start starts the builder.
func Open(cfg Config, log Log) (*Index, error) {
	cfg = cfg.withDefaults()
	if err := CheckGeometry(cfg.HashSlots, cfg.MaxEntries); err != nil {
		return nil, fmt.Errorf("index config: %w", err)
	}
	x := &Index{
		cfg: cfg, fs: cfg.FS, lg: cfg.Log, src: log,
		slots: int32(cfg.HashSlots), entries: int32(cfg.MaxEntries),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if err := x.fs.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	names, err := listFiles(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for i, name := range names {
		path := filepath.Join(cfg.Dir, name)
		f, err := openFile(x.fs, path, name, x.slots, x.entries)
		if err != nil {
			if !errors.Is(err, errBadFile) {
				x.closeFiles()
				return nil, err
			}
			// Index that stretch again, from the end of the last good file.
			x.lg.Warn("index file unusable: it and newer ones are removed and the log indexed again from the last good file",
				"file", path, "err", err)
			for _, n := range names[i:] {
				if err := x.fs.Remove(filepath.Join(cfg.Dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
					x.closeFiles()
					return nil, fmt.Errorf("remove index file %s: %w", n, err)
				}
			}
			break
		}
		x.files = append(x.files, f)
	}
	if last := x.last(); last != nil && !last.slotsValid() {
		x.lg.Warn("index file has slots past its entry count: rebuilding its slots from its entries", "file", last.path,
			"indexCount", last.count.Load())
		last.rebuildSlots()
	}
	x.resume()
	x.indexed.Store(x.pos)
	return x, nil
}

// listFiles returns the names of the index files in dir, oldest first.
func listFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list index files: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && validName(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// nameLayout is yyyyMMddHHmmssSSS with a dot Go needs before the
// milliseconds; file names leave it out.
const nameLayout = "20060102150405.000"

func validName(n string) bool {
	if len(n) != 17 {
		return false
	}
	_, err := time.ParseInLocation(nameLayout, n[:14]+"."+n[14:], time.Local)
	return err == nil
}

// nextName names a new file by the time now, later than every file's.
func (x *Index) nextName() string {
	t := x.cfg.now()
	if last := x.last(); last != nil {
		prev, err := time.ParseInLocation(nameLayout, last.name[:14]+"."+last.name[14:], time.Local)
		if err == nil && !t.After(prev.Add(time.Millisecond-1)) {
			t = prev.Add(time.Millisecond)
		}
	}
	s := t.Format(nameLayout)
	return s[:14] + s[15:]
}

// resume sets where the builder starts: after the last record the newest
// file processed.
func (x *Index) resume() {
	min := x.src.MinOffset()
	x.lastMin = min
	last := x.last()
	if last == nil || last.endTS.Load() == 0 {
		x.pos = min // nothing processed yet
		return
	}
	end := last.endPhy.Load()
	if end < min {
		x.pos = min
		return
	}
	size, err := x.recordSize(end)
	if err != nil {
		// The log no longer holds what the index processed: its tail was
		// cut. New records go to a new file.
		x.lg.Warn("the commit log ends before the index: indexing from the log's end in a new index file",
			"indexEndPhyOffset", end, "logMaxOffset", x.src.MaxOffset(), "err", err)
		x.pos, x.rollNext = x.src.MaxOffset(), true
		return
	}
	x.pos = end + int64(size)
}

// recordSize returns the size of the (non-blank) record at off.
func (x *Index) recordSize(off int64) (int32, error) {
	head, err := x.src.Read(off, wire.BlankLen)
	if err != nil {
		return 0, err
	}
	size := be32(head)
	b, err := x.src.Read(off, size)
	if err != nil {
		return 0, err
	}
	var v wire.RecordView
	if err := v.Parse(b); err != nil {
		return 0, err
	}
	if v.PhysOffset != off {
		return 0, fmt.Errorf("%w: the record at %d says offset %d", wire.ErrCorrupt, off, v.PhysOffset)
	}
	return size, nil
}

func (x *Index) last() *file {
	if len(x.files) == 0 {
		return nil
	}
	return x.files[len(x.files)-1]
}

// Start starts the builder.
func (x *Index) Start() {
	x.started = true
	x.wg.Add(1)
	go x.run()
}

// Kick tells the builder that the log has new records. It never blocks.
func (x *Index) Kick() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// IndexedTo is the log offset up to which the builder has indexed.
func (x *Index) IndexedTo() int64 { return x.indexed.Load() }

// LastUpdate returns the newest file's endTimestamp and endPhyOffset
// (QUERY_MESSAGE's indexLastUpdateTimestamp and indexLastUpdatePhyoffset).
func (x *Index) LastUpdate() (ts, phy int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if f := x.last(); f != nil {
		return f.endTS.Load(), f.endPhy.Load()
	}
	return 0, 0
}

// Files returns the number of index files.
func (x *Index) Files() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.files)
}

// Lookup calls fn with the log offset of each record indexed under
// topic#key whose store time (to the second) lies in [begin, end] ms,
// newest first, until fn returns false. An offset is a candidate: the
// caller checks the record it finds there. fn runs with the file list
// read-locked: it must not call back into the index's builder.
func (x *Index) Lookup(topic, key string, begin, end int64, fn func(phy int64) bool) {
	h := keyHash(topic, key)
	x.mu.RLock()
	defer x.mu.RUnlock()
	for i := len(x.files) - 1; i >= 0; i-- {
		f := x.files[i]
		if f.timeMatches(begin, end) && !f.walk(h, begin, end, fn) {
			return
		}
	}
}

// keyHash is RocketMQ's: |Java hash of topic#key|, 0 for MIN_VALUE.
func keyHash(topic, key string) int32 {
	h := wire.HashString(0, topic)
	h = 31*h + '#'
	return positive(wire.HashString(h, key))
}

// positive is Java's Math.abs, with 0 for MIN_VALUE (which it leaves
// negative).
func positive(h int32) int32 {
	if h < 0 {
		h = -h
	}
	return max(h, 0)
}

// Close stops the builder, writes the newest file back and unmaps every
// file.
func (x *Index) Close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	close(x.done)
	x.wg.Wait()
	var errs []error
	if f := x.last(); f != nil {
		if err := f.sync(x.fs); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, x.closeFiles())
	return errors.Join(errs...)
}

func (x *Index) closeFiles() error {
	x.mu.Lock()
	files := x.files
	x.files = nil
	x.mu.Unlock()
	var errs []error
	for _, f := range files {
		if err := f.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

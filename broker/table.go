package broker

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rocketgo/rocketgo/commitlog"
)

// table is a name → config map kept in one JSON file (topics.json,
// subscriptionGroup.json): read on every send or pull, changed rarely.
//
// Readers take no lock: they load an immutable map through an atomic
// pointer, so an event loop never waits for a writer. Writers serialize on
// mu only to build the next map from a copy of the latest one; the file is
// written after mu is released, and the new map is published to readers
// once its write has been tried: a reader sees a change when it is on disk
// (or when writing it failed, and the writer got the error; the next write
// carries it again).
//
// Each state has a sequence number. The file is written under wmu, always
// with the latest state, and a writer whose state a later write already
// covered returns at once: an earlier change never overwrites a later one
// on disk, and writers racing each other share one fsync. A writer returns
// only once the state it saw is on disk, even when it changed nothing: a
// topic created by a concurrent request is not used before it is persisted.
// The writer keeps each entry's encoding (fileCache), encodes only the
// entries that changed and writes the file from those pieces through one
// buffer it keeps: a change allocates the next map, not the next file. The
// file form of a state is joined only when asked for (fileOf: a
// registration or a slave's metadata request), once per state.
//
// Lock order: wmu, then mu. Readers take neither.
type table[V comparable] struct {
	path   string
	fs     commitlog.FS            // nil: the real file system
	key    string                  // the file is {"<key>":{name: entry, …},"dataVersion":{…}}
	rename func(v *V, name string) // sets an entry's own name field

	cur atomic.Pointer[tableState[V]] // published to readers

	mu   sync.Mutex
	next *tableState[V] // the latest state, maybe not on disk yet

	wmu     sync.Mutex
	written uint64         // seq of the last state on disk
	encoded fileCache[V]   // the entries of encState, encoded
	encFor  *tableState[V] // the state encoded holds; nil: none yet
	bw      *bufio.Writer  // the file is written through it
}

// tableState is one version of a table. Neither the map nor the values it
// points to change once it is built.
type tableState[V any] struct {
	seq     uint64
	entries map[string]*V
	version DataVersion
	file    atomic.Pointer[[]byte] // the file form, once asked for
}

// changedSince returns the entries of s that are new or changed since
// state base (nil: all of them). Entries are immutable and shared by the
// states that have them unchanged, so a changed entry is one whose pointer
// differs. Entries base has and s lacks are not reported.
func (s *tableState[V]) changedSince(base *tableState[V]) map[string]*V {
	out := make(map[string]*V)
	for name, v := range s.entries {
		if base == nil || base.entries[name] != v {
			out[name] = v
		}
	}
	return out
}

// newTable returns the table of the non-nil entries of loaded, each named
// after its key.
func newTable[V comparable](path string, loaded map[string]*V, version DataVersion,
	key string, rename func(*V, string)) *table[V] {
	t := &table[V]{path: path, key: key, rename: rename}
	s := &tableState[V]{entries: map[string]*V{}, version: version}
	for name, v := range loaded {
		if v != nil {
			rename(v, name)
			s.entries[name] = v
		}
	}
	t.cur.Store(s)
	t.next = s
	return t
}

// get returns a copy of name's entry.
func (t *table[V]) get(name string) (V, bool) {
	e, ok := t.cur.Load().entries[name]
	if !ok {
		var zero V
		return zero, false
	}
	return *e, true
}

// snapshot returns copies of all entries and the data version.
func (t *table[V]) snapshot() (map[string]*V, DataVersion) {
	s := t.cur.Load()
	out := make(map[string]*V, len(s.entries))
	for k, v := range s.entries {
		c := *v
		out[k] = &c
	}
	return out, s.version
}

// marshal returns the table in its file form: the bytes last written,
// shared, not to be modified.
func (t *table[V]) marshal() ([]byte, error) {
	_, data, err := t.versioned()
	return data, err
}

// versioned is marshal with the data version of the same state.
func (t *table[V]) versioned() (DataVersion, []byte, error) {
	s := t.cur.Load()
	data, err := t.fileOf(s)
	return s.version, data, err
}

// state returns the state readers see: immutable, its entries shared.
func (t *table[V]) state() *tableState[V] { return t.cur.Load() }

// fileOf returns state s in its file form, shared: joined from the
// writer's encoded entries when s is the state last written, else encoded
// whole (the state loaded at start, or one a later write replaced). It is
// kept with s, so each state is joined at most once (racing callers may
// each join it).
func (t *table[V]) fileOf(s *tableState[V]) ([]byte, error) {
	if p := s.file.Load(); p != nil {
		return *p, nil
	}
	var data []byte
	var err error
	t.wmu.Lock()
	if t.encFor == s {
		data, err = t.encoded.join(t.key, s.version)
	}
	t.wmu.Unlock()
	if data == nil && err == nil {
		data, err = encodeFile(t.key, s.entries, s.version, nil)
	}
	if err != nil {
		return nil, err
	}
	s.file.Store(&data)
	return data, nil
}

// encodedEntry is an entry as the file holds it: "name":{…}.
type encodedEntry[V any] struct {
	v    *V
	json []byte
}

// fileCache is a table's file form broken into its entries: the names in
// order and each entry encoded.
type fileCache[V any] struct {
	names   []string // sorted
	entries map[string]encodedEntry[V]
	size    int // bytes of the entries and their separators
}

// encodeFile returns the file form of entries and version: byte for byte
// what encoding/json makes of a struct whose fields are the map (JSON key
// key) and the DataVersion ("dataVersion"), names sorted. c, when not nil,
// is the cache of an earlier call (see update).
func encodeFile[V any](key string, entries map[string]*V, version DataVersion, c *fileCache[V]) ([]byte, error) {
	if c == nil {
		c = &fileCache[V]{}
	}
	if err := c.update(entries); err != nil {
		return nil, err
	}
	return c.join(key, version)
}

// update makes c hold exactly entries. Entries found in c under the same
// name and pointer (entries never change) are not encoded again, and the
// names are sorted only when new ones come: a change costs a walk of the
// table, not an encoding of every entry.
func (c *fileCache[V]) update(entries map[string]*V) error {
	if c.entries == nil {
		c.entries = make(map[string]encodedEntry[V], len(entries))
	}
	var added []string
	size := 0
	for name, v := range entries {
		e, ok := c.entries[name]
		if !ok {
			added = append(added, name)
		}
		if !ok || e.v != v {
			k, err := json.Marshal(name)
			if err != nil {
				return err
			}
			val, err := json.Marshal(v)
			if err != nil {
				return err
			}
			e = encodedEntry[V]{v: v, json: append(append(k, ':'), val...)}
			c.entries[name] = e
		}
		size += len(e.json) + 1
	}
	if len(c.entries) > len(entries) { // some were deleted
		c.names = slices.DeleteFunc(c.names, func(name string) bool {
			if _, ok := entries[name]; !ok {
				delete(c.entries, name)
				return true
			}
			return false
		})
	}
	if len(added) > 0 {
		slices.Sort(added)
		c.names = mergeSorted(c.names, added)
	}
	c.size = size
	return nil
}

// join returns the file form of the cached entries with version.
func (c *fileCache[V]) join(key string, version DataVersion) ([]byte, error) {
	buf := make([]byte, 0, c.size+len(key)+64)
	err := c.write(key, version, func(p []byte) { buf = append(buf, p...) })
	return buf, err
}

// write passes the file form of the cached entries with version to emit,
// piece by piece.
func (c *fileCache[V]) write(key string, version DataVersion, emit func([]byte)) error {
	k, err := json.Marshal(key)
	if err != nil {
		return err
	}
	ver, err := json.Marshal(version)
	if err != nil {
		return err
	}
	emit(jsonOpen)
	emit(k)
	emit(jsonColonOpen)
	for i, name := range c.names {
		if i > 0 {
			emit(jsonComma)
		}
		emit(c.entries[name].json)
	}
	emit(jsonVersionKey)
	emit(ver)
	emit(jsonClose)
	return nil
}

// The fixed pieces of a table file, shared: emit must not change them.
var (
	jsonOpen       = []byte("{")
	jsonColonOpen  = []byte(":{")
	jsonComma      = []byte(",")
	jsonVersionKey = []byte(`},"dataVersion":`)
	jsonClose      = []byte("}")
)

// mergeSorted returns the sorted union of two sorted slices without
// common elements.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// update calls fn with a copy of the latest entries; fn may add, delete or
// replace entries but must not modify the values it finds. If fn reports a
// change, the copy becomes the latest state, with the given data version or,
// when version is nil, the next one. update returns fn's report once the
// state fn saw, changed or not, is on disk, or the error writing it.
func (t *table[V]) update(fn func(entries map[string]*V) bool, version *DataVersion) (bool, error) {
	t.mu.Lock()
	prev := t.next
	entries := maps.Clone(prev.entries)
	changed := fn(entries)
	seq := prev.seq
	if changed {
		v := prev.version
		if version != nil {
			v = *version
		} else {
			v.next()
		}
		seq++
		t.next = &tableState[V]{seq: seq, entries: entries, version: v}
	}
	t.mu.Unlock()
	return changed, t.sync(seq)
}

// putAll makes each non-nil entry of in the entry of its name and, with
// only, deletes the others (a slave taking its master's table). It reports
// whether anything changed; see update.
func (t *table[V]) putAll(in map[string]*V, only bool, version *DataVersion) (bool, error) {
	return t.update(func(cur map[string]*V) bool {
		changed := false
		if only {
			for name := range cur {
				if v, ok := in[name]; !ok || v == nil {
					delete(cur, name)
					changed = true
				}
			}
		}
		for name, v := range in {
			if v == nil {
				continue
			}
			c := *v
			t.rename(&c, name)
			if old, ok := cur[name]; !ok || *old != c {
				cur[name] = &c
				changed = true
			}
		}
		return changed
	}, version)
}

// sync writes the latest state unless state seq is on disk already, and
// publishes what it wrote.
func (t *table[V]) sync(seq uint64) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.written >= seq {
		return nil
	}
	t.mu.Lock()
	s := t.next
	t.mu.Unlock()
	t.encFor = nil
	err := t.encoded.update(s.entries)
	if err == nil {
		t.encFor = s
		if t.bw == nil {
			t.bw = bufio.NewWriterSize(nil, 64<<10)
		}
		err = commitlog.ReplaceFileWith(t.fs, t.path, func(w io.Writer) error {
			t.bw.Reset(w)
			if err := t.encoded.write(t.key, s.version, func(p []byte) { t.bw.Write(p) }); err != nil {
				return err
			}
			return t.bw.Flush() // reports the first failed write
		})
		t.bw.Reset(nil)
	}
	if err == nil {
		t.written = s.seq
	}
	t.cur.Store(s)
	return err
}

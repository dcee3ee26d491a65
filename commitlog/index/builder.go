package index

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// Property names of the keys indexed.
const (
	propKeys    = "KEYS"
	propUniqKey = "UNIQ_KEY"
	keySep      = ' '
)

// checkDoneEvery is how many records the builder indexes between looks
// at whether it should stop.
const checkDoneEvery = 1024

// While records keep coming, the builder looks at the log every
// pollInterval instead of waiting for a Kick: a Kick that finds it asleep
// on a timer only fills the channel's buffer, where waking a parked
// goroutine would cost the appender (an event loop) a futex call per
// record. After idlePolls looks that found nothing it waits for a Kick.
// 10 ms, not less: each look is a timer wake-up of the broker, which at a
// few thousand msg/s cost more than indexing (the master's CPU per message
// at 1000 msg/s, three interleaved runs: 324 µs with 1 ms, 291 µs with
// 10 ms); a key is findable at most ~10 ms after its message is stored.
const (
	pollInterval = 10 * time.Millisecond
	idlePolls    = 5
)

// run is the builder: it indexes what the log holds, deletes files
// retention has passed, and waits for more.
func (x *Index) run() {
	defer x.wg.Done()
	tick := time.NewTicker(x.cfg.Interval)
	defer tick.Stop()
	poll := time.NewTimer(pollInterval)
	defer poll.Stop()
	idle := idlePolls
	for {
		if x.catchUp() {
			idle = 0
		} else {
			idle++
		}
		x.trim()
		if idle < idlePolls {
			poll.Reset(pollInterval)
			select {
			case <-x.done:
				return
			case <-poll.C:
			}
			continue
		}
		select {
		case <-x.done:
			return
		case <-x.kick:
		case <-tick.C:
		}
	}
}

// catchUp indexes the records from pos to the end of the log. It reports
// whether it indexed any.
func (x *Index) catchUp() (progressed bool) {
	for i := 1; ; i++ {
		if i%checkDoneEvery == 0 {
			select {
			case <-x.done:
				return true
			default:
			}
		}
		ok, err := x.step()
		if err != nil {
			if s := err.Error(); s != x.stall {
				x.stall = s
				x.lg.Warn("index builder stopped: it tries again with the next records or in Interval", "offset", x.pos, "err", err)
			}
			return progressed
		}
		if !ok {
			return progressed
		}
		progressed = true
		if x.stall != "" {
			x.lg.Info("index builder going again", "offset", x.pos)
			x.stall = ""
		}
	}
}

// step indexes the record at pos. It reports false when there is none
// yet, and an error when what is there cannot be indexed (now).
func (x *Index) step() (bool, error) {
	min := x.src.MinOffset()
	if min < x.lastMin { // the log restarted lower (a replica that emptied)
		x.pos, x.rollNext = min, true
	}
	x.lastMin = min
	if x.pos < min {
		x.pos = min // retention deleted what was not indexed yet
	}
	head, err := x.src.Read(x.pos, wire.BlankLen)
	if err != nil {
		return false, nil // nothing more yet
	}
	size := be32(head)
	if uint32(be32(head[4:])) == wire.MagicBlank && size >= wire.BlankLen {
		x.advance(x.pos + int64(size)) // the end of a segment
		return true, nil
	}
	if size < wire.FixedLen {
		return false, fmt.Errorf("%w: record of %d bytes at %d", wire.ErrCorrupt, size, x.pos)
	}
	rec, err := x.src.Read(x.pos, size)
	if err != nil {
		if x.pos+int64(size) <= x.src.MaxOffset() {
			return false, fmt.Errorf("read record at %d: %w", x.pos, err)
		}
		return false, nil // the rest of a replicated record is on its way
	}
	var v wire.RecordView
	if err := v.Parse(rec); err != nil {
		return false, fmt.Errorf("record at %d: %w", x.pos, err)
	}
	if v.PhysOffset != x.pos {
		return false, fmt.Errorf("%w: the record at %d says offset %d", wire.ErrCorrupt, x.pos, v.PhysOffset)
	}
	if err := x.add(&v); err != nil {
		return false, err
	}
	x.advance(x.pos + int64(size))
	return true, nil
}

func (x *Index) advance(pos int64) {
	x.pos = pos
	x.indexed.Store(pos)
}

// add indexes the record v under its keys and records it as processed.
func (x *Index) add(v *wire.RecordView) error {
	f, err := x.current()
	if err != nil {
		return err
	}
	if v.SysFlag&wire.SysFlagTxMask != wire.SysFlagTxRollback {
		topic, props := bstr(v.Topic), bstr(v.Properties)
		uniq, _, keys, _ := wire.Property2(props, propUniqKey, propKeys)
		if uniq != "" {
			if f, err = x.put(f, topic, uniq, v); err != nil {
				return err
			}
		}
		for keys != "" {
			k := keys
			if i := strings.IndexByte(keys, keySep); i >= 0 {
				k, keys = keys[:i], keys[i+1:]
			} else {
				keys = ""
			}
			if k == "" {
				continue
			}
			if f, err = x.put(f, topic, k, v); err != nil {
				return err
			}
		}
	}
	f.setEnd(v.PhysOffset, v.StoreTimestamp)
	return nil
}

// put adds one key of v to f, or to a new file when f is full; it returns
// the file the key went to.
func (x *Index) put(f *file, topic, key string, v *wire.RecordView) (*file, error) {
	h := keyHash(topic, key)
	if f.put(h, v.PhysOffset, v.StoreTimestamp) {
		return f, nil
	}
	f, err := x.roll()
	if err != nil {
		return nil, err
	}
	f.put(h, v.PhysOffset, v.StoreTimestamp) // a new file has room
	return f, nil
}

// current returns the file the next record goes to, creating it when
// there is none, the newest is full or the log was cut.
func (x *Index) current() (*file, error) {
	if f := x.last(); f != nil && !f.full() && !x.rollNext {
		return f, nil
	}
	return x.roll()
}

// roll creates a new file, which takes its begin and end values from the
// newest file's end, makes it the newest and writes the previous one back.
func (x *Index) roll() (*file, error) {
	name := x.nextName()
	f, err := createFile(x.fs, filepath.Join(x.cfg.Dir, name), name, x.slots, x.entries)
	if err != nil {
		return nil, err
	}
	if err := x.fs.SyncDir(x.cfg.Dir); err != nil {
		f.close()
		x.fs.Remove(f.path)
		return nil, fmt.Errorf("create index file %s: sync dir: %w", f.path, err)
	}
	prev := x.last()
	if prev != nil {
		f.setBegin(prev.endPhy.Load(), prev.endTS.Load())
		f.setEnd(prev.endPhy.Load(), prev.endTS.Load())
	}
	x.mu.Lock()
	files := make([]*file, len(x.files), len(x.files)+1)
	copy(files, x.files)
	x.files = append(files, f)
	x.mu.Unlock()
	x.rollNext = false
	x.lg.Info("index file created", "file", f.path)
	if prev != nil {
		if err := prev.sync(x.fs); err != nil {
			x.lg.Warn("write back full index file", "file", prev.path, "err", err)
		}
	}
	return f, nil
}

// trim deletes the oldest files whose records retention has deleted:
// those whose endPhyOffset is below the log's min offset, never the newest.
func (x *Index) trim() {
	min := x.src.MinOffset()
	for len(x.files) > 1 && x.files[0].endPhy.Load() < min { // only the builder changes x.files
		f := x.files[0]
		x.mu.Lock()
		x.files = append([]*file(nil), x.files[1:]...)
		x.mu.Unlock()
		err := errors.Join(f.close(), x.fs.Remove(f.path))
		x.lg.Info("index file deleted: retention passed its records", "file", f.path, "endPhyOffset", f.endPhy.Load(),
			"logMinOffset", min, "err", err)
	}
}

// bstr views b as a string without copying; it must not outlive b.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

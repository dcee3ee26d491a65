package broker

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
)

// defaultDelayLevels is RocketMQ's default messageDelayLevel: level n
// (1-based) waits the n-th duration.
const defaultDelayLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// parseDelayLevels reads a messageDelayLevel value: durations separated by
// spaces, each a number with the unit s, m, h or d (as Java reads it) or ms.
func parseDelayLevels(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Fields(s) {
		unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
		var d time.Duration
		for _, u := range []string{"ms", "s", "m", "h", "d"} {
			if num, ok := strings.CutSuffix(f, u); ok {
				n, err := strconv.Atoi(num)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("%q is not a duration like 5s, 2m, 1h or 1d", f)
				}
				d = time.Duration(n) * unit[u]
				break
			}
		}
		if d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration like 5s, 2m, 1h or 1d", f)
		}
		out = append(out, d)
	}
	if len(out) == 0 || len(out) > 64 {
		return nil, fmt.Errorf("want 1..64 delay levels, got %d", len(out))
	}
	return out, nil
}

const scheduleTick = 100 * time.Millisecond

// delayIfAsked reroutes a message with a DELAY property to the schedule
// topic (queue = level-1), keeping its real topic and queue in properties,
// as RocketMQ does. Transactional half and rollback messages are left alone.
func (b *Broker) delayIfAsked(m *commitlog.Message) {
	if t := m.SysFlag & 0xC; t != 0 && t != 0x8 {
		return
	}
	v, ok := property(m.Properties, propDelay)
	if !ok {
		return
	}
	level, err := strconv.Atoi(v)
	if err != nil || level <= 0 {
		return
	}
	level = min(level, len(b.delayLevels))
	props := withProperty(m.Properties, propRealTopic, m.Topic)
	props = withProperty(props, propRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Properties = props
	m.Topic = scheduleTopic
	m.QueueID = int32(level - 1)
}

// scheduler delivers delayed messages when they are due: one consume
// queue of the schedule topic per level, each read in order, with the
// next undelivered offset per level kept in config/delayOffset.json.
//
// A message is delivered when its re-put to its real topic is durable as
// the broker's role and flush type require (send pipeline). A level's
// offset advances past re-put messages only then; until then the level
// waits (for that, not for more messages), and when a stage fails (no
// slave, a flush timeout) it waits again on the next tick without storing
// the messages again. So the persisted offset never passes a message that
// could still be lost, and a restart delivers at least once.
type scheduler struct {
	b    *Broker
	path string

	mu      sync.Mutex
	offsets map[int]int64 // per level: every message below is delivered
	pending map[int]*reput
	dirty   bool
}

// reput is a level's messages stored in their real topics but not yet
// known to be durable.
type reput struct {
	next    int64 // the level's offset once they are durable
	end     int64 // log offset just past the last one
	waiting bool  // a durability wait is in progress
	failed  bool  // the last wait failed (logged once)
}

type delayOffsetsFile struct {
	OffsetTable map[string]int64 `json:"offsetTable"`
}

func newScheduler(b *Broker) (*scheduler, error) {
	s := &scheduler{b: b, path: filepath.Join(configDir(b.cfg.StorePathRootDir), "delayOffset.json"),
		offsets: map[int]int64{}, pending: map[int]*reput{}}
	var f delayOffsetsFile
	if _, err := loadJSON(s.path, &f); err != nil {
		return nil, err
	}
	for k, v := range f.OffsetTable {
		level, err := strconv.Atoi(k)
		if err != nil || level < 1 || level > len(b.delayLevels) {
			continue
		}
		s.offsets[level] = v
	}
	return s, nil
}

// deliverAll moves the due messages of every level.
func (s *scheduler) deliverAll(now time.Time) {
	for level := 1; level <= len(s.b.delayLevels); level++ {
		s.deliver(level, now)
	}
}

// deliver moves every due message of one level to its real topic, or
// waits again for those it moved before.
func (s *scheduler) deliver(level int, now time.Time) {
	qid := int32(level - 1)
	s.mu.Lock()
	if p := s.pending[level]; p != nil {
		again := !p.waiting
		p.waiting = true
		s.mu.Unlock()
		if again {
			s.await(level, p)
		}
		return
	}
	off := s.offsets[level]
	s.mu.Unlock()
	store := s.b.store
	if max := store.QueueMaxOffset(scheduleTopic, qid); off >= max {
		return
	} else if min := store.QueueMinOffset(scheduleTopic, qid); off < min {
		off = min
	}
	start, end := off, int64(-1)
	defer func() {
		if off == start {
			return
		}
		if end < 0 { // nothing stored: skipped or dropped messages only
			s.advance(level, off)
			return
		}
		p := &reput{next: off, end: end, waiting: true}
		s.mu.Lock()
		s.pending[level] = p
		s.mu.Unlock()
		s.await(level, p)
	}()
	var buf []commitlog.Entry
	for {
		entries, err := store.QueueEntries(scheduleTopic, qid, off, 64, buf[:0])
		if err != nil || len(entries) == 0 {
			return
		}
		buf = entries
		for _, e := range entries {
			raw, err := store.Read(e.PhysOffset, e.Size)
			if err != nil {
				s.b.log.Warn("read delayed message", "offset", e.PhysOffset, "err", err)
				off++
				continue
			}
			rec, _, err := commitlog.DecodeRecord(raw)
			if err != nil {
				s.b.log.Warn("decode delayed message", "offset", e.PhysOffset, "err", err)
				off++
				continue
			}
			if time.UnixMilli(rec.StoreTimestamp).Add(s.b.delayLevels[level-1]).After(now) {
				return
			}
			st, err := s.redeliver(&rec)
			if err != nil {
				s.b.log.Warn("deliver delayed message", "offset", e.PhysOffset, "err", err)
				return // try again next tick
			}
			if st != nil {
				end = st.EndOffset()
			}
			off++
		}
	}
}

// await waits for p's messages to be durable, then advances the level.
func (s *scheduler) await(level int, p *reput) {
	s.b.durable(p.end, time.Time{}, func(code int32, remark string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		p.waiting = false
		if code != 0 {
			if !p.failed {
				s.b.log.Warn("delayed messages delivered but not durable; waiting for them before going on",
					"level", level, "offset", p.next, "code", code, "reason", remark)
			}
			p.failed = true
			return
		}
		if s.pending[level] == p {
			delete(s.pending, level)
			s.advanceLocked(level, p.next)
		}
	})
}

func (s *scheduler) advance(level int, off int64) {
	s.mu.Lock()
	s.advanceLocked(level, off)
	s.mu.Unlock()
}

// s.mu must be held.
func (s *scheduler) advanceLocked(level int, off int64) {
	if off > s.offsets[level] {
		s.offsets[level] = off
		s.dirty = true
	}
}

// redeliver stores a due message in its real topic. It returns nil, nil
// for a message it drops.
func (s *scheduler) redeliver(rec *commitlog.Record) (*stored, error) {
	props := string(rec.Properties)
	topic, _ := property(props, propRealTopic)
	qs, _ := property(props, propRealQueueID)
	qid, err := strconv.Atoi(qs)
	if topic == "" || err != nil {
		s.b.log.Warn("delayed message lacks its real topic or queue; dropped", "offset", rec.PhysOffset)
		return nil, nil
	}
	tc, ok := s.b.topics.get(topic)
	if !ok || int32(qid) >= max(tc.WriteQueueNums, tc.ReadQueueNums) {
		s.b.log.Warn("delayed message's topic or queue is gone; dropped", "topic", topic, "queueId", qid)
		return nil, nil
	}
	for _, p := range []string{propDelay, propRealTopic, propRealQueueID} {
		props = withoutProperty(props, p)
	}
	m := s.b.reputMessage(rec, topic, int32(qid), props)
	m.PreparedTransactionOffset = rec.PreparedTransactionOffset
	st, err := s.b.put(false, m)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *scheduler) persist() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	f := delayOffsetsFile{OffsetTable: map[string]int64{}}
	for k, v := range s.offsets {
		f.OffsetTable[strconv.Itoa(k)] = v
	}
	s.dirty = false
	s.mu.Unlock()
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return commitlog.ReplaceFile(s.b.fs, s.path, data)
}

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
type scheduler struct {
	b    *Broker
	path string

	mu      sync.Mutex
	offsets map[int]int64
	dirty   bool
}

type delayOffsetsFile struct {
	OffsetTable map[string]int64 `json:"offsetTable"`
}

func newScheduler(b *Broker) (*scheduler, error) {
	s := &scheduler{b: b, path: filepath.Join(configDir(b.cfg.StorePathRootDir), "delayOffset.json"), offsets: map[int]int64{}}
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

// deliver moves every due message of one level to its real topic.
func (s *scheduler) deliver(level int, now time.Time) {
	qid := int32(level - 1)
	s.mu.Lock()
	off := s.offsets[level]
	s.mu.Unlock()
	store := s.b.store
	if max := store.QueueMaxOffset(scheduleTopic, qid); off >= max {
		return
	} else if min := store.QueueMinOffset(scheduleTopic, qid); off < min {
		off = min
	}
	start := off
	defer func() {
		if off != start {
			s.mu.Lock()
			s.offsets[level] = off
			s.dirty = true
			s.mu.Unlock()
		}
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
			if err := s.redeliver(&rec); err != nil {
				s.b.log.Warn("deliver delayed message", "offset", e.PhysOffset, "err", err)
				return // try again next tick
			}
			off++
		}
	}
}

func (s *scheduler) redeliver(rec *commitlog.Record) error {
	props := string(rec.Properties)
	topic, _ := property(props, propRealTopic)
	qs, _ := property(props, propRealQueueID)
	qid, err := strconv.Atoi(qs)
	if topic == "" || err != nil {
		s.b.log.Warn("delayed message lacks its real topic or queue; dropped", "offset", rec.PhysOffset)
		return nil
	}
	tc, ok := s.b.topics.get(topic)
	if !ok || int32(qid) >= max(tc.WriteQueueNums, tc.ReadQueueNums) {
		s.b.log.Warn("delayed message's topic or queue is gone; dropped", "topic", topic, "queueId", qid)
		return nil
	}
	for _, p := range []string{propDelay, propRealTopic, propRealQueueID} {
		props = withoutProperty(props, p)
	}
	m := commitlog.Message{
		Topic: topic, QueueID: int32(qid), Flag: rec.Flag, Body: rec.Body, Properties: props,
		SysFlag: rec.SysFlag, BornTimestamp: rec.BornTimestamp, BornHost: rec.BornHost, StoreHost: s.b.storeHost,
		ReconsumeTimes: rec.ReconsumeTimes, PreparedTransactionOffset: rec.PreparedTransactionOffset,
	}
	_, err = s.b.store.Append(&m)
	return err
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

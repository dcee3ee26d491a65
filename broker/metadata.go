package broker

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/rocketgo/rocketgo/commitlog"
)

// offsetTable holds committed consumer offsets, keyed "topic@group" →
// queueId → next offset to consume, as config/consumerOffset.json does.
// It is persisted periodically and at shutdown.
type offsetTable struct {
	path string
	fs   commitlog.FS // nil: the real file system

	mu      sync.Mutex
	offsets map[string]map[int32]int64
	dirty   bool
}

type offsetsFile struct {
	OffsetTable map[string]map[string]int64 `json:"offsetTable"`
}

func loadOffsets(path string) (*offsetTable, error) {
	t := &offsetTable{path: path, offsets: map[string]map[int32]int64{}}
	var f offsetsFile
	if _, err := loadJSON(path, &f); err != nil {
		return nil, err
	}
	for key, queues := range f.OffsetTable {
		m := make(map[int32]int64, len(queues))
		for q, off := range queues {
			id, err := strconv.ParseInt(q, 10, 32)
			if err != nil {
				continue
			}
			m[int32(id)] = off
		}
		t.offsets[key] = m
	}
	return t, nil
}

func offsetKey(topic, group string) string { return topic + "@" + group }

// snapshotQueues returns a copy of the committed offsets by
// offsetKey(topic, group), then queue.
func (t *offsetTable) snapshotQueues() map[string]map[int32]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]map[int32]int64, len(t.offsets))
	for key, queues := range t.offsets {
		qs := make(map[int32]int64, len(queues))
		for q, off := range queues {
			qs[q] = off
		}
		out[key] = qs
	}
	return out
}

func (t *offsetTable) query(group, topic string, queueID int32) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off, ok := t.offsets[offsetKey(topic, group)][queueID]
	return off, ok
}

func (t *offsetTable) commit(group, topic string, queueID int32, offset int64) {
	key := offsetKey(topic, group)
	t.mu.Lock()
	m := t.offsets[key]
	if m == nil {
		m = map[int32]int64{}
		t.offsets[key] = m
	}
	if old, ok := m[queueID]; !ok || old != offset {
		m[queueID] = offset
		t.dirty = true
	}
	t.mu.Unlock()
}

// removeTopic drops every group's offsets of topic.
func (t *offsetTable) removeTopic(topic string) {
	prefix := topic + "@"
	t.removeKeys(func(key string) bool { return strings.HasPrefix(key, prefix) })
}

// removeGroup drops the group's offsets in every topic.
func (t *offsetTable) removeGroup(group string) {
	suffix := "@" + group
	t.removeKeys(func(key string) bool { return strings.HasSuffix(key, suffix) })
}

// removeKeys drops the offsets of every offsetKey that matches.
func (t *offsetTable) removeKeys(match func(key string) bool) {
	t.mu.Lock()
	for k := range t.offsets {
		if match(k) {
			delete(t.offsets, k)
			t.dirty = true
		}
	}
	t.mu.Unlock()
}

// fileLocked returns the table in its file form. t.mu must be held.
func (t *offsetTable) fileLocked() offsetsFile {
	f := offsetsFile{OffsetTable: make(map[string]map[string]int64, len(t.offsets))}
	for k, m := range t.offsets {
		qs := make(map[string]int64, len(m))
		for q, off := range m {
			qs[strconv.Itoa(int(q))] = off
		}
		f.OffsetTable[k] = qs
	}
	return f
}

// marshal returns the table as consumerOffset.json holds it.
func (t *offsetTable) marshal() ([]byte, error) {
	t.mu.Lock()
	f := t.fileLocked()
	t.mu.Unlock()
	return json.Marshal(f)
}

// merge overwrites the given offsets and keeps the others (a slave taking
// its master's offsets, as RocketMQ's putAll does).
func (t *offsetTable) merge(table map[string]map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, queues := range table {
		m := t.offsets[key]
		if m == nil {
			m = map[int32]int64{}
			t.offsets[key] = m
		}
		for q, off := range queues {
			id, err := strconv.ParseInt(q, 10, 32)
			if err != nil {
				continue
			}
			if old, ok := m[int32(id)]; !ok || old != off {
				m[int32(id)] = off
				t.dirty = true
			}
		}
	}
}

// persist writes the table if it changed since the last write.
func (t *offsetTable) persist() error {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	f := t.fileLocked()
	t.dirty = false
	t.mu.Unlock()
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := commitlog.ReplaceFile(t.fs, t.path, data); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return err
	}
	return nil
}

// SubscriptionGroupConfig is one entry of subscriptionGroup.json.
type SubscriptionGroupConfig struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	BrokerID                       int64  `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIdsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

func defaultGroupConfig(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, BrokerID: 0, WhichBrokerWhenConsumeSlowly: 1,
		NotifyConsumerIdsChangedEnable: true,
	}
}

type groupsFile struct {
	SubscriptionGroupTable map[string]*SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	DataVersion            DataVersion                         `json:"dataVersion"`
}

// groupTable holds subscription-group configs (config/subscriptionGroup.json),
// created on a group's first heartbeat and persisted on change. Pulls read
// it without a lock (table).
type groupTable struct {
	t       *table[SubscriptionGroupConfig]
	changed func() // after a change is published; must not block
}

func loadGroups(path string) (*groupTable, error) {
	var f groupsFile
	if _, err := loadJSON(path, &f); err != nil {
		return nil, err
	}
	return &groupTable{t: newTable(path, f.SubscriptionGroupTable, f.DataVersion, "subscriptionGroupTable", nameGroup)}, nil
}

func nameGroup(g *SubscriptionGroupConfig, name string) { g.GroupName = name }

func (t *groupTable) get(name string) (SubscriptionGroupConfig, bool) { return t.t.get(name) }

// dataVersion is the data version of the published table.
func (t *groupTable) dataVersion() DataVersion { return t.t.cur.Load().version }

// announce tells the changed hook about a change, once it is published.
func (t *groupTable) announce(changed bool) {
	if changed && t.changed != nil {
		t.changed()
	}
}

// ensure creates the group's config if it is new.
func (t *groupTable) ensure(name string) error {
	if _, ok := t.t.get(name); ok {
		return nil
	}
	changed, err := t.t.update(func(groups map[string]*SubscriptionGroupConfig) bool {
		if _, ok := groups[name]; ok {
			return false
		}
		g := defaultGroupConfig(strings.Clone(name))
		groups[g.GroupName] = &g
		return true
	}, nil)
	t.announce(changed)
	return err
}

// remove deletes the group's config and reports whether it had one.
func (t *groupTable) remove(name string) (bool, error) {
	changed, err := t.t.update(func(groups map[string]*SubscriptionGroupConfig) bool {
		if _, ok := groups[name]; !ok {
			return false
		}
		delete(groups, name)
		return true
	}, nil)
	t.announce(changed)
	return changed, err
}

// merge adds or replaces the given groups.
func (t *groupTable) merge(groups map[string]*SubscriptionGroupConfig) error {
	changed, err := t.t.putAll(groups, false, nil)
	t.announce(changed)
	return err
}

// marshal returns the table as subscriptionGroup.json holds it.
func (t *groupTable) marshal() ([]byte, error) { return t.t.marshal() }

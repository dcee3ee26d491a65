package broker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/wire"
)

// Permission bits of a topic (REMOTING.md §6.2).
const (
	permPriority = 0x8
	permRead     = 0x4
	permWrite    = 0x2
	permInherit  = 0x1
)

// Topic names the broker creates itself.
const (
	autoCreateTopicKey = "TBW102"
	selfTestTopic      = "SELF_TEST_TOPIC"
	offsetMovedTopic   = "OFFSET_MOVED_EVENT"
	scheduleTopic      = "SCHEDULE_TOPIC_XXXX"
	retryPrefix        = "%RETRY%"
	dlqPrefix          = "%DLQ%"
	maxTopicLen        = 127
)

// TopicConfig is one entry of topics.json and of the registration body.
type TopicConfig struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
	Perm            int32  `json:"perm"`
	TopicFilterType string `json:"topicFilterType"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	Order           bool   `json:"order"`
}

// DataVersion tells namesrvs and slaves whether a table changed.
type DataVersion struct {
	StateVersion int64 `json:"stateVersion"`
	Timestamp    int64 `json:"timestamp"`
	Counter      int64 `json:"counter"`
}

func (v *DataVersion) next() {
	v.Timestamp = time.Now().UnixMilli()
	v.Counter++
}

type topicsFile struct {
	TopicConfigTable map[string]*TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion             `json:"dataVersion"`
}

// topicTable holds the topic configs, persisted to config/topics.json on
// every change.
type topicTable struct {
	path string
	fs   commitlog.FS // nil: the real file system

	mu      sync.RWMutex
	topics  map[string]*TopicConfig
	version DataVersion
}

func loadTopics(path string) (*topicTable, error) {
	t := &topicTable{path: path, topics: map[string]*TopicConfig{}}
	var f topicsFile
	ok, err := loadJSON(path, &f)
	if err != nil {
		return nil, err
	}
	if ok {
		for name, tc := range f.TopicConfigTable {
			if tc == nil {
				continue
			}
			tc.TopicName = name
			t.topics[name] = tc
		}
		t.version = f.DataVersion
	}
	return t, nil
}

// get returns a copy of the topic's config.
func (t *topicTable) get(name string) (TopicConfig, bool) {
	t.mu.RLock()
	tc, ok := t.topics[name]
	var c TopicConfig
	if ok {
		c = *tc
	}
	t.mu.RUnlock()
	return c, ok
}

// put creates or replaces a topic and persists the table. It reports
// whether anything changed.
func (t *topicTable) put(tc TopicConfig) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.topics[tc.TopicName]; ok && *old == tc {
		return false, nil
	}
	c := tc
	c.TopicName = strings.Clone(c.TopicName) // may alias a request
	t.topics[c.TopicName] = &c
	t.version.next()
	return true, t.persistLocked()
}

// createIfAbsent adds tc unless the topic exists; it returns the topic's
// config and whether it was created.
func (t *topicTable) createIfAbsent(tc TopicConfig) (TopicConfig, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.topics[tc.TopicName]; ok {
		return *old, false, nil
	}
	c := tc
	c.TopicName = strings.Clone(c.TopicName) // may alias a request
	t.topics[c.TopicName] = &c
	t.version.next()
	return c, true, t.persistLocked()
}

// replace makes the table equal to topics (a slave taking its master's
// table) and reports whether anything changed.
func (t *topicTable) replace(topics map[string]*TopicConfig, version DataVersion) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := len(topics) != len(t.topics)
	next := make(map[string]*TopicConfig, len(topics))
	for name, tc := range topics {
		if tc == nil {
			continue
		}
		c := *tc
		c.TopicName = name
		if old, ok := t.topics[name]; !ok || *old != c {
			changed = true
		}
		next[name] = &c
	}
	if !changed {
		return false, nil
	}
	t.topics = next
	t.version = version
	return true, t.persistLocked()
}

func (t *topicTable) remove(name string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.topics[name]; !ok {
		return false, nil
	}
	delete(t.topics, name)
	t.version.next()
	return true, t.persistLocked()
}

// snapshot returns copies of all configs and the data version.
func (t *topicTable) snapshot() (map[string]*TopicConfig, DataVersion) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[string]*TopicConfig, len(t.topics))
	for k, v := range t.topics {
		c := *v
		out[k] = &c
	}
	return out, t.version
}

// persistLocked writes topics.json. t.mu must be held.
func (t *topicTable) persistLocked() error {
	data, err := json.Marshal(topicsFile{TopicConfigTable: t.topics, DataVersion: t.version})
	if err != nil {
		return err
	}
	return commitlog.ReplaceFile(t.fs, t.path, data)
}

// validateTopic checks a topic name as RocketMQ does: 1..127 bytes of
// letters, digits, '%', '|', '-' and '_'.
func validateTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the topic name is empty")
	case len(name) > maxTopicLen:
		return fmt.Errorf("the topic name is %d bytes long, over the limit of %d", len(name), maxTopicLen)
	case !validName(name):
		return fmt.Errorf("the topic name %q contains illegal characters (allowed: letters, digits, %%, |, - and _)", name)
	}
	return nil
}

// loadJSON reads path (or path.bak when path is missing, empty or
// unreadable) into v, accepting fastjson's unquoted numeric keys. It
// reports false when neither file exists.
func loadJSON(path string, v any) (bool, error) {
	var firstErr error
	for _, p := range []string{path, path + ".bak"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err == nil && len(data) > 0 {
			if err = wire.Unmarshal(data, v); err == nil {
				return true, nil
			}
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("load %s: %w", p, err)
		}
	}
	return false, firstErr
}

func configDir(root string) string { return filepath.Join(root, "config") }

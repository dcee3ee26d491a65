package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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

	// metrics is the topic's metrics handle (nil: metrics are off), set by
	// the topic table as the topic enters it, so a send that looks the
	// topic up has it too.
	metrics *topicMetrics
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
// every change. Sends on the event loops read it without a lock (table).
type topicTable struct {
	t       *table[TopicConfig]
	metrics *brokerMetrics // nil: metrics are off
}

func loadTopics(path string) (*topicTable, error) { return loadTopicsWith(path, nil) }

// loadTopicsWith loads the table, its topics given handles of m.
func loadTopicsWith(path string, m *brokerMetrics) (*topicTable, error) {
	var f topicsFile
	if _, err := loadJSON(path, &f); err != nil {
		return nil, err
	}
	t := &topicTable{metrics: m}
	t.t = newTable(path, f.TopicConfigTable, f.DataVersion, "topicConfigTable", t.name)
	return t, nil
}

// name gives an entry its name and metrics handle as it enters the table.
func (t *topicTable) name(tc *TopicConfig, name string) {
	tc.TopicName = name
	tc.metrics = t.metrics.handle(name)
}

// get returns a copy of the topic's config.
func (t *topicTable) get(name string) (TopicConfig, bool) { return t.t.get(name) }

// snapshot returns copies of all configs and the data version.
func (t *topicTable) snapshot() (map[string]*TopicConfig, DataVersion) { return t.t.snapshot() }

// marshal returns the table as topics.json holds it, which is also its
// TopicConfigSerializeWrapper: shared, not to be modified.
func (t *topicTable) marshal() ([]byte, error) { return t.t.marshal() }

// state returns the table's current state (table.state).
func (t *topicTable) state() *tableState[TopicConfig] { return t.t.state() }

// versioned is marshal with the table's data version.
func (t *topicTable) versioned() (DataVersion, []byte, error) { return t.t.versioned() }

// put creates or replaces a topic and persists the table. It reports
// whether anything changed.
func (t *topicTable) put(tc TopicConfig) (bool, error) {
	return t.t.update(func(topics map[string]*TopicConfig) bool {
		c := tc
		t.name(&c, strings.Clone(c.TopicName)) // the name may alias a request
		if old, ok := topics[c.TopicName]; ok && *old == c {
			return false
		}
		topics[c.TopicName] = &c
		return true
	}, nil)
}

// createIfAbsent adds tc unless the topic exists; it returns the topic's
// config and whether it was created, once the topic is persisted.
func (t *topicTable) createIfAbsent(tc TopicConfig) (TopicConfig, bool, error) {
	got := tc
	created, err := t.t.update(func(topics map[string]*TopicConfig) bool {
		if old, ok := topics[tc.TopicName]; ok {
			got = *old
			return false
		}
		t.name(&got, strings.Clone(got.TopicName)) // the name may alias a request
		c := got
		topics[c.TopicName] = &c
		return true
	}, nil)
	return got, created, err
}

// replace makes the table equal to topics (a slave taking its master's
// table) and reports whether anything changed.
func (t *topicTable) replace(topics map[string]*TopicConfig, version DataVersion) (bool, error) {
	return t.t.putAll(topics, true, &version)
}

func (t *topicTable) remove(name string) (bool, error) {
	return t.t.update(func(topics map[string]*TopicConfig) bool {
		if _, ok := topics[name]; !ok {
			return false
		}
		delete(topics, name)
		t.metrics.forget(name)
		return true
	}, nil)
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

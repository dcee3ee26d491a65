package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestTopicTableReadersTakeNoLock: while a writer holds the table's locks
// (as it does across an fsync), get and snapshot still answer.
func TestTopicTableReadersTakeNoLock(t *testing.T) {
	topics, err := loadTopics(filepath.Join(t.TempDir(), "topics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topics.put(TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}); err != nil {
		t.Fatal(err)
	}
	topics.t.wmu.Lock()
	topics.t.mu.Lock()
	defer topics.t.wmu.Unlock()
	defer topics.t.mu.Unlock()
	read := make(chan bool)
	go func() {
		tc, ok := topics.get("T")
		all, _ := topics.snapshot()
		read <- ok && tc.WriteQueueNums == 4 && len(all) == 1
	}()
	select {
	case ok := <-read:
		if !ok {
			t.Fatal("the reader did not see topic T")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a reader waited for the writer's locks")
	}
}

// TestTopicTableWritesInOrder: writers racing each other each return once
// the file holds what they saw, and the file ends equal to the table: no
// earlier state overwrote a later one.
func TestTopicTableWritesInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "topics.json")
	topics, err := loadTopics(path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func(name string) bool {
		t.Helper()
		f, err := loadTopics(path)
		if err != nil {
			t.Errorf("reload: %v", err)
			return false
		}
		_, ok := f.get(name)
		return ok
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				own := fmt.Sprintf("T-%d-%d", w, i)
				if _, err := topics.put(TopicConfig{TopicName: own, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}); err != nil {
					t.Error(err)
					return
				}
				shared := fmt.Sprintf("S-%d", i)
				if _, _, err := topics.createIfAbsent(TopicConfig{TopicName: shared, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}); err != nil {
					t.Error(err)
					return
				}
				if !onDisk(own) || !onDisk(shared) {
					t.Errorf("put(%s) and createIfAbsent(%s) returned before the file held them", own, shared)
					return
				}
			}
		}()
	}
	wg.Wait()
	f, err := loadTopics(path)
	if err != nil {
		t.Fatal(err)
	}
	want, wantVersion := topics.snapshot()
	got, gotVersion := f.snapshot()
	if len(got) != len(want) || len(want) != 8*25+25 || gotVersion != wantVersion {
		t.Fatalf("file has %d topics (version %+v), table %d (version %+v)", len(got), gotVersion, len(want), wantVersion)
	}
}

// TestTopicTableFailedWrite: a writer whose file write fails gets the
// error; the change is in memory, and the next writer that needs it on
// disk writes it again, even one that changes nothing.
func TestTopicTableFailedWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	topics, err := loadTopics(filepath.Join(dir, "topics.json")) // dir does not exist yet
	if err != nil {
		t.Fatal(err)
	}
	a := TopicConfig{TopicName: "A", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}
	if _, err := topics.put(a); err == nil {
		t.Fatal("put wrote into a missing directory")
	}
	if _, ok := topics.get("A"); !ok {
		t.Fatal("a change whose write failed is not in memory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, created, err := topics.createIfAbsent(a); err != nil || created {
		t.Fatalf("createIfAbsent of a topic not yet on disk: created %v, %v", created, err)
	}
	f, err := loadTopics(filepath.Join(dir, "topics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.get("A"); !ok {
		t.Fatal("topic A is not on disk after createIfAbsent returned")
	}
}

// TestTableFileIsJSON: through creations, changes, deletions and a slave's
// replacement, and from the state loaded at start, the tables' files are
// byte for byte what encoding/json makes of them (the file form is kept and
// reused, entries are encoded once), names that JSON escapes included.
func TestTableFileIsJSON(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "topics.json")
	topics, err := loadTopics(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		entries, version := topics.snapshot()
		want, err := json.Marshal(topicsFile{TopicConfigTable: entries, DataVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: topics.json is\n%s\nencoding/json makes\n%s", step, got, want)
		}
		if mem, err := topics.marshal(); err != nil || !bytes.Equal(mem, want) {
			t.Fatalf("%s: marshal = %s, %v", step, mem, err)
		}
	}
	odd := []string{"<a&b>", `q"uote`, "é\u2028", "ctl\x01", "B", "a", "%RETRY%G"}
	for i, name := range odd {
		if _, err := topics.put(TopicConfig{TopicName: name, ReadQueueNums: int32(i + 1), WriteQueueNums: 2, Perm: 6, TopicFilterType: "<tag>"}); err != nil {
			t.Fatal(err)
		}
		check("put " + name)
	}
	if _, err := topics.put(TopicConfig{TopicName: "B", ReadQueueNums: 9, WriteQueueNums: 9, Perm: 4}); err != nil {
		t.Fatal(err)
	}
	check("change B")
	if _, _, err := topics.createIfAbsent(TopicConfig{TopicName: "C", ReadQueueNums: 1, WriteQueueNums: 1}); err != nil {
		t.Fatal(err)
	}
	check("create C")
	if _, err := topics.remove("<a&b>"); err != nil {
		t.Fatal(err)
	}
	check("remove <a&b>")
	if _, err := topics.replace(map[string]*TopicConfig{"a": {ReadQueueNums: 3}, "Z": {ReadQueueNums: 1}}, DataVersion{Counter: 77}); err != nil {
		t.Fatal(err)
	}
	check("replace")

	// The state loaded at start, before any write.
	loaded, err := loadTopics(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, version := loaded.snapshot()
	want, _ := json.Marshal(topicsFile{TopicConfigTable: entries, DataVersion: version})
	if got, err := loaded.marshal(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("loaded table: marshal = %s, %v; want %s", got, err, want)
	}

	groups, err := loadGroups(filepath.Join(dir, "subscriptionGroup.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"G<1>", "G2"} {
		if err := groups.ensure(g); err != nil {
			t.Fatal(err)
		}
	}
	gs, gv := groups.t.snapshot()
	want, _ = json.Marshal(groupsFile{SubscriptionGroupTable: gs, DataVersion: gv})
	if got, err := os.ReadFile(filepath.Join(dir, "subscriptionGroup.json")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("subscriptionGroup.json is\n%s\nencoding/json makes\n%s", got, want)
	}
}

// BenchmarkTopicsFile: the file form of a 1000-topic table after one topic
// changed, by encoding/json and by encodeFile with the previous state's
// entries cached (what table.sync does).
func BenchmarkTopicsFile(b *testing.B) {
	entries := map[string]*TopicConfig{}
	for i := range 1000 {
		name := fmt.Sprintf("topic-%04d", i)
		entries[name] = &TopicConfig{TopicName: name, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(topicsFile{TopicConfigTable: entries, DataVersion: DataVersion{Counter: 1}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encodeFile", func(b *testing.B) {
		var cache fileCache[TopicConfig]
		if _, err := encodeFile("topicConfigTable", entries, DataVersion{}, &cache); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			c := *entries["topic-0500"]
			entries["topic-0500"] = &c
			if _, err := encodeFile("topicConfigTable", entries, DataVersion{Counter: 1}, &cache); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTopicPut: one change to a 1000-topic table, written to disk
// (UPDATE_AND_CREATE_TOPIC's work apart from the request and the
// registration). Its bytes allocated are what a burst of creations gives
// the garbage collector.
func BenchmarkTopicPut(b *testing.B) {
	topics, err := loadTopics(filepath.Join(b.TempDir(), "topics.json"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := topics.put(TopicConfig{TopicName: fmt.Sprintf("topic-%04d", i), ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	perm := int32(6)
	for b.Loop() {
		perm ^= 2
		if _, err := topics.put(TopicConfig{TopicName: "topic-0500", ReadQueueNums: 4, WriteQueueNums: 4, Perm: perm, TopicFilterType: "SINGLE_TAG"}); err != nil {
			b.Fatal(err)
		}
	}
}

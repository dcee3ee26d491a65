package broker

import (
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

package commitlog

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// timedLog replicates records with chosen store times into a fresh log:
// queue "S"/0 holds record i stored at 1000+10*i.
func timedLog(t *testing.T, n int) *Log {
	t.Helper()
	l := openLog(t, testConfig(t.TempDir()))
	var data []byte
	for i := range n {
		r := Record{
			QueueID:        0,
			QueueOffset:    int64(i),
			PhysOffset:     int64(len(data)),
			BornHost:       testBorn,
			StoreHost:      testStore,
			StoreTimestamp: 1000 + 10*int64(i),
			Topic:          "S",
			Body:           []byte("timed"),
			Properties:     "TAGS\x01t\x02",
		}
		if i%5 == 0 {
			r.BornHost = mustAddrPort("[2001:db8::5]:1") // STORETIMESTAMP moves
		}
		r.BodyCRC = wire.BodyCRC(r.Body)
		data = r.Encode(data)
	}
	if err := l.AppendAt(0, data); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSearchOffset(t *testing.T) {
	const n = 100
	l := timedLog(t, n)
	for _, tc := range []struct {
		ts   int64
		want int64
	}{
		{0, 0},
		{1000, 0},
		{1001, 1},
		{1010, 1},
		{1015, 2},
		{1500, 50},
		{1990, 99},
		{1991, n}, // none: the max offset
		{1 << 60, n},
	} {
		if got := l.SearchOffset("S", 0, tc.ts); got != tc.want {
			t.Errorf("SearchOffset(%d) = %d, want %d", tc.ts, got, tc.want)
		}
	}
	if got := l.SearchOffset("nope", 0, 0); got != 0 {
		t.Errorf("SearchOffset on a missing queue = %d", got)
	}
	ts, err := l.EarliestStoreTime("S", 0)
	if err != nil || ts != 1000 {
		t.Errorf("EarliestStoreTime = %d, %v; want 1000", ts, err)
	}
	if _, err := l.EarliestStoreTime("nope", 0); !errors.Is(err, ErrNoQueue) {
		t.Errorf("EarliestStoreTime on a missing queue: %v", err)
	}
}

func TestSearchOffsetAppended(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	var rs []AppendResult
	for i := range 50 {
		rs = append(rs, mustAppend(t, l, testMessage("S", 0, i)))
	}
	for _, r := range rs {
		got := l.SearchOffset("S", 0, r.StoreTimestamp)
		// the first record with this store time (times are monotone)
		want := r.QueueOffset
		for want > 0 && rs[want-1].StoreTimestamp == r.StoreTimestamp {
			want--
		}
		if got != want {
			t.Fatalf("SearchOffset(%d) = %d, want %d", r.StoreTimestamp, got, want)
		}
	}
}

func TestDeleteTopic(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l := openLog(t, cfg)
	for i := range 30 {
		mustAppend(t, l, testMessage("D", int32(i%2), i))
		mustAppend(t, l, testMessage("E", 0, i))
	}
	keep := snapshotQueues(t, l)
	delete(keep, "D/0@0")
	delete(keep, "D/1@0")
	if err := l.DeleteTopic("D"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.QueueEntries("D", 0, 0, 1, nil); !errors.Is(err, ErrNoQueue) {
		t.Errorf("deleted queue: %v", err)
	}
	if l.QueueMaxOffset("D", 1) != 0 {
		t.Errorf("deleted queue max %d", l.QueueMaxOffset("D", 1))
	}
	if _, err := os.Stat(filepath.Join(dir, "consumequeue", "D")); !os.IsNotExist(err) {
		t.Errorf("queue directory left: %v", err)
	}
	if d := diffSnapshots(keep, snapshotQueues(t, l)); d != "" {
		t.Fatal(d)
	}
	if err := l.DeleteTopic("never-existed"); err != nil {
		t.Errorf("deleting an unknown topic: %v", err)
	}
	// Wait until the flusher has checkpointed past the deletion, then a
	// crash does not bring the topic back.
	poll(t, "checkpoint after delete", func() bool {
		l.ckpt.mu.Lock()
		defer l.ckpt.mu.Unlock()
		return l.ckpt.queueSafe == l.MaxOffset()
	})
	img := crashImage(t, l)

	r := mustAppend(t, l, testMessage("D", 0, 100))
	if r.QueueOffset != 0 {
		t.Errorf("re-created topic starts at %d", r.QueueOffset)
	}
	mustClose(t, l)
	l = openLog(t, cfg)
	if l.QueueMaxOffset("D", 0) != 1 || l.QueueMaxOffset("D", 1) != 0 {
		t.Errorf("after restart D/0 max %d, D/1 max %d", l.QueueMaxOffset("D", 0), l.QueueMaxOffset("D", 1))
	}

	ccfg := cfg
	ccfg.Dir = img
	c := openLog(t, ccfg)
	if d := diffSnapshots(keep, snapshotQueues(t, c)); d != "" {
		t.Fatalf("after crash: %s", d)
	}
}

// TestQueueCount: a topic spans its highest queue id + 1, counted from the
// queues appended to and from those recovered at open; a deleted topic
// has none.
func TestQueueCount(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openLog(t, cfg)
	check := func(want map[string]int32) {
		t.Helper()
		if got := l.Queues(); !maps.Equal(got, want) {
			t.Fatalf("Queues() = %v, want %v", got, want)
		}
		for topic, n := range want {
			if got := l.QueueCount(topic); got != n {
				t.Fatalf("QueueCount(%s) = %d, want %d", topic, got, n)
			}
		}
	}
	check(map[string]int32{})
	mustAppend(t, l, testMessage("A", 2, 0))
	mustAppend(t, l, testMessage("B", 0, 1))
	check(map[string]int32{"A": 3, "B": 1})
	mustAppend(t, l, testMessage("A", 6, 2))
	check(map[string]int32{"A": 7, "B": 1})
	if l.QueueCount("none") != 0 {
		t.Fatalf("QueueCount of an unknown topic = %d", l.QueueCount("none"))
	}
	mustClose(t, l)
	l = openLog(t, cfg)
	check(map[string]int32{"A": 7, "B": 1})
	if err := l.DeleteTopic("A"); err != nil {
		t.Fatal(err)
	}
	check(map[string]int32{"B": 1})
}

package broker

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// storeBroker is a broker with a store and tables but no server: enough
// for the handlers that only read the store and the tables.
func storeBroker(t *testing.T, role string) *Broker {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.BrokerName, cfg.BrokerRole, cfg.StorePathRootDir = "broker-a", role, dir
	if role == Slave {
		cfg.BrokerID = 1
	}
	b := &Broker{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	var err error
	if b.topics, err = loadTopics(filepath.Join(dir, "topics.json")); err != nil {
		t.Fatal(err)
	}
	if b.offsets, err = loadOffsets(filepath.Join(dir, "consumerOffset.json")); err != nil {
		t.Fatal(err)
	}
	if b.store, err = commitlog.Open(commitlog.Config{Dir: dir, SegmentSize: 1 << 20, QueueFileEntries: 64}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.store.Close() })
	return b
}

func appendTo(t *testing.T, b *Broker, topic string, queueID int32, n int) {
	t.Helper()
	host := netip.MustParseAddrPort("127.0.0.1:10911")
	for i := range n {
		m := commitlog.Message{Topic: topic, QueueID: queueID, Body: []byte("m" + strconv.Itoa(i)),
			BornTimestamp: time.Now().UnixMilli(), BornHost: host, StoreHost: host}
		if _, err := b.store.Append(&m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSlaveReadsTopicsOfItsStore: a slave answers the offset requests of a
// topic its table lacks but its store holds, with as many queues as the
// store has; a master, and a slave for a topic it does not hold, answer
// TOPIC_NOT_EXIST; nothing is added to the topic table.
func TestSlaveReadsTopicsOfItsStore(t *testing.T) {
	req := func(code int32, kv ...string) *remoting.Command {
		return remoting.NewRequest(code, append([]string{"topic", "Young", "consumerGroup", "G"}, kv...)...)
	}
	check := func(b *Broker, name string, resp *remoting.Command, code int32, key, want string) {
		t.Helper()
		if resp.Code != code || (key != "" && resp.ExtValue(key) != want) {
			t.Fatalf("%s: code %d %q %s=%q; want code %d %s=%q", name, resp.Code, resp.Remark, key, resp.ExtValue(key), code, key, want)
		}
	}

	slave := storeBroker(t, Slave)
	appendTo(t, slave, "Young", 0, 3)
	appendTo(t, slave, "Young", 2, 1)
	check(slave, "max offset", slave.getMaxOffset(nil, req(remoting.GetMaxOffset, "queueId", "0")), remoting.Success, "offset", "3")
	check(slave, "min offset", slave.getMinOffset(nil, req(remoting.GetMinOffset, "queueId", "0")), remoting.Success, "offset", "0")
	check(slave, "empty queue inside the span", slave.getMaxOffset(nil, req(remoting.GetMaxOffset, "queueId", "1")), remoting.Success, "offset", "0")
	check(slave, "queue past the span", slave.getMaxOffset(nil, req(remoting.GetMaxOffset, "queueId", "3")), remoting.InvalidParameter, "", "")
	check(slave, "search by time", slave.searchOffsetByTimestamp(nil, req(remoting.SearchOffsetByTimestamp, "queueId", "0", "timestamp", "0")), remoting.Success, "offset", "0")
	if resp := slave.getEarliestMsgStoretime(nil, req(remoting.GetEarliestMsgStoretime, "queueId", "2")); resp.Code != remoting.Success || resp.ExtValue("timestamp") == "" {
		t.Fatalf("earliest store time: code %d %q", resp.Code, resp.Remark)
	}
	check(slave, "query consumer offset", slave.queryConsumerOffset(nil, req(remoting.QueryConsumerOffset, "queueId", "0")), remoting.Success, "offset", "0")
	check(slave, "update consumer offset", slave.updateConsumerOffset(nil, req(remoting.UpdateConsumerOffset, "queueId", "0", "commitOffset", "2")), remoting.Success, "", "")
	check(slave, "query after update", slave.queryConsumerOffset(nil, req(remoting.QueryConsumerOffset, "queueId", "0")), remoting.Success, "offset", "2")
	other := remoting.NewRequest(remoting.GetMaxOffset, "topic", "Other", "queueId", "0")
	check(slave, "a topic the slave does not hold", slave.getMaxOffset(nil, other), remoting.TopicNotExist, "", "")
	if _, ok := slave.topics.get("Young"); ok {
		t.Fatal("serving the store's topic added it to the topic table")
	}

	// A queue the master added after the table was synced.
	if _, err := slave.topics.put(TopicConfig{TopicName: "Young", ReadQueueNums: 1, WriteQueueNums: 1, Perm: permRead | permWrite}); err != nil {
		t.Fatal(err)
	}
	check(slave, "a queue beyond the synced table", slave.getMaxOffset(nil, req(remoting.GetMaxOffset, "queueId", "2")), remoting.Success, "offset", "1")

	master := storeBroker(t, AsyncMaster)
	appendTo(t, master, "Young", 0, 1)
	check(master, "master", master.getMaxOffset(nil, req(remoting.GetMaxOffset, "queueId", "0")), remoting.TopicNotExist, "", "")
}

// TestSlaveRegistersTopicsOfItsStore: the registration of a slave lists the
// topics its store holds that its table lacks, read-only; the table's
// entries win.
func TestSlaveRegistersTopicsOfItsStore(t *testing.T) {
	topics := map[string]*TopicConfig{"Synced": {TopicName: "Synced", ReadQueueNums: 8, WriteQueueNums: 8, Perm: permRead | permWrite}}
	addStoredTopics(topics, map[string]int32{"Synced": 2, "Young": 3})
	if got := *topics["Synced"]; got.ReadQueueNums != 8 || got.Perm != permRead|permWrite {
		t.Errorf("Synced = %+v, want the table's entry", got)
	}
	if got := topics["Young"]; got == nil || got.ReadQueueNums != 3 || got.WriteQueueNums != 3 || got.Perm != permRead {
		t.Errorf("Young = %+v, want 3 read-only queues", got)
	}
}

// TestQueueWatch: the first entry of each queue asks for a registration,
// later ones do not.
func TestQueueWatch(t *testing.T) {
	var fresh atomic.Int32
	w := &queueWatch{fresh: func() { fresh.Add(1) }}
	topic := []byte("T1")
	for range 3 {
		w.seen(unsafe.String(&topic[0], len(topic)), 0) // as the log's mapping
	}
	w.seen("T1", 1)
	topic[1] = '2' // the listener's string may alias memory that changes
	w.seen("T1", 0)
	w.seen("T2", 0)
	if got := fresh.Load(); got != 3 {
		t.Fatalf("fresh called %d times, want 3 (T1/0, T1/1, T2/0)", got)
	}
}

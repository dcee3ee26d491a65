package client

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rocketgo/rocketgo/internal/wire"
)

func TestParseRouteTestdata(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "route_fastjson.json"))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := parseRoute(b)
	if err != nil {
		t.Fatal(err)
	}
	r := buildRoute("TopicTest", rd, 0, nil)
	if len(r.pub) != 4+2 || len(r.sub) != 4+2+3 {
		t.Errorf("%d publish and %d subscribe queues: %v / %v", len(r.pub), len(r.sub), r.pub, r.sub)
	}
}

func TestBuildRoute(t *testing.T) {
	rd := &wire.TopicRoute{
		QueueDatas: []wire.QueueData{
			{BrokerName: "c", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}, // no master
			{BrokerName: "b", ReadQueueNums: 1, WriteQueueNums: 3, Perm: 6},
			{BrokerName: "a", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 4}, // read only
			{BrokerName: "d", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 2}, // write only
		},
		BrokerDatas: []wire.BrokerData{
			{BrokerName: "a", BrokerAddrs: wire.BrokerAddrs{0: "a0"}},
			{BrokerName: "b", BrokerAddrs: wire.BrokerAddrs{0: "b0", 1: "b1"}},
			{BrokerName: "c", BrokerAddrs: wire.BrokerAddrs{1: "c1", 2: "c2"}},
			{BrokerName: "d", BrokerAddrs: wire.BrokerAddrs{0: "d0"}},
		},
	}
	q := func(b string, id int) MessageQueue { return MessageQueue{Topic: "T", BrokerName: b, QueueID: id} }
	windows := map[string]*window{}
	r := buildRoute("T", rd, 0, func(a string) *window { w := &window{}; windows[a] = w; return w })
	wantPub := []MessageQueue{q("b", 0), q("b", 1), q("b", 2)}
	for i := range 8 {
		wantPub = append(wantPub, q("d", i))
	}
	wantSub := []MessageQueue{q("a", 0), q("a", 1), q("b", 0), q("c", 0), q("c", 1)}
	if !slices.Equal(r.pub, wantPub) || !slices.Equal(r.sub, wantSub) {
		t.Errorf("pub %v\nsub %v", r.pub, r.sub)
	}
	if r.brokers["c"].win != nil || r.brokers["b"].win != windows["b0"] || len(windows) != 3 {
		t.Errorf("windows %v", windows)
	}
	capped := buildRoute("T", rd, 2, nil)
	if len(capped.pub) != 4 || len(capped.sub) != 5 {
		t.Errorf("capped at 2: pub %v sub %v", capped.pub, capped.sub)
	}
	if !sameRoute(r, buildRoute("T", rd, 0, nil)) || sameRoute(r, capped) {
		t.Error("sameRoute is wrong")
	}

	for _, c := range []struct {
		broker string
		want   int64
		addr   string
		id     int64
	}{
		{"b", 0, "b0", 0}, {"b", 1, "b1", 1}, {"b", 5, "b0", 0},
		{"c", 0, "c1", 1}, {"c", 1, "c1", 1}, {"c", 2, "c2", 2}, {"c", 0, "c1", 1},
		{"c", 9, "c1", 1}, // 9 and 10 absent, no master: the lowest id
	} {
		addr, id, ok := r.brokers[c.broker].addr(c.want)
		if !ok || addr != c.addr || id != c.id {
			t.Errorf("broker %s asked for %d: %s (%d) %v, want %s (%d)", c.broker, c.want, addr, id, ok, c.addr, c.id)
		}
	}
	if _, _, ok := (&brokerInfo{addrs: map[int64]string{}}).addr(0); ok {
		t.Error("an empty broker group gave an address")
	}
}

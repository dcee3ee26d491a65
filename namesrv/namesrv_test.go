package namesrv

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

var (
	masterA = brokerReg{name: "broker-a", addr: "10.0.0.5:10911", ha: "10.0.0.5:10912", id: 0, counter: 1,
		topics: []topic{{"TopicTest", 4, 4, 6}, {"Orders", 8, 8, 6}}}
	slaveA = brokerReg{name: "broker-a", addr: "10.0.0.6:10911", ha: "10.0.0.6:10912", id: 1, counter: 1,
		topics: []topic{{"TopicTest", 4, 4, 6}, {"Orders", 8, 8, 6}}}
	masterB = brokerReg{name: "broker-b", addr: "10.0.0.7:10911", ha: "10.0.0.7:10912", id: 0, counter: 3,
		topics: []topic{{"TopicTest", 2, 2, 6}, {"ReadOnly", 1, 1, 4}}}
)

func TestRouteJSON(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	register(t, s, newConn(), slaveA)
	register(t, s, newConn(), masterB)

	resp, r := routeOf(t, s, "TopicTest")
	if resp.Code != remoting.Success || resp.Opaque == 0 && resp.Flag&remoting.FlagResponse == 0 {
		t.Fatalf("route: code %d flag %d", resp.Code, resp.Flag)
	}
	golden(t, "route_TopicTest.json", resp.Body)
	if !json.Valid(resp.Body) {
		t.Fatalf("route body is not standard JSON: %s", resp.Body)
	}

	want := goRoute{
		Queues: []wire.QueueData{
			{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 4},
			{BrokerName: "broker-b", Perm: 6, ReadQueueNums: 2, WriteQueueNums: 2},
		},
		Brokers: map[string]goBroker{
			"broker-a": {Cluster: "DefaultCluster", Addrs: map[int64]string{0: "10.0.0.5:10911", 1: "10.0.0.6:10911"}},
			"broker-b": {Cluster: "DefaultCluster", Addrs: map[int64]string{0: "10.0.0.7:10911"}},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("the Go client would read\n%+v\nwant\n%+v", r, want)
	}
	for _, key := range []string{"orderTopicConf", " ", "\n"} {
		if strings.Contains(string(resp.Body), key) {
			t.Errorf("route body contains %q: %s", key, resp.Body)
		}
	}

	resp, _ = routeOf(t, s, "ReadOnly")
	golden(t, "route_ReadOnly.json", resp.Body)
}

func TestClusterInfoAndTopicList(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	register(t, s, newConn(), slaveA)
	b := masterB
	b.cluster = "OtherCluster"
	register(t, s, newConn(), b)

	resp := s.dispatch(newConn(), remoting.NewRequest(remoting.GetBrokerClusterInfo))
	if resp.Code != remoting.Success {
		t.Fatalf("cluster info: %d %q", resp.Code, resp.Remark)
	}
	golden(t, "cluster_info.json", resp.Body)

	resp = s.dispatch(newConn(), remoting.NewRequest(remoting.GetAllTopicListFromNameserver))
	if resp.Code != remoting.Success {
		t.Fatalf("topic list: %d %q", resp.Code, resp.Remark)
	}
	golden(t, "topic_list.json", resp.Body)
	// The Go admin decodes with encoding/json into {TopicList []string; BrokerAddr string}.
	var tl struct {
		TopicList  []string
		BrokerAddr string
	}
	if err := json.Unmarshal(resp.Body, &tl); err != nil || len(tl.TopicList) != 3 {
		t.Fatalf("decode topic list %s: %v %v", resp.Body, tl, err)
	}

	empty, _ := newTestServer(t)
	resp = empty.dispatch(newConn(), remoting.NewRequest(remoting.GetAllTopicListFromNameserver))
	if string(resp.Body) != `{"topicList":[]}` {
		t.Errorf("empty topic list = %s", resp.Body)
	}
	resp = empty.dispatch(newConn(), remoting.NewRequest(remoting.GetBrokerClusterInfo))
	if string(resp.Body) != `{"brokerAddrTable":{},"clusterAddrTable":{}}` {
		t.Errorf("empty cluster info = %s", resp.Body)
	}
}

func TestTopicNotExist(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	resp, _ := routeOf(t, s, "Nope")
	if resp.Code != remoting.TopicNotExist || !strings.Contains(resp.Remark, "Nope") || len(resp.Body) != 0 {
		t.Fatalf("unknown topic: code %d remark %q body %q", resp.Code, resp.Remark, resp.Body)
	}
	if resp.Flag&remoting.FlagResponse == 0 {
		t.Errorf("response flag not set")
	}
}

// TestRegisterMergesTopics: a master's registration adds to its group's
// queue data and never removes from it (RocketMQ 5): a new data version
// overwrites every listed topic, an unchanged one only adds the topics the
// group lacks; a topic goes by DELETE_TOPIC_IN_NAMESRV or with its group.
func TestRegisterMergesTopics(t *testing.T) {
	s, _ := newTestServer(t)
	c := newConn()
	m := masterA // TopicTest, Orders at counter 1
	register(t, s, c, m)
	queues := func(topic string) wire.QueueData {
		t.Helper()
		_, r := routeOf(t, s, topic)
		for _, q := range r.Queues {
			if q.BrokerName == "broker-a" {
				return q
			}
		}
		t.Fatalf("%s has no queues of broker-a: %+v", topic, r)
		return wire.QueueData{}
	}

	// Same data version, fewer topics, one resized, one new: nothing listed
	// is overwritten or removed, the topic the group lacks is added.
	same := m
	same.topics = []topic{{"TopicTest", 16, 16, 6}, {"Late", 2, 2, 6}}
	register(t, s, c, same)
	if got := topicNames(s); !slices.Equal(got, []string{"Late", "Orders", "TopicTest"}) {
		t.Fatalf("after an unchanged version: topics %v", got)
	}
	if q := queues("TopicTest"); q.ReadQueueNums != 4 {
		t.Fatalf("TopicTest overwritten by an unchanged version: %+v", q)
	}

	// A new version listing only TopicTest, resized (an incremental
	// registration): TopicTest is overwritten, the others stay.
	next := m
	next.counter = 2
	next.topics = []topic{{"TopicTest", 16, 8, 6}}
	register(t, s, c, next)
	if got := topicNames(s); !slices.Equal(got, []string{"Late", "Orders", "TopicTest"}) {
		t.Fatalf("after a registration listing fewer topics: topics %v", got)
	}
	if q := queues("TopicTest"); q.ReadQueueNums != 16 || q.WriteQueueNums != 8 {
		t.Fatalf("TopicTest not overwritten: %+v", q)
	}
	if q := queues("Orders"); q.ReadQueueNums != 8 {
		t.Fatalf("Orders changed by a registration that does not list it: %+v", q)
	}

	// DELETE_TOPIC_IN_NAMESRV removes a topic, and registrations that do not
	// list it do not bring it back.
	if resp := s.dispatch(newConn(), remoting.NewRequest(remoting.DeleteTopicInNamesrv, "topic", "Orders")); resp.Code != remoting.Success {
		t.Fatalf("delete Orders: %d %q", resp.Code, resp.Remark)
	}
	register(t, s, c, next)
	last := next
	last.counter = 3
	last.topics = nil
	register(t, s, c, last)
	if got := topicNames(s); !slices.Equal(got, []string{"Late", "TopicTest"}) {
		t.Fatalf("after deleting Orders: topics %v", got)
	}

	// The group's queue data goes with the group; a topic another group
	// still serves keeps that group.
	register(t, s, newConn(), masterB)
	s.connClosed(c.ID())
	if got := topicNames(s); !slices.Equal(got, []string{"ReadOnly", "TopicTest"}) {
		t.Fatalf("after broker-a left: topics %v", got)
	}
	if _, r := routeOf(t, s, "TopicTest"); len(r.Queues) != 1 || r.Queues[0].BrokerName != "broker-b" {
		t.Fatalf("TopicTest route %+v", r)
	}
}

func TestSlaveTopicsIgnored(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), slaveA)
	if got := topicNames(s); len(got) != 0 {
		t.Fatalf("a slave's registration created topics %v", got)
	}
	if resp, _ := routeOf(t, s, "TopicTest"); resp.Code != remoting.TopicNotExist {
		t.Fatalf("route from a slave-only registration: code %d", resp.Code)
	}
}

func TestSlaveLearnsMaster(t *testing.T) {
	s, _ := newTestServer(t)
	resp := register(t, s, newConn(), slaveA)
	if _, ok := resp.Ext("masterAddr"); ok {
		t.Fatalf("masterAddr without a master: %v", resp.Fields())
	}
	register(t, s, newConn(), masterA)
	resp = register(t, s, newConn(), slaveA)
	if resp.ExtValue("masterAddr") != masterA.addr || resp.ExtValue("haServerAddr") != masterA.ha {
		t.Fatalf("slave answer ext %v", resp.Fields())
	}
	resp = register(t, s, newConn(), masterA)
	if _, ok := resp.Ext("masterAddr"); ok {
		t.Fatalf("master answer carries masterAddr: %v", resp.Fields())
	}
}

func TestSameAddressNewID(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	register(t, s, newConn(), slaveA)
	// The slave is promoted: its address registers as id 0, the old master is gone.
	s.table.unregister(masterA.name, masterA.addr, 0)
	promoted := slaveA
	promoted.id = 0
	promoted.counter = 9
	register(t, s, newConn(), promoted)
	_, r := routeOf(t, s, "TopicTest")
	if got := r.Brokers["broker-a"].Addrs; !reflect.DeepEqual(got, map[int64]string{0: slaveA.addr}) {
		t.Fatalf("brokerAddrs after promotion = %v", got)
	}
}

func TestUnregister(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	register(t, s, newConn(), slaveA)
	unreg := func(r brokerReg) {
		t.Helper()
		resp := s.dispatch(newConn(), remoting.NewRequest(remoting.UnregisterBroker,
			"brokerName", r.name, "brokerAddr", r.addr, "clusterName", "DefaultCluster",
			"brokerId", strconv.FormatInt(r.id, 10)))
		if resp.Code != remoting.Success {
			t.Fatalf("unregister %s: %d %q", r.addr, resp.Code, resp.Remark)
		}
	}
	unreg(masterA)
	resp, r := routeOf(t, s, "TopicTest")
	if resp.Code != remoting.Success {
		t.Fatalf("route after losing only the master: code %d", resp.Code)
	}
	if got := r.Brokers["broker-a"].Addrs; !reflect.DeepEqual(got, map[int64]string{1: slaveA.addr}) {
		t.Fatalf("brokerAddrs = %v", got)
	}
	if len(r.Queues) != 1 {
		t.Fatalf("queue data lost with the master: %+v", r.Queues)
	}
	unreg(slaveA)
	if resp, _ := routeOf(t, s, "TopicTest"); resp.Code != remoting.TopicNotExist {
		t.Fatalf("route after the group left: code %d", resp.Code)
	}
	if got := brokerNames(s); len(got) != 0 {
		t.Fatalf("groups left: %v", got)
	}
	if ci := s.table.clusterInfo(); len(ci.ClusterAddrTable) != 0 {
		t.Fatalf("clusters left: %v", ci.ClusterAddrTable)
	}
	unreg(slaveA) // unknown broker: still SUCCESS
}

func TestExpiry(t *testing.T) {
	s, clk := newTestServer(t)
	ca, cb, cs := newConn(), newConn(), newConn()
	register(t, s, ca, masterA)
	register(t, s, cs, slaveA)
	register(t, s, cb, masterB)

	clk.advance(60 * time.Second)
	register(t, s, cs, slaveA) // the slave keeps registering
	register(t, s, cb, masterB)
	clk.advance(60 * time.Second) // masterA: exactly 120 s, not yet expired
	s.expire()
	if _, r := routeOf(t, s, "TopicTest"); len(r.Brokers["broker-a"].Addrs) != 2 {
		t.Fatalf("expired too early: %+v", r)
	}
	clk.advance(time.Second)
	s.expire()
	if !ca.closed.Load() {
		t.Error("the expired master's connection was not closed")
	}
	if cs.closed.Load() || cb.closed.Load() {
		t.Error("a live broker's connection was closed")
	}
	resp, r := routeOf(t, s, "TopicTest")
	if resp.Code != remoting.Success || !reflect.DeepEqual(r.Brokers["broker-a"].Addrs, map[int64]string{1: slaveA.addr}) ||
		len(r.Queues) != 2 {
		t.Fatalf("after master expiry: %+v", r)
	}

	clk.advance(120 * time.Second)
	s.expire()
	if got := topicNames(s); len(got) != 0 {
		t.Fatalf("topics after every broker expired: %v", got)
	}
	if !cs.closed.Load() || !cb.closed.Load() {
		t.Error("expired connections left open")
	}
}

func TestExpiryOwnTimeoutAndDataVersionQuery(t *testing.T) {
	s, clk := newTestServer(t)
	m := masterA
	m.extra = []string{"heartbeatTimeoutMillis", "10000"}
	register(t, s, newConn(), m)

	query := func(counter string) *remoting.Command {
		req := remoting.NewRequest(remoting.QueryDataVersion, "brokerAddr", m.addr, "brokerName", m.name,
			"clusterName", "DefaultCluster", "brokerId", "0")
		req.Body = []byte(`{"stateVersion":0,"timestamp":1700000000000,"counter":` + counter + `}`)
		return s.dispatch(newConn(), req)
	}
	clk.advance(8 * time.Second)
	if resp := query("1"); resp.Code != remoting.Success || resp.ExtValue("changed") != "false" {
		t.Fatalf("unchanged version: code %d ext %v", resp.Code, resp.Fields())
	}
	clk.advance(8 * time.Second) // 16 s after registering, 8 s after the query
	s.expire()
	if len(brokerNames(s)) != 1 {
		t.Fatal("QUERY_DATA_VERSION did not refresh liveness")
	}
	resp := query("2")
	if resp.ExtValue("changed") != "true" {
		t.Fatalf("changed version: ext %v", resp.Fields())
	}
	var stored dataVersion
	if err := json.Unmarshal(resp.Body, &stored); err != nil || stored.Counter != 1 {
		t.Fatalf("stored version body %s: %v", resp.Body, err)
	}
	clk.advance(9 * time.Second) // a changed version is no sign of life
	s.expire()
	if len(brokerNames(s)) != 0 {
		t.Fatal("broker outlived its own heartbeatTimeoutMillis")
	}
	if resp := query("1"); resp.ExtValue("changed") != "true" || len(resp.Body) != 0 {
		t.Fatalf("unknown broker: ext %v body %s", resp.Fields(), resp.Body)
	}
}

func TestConnectionClose(t *testing.T) {
	s, _ := newTestServer(t)
	ca, cs, cb := newConn(), newConn(), newConn()
	register(t, s, ca, masterA)
	register(t, s, cs, slaveA)
	register(t, s, cb, masterB)

	s.connClosed(ca.ID())
	_, r := routeOf(t, s, "TopicTest")
	if !reflect.DeepEqual(r.Brokers["broker-a"].Addrs, map[int64]string{1: slaveA.addr}) || len(r.Queues) != 2 {
		t.Fatalf("after the master's connection closed: %+v", r)
	}
	s.connClosed(cs.ID())
	_, r = routeOf(t, s, "TopicTest")
	if _, ok := r.Brokers["broker-a"]; ok || len(r.Queues) != 1 {
		t.Fatalf("after the whole group's connections closed: %+v", r)
	}
	if got := topicNames(s); !slices.Equal(got, []string{"ReadOnly", "TopicTest"}) {
		t.Fatalf("topics %v", got)
	}

	// A broker that re-registered on a new connection survives the old one closing.
	cb2 := newConn()
	register(t, s, cb2, masterB)
	s.connClosed(cb.ID())
	if got := brokerNames(s); !slices.Equal(got, []string{"broker-b"}) {
		t.Fatalf("groups after a stale connection closed: %v", got)
	}
}

func TestDeleteTopic(t *testing.T) {
	s, _ := newTestServer(t)
	register(t, s, newConn(), masterA)
	b := masterB
	b.cluster = "OtherCluster"
	register(t, s, newConn(), b)

	del := func(kv ...string) {
		t.Helper()
		if resp := s.dispatch(newConn(), remoting.NewRequest(remoting.DeleteTopicInNamesrv, kv...)); resp.Code != remoting.Success {
			t.Fatalf("delete %v: %d %q", kv, resp.Code, resp.Remark)
		}
	}
	del("topic", "TopicTest", "clusterName", "OtherCluster")
	if _, r := routeOf(t, s, "TopicTest"); len(r.Queues) != 1 || r.Queues[0].BrokerName != "broker-a" {
		t.Fatalf("after cluster delete: %+v", r)
	}
	del("topic", "TopicTest")
	del("topic", "NoSuchTopic")
	if got := topicNames(s); !slices.Equal(got, []string{"Orders", "ReadOnly"}) {
		t.Fatalf("topics after delete: %v", got)
	}
}

func TestKVConfigNotFound(t *testing.T) {
	s, _ := newTestServer(t)
	resp := s.dispatch(newConn(), remoting.NewRequest(remoting.GetKVConfig, "namespace", "ORDER_TOPIC_CONFIG", "key", "T"))
	if resp.Code != remoting.QueryNotFound || !strings.Contains(resp.Remark, "ORDER_TOPIC_CONFIG") {
		t.Fatalf("GET_KV_CONFIG: %d %q", resp.Code, resp.Remark)
	}
	resp = s.dispatch(newConn(), remoting.NewRequest(9999))
	if resp.Code != remoting.RequestCodeNotSupported {
		t.Fatalf("unknown code: %d", resp.Code)
	}
}

func TestCompressedRegistration(t *testing.T) {
	s, _ := newTestServer(t)
	body := compressedBody(5, []topic{{"TopicTest", 4, 4, 6}, {"Zipped", 2, 1, 6}})
	req := masterA.request()
	req.SetExt("compressed", "true")
	req.SetExt("bodyCrc32", bodyCRC(body))
	req.Body = body
	if resp := s.dispatch(newConn(), req); resp.Code != remoting.Success {
		t.Fatalf("compressed register: %d %q", resp.Code, resp.Remark)
	}
	_, r := routeOf(t, s, "Zipped")
	want := []wire.QueueData{{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 2, WriteQueueNums: 1}}
	if !reflect.DeepEqual(r.Queues, want) {
		t.Fatalf("Zipped queues %+v", r.Queues)
	}
	if got := s.table.live[masterA.addr].version; got.Counter != 5 || got.Timestamp != 1700000000000 {
		t.Fatalf("data version %+v", got)
	}
}

func TestLenientRegisterBody(t *testing.T) {
	s, _ := newTestServer(t)
	body := []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T1":{"topicName":"T1","readQueueNums":3,` +
		`"writeQueueNums":3,"perm":6,"attributes":{}}},"topicQueueMappingInfoMap":{"T1":{"currIdMap":{0:"broker-a", -1:"x"}}},` +
		`"dataVersion":{"timestamp":1,"counter":2}},"filterServerList":[],"extra":{7:{8:[{9:null}]}}}`)
	req := masterA.request()
	req.Body = body
	req.SetExt("bodyCrc32", "0") // 0: not checked
	if resp := s.dispatch(newConn(), req); resp.Code != remoting.Success {
		t.Fatalf("fastjson body: %d %q", resp.Code, resp.Remark)
	}
	if got := topicNames(s); !slices.Equal(got, []string{"T1"}) {
		t.Fatalf("topics %v", got)
	}

	empty := masterB.request()
	empty.Body = nil
	empty.SetExt("bodyCrc32", "0")
	if resp := s.dispatch(newConn(), empty); resp.Code != remoting.Success {
		t.Fatalf("empty body: %d %q", resp.Code, resp.Remark)
	}
	if got := brokerNames(s); !slices.Equal(got, []string{"broker-a", "broker-b"}) {
		t.Fatalf("groups %v", got)
	}
}

func TestCRC(t *testing.T) {
	s, _ := newTestServer(t)
	req := masterA.request()
	req.SetExt("bodyCrc32", "12345")
	resp := s.dispatch(newConn(), req)
	if resp.Code != remoting.SystemError || resp.Remark != "crc32 not match" {
		t.Fatalf("bad crc: %d %q", resp.Code, resp.Remark)
	}
	if len(brokerNames(s)) != 0 {
		t.Fatal("a registration with a bad crc was applied")
	}
	req.SetExt("bodyCrc32", bodyCRC(req.Body))
	if resp := s.dispatch(newConn(), req); resp.Code != remoting.Success {
		t.Fatalf("good crc: %d %q", resp.Code, resp.Remark)
	}
}

func TestBadRequests(t *testing.T) {
	s, _ := newTestServer(t)
	reg := func(edit func(req *remoting.Command)) *remoting.Command {
		req := masterA.request()
		edit(req)
		return req
	}
	without := func(req *remoting.Command, key string) *remoting.Command {
		out := remoting.NewRequest(req.Code)
		for _, f := range req.Fields() {
			if f.Key != key {
				out.SetExt(f.Key, f.Value)
			}
		}
		out.Body = req.Body
		return out
	}
	cases := []struct {
		name   string
		req    *remoting.Command
		code   int32
		remark string
	}{
		{"no brokerName", without(masterA.request(), "brokerName"), remoting.InvalidParameter, "brokerName"},
		{"no clusterName", without(masterA.request(), "clusterName"), remoting.InvalidParameter, "clusterName"},
		{"no brokerAddr", without(masterA.request(), "brokerAddr"), remoting.InvalidParameter, "brokerAddr"},
		{"no brokerId", without(masterA.request(), "brokerId"), remoting.InvalidParameter, "brokerId"},
		{"empty brokerName", reg(func(r *remoting.Command) { r.SetExt("brokerName", "") }), remoting.InvalidParameter, "brokerName"},
		{"brokerId not a number", reg(func(r *remoting.Command) { r.SetExt("brokerId", "x") }), remoting.InvalidParameter, "brokerId"},
		{"negative brokerId", reg(func(r *remoting.Command) { r.SetExt("brokerId", "-1") }), remoting.InvalidParameter, "brokerId"},
		{"brokerAddr with comma", reg(func(r *remoting.Command) { r.SetExt("brokerAddr", "a:1,b:2") }), remoting.InvalidParameter, "brokerAddr"},
		{"brokerAddr without port", reg(func(r *remoting.Command) { r.SetExt("brokerAddr", "host") }), remoting.InvalidParameter, "brokerAddr"},
		{"bodyCrc32 not a number", reg(func(r *remoting.Command) { r.SetExt("bodyCrc32", "abc") }), remoting.InvalidParameter, "bodyCrc32"},
		{"heartbeatTimeoutMillis bad", reg(func(r *remoting.Command) { r.SetExt("heartbeatTimeoutMillis", "soon") }), remoting.InvalidParameter, "heartbeatTimeoutMillis"},
		{"malformed JSON", reg(func(r *remoting.Command) {
			r.Body = []byte(`{"topicConfigSerializeWrapper":`)
			r.SetExt("bodyCrc32", "0")
		}),
			remoting.SystemError, "malformed body"},
		{"wrong JSON type", reg(func(r *remoting.Command) {
			r.Body = []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"readQueueNums":"four"}}}}`)
			r.SetExt("bodyCrc32", "0")
		}), remoting.SystemError, "malformed body"},
		{"negative queues", reg(func(r *remoting.Command) {
			r.Body = javaBody(1, []topic{{"T", -1, 4, 6}})
			r.SetExt("bodyCrc32", "0")
		}), remoting.SystemError, "negative queue numbers"},
		{"compressed garbage", reg(func(r *remoting.Command) {
			r.SetExt("compressed", "true")
			r.SetExt("bodyCrc32", "0")
		}), remoting.SystemError, "malformed body"},
		{"route without topic", remoting.NewRequest(remoting.GetRouteinfoByTopic), remoting.InvalidParameter, "topic"},
		{"delete without topic", remoting.NewRequest(remoting.DeleteTopicInNamesrv), remoting.InvalidParameter, "topic"},
		{"unregister without brokerId", remoting.NewRequest(remoting.UnregisterBroker, "brokerName", "b", "brokerAddr", "h:1",
			"clusterName", "c"), remoting.InvalidParameter, "brokerId"},
		{"data version without brokerAddr", remoting.NewRequest(remoting.QueryDataVersion), remoting.InvalidParameter, "brokerAddr"},
		{"data version bad body", func() *remoting.Command {
			r := remoting.NewRequest(remoting.QueryDataVersion, "brokerAddr", "h:1")
			r.Body = []byte("{")
			return r
		}(), remoting.SystemError, "malformed body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Opaque = 77
			resp := s.dispatch(newConn(), c.req)
			if resp.Code != c.code || !strings.Contains(resp.Remark, c.remark) {
				t.Fatalf("code %d remark %q, want %d and a remark naming %q", resp.Code, resp.Remark, c.code, c.remark)
			}
			if resp.Opaque != 77 || !resp.IsResponse() {
				t.Fatalf("opaque %d flag %d", resp.Opaque, resp.Flag)
			}
		})
	}
	if got := brokerNames(s); len(got) != 0 {
		t.Fatalf("bad requests registered %v", got)
	}
}

func TestRegisterBodyTestdata(t *testing.T) {
	// The files double as fuzz seeds; make sure they decode.
	if *update {
		body := compressedBody(5, []topic{{"TopicTest", 4, 4, 6}, {"Zipped", 2, 1, 6}})
		if err := os.WriteFile(filepath.Join("testdata", "register_body.zlib"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		file       string
		compressed bool
		topics     []string
	}{
		{"register_body.json", false, []string{"%RETRY%G1", "TBW102", "TopicTest"}},
		{"register_body_fastjson.json", false, []string{"TopicTest"}},
		{"register_body.zlib", true, []string{"TopicTest", "Zipped"}},
	} {
		body := readTestdata(t, c.file)
		_, topics, err := decodeRegisterBody(body, c.compressed)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, c.topics) {
			t.Errorf("%s: topics %v, want %v", c.file, got, c.topics)
		}
	}
}

func TestActingMaster(t *testing.T) {
	s, _ := newTestServer(t)
	ca, cs := newConn(), newConn()
	acting := func(r brokerReg) brokerReg {
		r.extra = append(r.extra, "enableActingMaster", "true")
		return r
	}
	register(t, s, ca, acting(masterA))
	register(t, s, cs, acting(slaveA))
	_, r := routeOf(t, s, "TopicTest")
	if r.Brokers["broker-a"].Addrs[0] != masterA.addr {
		t.Fatalf("with the master alive: %+v", r.Brokers["broker-a"])
	}
	s.connClosed(ca.ID())
	_, r = routeOf(t, s, "TopicTest")
	addrs := r.Brokers["broker-a"].Addrs
	if addrs[0] != slaveA.addr || addrs[1] != slaveA.addr {
		t.Fatalf("the slave does not stand in for the dead master: %+v", addrs)
	}
	for _, q := range r.Queues {
		if q.BrokerName == "broker-a" && q.Perm&wire.PermWrite != 0 {
			t.Fatalf("an acting slave's queues must be read-only, got perm %d", q.Perm)
		}
	}
	// Without the flag the route keeps RocketMQ 4's shape: no id 0.
	s2, _ := newTestServer(t)
	c2, c3 := newConn(), newConn()
	register(t, s2, c2, masterA)
	register(t, s2, c3, slaveA)
	s2.connClosed(c2.ID())
	if _, r = routeOf(t, s2, "TopicTest"); !reflect.DeepEqual(r.Brokers["broker-a"].Addrs, map[int64]string{1: slaveA.addr}) {
		t.Fatalf("without enableActingMaster: %+v", r.Brokers["broker-a"].Addrs)
	}
}

// TestPrimeSlaveTopics: while a group has no master, its lowest-id slave
// with enableActingMaster adds the topics the group's queue data lacks, so a
// namesrv that never saw the master (restarted, or added later) routes them;
// it removes nothing, and a slave contributes nothing while the master lives.
func TestPrimeSlaveTopics(t *testing.T) {
	acting := func(r brokerReg) brokerReg {
		r.extra = append(r.extra, "enableActingMaster", "true")
		return r
	}
	queues := func(s *Server, topic string) (wire.QueueData, bool) {
		resp, r := routeOf(t, s, topic)
		if resp.Code != remoting.Success {
			return wire.QueueData{}, false
		}
		for _, q := range r.Queues {
			if q.BrokerName == "broker-a" {
				return q, true
			}
		}
		return wire.QueueData{}, false
	}

	// A namesrv that only ever heard from the slave.
	s, _ := newTestServer(t)
	slave := acting(slaveA)
	slave.topics = append(slices.Clone(slaveA.topics), topic{"Young", 2, 2, 4})
	register(t, s, newConn(), slave)
	_, r := routeOf(t, s, "Young")
	if q, ok := queues(s, "Young"); !ok || q.ReadQueueNums != 2 || q.Perm&wire.PermWrite != 0 {
		t.Fatalf("Young from the prime slave: %+v %v", q, ok)
	}
	if r.Brokers["broker-a"].Addrs[0] != slaveA.addr {
		t.Fatalf("the slave does not stand in: %+v", r.Brokers["broker-a"].Addrs)
	}
	// A second slave with a higher id is not the prime one.
	other := acting(slaveA)
	other.addr, other.id, other.topics = "10.0.0.8:10911", 2, []topic{{"OnlyOnTwo", 1, 1, 6}}
	register(t, s, newConn(), other)
	if _, ok := queues(s, "OnlyOnTwo"); ok {
		t.Fatal("a slave that is not the lowest id added a topic")
	}

	// With the master alive the slave adds nothing; when the master is gone
	// the slave adds what is missing (same data version) and removes nothing.
	s, _ = newTestServer(t)
	cm := newConn()
	register(t, s, cm, acting(masterA))
	register(t, s, newConn(), slave)
	if _, ok := queues(s, "Young"); ok {
		t.Fatal("a slave added a topic while its master is alive")
	}
	s.connClosed(cm.ID())
	slave.topics = []topic{{"Young", 2, 2, 6}}
	register(t, s, newConn(), slave)
	if _, ok := queues(s, "Young"); !ok {
		t.Fatal("the prime slave's topic is missing after the master left")
	}
	if q, ok := queues(s, "Orders"); !ok || q.ReadQueueNums != 8 {
		t.Fatalf("the master's topic Orders after the slave registered: %+v %v", q, ok)
	}
	// A new data version rewrites what the slave lists.
	slave.counter++
	slave.topics = []topic{{"Young", 3, 3, 6}}
	register(t, s, newConn(), slave)
	if q, _ := queues(s, "Young"); q.ReadQueueNums != 3 {
		t.Fatalf("Young after a new data version: %+v", q)
	}
}

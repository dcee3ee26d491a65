package namesrv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeConn stands in for a *remoting.Conn.
type fakeConn struct {
	id     uint64
	closed atomic.Bool
}

var nextConnID atomic.Uint64

func newConn() *fakeConn       { return &fakeConn{id: nextConnID.Add(1)} }
func (c *fakeConn) ID() uint64 { return c.id }
func (c *fakeConn) Close()     { c.closed.Store(true) }

// clock is a settable time source for expiry tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestServer(t *testing.T) (*Server, *clock) {
	t.Helper()
	s := New(Config{Listen: "127.0.0.1:0"})
	t.Cleanup(func() { s.Close() })
	clk := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.now = clk.now
	return s, clk
}

// topic is one entry of a broker's topic table in tests.
type topic struct {
	name        string
	read, write int32
	perm        int32
}

// brokerReg describes a REGISTER_BROKER request.
type brokerReg struct {
	cluster, name, addr, ha string
	id                      int64
	counter                 int64 // dataVersion.counter
	topics                  []topic
	extra                   []string // more ext key, value pairs
}

// javaBody renders topics the way a Java broker does (compressed=false).
func javaBody(counter int64, topics []topic) []byte {
	var b strings.Builder
	b.WriteString(`{"topicConfigSerializeWrapper":{"topicConfigTable":{`)
	for i, tp := range topics {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s":{"topicName":"%s","readQueueNums":%d,"writeQueueNums":%d,"perm":%d,`+
			`"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false,"attributes":{}}`,
			tp.name, tp.name, tp.read, tp.write, tp.perm)
	}
	fmt.Fprintf(&b, `},"dataVersion":{"stateVersion":0,"timestamp":1700000000000,"counter":%d}},"filterServerList":[]}`, counter)
	return []byte(b.String())
}

// compressedBody renders topics in the compressed=true form.
func compressedBody(counter int64, topics []topic) []byte {
	var raw bytes.Buffer
	chunk := func(s string) {
		_ = binary.Write(&raw, binary.BigEndian, int32(len(s)))
		raw.WriteString(s)
	}
	chunk(fmt.Sprintf(`{"counter":%d,"stateVersion":0,"timestamp":1700000000000}`, counter))
	_ = binary.Write(&raw, binary.BigEndian, int32(len(topics)))
	for _, tp := range topics {
		chunk(fmt.Sprintf("%s %d %d %d SINGLE_TAG", tp.name, tp.read, tp.write, tp.perm))
	}
	chunk("[]")
	_ = binary.Write(&raw, binary.BigEndian, int32(0))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	return z.Bytes()
}

func bodyCRC(body []byte) string {
	return strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10)
}

func (r brokerReg) request() *remoting.Command {
	if r.cluster == "" {
		r.cluster = "DefaultCluster"
	}
	body := javaBody(r.counter, r.topics)
	req := remoting.NewRequest(remoting.RegisterBroker,
		"brokerName", r.name, "brokerAddr", r.addr, "clusterName", r.cluster,
		"haServerAddr", r.ha, "brokerId", strconv.FormatInt(r.id, 10),
		"compressed", "false", "bodyCrc32", bodyCRC(body))
	req.Body = body
	for i := 0; i+1 < len(r.extra); i += 2 {
		req.SetExt(r.extra[i], r.extra[i+1])
	}
	return req
}

// register sends r through the handler and fails the test unless it
// succeeds.
func register(t *testing.T, s *Server, c peer, r brokerReg) *remoting.Command {
	t.Helper()
	resp := s.dispatch(c, r.request())
	if resp.Code != remoting.Success {
		t.Fatalf("register %s: code %d remark %q", r.addr, resp.Code, resp.Remark)
	}
	return resp
}

func routeOf(t *testing.T, s *Server, name string) (*remoting.Command, goRoute) {
	t.Helper()
	resp := s.dispatch(newConn(), remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", name))
	if resp.Code != remoting.Success {
		return resp, goRoute{}
	}
	r, err := parseLikeGoClient(resp.Body)
	if err != nil {
		t.Fatalf("route of %s: %v\n%s", name, err, resp.Body)
	}
	return resp, r
}

// goRoute is a route as the official Go client sees it.
type goRoute struct {
	Queues  []wire.QueueData
	Brokers map[string]goBroker // by brokerName
}

type goBroker struct {
	Cluster string
	Addrs   map[int64]string
}

// parseLikeGoClient decodes a route body the way rocketmq-client-go does:
// queueDatas as JSON, brokerAddrs from its raw text, split on ',' and at the
// first ':', quotes removed, an unparsable id taken as 0.
func parseLikeGoClient(body []byte) (goRoute, error) {
	var doc struct {
		QueueDatas  *[]wire.QueueData `json:"queueDatas"`
		BrokerDatas []struct {
			BrokerName  string          `json:"brokerName"`
			Cluster     string          `json:"cluster"`
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return goRoute{}, err
	}
	if doc.QueueDatas == nil {
		return goRoute{}, fmt.Errorf("queueDatas missing")
	}
	r := goRoute{Queues: *doc.QueueDatas, Brokers: map[string]goBroker{}}
	for _, bd := range doc.BrokerDatas {
		raw := string(bd.BrokerAddrs)
		if len(raw) < 2 {
			return goRoute{}, fmt.Errorf("broker %s: brokerAddrs missing (the Go client would panic)", bd.BrokerName)
		}
		gb := goBroker{Cluster: bd.Cluster, Addrs: map[int64]string{}}
		for _, part := range strings.Split(raw[1:len(raw)-1], ",") {
			i := strings.Index(part, ":")
			if i < 0 {
				continue
			}
			id, _ := strconv.ParseInt(strings.ReplaceAll(part[:i], `"`, ""), 10, 64)
			gb.Addrs[id] = strings.ReplaceAll(part[i+1:], `"`, "")
		}
		r.Brokers[bd.BrokerName] = gb
	}
	return r, nil
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
	}
}

func topicNames(s *Server) []string {
	return s.table.topicList().TopicList
}

func brokerNames(s *Server) []string {
	return slices.Sorted(maps.Keys(s.table.clusterInfo().BrokerAddrTable))
}

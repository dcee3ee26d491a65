package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// fake is an in-process remoting server standing in for a namesrv or a
// broker. It counts requests by code and keeps the last one of each.
type fake struct {
	t    testing.TB
	srv  *remoting.Server
	addr string

	mu    sync.Mutex
	count map[int32]int
	last  map[int32]*remoting.Command
	all   []*remoting.Command
}

func startFake(t testing.TB, handlers map[int32]remoting.HandlerFunc) *fake {
	t.Helper()
	f := &fake{t: t, count: map[int32]int{}, last: map[int32]*remoting.Command{}}
	f.srv = remoting.NewServer(remoting.ServerConfig{Addr: "127.0.0.1:0", Name: "fake", EventLoops: 1, Workers: 8})
	for code, h := range handlers {
		f.srv.Handle(code, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			f.mu.Lock()
			f.count[req.Code]++
			f.last[req.Code] = req
			f.all = append(f.all, req)
			f.mu.Unlock()
			return h(c, req)
		})
	}
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	f.addr = f.srv.Addr()
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fake) calls(code int32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[code]
}

func (f *fake) lastReq(code int32) *remoting.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[code]
}

// fakeNamesrv serves routes: routes[topic] is a route body; other topics
// get TOPIC_NOT_EXIST.
func fakeNamesrv(t testing.TB, routes func() map[string]string) *fake {
	return startFake(t, map[int32]remoting.HandlerFunc{
		remoting.GetRouteinfoByTopic: func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			body, ok := routes()[req.ExtValue("topic")]
			if !ok {
				return remoting.NewResponse(req, remoting.TopicNotExist, "no route")
			}
			resp := remoting.NewResponse(req, remoting.Success, "")
			resp.Body = []byte(body)
			return resp
		},
	})
}

// routeJSON builds a route body: each broker is name, a map of id to
// address, and its queue count (read = write, perm 6).
type fakeGroup struct {
	name   string
	addrs  map[int64]string
	queues int
}

func routeJSON(groups ...fakeGroup) string {
	var bd, qd []string
	for _, g := range groups {
		var addrs []string
		for id, a := range g.addrs {
			addrs = append(addrs, fmt.Sprintf("%d:%q", id, a)) // fastjson style
		}
		bd = append(bd, fmt.Sprintf(`{"brokerAddrs":{%s},"brokerName":%q,"cluster":"C"}`, strings.Join(addrs, ","), g.name))
		qd = append(qd, fmt.Sprintf(`{"brokerName":%q,"perm":6,"readQueueNums":%d,"topicSysFlag":0,"writeQueueNums":%d}`, g.name, g.queues, g.queues))
	}
	return fmt.Sprintf(`{"brokerDatas":[%s],"queueDatas":[%s]}`, strings.Join(bd, ","), strings.Join(qd, ","))
}

func staticRoutes(m map[string]string) func() map[string]string {
	return func() map[string]string { return m }
}

// sendOK answers a send with SUCCESS and the usual ext fields.
func sendOK(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	return sendAnswer(remoting.Success)(c, req)
}

func sendAnswer(code int32) remoting.HandlerFunc {
	return func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, code, "answer "+fmt.Sprint(code))
		if code <= remoting.FlushSlaveTimeout {
			resp.SetExt("msgId", "7F00000100002A9F00000000000003E8")
			resp.SetExt("queueId", req.ExtValue("e"))
			resp.SetExt("queueOffset", "42")
		}
		return resp
	}
}

// hang never answers.
func hang(c *remoting.Conn, req *remoting.Command) *remoting.Command { return req.Later() }

// deadAddr returns an address that refuses connections for the test.
func deadAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(proctest.DeadPort(t)))
}

func newTestProducer(t testing.TB, namesrvs []string, opts ...Option) *Producer {
	t.Helper()
	p, err := NewProducer(namesrvs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNamesrvFailover(t *testing.T) {
	route := routeJSON(fakeGroup{"a", map[int64]string{0: "127.0.0.1:1"}, 2})
	ns1 := fakeNamesrv(t, staticRoutes(map[string]string{"T": route, "U": route}))
	ns2 := fakeNamesrv(t, staticRoutes(map[string]string{"T": route, "U": route}))
	dead := deadAddr(t)
	c, err := NewPullConsumer([]string{dead + ";" + ns1.addr, "http://" + ns2.addr}, "G")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.c.namesrvs) != 3 {
		t.Fatalf("namesrv list %v", c.c.namesrvs)
	}
	c.c.ns.Store(0) // start at the dead one
	ctx := context.Background()
	qs, err := c.Queues(ctx, "T")
	if err != nil || len(qs) != 2 {
		t.Fatalf("Queues: %v %v", qs, err)
	}
	if ns1.calls(remoting.GetRouteinfoByTopic) != 1 || ns2.calls(remoting.GetRouteinfoByTopic) != 0 {
		t.Fatalf("calls: ns1 %d ns2 %d", ns1.calls(105), ns2.calls(105))
	}
	// The namesrv that worked stays in use.
	c.c.refresh(false)
	if _, err := c.Queues(ctx, "U"); err != nil {
		t.Fatal(err)
	}
	if ns1.calls(105) != 3 || ns2.calls(105) != 0 {
		t.Fatalf("calls after refresh: ns1 %d ns2 %d", ns1.calls(105), ns2.calls(105))
	}
	// TOPIC_NOT_EXIST is final: no other namesrv is asked.
	if _, err := c.Queues(ctx, "Missing"); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("Queues(Missing) = %v, want ErrNoRoute", err)
	}
	var be *BrokerError
	if _, err := c.Queues(ctx, "Missing"); !errors.As(err, &be) || be.Code != remoting.TopicNotExist || be.Addr != ns1.addr {
		t.Fatalf("Queues(Missing) = %v, want a TOPIC_NOT_EXIST BrokerError from ns1", err)
	}
	if ns1.calls(105) != 5 || ns2.calls(105) != 0 {
		t.Fatalf("calls after a missing topic: ns1 %d ns2 %d", ns1.calls(105), ns2.calls(105))
	}
	// ns1 dies: the next lookup moves on to ns2 and stays there.
	ns1.srv.Close()
	c.c.rpc.CloseAddr(ns1.addr)
	c.c.refresh(false)
	if n := ns2.calls(105); n != 2 {
		t.Fatalf("ns2 answered %d route queries after ns1 died, want 2", n)
	}
	if got := c.c.namesrvs[c.c.ns.Load()]; got != ns2.addr {
		t.Fatalf("namesrv in use %s, want %s", got, ns2.addr)
	}
	// Every namesrv dead: the error says so and the old routes stay.
	ns2.srv.Close()
	c.c.rpc.CloseAddr(ns2.addr)
	if _, err := c.c.queryRoute(ctx, "T"); err == nil || !strings.Contains(err.Error(), "every namesrv failed") {
		t.Fatalf("query with every namesrv dead: %v", err)
	}
	c.c.refresh(false)
	if qs, err := c.Queues(ctx, "T"); err != nil || len(qs) != 2 {
		t.Fatalf("cached route lost: %v %v", qs, err)
	}
}

func TestSendRequestFields(t *testing.T) {
	b := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendOK, remoting.SendBatchMessage: sendOK})
	ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"broker-a", map[int64]string{0: b.addr}, 4})}))
	for _, binary := range []bool{false, true} {
		p := newTestProducer(t, []string{ns.addr}, Group("PG"), CompressOver(100), BinaryHeaders(binary))
		ctx := context.Background()
		body := []byte(strings.Repeat("compress me ", 20))
		m := &Message{Topic: "T", Body: body, Tags: "TagA", Keys: []string{"k1", "k2"}, Properties: map[string]string{"p": "v"}, Flag: 300}
		res, err := p.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		req := b.lastReq(remoting.SendMessageV2)
		wantType := remoting.SerializeJSON
		if binary {
			wantType = remoting.SerializeRocketMQ
		}
		if req.SerializeType != wantType {
			t.Errorf("binary=%v: header type %d", binary, req.SerializeType)
		}
		for k, want := range map[string]string{"a": "PG", "b": "T", "c": "TBW102", "d": "4", "e": fmt.Sprint(res.Queue.QueueID),
			"f": "1", "h": "300", "j": "0", "k": "false", "l": "0", "m": "false", "n": "broker-a"} {
			if got := req.ExtValue(k); got != want {
				t.Errorf("ext %s = %q, want %q", k, got, want)
			}
		}
		if born, _ := req.Int64("g"); time.Since(time.UnixMilli(born)) > time.Minute {
			t.Errorf("bornTimestamp %d", born)
		}
		props := wire.ParseProperties(req.ExtValue("i"))
		if props["TAGS"] != "TagA" || props["KEYS"] != "k1 k2" || props["p"] != "v" || props["UNIQ_KEY"] != res.MsgID || len(res.MsgID) != 32 {
			t.Errorf("properties %v, MsgID %s", props, res.MsgID)
		}
		if inflated, err := inflate(req.Body); err != nil || string(inflated) != string(body) {
			t.Errorf("compressed body: %v", err)
		}
		if res.Status != SendOK || res.OffsetMsgID != "7F00000100002A9F00000000000003E8" || res.QueueOffset != 42 || res.Queue.BrokerName != "broker-a" {
			t.Errorf("result %+v", res)
		}

		// Small bodies are not compressed; round robin moves on.
		res2, err := p.Send(ctx, &Message{Topic: "T", Body: []byte("small")})
		if err != nil {
			t.Fatal(err)
		}
		req = b.lastReq(remoting.SendMessageV2)
		if req.ExtValue("f") != "0" || string(req.Body) != "small" || res2.Queue.QueueID == res.Queue.QueueID || res2.MsgID == res.MsgID {
			t.Errorf("second send: sysFlag %s body %q queue %d (first %d)", req.ExtValue("f"), req.Body, res2.Queue.QueueID, res.Queue.QueueID)
		}

		// A batch: one request, entries in the §8.2 layout, each with its own UNIQ_KEY.
		q := MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 3}
		bres, err := p.SendBatch(ctx, q, []*Message{{Body: []byte("one"), Tags: "x"}, {Topic: "T", Body: []byte("two"), Flag: 5}})
		if err != nil {
			t.Fatal(err)
		}
		req = b.lastReq(remoting.SendBatchMessage)
		if req.ExtValue("m") != "true" || req.ExtValue("e") != "3" || req.ExtValue("i") != "" || req.ExtValue("f") != "0" {
			t.Errorf("batch ext %v", req.Fields())
		}
		entries := decodeBatchForTest(t, req.Body)
		ids := strings.Split(bres.MsgID, ",")
		if len(entries) != 2 || string(entries[0].body) != "one" || entries[1].flag != 5 || entries[0].props["TAGS"] != "x" ||
			len(ids) != 2 || entries[0].props["UNIQ_KEY"] != ids[0] || entries[1].props["UNIQ_KEY"] != ids[1] {
			t.Errorf("batch entries %+v, ids %v", entries, ids)
		}
		if _, err := p.SendBatch(ctx, q, []*Message{{Topic: "Other", Body: []byte("x")}}); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("batch with a foreign topic: %v", err)
		}
	}
}

type batchEntryForTest struct {
	flag  int32
	body  []byte
	props map[string]string
}

func decodeBatchForTest(t *testing.T, b []byte) []batchEntryForTest {
	t.Helper()
	var out []batchEntryForTest
	be := func(b []byte) int { return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }
	for len(b) > 0 {
		total := be(b)
		bodyLen := be(b[16:])
		propsLen := int(b[20+bodyLen])<<8 | int(b[21+bodyLen])
		if total != 22+bodyLen+propsLen || be(b[4:]) != 0 || be(b[8:]) != 0 {
			t.Fatalf("batch entry: total %d, body %d, props %d", total, bodyLen, propsLen)
		}
		out = append(out, batchEntryForTest{flag: int32(be(b[12:])), body: b[20 : 20+bodyLen], props: wire.ParseProperties(string(b[22+bodyLen : total]))})
		b = b[total:]
	}
	return out
}

func TestSendRetries(t *testing.T) {
	busy := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendAnswer(remoting.ServiceNotAvailable)})
	good := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendOK})
	illegal := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendAnswer(remoting.MessageIllegal)})
	routes := map[string]string{
		"T":       routeJSON(fakeGroup{"a-busy", map[int64]string{0: busy.addr}, 1}, fakeGroup{"b-good", map[int64]string{0: good.addr}, 1}),
		"Busy":    routeJSON(fakeGroup{"a-busy", map[int64]string{0: busy.addr}, 2}),
		"Illegal": routeJSON(fakeGroup{"c", map[int64]string{0: illegal.addr}, 2}, fakeGroup{"d-good", map[int64]string{0: good.addr}, 2}),
		"Dead":    routeJSON(fakeGroup{"dead", map[int64]string{0: deadAddr(t)}, 1}, fakeGroup{"b-good", map[int64]string{0: good.addr}, 1}),
	}
	ns := fakeNamesrv(t, staticRoutes(routes))
	p := newTestProducer(t, []string{ns.addr}, Retries(2))
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		res, err := p.Send(ctx, &Message{Topic: "T", Body: []byte("x")})
		if err != nil || res.Queue.BrokerName != "b-good" {
			t.Fatalf("send %d: %+v %v", i, res, err)
		}
	}
	// Round robin shares one counter with the retries (as the official
	// clients do): after the first send every first attempt lands on the
	// busy broker and is retried on the good one.
	if n, g := busy.calls(remoting.SendMessageV2), good.calls(remoting.SendMessageV2); n != 5 || g != 6 {
		t.Errorf("busy broker got %d attempts, good %d; want 5 and 6", n, g)
	}
	// Retries exhausted on a single busy broker: 1 + 2 attempts.
	_, err := p.Send(ctx, &Message{Topic: "Busy", Body: []byte("x")})
	var be *BrokerError
	if !errors.As(err, &be) || be.Code != remoting.ServiceNotAvailable || be.Addr != busy.addr {
		t.Fatalf("send to a busy broker: %v", err)
	}
	if n := busy.calls(remoting.SendMessageV2); n != 8 {
		t.Errorf("busy broker calls %d, want 5+3", n)
	}
	// A non-retryable code ends the send at once.
	for i := 0; i < 4; i++ {
		if _, err := p.Send(ctx, &Message{Topic: "Illegal", Body: []byte("x")}); err != nil {
			if !errors.As(err, &be) || be.Code != remoting.MessageIllegal {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	}
	if n := illegal.calls(remoting.SendMessageV2); n != 2 {
		t.Errorf("MESSAGE_ILLEGAL broker got %d sends, want 2 of 4 without retries", n)
	}
	// A transport failure moves on to the other broker.
	before := good.calls(remoting.SendMessageV2)
	for i := 0; i < 4; i++ {
		if res, err := p.Send(ctx, &Message{Topic: "Dead", Body: []byte("x")}); err != nil || res.Queue.BrokerName != "b-good" {
			t.Fatalf("send %d past a dead broker: %+v %v", i, res, err)
		}
	}
	if n := good.calls(remoting.SendMessageV2) - before; n != 4 {
		t.Errorf("good broker got %d sends, want 4", n)
	}
	// SendTo does not retry.
	if _, err := p.SendTo(ctx, MessageQueue{Topic: "Busy", BrokerName: "a-busy"}, &Message{Body: []byte("x")}); !errors.As(err, &be) {
		t.Errorf("SendTo a busy broker: %v", err)
	}
	if _, err := p.SendTo(ctx, MessageQueue{Topic: "Busy", BrokerName: "nobody"}, &Message{Body: []byte("x")}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("SendTo an unknown broker: %v", err)
	}
}

func TestSendStatuses(t *testing.T) {
	for code, want := range map[int32]SendStatus{remoting.FlushDiskTimeout: FlushDiskTimeout, remoting.FlushSlaveTimeout: FlushSlaveTimeout, remoting.SlaveNotAvailable: SlaveNotAvailable} {
		b := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendAnswer(code)})
		ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr}, 1})}))
		p := newTestProducer(t, []string{ns.addr})
		res, err := p.Send(context.Background(), &Message{Topic: "T", Body: []byte("x")})
		if err != nil || res.Status != want || res.QueueOffset != 42 {
			t.Errorf("code %d: %+v %v", code, res, err)
		}
		if n := b.calls(remoting.SendMessageV2); n != 1 {
			t.Errorf("code %d: %d attempts", code, n)
		}
	}
}

func TestAutoCreateFallback(t *testing.T) {
	b := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendOK})
	var mu sync.Mutex
	routes := map[string]string{"TBW102": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr}, 8})}
	ns := fakeNamesrv(t, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return routes
	})
	p := newTestProducer(t, []string{ns.addr}, RouteRefresh(20*time.Millisecond))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	qs, err := p.Queues(context.Background(), "New")
	if err != nil || len(qs) != 4 || qs[0].Topic != "New" {
		t.Fatalf("queues of a new topic: %v %v", qs, err)
	}
	if _, err := p.Send(context.Background(), &Message{Topic: "New", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// Once the namesrv knows the topic, the refresher replaces the fallback.
	mu.Lock()
	routes = map[string]string{"New": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr}, 2})}
	mu.Unlock()
	waitFor(t, 5*time.Second, "the real route", func() bool {
		qs, _ := p.Queues(context.Background(), "New")
		return len(qs) == 2
	})
	// Consumers do not fall back.
	c, err := NewPullConsumer([]string{ns.addr}, "G")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Queues(context.Background(), "Other"); !errors.Is(err, ErrNoRoute) {
		t.Errorf("consumer queues of an unknown topic: %v", err)
	}
}

// TestTimeoutsAndWindow checks what ends a send to a broker that never
// answers, by cause and order rather than by wall-clock bounds: timers never
// fire early, so lower bounds hold on a loaded machine; upper bounds are
// replaced by which deadline could have ended the call.
func TestTimeoutsAndWindow(t *testing.T) {
	b := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: hang})
	ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr}, 1})}))
	const sendTimeout = time.Second
	p := newTestProducer(t, []string{ns.addr}, SendTimeout(sendTimeout), InFlight(2), Retries(3))
	ctx := context.Background()
	q := MessageQueue{Topic: "T", BrokerName: "a"}

	start := time.Now()
	_, err := p.Send(ctx, &Message{Topic: "T", Body: []byte("x")})
	if !errors.Is(err, remoting.ErrTimeout) || time.Since(start) < sendTimeout {
		t.Fatalf("Send to a silent broker: %v after %v, want a timeout after %v", err, time.Since(start), sendTimeout)
	}
	if n := b.calls(remoting.SendMessageV2); n != 1 {
		t.Errorf("a timed-out Send made %d attempts: SendTimeout bounds the whole call", n)
	}

	// Two async sends fill the window; a third waits for its ctx only: it
	// gives up before either of the first two reaches its send timeout.
	type outcome struct {
		err error
		at  time.Duration
	}
	results := make(chan outcome, 3)
	start = time.Now()
	for i := 0; i < 2; i++ {
		if err := p.SendAsync(ctx, q, &Message{Body: []byte("x")}, func(_ SendResult, err error) {
			results <- outcome{err, time.Since(start)}
		}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = p.SendAsync(short, q, &Message{Body: []byte("x")}, func(SendResult, error) { t.Error("done called for a refused send") })
	cancel()
	if !errors.Is(err, remoting.ErrTimeout) {
		t.Fatalf("SendAsync on a full window: %v, want ErrTimeout", err)
	}
	if len(results) != 0 {
		t.Fatalf("SendAsync on a full window returned only after a send in the window ended: it waited for the window, not for its ctx")
	}
	for i := 0; i < 2; i++ {
		o := <-results
		if !errors.Is(o.err, remoting.ErrTimeout) || o.at < sendTimeout {
			t.Errorf("async send %d: %v at %v, want a timeout after %v", i, o.err, o.at, sendTimeout)
		}
	}

	// The slots are free again; a caller's shorter deadline wins over a
	// long SendTimeout.
	long := newTestProducer(t, []string{ns.addr}, SendTimeout(time.Hour), InFlight(2))
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := long.SendAsync(short, q, &Message{Body: []byte("x")}, func(_ SendResult, err error) {
		results <- outcome{err, time.Since(start)}
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-results:
		if !errors.Is(o.err, remoting.ErrTimeout) {
			t.Errorf("async send with a 50ms ctx: %v", o.err)
		}
	case <-time.After(time.Minute): // only a send that ignored its ctx waits this long
		t.Fatal("async send with a 50ms ctx did not end: the caller's deadline was ignored")
	}
}

func TestClose(t *testing.T) {
	b := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: hang})
	ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr}, 1})}))
	p, err := NewProducer([]string{ns.addr}, SendTimeout(time.Minute), InFlight(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	q := MessageQueue{Topic: "T", BrokerName: "a"}
	done := make(chan error, 1)
	if err := p.SendAsync(context.Background(), q, &Message{Body: []byte("x")}, func(_ SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { // the window is full: this one waits
		waiting <- p.SendAsync(context.Background(), q, &Message{Body: []byte("y")}, func(SendResult, error) {})
	}()
	waitFor(t, 5*time.Second, "the request at the broker", func() bool { return b.calls(remoting.SendMessageV2) == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("pending send: %v, want ErrClosed", err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("waiting SendAsync: %v, want ErrClosed", err)
	}
	if _, err := p.Send(context.Background(), &Message{Topic: "T", Body: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := p.SendAsync(context.Background(), q, &Message{}, func(SendResult, error) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("SendAsync after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestRefreshAfterTransportError(t *testing.T) {
	good := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendOK})
	dead := deadAddr(t)
	var mu sync.Mutex
	routes := map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: dead}, 1})}
	ns := fakeNamesrv(t, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return routes
	})
	p := newTestProducer(t, []string{ns.addr}, Retries(0))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), &Message{Topic: "T", Body: []byte("x")}); err == nil || !isTransport(err) {
		t.Fatalf("send to a dead broker: %v", err)
	}
	mu.Lock()
	routes = map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: good.addr}, 1})}
	mu.Unlock()
	// The failed send asked for a refresh; the 30 s timer did not fire.
	waitFor(t, 5*time.Second, "the route to move to the live broker", func() bool {
		_, err := p.Send(context.Background(), &Message{Topic: "T", Body: []byte("x")})
		return err == nil
	})
}

func TestPullFollowsSuggestion(t *testing.T) {
	rec := func(off int64, tags string) []byte {
		r := testRecord(off, tags)
		return r
	}
	var pulls atomic.Int32
	answer := func(suggest string) remoting.HandlerFunc {
		return func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			pulls.Add(1)
			off, _ := req.Int64("queueOffset")
			resp := remoting.NewResponse(req, remoting.Success, "")
			resp.Body = append(rec(off, "TagA"), rec(off+1, "TagB")...)
			resp.SetExt("nextBeginOffset", fmt.Sprint(off+2))
			resp.SetExt("minOffset", "0")
			resp.SetExt("maxOffset", "100")
			resp.SetExt("suggestWhichBrokerId", suggest)
			return resp
		}
	}
	master := startFake(t, map[int32]remoting.HandlerFunc{remoting.PullMessage: answer("1"),
		remoting.QueryConsumerOffset: func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			return remoting.NewResponse(req, remoting.QueryNotFound, "none")
		}})
	slave := startFake(t, map[int32]remoting.HandlerFunc{remoting.PullMessage: answer("0")})
	ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: master.addr, 1: slave.addr}, 1})}))
	c, err := NewPullConsumer([]string{ns.addr}, "G", BinaryHeaders(true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Subscribe("T", "TagA || TagC")
	q := MessageQueue{Topic: "T", BrokerName: "a"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	want := []*fake{master, slave, master, slave}
	for i, f := range want {
		before := f.calls(remoting.PullMessage)
		res, err := c.Pull(ctx, q, int64(2*i), 8, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.calls(remoting.PullMessage) != before+1 {
			t.Fatalf("pull %d did not go to the %s", i, []string{"master", "slave"}[i%2])
		}
		if res.Status != Found || res.NextBeginOffset != int64(2*i+2) || res.MaxOffset != 100 || len(res.Messages) != 1 || res.Messages[0].Tags != "TagA" {
			t.Fatalf("pull %d: %+v", i, res)
		}
	}
	req := master.lastReq(remoting.PullMessage)
	suspend, _ := req.Int64("suspendTimeoutMillis")
	for k, v := range map[string]string{"consumerGroup": "G", "topic": "T", "queueId": "0", "maxMsgNums": "8", "sysFlag": "6",
		"commitOffset": "0", "subscription": "TagA || TagC", "expressionType": "TAG", "bname": "a"} {
		if got := req.ExtValue(k); got != v {
			t.Errorf("pull ext %s = %q, want %q", k, got, v)
		}
	}
	if suspend <= 0 || suspend > 2000 || req.SerializeType != remoting.SerializeRocketMQ {
		t.Errorf("suspendTimeoutMillis %d (ctx has 2 s), header type %d", suspend, req.SerializeType)
	}
	if _, err := c.Pull(context.Background(), q, 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	if req := master.lastReq(remoting.PullMessage); req.ExtValue("sysFlag") != "4" || req.ExtValue("suspendTimeoutMillis") != "0" {
		t.Errorf("suspend 0: sysFlag %s", req.ExtValue("sysFlag"))
	}
	if off, err := c.CommittedOffset(context.Background(), q); err != nil || off != -1 {
		t.Errorf("CommittedOffset without one: %d %v", off, err)
	}
}

// testRecord is a stored record with queue offset off and tags.
func testRecord(off int64, tags string) []byte {
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	r := wire.Record{QueueOffset: off, PhysOffset: off * 1000, BornHost: lo, StoreHost: lo,
		Body: []byte("x"), Topic: "T", Properties: "TAGS\x01" + tags + "\x02"}
	return r.Encode(nil)
}

func TestHeartbeat(t *testing.T) {
	beats := make(chan *remoting.Command, 16)
	b := startFake(t, map[int32]remoting.HandlerFunc{remoting.HeartBeat: func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		beats <- req
		return remoting.NewResponse(req, remoting.Success, "")
	}})
	s := startFake(t, map[int32]remoting.HandlerFunc{remoting.HeartBeat: func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		beats <- req
		return remoting.NewResponse(req, remoting.Success, "")
	}})
	ns := fakeNamesrv(t, staticRoutes(map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: b.addr, 1: s.addr}, 1})}))
	c, err := NewPullConsumer([]string{ns.addr}, "GID")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Subscribe("T", "TagA||TagB")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case req := <-beats:
			body := string(req.Body)
			for _, want := range []string{`"clientID":"` + c.ClientID() + `"`, `"groupName":"GID"`, `"consumeType":"CONSUME_ACTIVELY"`,
				`"messageModel":"CLUSTERING"`, `"topic":"T"`, `"subString":"TagA||TagB"`, `"tagsSet":["TagA","TagB"]`,
				`"codeSet":["2598919","2598920"]`, `"expressionType":"TAG"`, `"producerDataSet":[]`} {
				if !strings.Contains(body, want) {
					t.Errorf("heartbeat %s lacks %s", body, want)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat at the master and the slave")
		}
	}
}

// A failover seen by an asynchronous sender: the master dies, the group
// has no master for a while, then another broker is master. Every failed
// send, synchronous or not, asks for a refresh, so the sender finds the
// new master within staleGap rather than the 30 s refresh period.
func TestSendAsyncFollowsFailover(t *testing.T) {
	good := startFake(t, map[int32]remoting.HandlerFunc{remoting.SendMessageV2: sendOK})
	dead := deadAddr(t)
	var mu sync.Mutex
	routes := map[string]string{"T": routeJSON(fakeGroup{"a", map[int64]string{0: dead, 1: good.addr}, 1})}
	ns := fakeNamesrv(t, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return routes
	})
	setRoute := func(addrs map[int64]string) {
		mu.Lock()
		routes = map[string]string{"T": routeJSON(fakeGroup{"a", addrs, 1})}
		mu.Unlock()
	}
	p := newTestProducer(t, []string{ns.addr}, Retries(0))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	q := MessageQueue{Topic: "T", BrokerName: "a", QueueID: 0}
	send := func() error {
		res := make(chan error, 1)
		if err := p.SendAsync(context.Background(), q, &Message{Topic: "T", Body: []byte("x")}, func(_ SendResult, err error) { res <- err }); err != nil {
			return err
		}
		return <-res
	}
	// Phase 1: the master is dead; the namesrv still routes it.
	if err := send(); err == nil {
		t.Fatal("send to a dead master succeeded")
	}
	// Phase 2: the namesrv dropped it; no master yet.
	setRoute(map[int64]string{1: good.addr})
	waitFor(t, 5*time.Second, "the route without a master", func() bool {
		err := send()
		return err != nil && errors.Is(err, ErrNoRoute)
	})
	// Phase 3: the slave was elected.
	setRoute(map[int64]string{0: good.addr})
	waitFor(t, 5*time.Second, "a send to the new master", func() bool { return send() == nil })
}

package loadgen

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// faultyTarget is a broker that misbehaves on purpose, for testing the
// loss and duplicate accounting. Like the null target it answers as a
// namesrv and as the master of group NullGroup on one port (its routes and
// cluster info are the null target's), but it stores what it is sent and
// serves pulls over the protocol, so loadgen's own client produces to it
// and consumes from it. Counting the sends it answers SEND_OK from 1:
//
//   - every dropEvery-th is acknowledged and never stored: an acknowledged
//     message lost;
//   - every dupEvery-th of the others is stored twice, at two offsets: a
//     message delivered twice;
//   - every pull answer lists its messages last first: reordered.
type faultyTarget struct {
	null                nullTarget
	dropEvery, dupEvery int

	mu                   sync.Mutex
	queues               map[string][]storedMsg // by topic/queueId
	sends, lost, doubled int
	reversed             int // pull answers given last message first
}

type storedMsg struct {
	body              []byte
	sysFlag           int32
	topic, properties string
}

func startFaultyTarget(t *testing.T, dropEvery, dupEvery int) *faultyTarget {
	t.Helper()
	f := &faultyTarget{dropEvery: dropEvery, dupEvery: dupEvery, queues: map[string][]storedMsg{}}
	s := remoting.NewServer(remoting.ServerConfig{Addr: "127.0.0.1:0", Name: "faulty"})
	ok := func(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.Success, "")
	}
	for _, code := range []int32{remoting.UpdateAndCreateTopic, remoting.HeartBeat, remoting.UnregisterClient} {
		s.Handle(code, ok)
	}
	// The null target's answers name its address, known once the server
	// listens: f.mu orders setting it before reading it.
	locked := func(h remoting.HandlerFunc) remoting.HandlerFunc {
		return func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			f.mu.Lock()
			defer f.mu.Unlock()
			return h(c, req)
		}
	}
	s.Handle(remoting.GetRouteinfoByTopic, locked(f.null.route))
	s.Handle(remoting.GetBrokerClusterInfo, locked(f.null.clusterInfo))
	s.Handle(remoting.SendMessageV2, f.send)
	s.Handle(remoting.PullMessage, f.pull)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.mu.Lock()
	f.null.addr = s.Addr()
	f.mu.Unlock()
	return f
}

// send stores the message (or not, or twice) and answers SEND_OK.
func (f *faultyTarget) send(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, q := req.ExtValue("b"), req.ExtValue("e")
	id, err := strconv.Atoi(q)
	if err != nil || id < 0 || id >= nullQueues {
		return remoting.Errorf(req, remoting.SystemError, "queueId %q: want 0..%d", q, nullQueues-1)
	}
	flag, _ := strconv.ParseInt(req.ExtValue("f"), 10, 32)
	m := storedMsg{body: bytes.Clone(req.Body), sysFlag: int32(flag), topic: strings.Clone(topic), properties: strings.Clone(req.ExtValue("i"))}
	key := topic + "/" + q
	f.mu.Lock()
	f.sends++
	switch {
	case f.sends%f.dropEvery == 0:
		f.lost++
	case f.sends%f.dupEvery == 0:
		f.doubled++
		f.queues[key] = append(f.queues[key], m, m)
	default:
		f.queues[key] = append(f.queues[key], m)
	}
	off := int64(len(f.queues[key]))
	f.mu.Unlock()
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", strings.Repeat("0", 32))
	resp.SetExt("queueId", q)
	resp.SetExtInt("queueOffset", off)
	return resp
}

// pull answers up to maxMsgNums messages from queueOffset, last first,
// holding the request up to 100 ms while there is nothing to read.
func (f *faultyTarget) pull(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	key := req.ExtValue("topic") + "/" + req.ExtValue("queueId")
	id, _ := strconv.Atoi(req.ExtValue("queueId"))
	from, err := req.Int64("queueOffset")
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "%v", err)
	}
	n, _ := req.Int64Or("maxMsgNums", 32)
	host := netip.MustParseAddrPort("127.0.0.1:10911")
	for deadline := time.Now().Add(100 * time.Millisecond); ; time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		q := f.queues[key]
		if from < int64(len(q)) || time.Now().After(deadline) {
			to := min(from+n, int64(len(q)))
			var body []byte
			for off := to - 1; off >= from; off-- {
				m := q[off]
				r := wire.Record{BodyCRC: wire.BodyCRC(m.body), QueueID: int32(id), QueueOffset: off, SysFlag: m.sysFlag,
					BornHost: host, StoreHost: host, Body: m.body, Topic: m.topic, Properties: m.properties}
				body = r.Encode(body)
			}
			if to-from > 1 {
				f.reversed++
			}
			f.mu.Unlock()
			code := int32(remoting.Success)
			if to <= from {
				code, to = remoting.PullNotFound, from
			}
			resp := remoting.NewResponse(req, code, "")
			resp.Body = body
			resp.SetExtInt("nextBeginOffset", to)
			resp.SetExtInt("minOffset", 0)
			resp.SetExtInt("maxOffset", int64(len(q)))
			resp.SetExtInt("suggestWhichBrokerId", 0)
			return resp
		}
		f.mu.Unlock()
	}
}

// TestLossAndDuplicateAccounting runs loadgen against a target that loses
// every 7th acknowledged message, stores every 5th twice and reverses
// every pull answer: the run must count exactly the messages the target
// lost as lost and exactly those it doubled as duplicates, and take the
// reordering for neither.
func TestLossAndDuplicateAccounting(t *testing.T) {
	f := startFaultyTarget(t, 7, 5)
	w := Workload{Topics: 1, QueuesPerTopic: 4, MessageSize: 128, ProducersPerTopic: 2, ConsumersPerTopic: 1,
		Rate: 600, InFlight: 64, BatchSize: 1, Warmup: 200 * time.Millisecond, Duration: time.Second,
		Drain: time.Second, SendTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.mu.Lock()
	addr := f.null.addr
	f.mu.Unlock()
	out, err := Execute(ctx, RunSpec{Namesrvs: []string{addr}, Workload: w, Group: NullGroup, Label: "faulty"})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Run
	f.mu.Lock()
	sends, lost, doubled, reversed := f.sends, f.lost, f.doubled, f.reversed
	f.mu.Unlock()
	t.Logf("target: %d sends, %d lost, %d doubled, %d pull answers reversed; run: sent %d acked %d consumed %d lost %d duplicates %d",
		sends, lost, doubled, reversed, r.Sent, r.Acked, r.Consumed, r.Lost, r.Duplicates)
	if r.Errors != 0 || r.Acked < 500 {
		t.Fatalf("acked %d with %d errors; want about 600 and none", r.Acked, r.Errors)
	}
	if lost < 50 || doubled < 50 || reversed == 0 {
		t.Fatalf("the target lost %d, doubled %d and reversed %d answers: too few faults to tell", lost, doubled, reversed)
	}
	if r.Lost != int64(lost) {
		t.Errorf("lost: the run counts %d, the target lost %d", r.Lost, lost)
	}
	if r.Duplicates != int64(doubled) {
		t.Errorf("duplicates: the run counts %d, the target doubled %d", r.Duplicates, doubled)
	}
	// Every acknowledged message of the window the target kept was
	// consumed once; the warm-up's sends are acknowledged outside it.
	if r.Consumed > r.Acked || r.Consumed < r.Acked-int64(lost) {
		t.Errorf("consumed %d of %d acknowledged in the window, with %d lost in all", r.Consumed, r.Acked, lost)
	}
}

// TestRecorderLedger feeds the recorder a crafted history: acknowledged,
// failed, consumed out of order, consumed twice, never consumed, inside
// and outside the measured window, from two producers.
func TestRecorderLedger(t *testing.T) {
	warmupEnd := time.Now()
	end := warmupEnd.Add(2 * time.Second)
	in, before := warmupEnd.Add(500*time.Millisecond), warmupEnd.Add(-100*time.Millisecond)
	rec := newRecorder(2, warmupEnd, end)
	ack := func(p int, seq int64, at time.Time, ok bool) {
		rec.started(at)
		status := "SEND_OK"
		if !ok {
			status = "TIMEOUT"
		}
		rec.done(p, seq, at, at, at.Add(time.Millisecond), status, ok)
	}
	// Producer 0: seqs 0..99 in the window, 10 and 11 failed. Producer 1:
	// seqs 0..9 in the warm-up, 10..139 in the window (64 and 128 start new
	// words of the bit set).
	for seq := int64(0); seq < 100; seq++ {
		ack(0, seq, in, seq != 10 && seq != 11)
	}
	for seq := int64(0); seq < 140; seq++ {
		at := in
		if seq < 10 {
			at = before
		}
		ack(1, seq, at, true)
	}
	consume := func(p int, seq int64, at time.Time) { rec.consume(p, seq, at, at.Add(2*time.Millisecond)) }
	// Producer 0, last first; 20..29 never; 5 and 50 twice; 10 (failed,
	// consumed all the same: a send that timed out but was stored) once.
	for seq := int64(99); seq >= 0; seq-- {
		if seq >= 20 && seq < 30 || seq == 11 {
			continue
		}
		consume(0, seq, in)
	}
	consume(0, 5, in)
	consume(0, 50, in)
	// Producer 1: the warm-up's, then odd before even; 63, 64, 127 and 128
	// never (the edges of the bit set's words); 139 three times.
	for seq := int64(0); seq < 10; seq++ {
		consume(1, seq, before)
	}
	for _, odd := range []bool{true, false} {
		for seq := int64(10); seq < 140; seq++ {
			if (seq%2 == 1) != odd || slices.Contains([]int64{63, 64, 127, 128}, seq) {
				continue
			}
			consume(1, seq, in)
		}
	}
	consume(1, 139, in)
	consume(1, 139, in)
	// A producer the run did not have is ignored.
	consume(5, 1, in)

	if got := rec.unconsumed(); got != 14 {
		t.Errorf("unconsumed %d, want 14 (10 of producer 0, 4 of producer 1)", got)
	}
	w := Workload{Duration: 2 * time.Second, ConsumersPerTopic: 1}
	r := rec.output(RunSpec{Workload: w}, nil, newHist(), nil).Run
	want := Run{Sent: 230, Acked: 228, Errors: 2, Consumed: 89 + 126, Duplicates: 4, Lost: 14}
	if r.Sent != want.Sent || r.Acked != want.Acked || r.Errors != want.Errors || r.Consumed != want.Consumed ||
		r.Duplicates != want.Duplicates || r.Lost != want.Lost {
		t.Errorf("sent %d acked %d errors %d consumed %d duplicates %d lost %d; want %d %d %d %d %d %d",
			r.Sent, r.Acked, r.Errors, r.Consumed, r.Duplicates, r.Lost,
			want.Sent, want.Acked, want.Errors, want.Consumed, want.Duplicates, want.Lost)
	}
	if r.Statuses["TIMEOUT"] != 2 || r.Statuses["SEND_OK"] != 228 {
		t.Errorf("statuses %v", r.Statuses)
	}
	// Without consumers nothing counts as lost.
	if r := rec.output(RunSpec{Workload: Workload{Duration: 2 * time.Second}}, nil, newHist(), nil).Run; r.Lost != 0 {
		t.Errorf("lost %d without consumers", r.Lost)
	}
}

package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// fakeNamesrv records the REGISTER_BROKER requests it is sent. While
// holding, it keeps each one unanswered until release.
type fakeNamesrv struct {
	srv  *remoting.Server
	fail atomic.Bool // answer SYSTEM_ERROR to the next registration

	mu   sync.Mutex
	regs []topicConfigWrapper
	gate chan struct{} // not nil: registrations wait for it to close
}

func startFakeNamesrv(t *testing.T) *fakeNamesrv {
	t.Helper()
	f := &fakeNamesrv{srv: remoting.NewServer(remoting.ServerConfig{Addr: "127.0.0.1:0", Name: "fake-namesrv", Workers: 4})}
	f.srv.Handle(remoting.RegisterBroker, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
		var body struct {
			W topicConfigWrapper `json:"topicConfigSerializeWrapper"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return remoting.Errorf(req, remoting.SystemError, "body: %v", err)
		}
		f.mu.Lock()
		f.regs = append(f.regs, body.W)
		gate := f.gate
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if f.fail.CompareAndSwap(true, false) {
			return remoting.NewResponse(req, remoting.SystemError, "refused by the test")
		}
		return remoting.NewResponse(req, remoting.Success, "")
	})
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// hold makes registrations wait until release.
func (f *fakeNamesrv) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

func (f *fakeNamesrv) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.gate)
	f.gate = nil
}

// received returns the registrations so far.
func (f *fakeNamesrv) received() []topicConfigWrapper {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regs)
}

// waitReceived polls until n registrations have arrived and returns them.
func (f *fakeNamesrv) waitReceived(t *testing.T, n int) []topicConfigWrapper {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if regs := f.received(); len(regs) >= n {
			return regs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d registrations arrived, want %d", len(f.received()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func topicNames(w topicConfigWrapper) []string { return slices.Sorted(maps.Keys(w.TopicConfigTable)) }

// TestIncrementalRegistration: a master registers a created topic alone,
// with the table's data version, and UPDATE_AND_CREATE_TOPIC answers once
// every namesrv was sent it; topics created while a registration is in
// flight go out together in the next one, none lost; a namesrv that failed
// a registration is sent the full table next; the start and a deletion
// register every topic.
func TestIncrementalRegistration(t *testing.T) {
	ns1, ns2 := startFakeNamesrv(t), startFakeNamesrv(t)
	b := startLocal(t, func(c *Config) {
		c.NamesrvAddr = ns1.srv.Addr() + ";" + ns2.srv.Addr()
		c.RegisterNameServerPeriod = time.Hour
	}, nil)
	all := func() []string { return slices.Sorted(maps.Keys(b.topics.state().entries)) }
	last := func(f *fakeNamesrv) topicConfigWrapper {
		regs := f.received()
		return regs[len(regs)-1]
	}
	for _, f := range []*fakeNamesrv{ns1, ns2} {
		if regs := f.received(); len(regs) != 1 || !slices.Equal(topicNames(regs[0]), all()) {
			t.Fatalf("at start: %d registrations, the first listing %v; want one listing %v", len(regs), topicNames(regs[0]), all())
		}
	}

	rpc := remoting.NewClient(remoting.ClientConfig{})
	t.Cleanup(func() { rpc.Close() })
	call := func(req *remoting.Command) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := rpc.Invoke(ctx, b.Addr(), req)
		if err != nil || resp.Code != remoting.Success {
			t.Fatalf("request %d: %v %+v", req.Code, err, resp)
		}
	}
	create := func(topic string) {
		t.Helper()
		call(remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", topic, "readQueueNums", "2", "writeQueueNums", "2"))
	}

	// Answered after both namesrvs were sent the topic, alone, at the
	// table's version.
	create("Inc1")
	for _, f := range []*fakeNamesrv{ns1, ns2} {
		w := last(f)
		if got := topicNames(w); !slices.Equal(got, []string{"Inc1"}) || w.TopicConfigTable["Inc1"].ReadQueueNums != 2 {
			t.Fatalf("registration after creating Inc1 lists %v, want [Inc1]", got)
		}
		if w.DataVersion != b.topics.state().version {
			t.Fatalf("registration carries version %+v, the table has %+v", w.DataVersion, b.topics.state().version)
		}
	}

	// A registration is in flight (ns1 holds it) while 50 topics are
	// created: they go out in one registration after it.
	ns1.hold()
	n1, n2 := len(ns1.received()), len(ns2.received())
	if _, err := b.ensureTopic("Held", 1, permRead|permWrite); err != nil {
		t.Fatal(err)
	}
	ns1.waitReceived(t, n1+1)
	var wg sync.WaitGroup
	var want []string
	for i := range 50 {
		name := fmt.Sprintf("Burst%02d", i)
		want = append(want, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.ensureTopic(name, 1, permRead|permWrite); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ns1.release()
	for _, f := range []*fakeNamesrv{ns1, ns2} {
		regs := f.waitReceived(t, n1+2)
		if f == ns2 {
			regs = f.waitReceived(t, n2+2)[n2:]
		} else {
			regs = regs[n1:]
		}
		if len(regs) != 2 || !slices.Equal(topicNames(regs[0]), []string{"Held"}) || !slices.Equal(topicNames(regs[1]), want) {
			var got [][]string
			for _, w := range regs {
				got = append(got, topicNames(w))
			}
			t.Fatalf("registrations after Held: %v; want [[Held] %v]", got, want)
		}
		if regs[1].DataVersion != b.topics.state().version {
			t.Fatalf("the burst's registration carries version %+v, the table has %+v", regs[1].DataVersion, b.topics.state().version)
		}
	}

	// ns2 refuses one registration: the next one it gets lists every topic
	// (a retry, a second later, with every topic then; or the next
	// creation's round, if that comes first).
	refused := len(ns2.received())
	ns2.fail.Store(true)
	create("Refused")
	create("AfterRefusal")
	if got := topicNames(last(ns1)); !slices.Equal(got, []string{"AfterRefusal"}) {
		t.Fatalf("ns1 after AfterRefusal: %v", got)
	}
	next := topicNames(ns2.waitReceived(t, refused+2)[refused+1])
	want = all()
	if !slices.Contains(next, "AfterRefusal") {
		want = slices.DeleteFunc(want, func(s string) bool { return s == "AfterRefusal" })
	}
	if !slices.Equal(next, want) {
		t.Fatalf("ns2 after a refused registration: %v, want every topic %v", next, want)
	}
	// With nothing else to register, it is sent every topic again within
	// registerRetry, not a registerNameServerPeriod (an hour) later.
	before := len(ns2.received())
	ns2.fail.Store(true)
	create("RefusedAgain")
	retried := ns2.waitReceived(t, before+2)[before+1]
	if got := topicNames(retried); !slices.Equal(got, all()) {
		t.Fatalf("ns2's retry after a refusal lists %v, want every topic %v", got, all())
	}
	create("BackToIncrements")
	if got := topicNames(last(ns2)); !slices.Equal(got, []string{"BackToIncrements"}) {
		t.Fatalf("ns2 after a registration it took: %v", got)
	}

	// A deletion registers every topic left.
	call(remoting.NewRequest(remoting.DeleteTopicInBroker, "topic", "Inc1"))
	for _, f := range []*fakeNamesrv{ns1, ns2} {
		if got := topicNames(last(f)); !slices.Equal(got, all()) || slices.Contains(got, "Inc1") {
			t.Fatalf("registration after deleting Inc1: %v, want %v", got, all())
		}
	}
}

package namesrv

import (
	"context"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func invoke(t *testing.T, c *remoting.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("invoke code %d on %s: %v", req.Code, addr, err)
	}
	return resp
}

// TestServeTCP runs the server in process on 127.0.0.1:0: requests arrive
// over the remoting server, and closing the registering connection drops
// the broker.
func TestServeTCP(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0", ScanInterval: 10 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addr()

	brokerSide := remoting.NewClient(remoting.ClientConfig{})
	defer brokerSide.Close()
	clientSide := remoting.NewClient(remoting.ClientConfig{})
	defer clientSide.Close()

	if resp := invoke(t, brokerSide, addr, masterA.request()); resp.Code != remoting.Success {
		t.Fatalf("register: %d %q", resp.Code, resp.Remark)
	}
	resp := invoke(t, clientSide, addr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TopicTest"))
	if resp.Code != remoting.Success {
		t.Fatalf("route: %d %q", resp.Code, resp.Remark)
	}
	if r, err := parseLikeGoClient(resp.Body); err != nil || r.Brokers["broker-a"].Addrs[0] != masterA.addr {
		t.Fatalf("route %s: %+v %v", resp.Body, r, err)
	}

	brokerSide.CloseAddr(addr)
	waitFor(t, "the broker to be dropped after its connection closed", func() bool {
		resp := invoke(t, clientSide, addr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TopicTest"))
		return resp.Code == remoting.TopicNotExist
	})

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Start(); err != ErrClosed {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestExpiryScan checks that the background scan expires brokers and closes
// their connections.
func TestExpiryScan(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0", BrokerExpiry: 50 * time.Millisecond, ScanInterval: 10 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := remoting.NewClient(remoting.ClientConfig{})
	defer c.Close()
	if resp := invoke(t, c, s.Addr(), masterA.request()); resp.Code != remoting.Success {
		t.Fatalf("register: %d %q", resp.Code, resp.Remark)
	}
	waitFor(t, "the broker to expire", func() bool { return len(brokerNames(s)) == 0 })
}

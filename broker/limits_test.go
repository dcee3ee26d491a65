package broker_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestPullSuspendCapped: a pull asking to be held for an hour is answered
// after maxPullSuspendTimeout.
func TestPullSuspendCapped(t *testing.T) {
	c := startCluster(t, 1, "-maxPullSuspendTimeout", "300")
	c.createTopic("Capped", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, c.brokerAddr, pullReq("Capped", 0, time.Hour))
	if err != nil {
		t.Fatalf("a pull asking for an hour's suspend: %v", err)
	}
	if resp.Code != remoting.PullNotFound {
		t.Fatalf("code %d %q, want PULL_NOT_FOUND", resp.Code, resp.Remark)
	}
}

// TestHeldPullsDroppedOnClose: the pulls held for a connection are dropped
// when it closes, and the count of held pulls says so.
func TestHeldPullsDroppedOnClose(t *testing.T) {
	c := startCluster(t, 1)
	c.createTopic("Dropped", 1)
	nc, err := net.Dial("tcp", c.brokerAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var frames []byte
	for range 3 {
		frames = pullReq("Dropped", 0, time.Minute).Encode(frames)
	}
	if _, err := nc.Write(frames); err != nil {
		t.Fatal(err)
	}
	held := func() string { return c.runtime(c.brokerAddr)["pullRequestsHeld"] }
	eventually(t, 20*time.Second, "three held pulls", func() bool { return held() == "3" })
	nc.Close()
	eventually(t, 20*time.Second, "the closed connection's pulls dropped", func() bool { return held() == "0" })
	if resp := c.invoke(pullReq("Dropped", 0, 0)); resp.Code != remoting.PullNotFound {
		t.Fatalf("a pull afterwards: code %d %q", resp.Code, resp.Remark)
	}
}

// TestLargePullNotHeld: a pull request of more than 64 KiB is answered at
// once instead of being held with its memory.
func TestLargePullNotHeld(t *testing.T) {
	c := startCluster(t, 1)
	c.createTopic("Large", 1)
	req := pullReq("Large", 0, time.Minute)
	req.Remark = strings.Repeat("r", 100<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, c.brokerAddr, req)
	if err != nil || resp.Code != remoting.PullNotFound {
		t.Fatalf("a 100 KiB pull: %v %+v, want PULL_NOT_FOUND at once", err, resp)
	}
}

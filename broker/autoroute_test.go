package broker_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

// TestAutoCreatedTopicIsRouted: once a send that created its topic is
// answered, every namesrv routes the topic, so a consumer started right
// after finds it (the README's program did not, now and then).
func TestAutoCreatedTopicIsRouted(t *testing.T) {
	c := startCluster(t, 2)
	p := c.producer()
	for i, topic := range []string{"AutoRouted1", "AutoRouted2", "AutoRouted3"} {
		if res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("x"))); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %+v", i, err, res)
		}
		for _, ns := range c.nsAddrs { // at once, no retry
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
			cancel()
			if err != nil || resp.Code != remoting.Success || !strings.Contains(string(resp.Body), c.brokerAddr) {
				t.Fatalf("namesrv %s right after SEND_OK to the new topic %s: %v %+v", ns, topic, err, resp)
			}
		}
	}
}

// TestAutoCreateRegisterWaitBound: a namesrv that never answers does not
// hold a send that created its topic longer than
// autoCreateTopicRegisterWait (registration waits up to 6 s for it; the
// send would time out at 5 s).
func TestAutoCreateRegisterWaitBound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	hole, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ns := proctest.Start(t, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0").Addr("namesrv")
	b := proctest.Start(t, filepath.Join(binDir, "broker"), "-namesrvAddr", ns+";"+hole.Addr().String(),
		"-brokerName", "hole-a", "-listenPort", "0", "-haListenPort", "0", "-storePathRootDir", t.TempDir(),
		"-autoCreateTopicRegisterWait", "300").Addr("broker")
	rpc := remoting.NewClient(remoting.ClientConfig{})
	defer rpc.Close()
	req := remoting.NewRequest(remoting.SendMessageV2, "a", "PG_hole", "b", "HoleTopic", "c", "TBW102", "d", "4", "e", "0", "f", "0",
		"g", "0", "h", "0", "i", "", "j", "0", "k", "false")
	req.Body = []byte("x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rpc.Invoke(ctx, b, req)
	if err != nil || resp.Code != remoting.Success {
		t.Fatalf("send to a new topic with a namesrv that never answers: %v %+v", err, resp)
	}
}

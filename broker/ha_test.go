package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/rs/zerolog"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestSyncMasterWaitsForSlave: SEND_OK with the slave up; with the slave
// killed, "stored, but" statuses within a bounded time; SEND_OK again once
// it is back and caught up.
func TestSyncMasterWaitsForSlave(t *testing.T) {
	c := startCluster(t, 2, "-brokerRole", "SYNC_MASTER", "-syncFlushTimeout", "1500")
	const topic = "SyncMaster"
	c.createTopic(topic, 2)
	c.startSlave()
	c.waitSlaveConnected(1)
	p := c.producer(producer.WithRetry(0))
	send := func(body string) (primitive.SendStatus, time.Duration) {
		t.Helper()
		start := time.Now()
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		return res.Status, time.Since(start)
	}
	for i := 0; i < 10; i++ {
		if st, _ := send(fmt.Sprintf("up-%d", i)); st != primitive.SendOK {
			t.Fatalf("with the slave up, send %d got status %v", i, st)
		}
	}

	c.slave.Kill()
	for i := 0; i < 5; i++ {
		st, d := send(fmt.Sprintf("down-%d", i))
		if st != primitive.SendSlaveNotAvailable && st != primitive.SendFlushSlaveTimeout {
			t.Fatalf("with the slave down, send %d got status %v", i, st)
		}
		if d > 3*time.Second {
			t.Fatalf("with the slave down, send %d took %v", i, d)
		}
		t.Logf("slave down: status %v after %v", st, d)
	}

	c.startSlave()
	eventually(t, 30*time.Second, "SEND_OK with the slave back", func() bool {
		st, _ := send("back")
		return st == primitive.SendOK
	})
	c.waitReplicated()
	for q := 0; q < 2; q++ {
		if m, s := c.maxOffset(topic, q), c.maxOffsetAt(c.slaveAddr, topic, q); m != s {
			t.Errorf("queue %d: master has %d messages, slave %d", q, m, s)
		}
	}
}

// TestKillSyncMasterLosesNothingAcked cuts the replication link under
// synchronous load (the master's data stops reaching the slave), then
// kills -9 the SYNC_MASTER: every message acknowledged SEND_OK must be on
// the slave, byte for byte. Sends made while the link is cut are answered
// FLUSH_SLAVE_TIMEOUT, never SEND_OK; an ASYNC_MASTER acknowledges them and
// they are lost with it.
func TestKillSyncMasterLosesNothingAcked(t *testing.T) {
	c := startCluster(t, 2, "-brokerRole", "SYNC_MASTER", "-syncFlushTimeout", "1000")
	const topic = "KillSync"
	c.createTopic(topic, 4)
	link := haLink(t, "127.0.0.1:"+strconv.Itoa(c.haPort))
	c.startSlave("-haMasterAddress", link.Listen)
	c.waitSlaveConnected(1)
	p := c.producer(producer.WithRetry(0), producer.WithSendMsgTimeout(3*time.Second))
	load := startSendLoad(t, p, topic)
	load.waitAcked(300)
	// Data from the master is dropped from now on; the slave's reports
	// still reach the master, so it stays connected.
	if _, err := link.Toxics.AddToxicJson(strings.NewReader(`{"name":"cut","type":"timeout","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
	load.mark()
	load.waitAnswered(8)
	c.broker.Kill()
	acked, afterCut := load.finish()
	// The namesrvs drop the dead master; the slave stands in for reads.
	lost, differ, stored := missing(acked, c.pullAllAt(c.slaveAddr, topic, 4))
	t.Logf("acknowledged SEND_OK %d (%d of them sent with the link cut); on the slave %d of them (slave holds %d); lost %d; differing %d",
		len(acked), afterCut, len(acked)-lost, stored, lost, differ)
	if lost > 0 || differ > 0 {
		t.Fatalf("%d acknowledged messages lost, %d differ", lost, differ)
	}
}

// haLink puts a fault-injecting proxy (toxiproxy, in process) in front of
// a master's HA address; a slave given its Listen address as
// haMasterAddress replicates through it.
func haLink(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "ha", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("proxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return p
}

// TestAsyncMasterFailoverReadsFromSlave kills an ASYNC_MASTER after its
// messages replicated; a fresh consumer group reads them all from the slave.
func TestAsyncMasterFailoverReadsFromSlave(t *testing.T) {
	c := startCluster(t, 2)
	const topic = "Failover"
	c.createTopic(topic, 2)
	c.startSlave()
	p := c.producer()
	want := map[string]bool{}
	for i := 0; i < 60; i++ {
		body := fmt.Sprintf("f-%d", i)
		want[body] = true
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	c.waitReplicated()
	c.broker.Kill()
	for _, ns := range c.nsAddrs {
		eventually(t, 10*time.Second, "the slave standing in for the master", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			resp, err := c.rpc.Invoke(ctx, ns, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
			return err == nil && resp.Code == remoting.Success && strings.Contains(string(resp.Body), `"0":"`+c.slaveAddr+`"`)
		})
	}
	var r received
	c.pushConsumer("GID_failover", "f", topic, "*", r.add)
	eventually(t, 30*time.Second, "all 60 messages from the slave", func() bool { return len(r.bodies()) == len(want) })
	for b := range r.bodies() {
		if !want[b] {
			t.Errorf("unexpected message %q", b)
		}
	}
	for _, m := range r.snapshot() {
		if m.StoreHost != c.brokerAddr {
			t.Errorf("message %q has store host %s, want the master's %s (replicated bytes)", m.Body, m.StoreHost, c.brokerAddr)
		}
	}
}

// TestSlaveRestartCatchesUp restarts a slave while a producer sends and
// checks that its commit log ends up byte-identical to the master's.
func TestSlaveRestartCatchesUp(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "CatchUp"
	c.createTopic(topic, 4)
	c.startSlave()
	p := c.producer()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, bytes.Repeat([]byte{byte(n)}, 512))); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	eventually(t, 20*time.Second, "the slave to replicate something", func() bool {
		v, _ := strconv.ParseInt(c.runtime(c.slaveAddr)["commitLogMaxOffset"], 10, 64)
		return v > 100<<10
	})
	c.slave.Kill()
	time.Sleep(200 * time.Millisecond) // let the master write while the slave is away
	c.startSlave()
	eventually(t, 20*time.Second, "the restarted slave to replicate", func() bool {
		return c.runtime(c.slaveAddr)["haConnected"] == "true"
	})
	close(stop)
	sent := <-done
	c.waitReplicated()
	end, _ := strconv.ParseInt(c.runtime(c.brokerAddr)["commitLogMaxOffset"], 10, 64)
	seg := fmt.Sprintf("%020d", 0)
	m, err := os.ReadFile(filepath.Join(c.storeDir, "commitlog", seg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.ReadFile(filepath.Join(c.slaveStore, "commitlog", seg))
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 64 << 10
	for off := int64(0); off < end; off += chunk {
		hi := min(off+chunk, end)
		if crc32.ChecksumIEEE(m[off:hi]) != crc32.ChecksumIEEE(s[off:hi]) {
			t.Fatalf("commit logs differ in [%d,%d)", off, hi)
		}
	}
	t.Logf("sent %d messages; commit logs identical over [0,%d) (%d ranges of 64 KiB)", sent, end, (end+chunk-1)/chunk)
	for q := 0; q < 4; q++ {
		if a, b := c.maxOffset(topic, q), c.maxOffsetAt(c.slaveAddr, topic, q); a != b {
			t.Errorf("queue %d: master %d messages, slave %d", q, a, b)
		}
	}
}

// TestSlaveRefusesSendsAndSuggestion: a slave rejects sends with a remark;
// a master tells a consumer far behind to read from the slave.
func TestSlaveRefusesSendsAndSuggestion(t *testing.T) {
	c := startCluster(t, 1, "-accessMessageInMemoryMaxRatio", "0")
	const topic = "SlaveRole"
	c.createTopic(topic, 1)
	c.startSlave()
	c.waitSlaveConnected(1)
	req := remoting.NewRequest(remoting.SendMessage, "producerGroup", "PG", "topic", topic, "queueId", "0")
	req.Body = []byte("x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.rpc.Invoke(ctx, c.slaveAddr, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != remoting.ServiceNotAvailable || !strings.Contains(resp.Remark, "slave") {
		t.Fatalf("slave answered a send with code %d %q", resp.Code, resp.Remark)
	}

	p := c.producer()
	for i := 0; i < 3; i++ {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("m"))); err != nil {
			t.Fatal(err)
		}
	}
	resp = c.invoke(pullReq(topic, 0, 0))
	if resp.Code != remoting.Success || resp.ExtValue("suggestWhichBrokerId") != "1" {
		t.Fatalf("a consumer behind the log end: code %d, suggestWhichBrokerId %q", resp.Code, resp.ExtValue("suggestWhichBrokerId"))
	}
	c.waitReplicated()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	resp, err = c.rpc.Invoke(ctx2, c.slaveAddr, pullReq(topic, 0, 0))
	if err != nil || resp.Code != remoting.Success || resp.ExtValue("suggestWhichBrokerId") != "0" {
		t.Fatalf("pull from the slave: %v code %d suggest %q", err, resp.Code, resp.ExtValue("suggestWhichBrokerId"))
	}
}

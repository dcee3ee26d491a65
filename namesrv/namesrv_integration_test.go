package namesrv

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/remoting"
)

var binDir string // holds bin/namesrv for the integration tests; empty with -short

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := proctest.Build("./cmd/namesrv")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startNamesrv runs bin/namesrv on a free port and returns it and its address.
func startNamesrv(t *testing.T) (*proctest.Proc, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	p := proctest.Start(t, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0")
	return p, p.Addr("namesrv")
}

func TestBinaryRegisterAndRoute(t *testing.T) {
	p, addr := startNamesrv(t)
	brokerSide := remoting.NewClient(remoting.ClientConfig{})
	defer brokerSide.Close()
	clientSide := remoting.NewClient(remoting.ClientConfig{})
	defer clientSide.Close()

	for _, r := range []brokerReg{masterA, slaveA, masterB} {
		if resp := invoke(t, brokerSide, addr, r.request()); resp.Code != remoting.Success {
			t.Fatalf("register %s: %d %q", r.addr, resp.Code, resp.Remark)
		}
	}
	resp := invoke(t, clientSide, addr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TopicTest"))
	if resp.Code != remoting.Success {
		t.Fatalf("route: %d %q", resp.Code, resp.Remark)
	}
	golden(t, "route_TopicTest.json", resp.Body) // same bytes as in process
	resp = invoke(t, clientSide, addr, remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "Missing"))
	if resp.Code != remoting.TopicNotExist || !strings.Contains(resp.Remark, "Missing") {
		t.Fatalf("missing topic: %d %q", resp.Code, resp.Remark)
	}
	if !p.WaitLog("msg=\"broker registered\"", 5*time.Second) {
		t.Errorf("no registration logged:\n%s", p.Log())
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Log())
	}
	if !strings.Contains(p.Log(), "shutting down") {
		t.Errorf("no shutdown line:\n%s", p.Log())
	}
}

func TestBinaryBadFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "-bogus"},
		{[]string{"-listen", "nope"}, "-listen"},
		{[]string{"-listen", "127.0.0.1:99999"}, "-listen"},
		{[]string{"extra"}, "extra"},
		{[]string{"-tls.server.mode", "enforcing"}, "tls.server.certPath"},
		{[]string{"-tls.server.mode", "always"}, "tls.server.mode"},
		{[]string{"-tls.server.mode", "permissive", "-tls.server.certPath", "/nonexistent.pem", "-tls.server.keyPath", "/nonexistent.key"},
			"tls.server.certPath=/nonexistent.pem"},
		{[]string{"-tls.server.need.client.auth", "require", "-tls.server.mode", "enforcing", "-tls.server.certPath", "c", "-tls.server.keyPath", "k"},
			"tls.server.trustCertPath"},
		{[]string{"-writeBufferHighWaterMark", "100"}, "writeBufferHighWaterMark"},
		{[]string{"-serverSlowConsumerTimeout", "soon"}, "serverSlowConsumerTimeout"},
		{[]string{"-serverWorkerQueueMaxBytes", "1024"}, "serverWorkerQueueMaxBytes"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "namesrv"), c.args...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("namesrv %v: err %v, output %q; want exit 2 naming %q", c.args, err, out, c.want)
		}
	}
}

// TestBinaryFlowLimits: the flow-control flags take effect: a client that
// pipelines requests and reads nothing is closed as a slow consumer once
// its answers pass the high-water mark given.
func TestBinaryFlowLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	p := proctest.Start(t, filepath.Join(binDir, "namesrv"), "-listen", "127.0.0.1:0",
		"-writeBufferHighWaterMark", "65536", "-serverSlowConsumerTimeout", "300ms")
	nc, err := net.Dial("tcp", p.Addr("namesrv"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame := remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TBW102").Encode(nil)
	batch := bytes.Repeat(frame, 1000)
	_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := nc.Write(batch); err != nil {
			break // closed by the server, or blocked for 20 s
		}
	}
	if !p.WaitLog("closing slow consumer", 20*time.Second) || !strings.Contains(p.Log(), "highWater=65536") {
		t.Fatalf("no slow-consumer line with highWater=65536 in:\n%s", p.Log())
	}
}

// TestGoAdminClient points the official Go client's admin API at bin/namesrv.
func TestGoAdminClient(t *testing.T) {
	_, addr := startNamesrv(t)
	rlog.SetLogLevel("fatal") // the unknown-topic lookup below logs an error
	brokerSide := remoting.NewClient(remoting.ClientConfig{})
	defer brokerSide.Close()
	for _, r := range []brokerReg{masterA, slaveA, masterB} {
		if resp := invoke(t, brokerSide, addr, r.request()); resp.Code != remoting.Success {
			t.Fatalf("register %s: %d %q", r.addr, resp.Code, resp.Remark)
		}
	}

	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{addr})))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	list, err := adm.FetchAllTopicList(ctx)
	if err != nil {
		t.Fatalf("FetchAllTopicList: %v", err)
	}
	if want := []string{"Orders", "ReadOnly", "TopicTest"}; !slices.Equal(list.TopicList, want) {
		t.Errorf("FetchAllTopicList = %v, want %v", list.TopicList, want)
	}

	mqs, err := adm.FetchPublishMessageQueues(ctx, "TopicTest")
	if err != nil {
		t.Fatalf("FetchPublishMessageQueues: %v", err)
	}
	var got []string
	for _, mq := range mqs {
		got = append(got, fmt.Sprintf("%s/%d", mq.BrokerName, mq.QueueId))
	}
	sort.Strings(got)
	want := []string{"broker-a/0", "broker-a/1", "broker-a/2", "broker-a/3", "broker-b/0", "broker-b/1"}
	if !slices.Equal(got, want) {
		t.Errorf("publish queues %v, want %v", got, want)
	}

	// ReadOnly has no WRITE perm: nothing to publish to, but the route exists.
	if mqs, err := adm.FetchPublishMessageQueues(ctx, "ReadOnly"); err != nil || len(mqs) != 0 {
		t.Errorf("ReadOnly publish queues %v, %v", mqs, err)
	}
	clusters, err := adm.FetchClusterList("TopicTest")
	if err != nil || !slices.Equal(clusters, []string{"DefaultCluster"}) {
		t.Errorf("FetchClusterList = %v, %v", clusters, err)
	}
	if _, err := adm.FetchPublishMessageQueues(ctx, "Missing"); err == nil {
		t.Error("route of an unknown topic succeeded")
	}
}

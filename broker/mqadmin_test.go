package broker_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestMqadmin drives bin/mqadmin against a real namesrv and broker.
func TestMqadmin(t *testing.T) {
	c := startCluster(t, 2)
	ns := strings.Join(c.nsAddrs, ";")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "mqadmin"), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mqadmin %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("updateTopic", "-n", ns, "-c", "DefaultCluster", "-t", "AdminTopic", "-r", "3", "-w", "3"); !strings.Contains(out, c.brokerAddr) {
		t.Fatalf("updateTopic: %s", out)
	}
	c.waitRoute("AdminTopic")
	if out := run("topicList", "-n", ns); !strings.Contains(out, "AdminTopic\n") {
		t.Fatalf("topicList: %s", out)
	}
	if out := run("clusterList", "-n", ns); !strings.Contains(out, "broker-a") || !strings.Contains(out, c.brokerAddr) {
		t.Fatalf("clusterList: %s", out)
	}
	if out := run("topicStatus", "-n", ns, "-t", "AdminTopic"); strings.Count(out, "broker-a") != 3 {
		t.Fatalf("topicStatus: %s", out)
	}
	if out := run("topicRoute", "-n", ns, "-t", "AdminTopic"); !strings.Contains(out, `"writeQueueNums": 3`) {
		t.Fatalf("topicRoute: %s", out)
	}
	send := remoting.NewRequest(remoting.SendMessage, "producerGroup", "PG", "topic", "AdminTopic", "queueId", "0")
	send.Body = []byte("x")
	if resp := c.invoke(send); resp.Code != remoting.Success {
		t.Fatalf("send: code %d %s", resp.Code, resp.Remark)
	}
	// The send stages' histograms read as percentiles, not base64.
	out := run("brokerStatus", "-n", ns, "-b", c.brokerAddr)
	if !strings.Contains(out, "commitLogMaxOffset") || !regexp.MustCompile(`(?m)^latency\.sendTotal +: count 1  p50 [0-9.]+[µm]?s  p90 .* max `).MatchString(out) {
		t.Fatalf("brokerStatus: %s", out)
	}
	if m := regexp.MustCompile(`(?m)^commitLogDiskRatio +: (.*)$`).FindStringSubmatch(out); m == nil || strings.HasPrefix(m[1], "-") {
		t.Fatalf("brokerStatus: commitLogDiskRatio %q before the first retention run", m)
	}
	run("deleteTopic", "-n", ns, "-c", "DefaultCluster", "-t", "AdminTopic")
	if out := run("topicList", "-n", ns); strings.Contains(out, "AdminTopic\n") {
		t.Fatalf("topicList after delete: %s", out)
	}
	for _, bad := range [][]string{{"topicList"}, {"noSuchCommand"}, {"updateTopic", "-n", ns, "-t", "X"}} {
		out, err := exec.Command(filepath.Join(binDir, "mqadmin"), bad...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "mqadmin:") {
			t.Errorf("mqadmin %v: want a clear error, got %v: %s", bad, err, out)
		}
	}
}

package broker_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	if out := run("brokerStatus", "-n", ns, "-b", c.brokerAddr); !strings.Contains(out, "commitLogMaxOffset") {
		t.Fatalf("brokerStatus: %s", out)
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

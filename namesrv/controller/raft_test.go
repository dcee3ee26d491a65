package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
)

func TestParsePeers(t *testing.T) {
	ps, err := ParsePeers("n0-127.0.0.1:9878;n1-127.0.0.1:9868; n2-127.0.0.1:9858;")
	if err != nil || len(ps) != 3 || ps[1] != (Peer{"n1", "127.0.0.1:9868"}) {
		t.Fatalf("%+v %v", ps, err)
	}
	for in, want := range map[string]string{
		"":                         "no peers",
		"n0":                       `"n0" is not id-host:port`,
		"-127.0.0.1:1":             "is not id-host:port",
		"n0-127.0.0.1":             "missing port",
		"n0-a:1;n0-b:2":            `id "n0" twice`,
		"n0-127.0.0.1:1;n1-nohost": "nohost",
	} {
		if _, err := ParsePeers(in); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "controllerDLegerPeers") {
			t.Errorf("ParsePeers(%q) = %v, want an error naming controllerDLegerPeers and %q", in, err, want)
		}
	}
	if _, err := StartNode(NodeConfig{SelfID: "n9", Peers: ps, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "controllerDLegerSelfId") {
		t.Errorf("self not among the peers: %v", err)
	}
}

// cluster3 starts three controllers on free ports.
func cluster3(t *testing.T) ([]*Node, []NodeConfig) {
	t.Helper()
	var peers []Peer
	for i := range 3 {
		peers = append(peers, Peer{fmt.Sprintf("n%d", i), fmt.Sprintf("127.0.0.1:%d", proctest.FreePort())})
	}
	var nodes []*Node
	var cfgs []NodeConfig
	for i := range 3 {
		cfg := NodeConfig{SelfID: peers[i].ID, Peers: peers, Dir: t.TempDir(), HeartbeatTimeout: 200 * time.Millisecond}
		n, err := StartNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes, cfgs = append(nodes, n), append(cfgs, cfg)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	return nodes, cfgs
}

// leaderOf waits for one of nodes (nil ones skipped) to lead.
func leaderOf(t *testing.T, nodes []*Node) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for i, n := range nodes {
			if n != nil && n.IsLeader() {
				return i
			}
		}
	}
	t.Fatal("no leader after 10 s")
	return -1
}

// converged waits until every live node has applied the same group g.
func converged(t *testing.T, nodes []*Node, name string, want func(Group) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		all := true
		for _, n := range nodes {
			if n == nil {
				continue
			}
			g, ok := n.Group(name)
			all = all && ok && want(g)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			for i, n := range nodes {
				if n != nil {
					g, _ := n.Group(name)
					t.Logf("n%d: %+v", i, g)
				}
			}
			t.Fatal("the nodes did not converge in 10 s")
		}
	}
}

// TestRaftReplicatesAndSurvivesTheLeader: commands proposed on the leader
// reach every node; a follower refuses to propose; when the leader stops,
// the others elect one that continues from the same state; the stopped
// node restarts from its store and catches up.
func TestRaftReplicatesAndSurvivesTheLeader(t *testing.T) {
	nodes, cfgs := cluster3(t)
	ctx := context.Background()
	l := leaderOf(t, nodes)
	for _, addr := range []string{"a:1", "b:1", "c:1"} {
		if _, err := nodes[l].Propose(ctx, Command{Op: OpRegister, Cluster: "c", Group: "g", Addr: addr}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := nodes[l].Propose(ctx, Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 2, Alive: true}}})
	if err != nil || r.Group.Master != 2 || r.Group.MasterEpoch != 1 {
		t.Fatalf("elect: %+v %v", r.Group, err)
	}
	// A refused command comes back as the state's error, from every node alike.
	if _, err := nodes[l].Propose(ctx, Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 1, InSync: []int64{1}}); !errors.Is(err, ErrFencedMaster) {
		t.Fatalf("a non-master's SyncStateSet change: %v", err)
	}
	converged(t, nodes, "g", func(g Group) bool { return g.Master == 2 && g.MasterEpoch == 1 && len(g.Replicas) == 3 })
	f := (l + 1) % 3
	if _, err := nodes[f].Propose(ctx, Command{Op: OpRegister, Group: "g", Addr: "d:1"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower proposed: %v", err)
	}

	// The leader goes; the others elect a new one and go on.
	if err := nodes[l].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[l] = nil
	l2 := leaderOf(t, nodes)
	r, err = nodes[l2].Propose(ctx, Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 2}, {ID: 3, Alive: true}}, Unclean: true})
	if err != nil || r.Group.Master != 3 || r.Group.MasterEpoch != 2 {
		t.Fatalf("elect under the new leader: %+v %v", r.Group, err)
	}

	// The old leader restarts from its store and catches up.
	n, err := StartNode(cfgs[l])
	if err != nil {
		t.Fatal(err)
	}
	nodes[l] = n
	converged(t, nodes, "g", func(g Group) bool { return g.Master == 3 && g.MasterEpoch == 2 })
	if id, addr := nodes[l].Leader(); id == "" || addr == "" {
		t.Fatalf("the restarted node knows no leader")
	}
}

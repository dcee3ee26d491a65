package controller

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestLivenessCallsElections steps a leader's view through a master's
// death: nothing before a full timeout of the view, nothing while the
// master beats, an election (with what each replica last reported) once
// it has not beaten for the timeout, and the election the state applies
// picks the replica with the longest log of the SyncStateSet.
func TestLivenessCallsElections(t *testing.T) {
	s := group3(t) // master 1, SyncStateSet {1,2,3}
	t0 := time.Unix(1000, 0)
	timeout := 3 * time.Second
	l := NewLiveness(timeout, t0)
	beat := func(at time.Time, ids ...int64) {
		for _, id := range ids {
			l.Heartbeat("g", id, Beat{At: at, Epoch: 1, MaxOffset: 100 * id})
		}
	}
	beat(t0, 2, 3) // the master has not beaten to this leader yet
	if cmds := l.Scan(s.Groups(), t0.Add(time.Second), false); len(cmds) != 0 {
		t.Fatalf("a new leader called an election before a full timeout: %+v", cmds)
	}
	beat(t0.Add(2*time.Second), 1, 2, 3)
	if cmds := l.Scan(s.Groups(), t0.Add(4*time.Second), false); len(cmds) != 0 {
		t.Fatalf("an election while the master beats: %+v", cmds)
	}
	beat(t0.Add(5*time.Second), 2, 3) // the master stops
	now := t0.Add(6 * time.Second)    // the master beat 4 s ago, the others 1 s ago
	cmds := l.Scan(s.Groups(), now, false)
	want := []Candidate{{ID: 1, Alive: false, Epoch: 1, MaxOffset: 100}, {ID: 2, Alive: true, Epoch: 1, MaxOffset: 200}, {ID: 3, Alive: true, Epoch: 1, MaxOffset: 300}}
	if len(cmds) != 1 || cmds[0].Op != OpElect || !reflect.DeepEqual(cmds[0].Candidates, want) {
		t.Fatalf("after the master's timeout: %+v", cmds)
	}
	r, err := s.Apply(cmds[0])
	if err != nil || r.Group.Master != 3 || r.Group.MasterEpoch != 2 {
		t.Fatalf("the election: %+v %v", r.Group, err)
	}
	if cmds := l.Scan(s.Groups(), now, false); len(cmds) != 0 {
		t.Fatalf("an election with a live master: %+v", cmds)
	}
}

// TestLivenessWaitsForAReplica: a group without a live replica gets no
// election; a failed election leaves no master, and the next scan calls
// another once a replica beats.
func TestLivenessWaitsForAReplica(t *testing.T) {
	s := group3(t)
	t0 := time.Unix(0, 0)
	l := NewLiveness(time.Second, t0)
	now := t0.Add(2 * time.Second)
	if cmds := l.Scan(s.Groups(), now, false); len(cmds) != 0 {
		t.Fatalf("an election with nobody alive: %+v", cmds)
	}
	// Only a replica outside the SyncStateSet is alive.
	s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{1}, Alive: []int64{1}})
	l.Heartbeat("g", 3, Beat{At: now})
	cmds := l.Scan(s.Groups(), now, false)
	if len(cmds) != 1 {
		t.Fatalf("scan: %+v", cmds)
	}
	if _, err := s.Apply(cmds[0]); !errors.Is(err, ErrNoMasterAvailable) {
		t.Fatalf("elected outside the SyncStateSet: %v", err)
	}
	// The old master returns: elected again.
	l.Heartbeat("g", 1, Beat{At: now, Epoch: 1})
	cmds = l.Scan(s.Groups(), now, false)
	if len(cmds) != 1 {
		t.Fatalf("scan after the master's return: %+v", cmds)
	}
	if r, err := s.Apply(cmds[0]); err != nil || r.Group.Master != 1 || r.Group.MasterEpoch != 2 {
		t.Fatalf("re-election: %+v %v", r.Group, err)
	}
}

// TestLivenessPerReplicaTimeoutAndForgetting: a replica's own timeout
// wins over the default; beats of removed replicas are dropped.
func TestLivenessPerReplicaTimeoutAndForgetting(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := NewLiveness(time.Second, t0)
	l.Heartbeat("g", 1, Beat{At: t0, Timeout: 5 * time.Second})
	l.Heartbeat("g", 2, Beat{At: t0})
	if !l.Alive("g", 1, t0.Add(3*time.Second)) || l.Alive("g", 2, t0.Add(3*time.Second)) {
		t.Fatal("per-replica timeout not applied")
	}
	l.Scan([]Group{{Name: "g", Replicas: map[int64]string{2: "b"}}}, t0, false)
	if _, ok := l.beats[replicaKey{"g", 1}]; ok {
		t.Fatal("the beat of a removed replica was kept")
	}
}

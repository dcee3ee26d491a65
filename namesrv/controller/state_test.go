package controller

import (
	"errors"
	"reflect"
	"testing"
)

// group3 registers three replicas of "g" (ids 1, 2, 3) and elects 1.
func group3(t *testing.T) *State {
	t.Helper()
	s := NewState()
	for _, addr := range []string{"a:1", "b:1", "c:1"} {
		if _, err := s.Apply(Command{Op: OpRegister, Cluster: "c", Group: "g", Addr: addr}); err != nil {
			t.Fatal(err)
		}
	}
	// The first election: no SyncStateSet yet, every live replica is
	// eligible (the ties go to the lowest id).
	alive := []Candidate{{ID: 1, Alive: true}, {ID: 2, Alive: true}, {ID: 3, Alive: true}}
	r, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: alive})
	if err != nil || r.Group.Master != 1 || r.Group.MasterEpoch != 1 || !reflect.DeepEqual(r.Group.InSync, []int64{1}) {
		t.Fatalf("first election: %+v, %v", r, err)
	}
	if _, err := s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 1, InSync: []int64{1, 2, 3}, Alive: []int64{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRegisterGivesStableIDs(t *testing.T) {
	s := NewState()
	for i, addr := range []string{"a:1", "b:1", "a:1", "c:1"} {
		r, err := s.Apply(Command{Op: OpRegister, Cluster: "c", Group: "g", Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int64{0: 1, 1: 2, 2: 1, 3: 3}[i]; r.Group.IDOf(addr) != want || r.Changed != (i != 2) {
			t.Fatalf("register %s: id %d changed %v, want id %d", addr, r.Group.IDOf(addr), r.Changed, want)
		}
	}
	if _, err := s.Apply(Command{Op: OpRegister, Group: "g"}); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("register without address: %v", err)
	}
	// Removed ids are not given again.
	if _, err := s.Apply(Command{Op: OpRemoveBroker, Group: "g", ID: 3}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Apply(Command{Op: OpRegister, Group: "g", Addr: "d:1"})
	if r.Group.IDOf("d:1") != 4 {
		t.Fatalf("new replica after a removal got id %d, want 4", r.Group.IDOf("d:1"))
	}
}

func TestElection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cands    []Candidate
		design   int64
		unclean  bool
		master   int64
		epoch    int32
		err      error
		inSync   []int64
		noChange bool
	}{
		{name: "live master kept", cands: []Candidate{{ID: 1, Alive: true}, {ID: 2, Alive: true}}, master: 1, epoch: 1, inSync: []int64{1, 2, 3}, noChange: true},
		{name: "highest epoch, then longest log", cands: []Candidate{{ID: 1}, {ID: 2, Alive: true, Epoch: 1, MaxOffset: 900}, {ID: 3, Alive: true, Epoch: 1, MaxOffset: 1000}},
			master: 3, epoch: 2, inSync: []int64{3}},
		{name: "epoch beats offset", cands: []Candidate{{ID: 2, Alive: true, Epoch: 2, MaxOffset: 10}, {ID: 3, Alive: true, Epoch: 1, MaxOffset: 1000}},
			master: 2, epoch: 2, inSync: []int64{2}},
		{name: "priority, then id break ties", cands: []Candidate{{ID: 2, Alive: true, Priority: 5}, {ID: 3, Alive: true, Priority: 1}},
			master: 3, epoch: 2, inSync: []int64{3}},
		{name: "lowest id on a full tie", cands: []Candidate{{ID: 3, Alive: true}, {ID: 2, Alive: true}}, master: 2, epoch: 2, inSync: []int64{2}},
		{name: "designated", cands: []Candidate{{ID: 1, Alive: true}, {ID: 3, Alive: true}}, design: 3, master: 3, epoch: 2, inSync: []int64{3}},
		{name: "designated but dead", cands: []Candidate{{ID: 1, Alive: true}}, design: 3, err: ErrNotAlive, master: 1, epoch: 1, inSync: []int64{1, 2, 3}},
		{name: "designated unknown", cands: []Candidate{{ID: 1, Alive: true}}, design: 9, err: ErrNoReplica, master: 1, epoch: 1, inSync: []int64{1, 2, 3}},
		{name: "nobody alive", cands: []Candidate{{ID: 1}, {ID: 2}}, err: ErrNoMasterAvailable, master: 0, epoch: 1, inSync: []int64{1, 2, 3}},
		{name: "candidate not a replica ignored", cands: []Candidate{{ID: 7, Alive: true}}, err: ErrNoMasterAvailable, master: 0, epoch: 1, inSync: []int64{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := group3(t)
			r, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: tc.cands, Designated: tc.design, Unclean: tc.unclean})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			g, _ := s.Group("g")
			if g.Master != tc.master || g.MasterEpoch != tc.epoch || !reflect.DeepEqual(g.InSync, tc.inSync) {
				t.Fatalf("group %+v; want master %d epoch %d SyncStateSet %v", g, tc.master, tc.epoch, tc.inSync)
			}
			if err == nil && r.Changed == tc.noChange {
				t.Fatalf("changed %v", r.Changed)
			}
		})
	}
}

// TestOnlyTheSyncStateSetIsElected: a replica that fell out of the
// SyncStateSet (it may lack acknowledged messages) is not elected unless
// unclean election is allowed; once the set's members return, they are.
func TestOnlyTheSyncStateSetIsElected(t *testing.T) {
	s := group3(t)
	if _, err := s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{1, 2}, Alive: []int64{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	behind := []Candidate{{ID: 1}, {ID: 2}, {ID: 3, Alive: true, Epoch: 1, MaxOffset: 1 << 40}}
	if _, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: behind}); !errors.Is(err, ErrNoMasterAvailable) {
		t.Fatalf("elected a replica outside the SyncStateSet: %v", err)
	}
	g, _ := s.Group("g")
	if g.Master != 0 || !reflect.DeepEqual(g.InSync, []int64{1, 2}) || g.MasterEpoch != 1 {
		t.Fatalf("after a failed election: %+v", g)
	}
	// The old master comes back: it is in the set, so it is elected again,
	// at a new epoch.
	r, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 1, Alive: true}, {ID: 3, Alive: true}}})
	if err != nil || r.Group.Master != 1 || r.Group.MasterEpoch != 2 {
		t.Fatalf("re-election: %+v %v", r.Group, err)
	}
	// Unclean: the replica outside the set may win.
	s = group3(t)
	s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{1}, Alive: []int64{1}})
	r, err = s.Apply(Command{Op: OpElect, Group: "g", Candidates: behind, Unclean: true})
	if err != nil || r.Group.Master != 3 {
		t.Fatalf("unclean election: %+v %v", r.Group, err)
	}
}

// TestSyncStateSetFencing: only the master at the current epochs changes
// the set; members must be alive replicas and the set holds the master.
func TestSyncStateSetFencing(t *testing.T) {
	s := group3(t) // master 1, epoch 1; set {1,2,3} at epoch 2
	for _, tc := range []struct {
		name string
		c    Command
		err  error
	}{
		{"not the master", Command{ID: 2, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{2}}, ErrFencedMaster},
		{"stale master epoch", Command{ID: 1, MasterEpoch: 0, InSyncEpoch: 2, InSync: []int64{1}}, ErrFencedMaster},
		{"stale set epoch", Command{ID: 1, MasterEpoch: 1, InSyncEpoch: 1, InSync: []int64{1}}, ErrFencedSyncState},
		{"set without the master", Command{ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{2}, Alive: []int64{2}}, ErrBadCommand},
		{"unknown replica", Command{ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{1, 9}, Alive: []int64{9}}, ErrNoReplica},
		{"dead replica", Command{ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{1, 2}, Alive: []int64{3}}, ErrNotAlive},
	} {
		tc.c.Op, tc.c.Group = OpAlterInSync, "g"
		if _, err := s.Apply(tc.c); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if g, _ := s.Group("g"); g.InSyncEpoch != 2 || !reflect.DeepEqual(g.InSync, []int64{1, 2, 3}) {
		t.Fatalf("a refused change changed the group: %+v", g)
	}
	r, err := s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 2, InSync: []int64{3, 1, 3}, Alive: []int64{3}})
	if err != nil || !reflect.DeepEqual(r.Group.InSync, []int64{1, 3}) || r.Group.InSyncEpoch != 3 {
		t.Fatalf("shrink: %+v %v", r.Group, err)
	}
	if r, _ := s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 3, InSync: []int64{1, 3}, Alive: []int64{3}}); r.Changed || r.Group.InSyncEpoch != 3 {
		t.Fatalf("the same set again bumped the epoch: %+v", r)
	}
	// A new master fences the old one.
	s.Apply(Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 3, Alive: true}}})
	if _, err := s.Apply(Command{Op: OpAlterInSync, Group: "g", ID: 1, MasterEpoch: 1, InSyncEpoch: 4, InSync: []int64{1}}); !errors.Is(err, ErrFencedMaster) {
		t.Fatalf("the deposed master changed the set: %v", err)
	}
}

func TestRemoveMasterAndUnknowns(t *testing.T) {
	s := group3(t)
	r, err := s.Apply(Command{Op: OpRemoveBroker, Group: "g", ID: 1})
	if err != nil || r.Group.Master != 0 || !reflect.DeepEqual(r.Group.InSync, []int64{2, 3}) {
		t.Fatalf("remove the master: %+v %v", r.Group, err)
	}
	for _, c := range []Command{
		{Op: OpRemoveBroker, Group: "g", ID: 1},
		{Op: OpElect, Group: "nope"},
		{Op: "frobnicate", Group: "g"},
		{Op: OpElect},
	} {
		if _, err := s.Apply(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestSnapshotRoundTrip: a restored state answers every command as the
// original does.
func TestSnapshotRoundTrip(t *testing.T) {
	s := group3(t)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := NewState()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Groups(), s.Groups()) {
		t.Fatalf("restored %+v, want %+v", r.Groups(), s.Groups())
	}
	c := Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 2, Alive: true}, {ID: 3, Alive: true, MaxOffset: 5}}}
	a, errA := s.Apply(c)
	b, errB := r.Apply(c)
	if !reflect.DeepEqual(a, b) || errA != nil || errB != nil {
		t.Fatalf("after restore: %+v %v, original %+v %v", b, errB, a, errA)
	}
	for _, bad := range []string{"{", `[{"brokerName":""}]`, `[{"brokerName":"g"},{"brokerName":"g"}]`} {
		if err := NewState().Restore([]byte(bad)); err == nil {
			t.Errorf("restore %s: no error", bad)
		}
	}
}

// TestGroupCopies: what State hands out does not change with it.
func TestGroupCopies(t *testing.T) {
	s := group3(t)
	g, _ := s.Group("g")
	g.Replicas[1] = "x"
	g.InSync[0] = 9
	if h, _ := s.Group("g"); h.Replicas[1] != "a:1" || h.InSync[0] != 1 {
		t.Fatalf("a copy's change reached the state: %+v", h)
	}
}

// TestFirstElection: before any master, the longest log among the live
// replicas wins; with none alive the group stays without a master.
func TestFirstElection(t *testing.T) {
	s := NewState()
	for _, addr := range []string{"a:1", "b:1"} {
		s.Apply(Command{Op: OpRegister, Group: "g", Addr: addr})
	}
	if _, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 1}, {ID: 2}}}); !errors.Is(err, ErrNoMasterAvailable) {
		t.Fatalf("nobody alive: %v", err)
	}
	r, err := s.Apply(Command{Op: OpElect, Group: "g", Candidates: []Candidate{{ID: 1, Alive: true, MaxOffset: 10}, {ID: 2, Alive: true, MaxOffset: 20}}})
	if err != nil || r.Group.Master != 2 || r.Group.MasterEpoch != 1 || !reflect.DeepEqual(r.Group.InSync, []int64{2}) {
		t.Fatalf("first election: %+v %v", r.Group, err)
	}
}

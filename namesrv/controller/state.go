package controller

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Errors of Apply. Each names a RocketMQ controller response the request
// handlers answer with.
var (
	ErrNoGroup           = errors.New("controller: no such broker group")
	ErrNoReplica         = errors.New("controller: no such replica")
	ErrBadCommand        = errors.New("controller: bad command")
	ErrNoMasterAvailable = errors.New("controller: no replica can become master")
	ErrFencedMaster      = errors.New("controller: not the master at the current master epoch")
	ErrFencedSyncState   = errors.New("controller: stale SyncStateSet epoch")
	ErrNotAlive          = errors.New("controller: replica not alive")
)

// Group is one broker group's replication state.
type Group struct {
	Cluster  string           `json:"cluster"`
	Name     string           `json:"brokerName"`
	Replicas map[int64]string `json:"replicas"` // broker id → address
	NextID   int64            `json:"nextBrokerId"`
	// Master is the master's broker id; 0: the group has none.
	Master      int64   `json:"masterBrokerId"`
	MasterEpoch int32   `json:"masterEpoch"`
	InSync      []int64 `json:"syncStateSet"` // sorted broker ids
	InSyncEpoch int32   `json:"syncStateSetEpoch"`
}

// clone copies g deeply: a Group handed out never changes under its holder.
func (g *Group) clone() Group {
	c := *g
	c.Replicas = maps.Clone(g.Replicas)
	c.InSync = slices.Clone(g.InSync)
	return c
}

// IDOf returns the id registered for addr, or 0.
func (g *Group) IDOf(addr string) int64 {
	for id, a := range g.Replicas {
		if a == addr {
			return id
		}
	}
	return 0
}

// Ops of a Command.
const (
	OpRegister     = "register"          // Cluster, Group, Addr: give the replica an id (the same one again if known)
	OpElect        = "elect"             // Group, Candidates, Designated, Unclean
	OpAlterInSync  = "alterSyncStateSet" // Group, ID (the master), MasterEpoch, InSyncEpoch, InSync, Alive
	OpRemoveBroker = "removeBroker"      // Group, ID
)

// Command is one change of State: one Raft log entry.
type Command struct {
	Op      string `json:"op"`
	Cluster string `json:"cluster,omitempty"`
	Group   string `json:"brokerName"`
	Addr    string `json:"addr,omitempty"`
	ID      int64  `json:"brokerId,omitempty"`

	// Elect: the replicas as the leader saw them, a replica to prefer (0:
	// none) and whether a replica outside the SyncStateSet may win.
	Candidates []Candidate `json:"candidates,omitempty"`
	Designated int64       `json:"designated,omitempty"`
	Unclean    bool        `json:"unclean,omitempty"`

	// AlterSyncStateSet: the master's view and the new set; Alive lists
	// the replicas the leader saw alive.
	MasterEpoch int32   `json:"masterEpoch,omitempty"`
	InSyncEpoch int32   `json:"syncStateSetEpoch,omitempty"`
	InSync      []int64 `json:"syncStateSet,omitempty"`
	Alive       []int64 `json:"alive,omitempty"`
}

// Candidate is a replica as the leader saw it when it asked for an
// election: alive (a heartbeat within the timeout) or not, and what it
// last reported of its log.
type Candidate struct {
	ID        int64 `json:"brokerId"`
	Alive     bool  `json:"alive"`
	Epoch     int32 `json:"epoch"`     // the last master epoch in its log
	MaxOffset int64 `json:"maxOffset"` // its CommitLog's end
	Priority  int   `json:"priority"`  // electionPriority: lower wins ties
}

// Result is what a Command did: the group after it, and whether it
// changed (an election that kept the live master changes nothing).
type Result struct {
	Group   Group `json:"group"`
	Changed bool  `json:"changed"`
}

// State is every group's replication state, keyed by brokerName.
type State struct {
	groups map[string]*Group
}

// NewState returns an empty State.
func NewState() *State { return &State{groups: map[string]*Group{}} }

// Group returns a copy of the named group's state.
func (s *State) Group(name string) (Group, bool) {
	g, ok := s.groups[name]
	if !ok {
		return Group{}, false
	}
	return g.clone(), true
}

// Groups returns copies of every group, sorted by name.
func (s *State) Groups() []Group {
	out := make([]Group, 0, len(s.groups))
	for _, name := range slices.Sorted(maps.Keys(s.groups)) {
		out = append(out, s.groups[name].clone())
	}
	return out
}

// Apply performs c. On an error the state is unchanged, except for an
// election that found no eligible replica: the group then records that it
// has no master, and Apply returns ErrNoMasterAvailable with the result.
func (s *State) Apply(c Command) (Result, error) {
	if c.Group == "" {
		return Result{}, fmt.Errorf("%w: %s without brokerName", ErrBadCommand, c.Op)
	}
	if c.Op == OpRegister {
		return s.register(c)
	}
	g, ok := s.groups[c.Group]
	if !ok {
		return Result{}, fmt.Errorf("%w: %s", ErrNoGroup, c.Group)
	}
	switch c.Op {
	case OpElect:
		return elect(g, c)
	case OpAlterInSync:
		return alterInSync(g, c)
	case OpRemoveBroker:
		if _, ok := g.Replicas[c.ID]; !ok {
			return Result{}, fmt.Errorf("%w: %s has no broker %d", ErrNoReplica, g.Name, c.ID)
		}
		delete(g.Replicas, c.ID)
		if g.Master == c.ID {
			g.Master = 0
		}
		g.InSync = slices.DeleteFunc(g.InSync, func(id int64) bool { return id == c.ID })
		return Result{Group: g.clone(), Changed: true}, nil
	}
	return Result{}, fmt.Errorf("%w: unknown op %q", ErrBadCommand, c.Op)
}

func (s *State) register(c Command) (Result, error) {
	if c.Addr == "" {
		return Result{}, fmt.Errorf("%w: register %s without an address", ErrBadCommand, c.Group)
	}
	g, ok := s.groups[c.Group]
	if !ok {
		g = &Group{Cluster: c.Cluster, Name: c.Group, Replicas: map[int64]string{}, NextID: 1}
		s.groups[c.Group] = g
	}
	if id := g.IDOf(c.Addr); id != 0 {
		return Result{Group: g.clone()}, nil
	}
	g.Replicas[g.NextID] = c.Addr
	g.NextID++
	return Result{Group: g.clone(), Changed: true}, nil
}

// elect keeps a live master of the SyncStateSet, or makes the best
// eligible candidate master: highest epoch, then longest log, then lowest
// priority value, then lowest id.
func elect(g *Group, c Command) (Result, error) {
	alive := map[int64]Candidate{}
	for _, cd := range c.Candidates {
		if _, ok := g.Replicas[cd.ID]; ok && cd.Alive {
			alive[cd.ID] = cd
		}
	}
	// A group that never had a master has no SyncStateSet yet: its
	// first election may pick any live replica.
	first := g.MasterEpoch == 0
	eligible := func(id int64) bool {
		_, ok := alive[id]
		return ok && (c.Unclean || first || slices.Contains(g.InSync, id))
	}
	var winner int64
	switch {
	case c.Designated != 0:
		if _, ok := g.Replicas[c.Designated]; !ok {
			return Result{}, fmt.Errorf("%w: %s has no broker %d", ErrNoReplica, g.Name, c.Designated)
		}
		if !eligible(c.Designated) {
			return Result{}, fmt.Errorf("%w: broker %d of %s is not alive or not in the SyncStateSet %v", ErrNotAlive, c.Designated, g.Name, g.InSync)
		}
		if c.Designated == g.Master {
			return Result{Group: g.clone()}, nil
		}
		winner = c.Designated
	case g.Master != 0 && eligible(g.Master):
		return Result{Group: g.clone()}, nil // the master is alive: nothing to do
	default:
		var best *Candidate
		for _, id := range slices.Sorted(maps.Keys(alive)) {
			cd := alive[id]
			if !eligible(id) {
				continue
			}
			if best == nil || better(cd, *best) {
				best = &cd
			}
		}
		if best == nil {
			changed := g.Master != 0
			g.Master = 0
			return Result{Group: g.clone(), Changed: changed}, fmt.Errorf("%w: %s (SyncStateSet %v, unclean %v)", ErrNoMasterAvailable, g.Name, g.InSync, c.Unclean)
		}
		winner = best.ID
	}
	g.Master = winner
	g.MasterEpoch++
	g.InSync = []int64{winner}
	g.InSyncEpoch++
	return Result{Group: g.clone(), Changed: true}, nil
}

// better reports whether a should win an election over b.
func better(a, b Candidate) bool {
	if c := cmp.Compare(a.Epoch, b.Epoch); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.MaxOffset, b.MaxOffset); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

func alterInSync(g *Group, c Command) (Result, error) {
	if g.Master == 0 || c.ID != g.Master || c.MasterEpoch != g.MasterEpoch {
		return Result{}, fmt.Errorf("%w: broker %d at epoch %d; %s's master is %d at epoch %d", ErrFencedMaster, c.ID, c.MasterEpoch, g.Name, g.Master, g.MasterEpoch)
	}
	if c.InSyncEpoch != g.InSyncEpoch {
		return Result{}, fmt.Errorf("%w: %d, %s is at %d", ErrFencedSyncState, c.InSyncEpoch, g.Name, g.InSyncEpoch)
	}
	set := slices.Sorted(slices.Values(c.InSync))
	set = slices.Compact(set)
	if !slices.Contains(set, g.Master) {
		return Result{}, fmt.Errorf("%w: SyncStateSet %v of %s lacks its master %d", ErrBadCommand, set, g.Name, g.Master)
	}
	for _, id := range set {
		if _, ok := g.Replicas[id]; !ok {
			return Result{}, fmt.Errorf("%w: %s has no broker %d", ErrNoReplica, g.Name, id)
		}
		if id != g.Master && !slices.Contains(c.Alive, id) {
			return Result{}, fmt.Errorf("%w: broker %d of %s", ErrNotAlive, id, g.Name)
		}
	}
	if slices.Equal(set, g.InSync) {
		return Result{Group: g.clone()}, nil
	}
	g.InSync = set
	g.InSyncEpoch++
	return Result{Group: g.clone(), Changed: true}, nil
}

// Snapshot encodes the state (a Raft snapshot).
func (s *State) Snapshot() ([]byte, error) {
	return json.Marshal(s.Groups())
}

// Restore replaces the state with a snapshot's.
func (s *State) Restore(b []byte) error {
	var groups []Group
	if err := json.Unmarshal(b, &groups); err != nil {
		return fmt.Errorf("controller: restore snapshot: %w", err)
	}
	next := map[string]*Group{}
	for i := range groups {
		g := groups[i]
		if g.Name == "" || next[g.Name] != nil {
			return fmt.Errorf("controller: restore snapshot: group %q missing or twice", g.Name)
		}
		if g.Replicas == nil {
			g.Replicas = map[int64]string{}
		}
		next[g.Name] = &g
	}
	s.groups = next
	return nil
}

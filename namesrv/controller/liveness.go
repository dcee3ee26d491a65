package controller

import (
	"maps"
	"slices"
	"time"
)

// Liveness is the Raft leader's view of which replicas are alive, built
// from their heartbeats (BROKER_HEARTBEAT), and the elections that view
// calls for. It is not replicated: a new leader starts a new Liveness and,
// knowing nothing for a full timeout, calls for no election until then
// (a replica that beat to the old leader is not dead to the new one).
// It owns no goroutine and reads no clock: the caller steps it with the
// time, and proposes what Scan returns.
type Liveness struct {
	timeout time.Duration // no heartbeat for this long: not alive
	since   time.Time     // when this view began
	beats   map[replicaKey]Beat
}

type replicaKey struct {
	group string
	id    int64
}

// Beat is one heartbeat: when, and what the replica reported of its log.
type Beat struct {
	At        time.Time
	Epoch     int32 // the last master epoch in its log
	MaxOffset int64 // its CommitLog's end
	Priority  int   // electionPriority: lower wins ties
	// Timeout, when set, replaces the default for this replica (a broker's
	// controllerHeartBeatTimeoutMills).
	Timeout time.Duration
}

// NewLiveness starts an empty view at now.
func NewLiveness(timeout time.Duration, now time.Time) *Liveness {
	return &Liveness{timeout: timeout, since: now, beats: map[replicaKey]Beat{}}
}

// Heartbeat records a replica's heartbeat.
func (l *Liveness) Heartbeat(group string, id int64, b Beat) {
	l.beats[replicaKey{group, id}] = b
}

// Alive reports whether the replica beat within its timeout before now.
func (l *Liveness) Alive(group string, id int64, now time.Time) bool {
	b, ok := l.beats[replicaKey{group, id}]
	if !ok {
		return false
	}
	timeout := l.timeout
	if b.Timeout > 0 {
		timeout = b.Timeout
	}
	return now.Sub(b.At) < timeout
}

// Candidates describes g's replicas as seen at now, for an election.
func (l *Liveness) Candidates(g Group, now time.Time) []Candidate {
	var out []Candidate
	for _, id := range slices.Sorted(maps.Keys(g.Replicas)) {
		b := l.beats[replicaKey{g.Name, id}]
		out = append(out, Candidate{ID: id, Alive: l.Alive(g.Name, id, now), Epoch: b.Epoch, MaxOffset: b.MaxOffset, Priority: b.Priority})
	}
	return out
}

// AliveIDs lists g's replicas alive at now.
func (l *Liveness) AliveIDs(g Group, now time.Time) []int64 {
	var out []int64
	for _, id := range slices.Sorted(maps.Keys(g.Replicas)) {
		if l.Alive(g.Name, id, now) {
			out = append(out, id)
		}
	}
	return out
}

// Scan returns an election for every group whose master is not alive
// (or which has none) while a replica is, and forgets the beats of
// replicas no longer in any group. Before a full timeout has passed since
// the view began it returns nothing: absence of heartbeats means nothing
// yet.
func (l *Liveness) Scan(groups []Group, now time.Time, unclean bool) []Command {
	known := map[replicaKey]bool{}
	for _, g := range groups {
		for id := range g.Replicas {
			known[replicaKey{g.Name, id}] = true
		}
	}
	maps.DeleteFunc(l.beats, func(k replicaKey, _ Beat) bool { return !known[k] })
	if now.Sub(l.since) < l.timeout {
		return nil
	}
	var out []Command
	for _, g := range groups {
		if g.Master != 0 && l.Alive(g.Name, g.Master, now) {
			continue
		}
		if len(l.AliveIDs(g, now)) == 0 {
			continue // nobody to elect: wait for a replica
		}
		out = append(out, Command{Op: OpElect, Group: g.Name, Candidates: l.Candidates(g, now), Unclean: unclean})
	}
	return out
}

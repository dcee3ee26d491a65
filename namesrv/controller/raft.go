package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Peer is one controller of the Raft group: RocketMQ's
// controllerDLegerPeers entry "n0-127.0.0.1:9878".
type Peer struct {
	ID   string
	Addr string // host:port of its Raft transport
}

// ParsePeers reads controllerDLegerPeers: ';'-separated id-host:port.
// Errors name the key and the entry.
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		id, addr, ok := strings.Cut(e, "-")
		if !ok || id == "" {
			return nil, fmt.Errorf("controllerDLegerPeers: %q is not id-host:port", e)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controllerDLegerPeers: %q: address %q: %v", e, addr, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("controllerDLegerPeers: id %q twice", id)
		}
		seen[id] = true
		out = append(out, Peer{ID: id, Addr: addr})
	}
	if len(out) == 0 {
		return nil, errors.New("controllerDLegerPeers: no peers")
	}
	return out, nil
}

// NodeConfig configures one controller.
type NodeConfig struct {
	SelfID string // controllerDLegerSelfId
	Peers  []Peer // controllerDLegerPeers, SelfID among them
	Dir    string // controllerStorePath: the Raft log, stable store and snapshots
	// Timeouts: a follower that hears nothing from the leader for
	// HeartbeatTimeout starts an election. Zero takes DefaultHeartbeat.
	HeartbeatTimeout time.Duration
	Log              *slog.Logger
}

// DefaultHeartbeat is the Raft heartbeat and election timeout: a dead
// leader is replaced within about twice it.
const DefaultHeartbeat = 500 * time.Millisecond

// Node is one controller: a Raft member whose FSM is a State. Every node
// applies the same commands in the same order; only the leader proposes.
type Node struct {
	cfg   NodeConfig
	raft  *raft.Raft
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	fsm   *fsm
}

// fsm is the raft.FSM: each log entry is a Command as JSON.
type fsm struct {
	mu sync.Mutex
	st *State
}

// applied is what fsm.Apply returns for an entry: the command's result.
type applied struct {
	res Result
	err error
}

func (f *fsm) Apply(l *raft.Log) any {
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return applied{err: fmt.Errorf("%w: log entry %d: %v", ErrBadCommand, l.Index, err)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.st.Apply(c)
	return applied{r, err}
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.st.Snapshot()
	return snapshot(b), err
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Restore(b)
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

// StartNode opens (or creates) the node's store in cfg.Dir, listens on its
// peer address, and joins the group; a node with no state yet bootstraps
// the configured peers (every node does the same, so any may start first).
func StartNode(cfg NodeConfig) (*Node, error) {
	var self *Peer
	for i := range cfg.Peers {
		if cfg.Peers[i].ID == cfg.SelfID {
			self = &cfg.Peers[i]
		}
	}
	if self == nil {
		return nil, fmt.Errorf("controllerDLegerSelfId=%q is not among controllerDLegerPeers", cfg.SelfID)
	}
	if cfg.Dir == "" {
		return nil, errors.New("controllerStorePath: empty")
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeat
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("controllerStorePath: %w", err)
	}
	rlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{log}})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.SelfID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.HeartbeatTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.Logger = rlog

	n := &Node{cfg: cfg, fsm: &fsm{st: NewState()}}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()
	var err error
	if n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")}); err != nil {
		return nil, fmt.Errorf("controllerStorePath: raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rlog)
	if err != nil {
		return nil, fmt.Errorf("controllerStorePath: snapshots: %w", err)
	}
	advertise, err := net.ResolveTCPAddr("tcp", self.Addr)
	if err != nil {
		return nil, fmt.Errorf("controllerDLegerPeers: %s's address %q: %w", self.ID, self.Addr, err)
	}
	if n.trans, err = raft.NewTCPTransportWithLogger(self.Addr, advertise, 3, 2*time.Second, rlog); err != nil {
		return nil, fmt.Errorf("controller: listen on %s: %w", self.Addr, err)
	}
	existing, err := raft.HasExistingState(n.store, n.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("controller: read raft state: %w", err)
	}
	if !existing {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, n.store, n.store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("controller: bootstrap: %w", err)
		}
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, n.store, n.store, snaps, n.trans); err != nil {
		return nil, fmt.Errorf("controller: start raft: %w", err)
	}
	ok = true
	log.Info("controller started", "id", cfg.SelfID, "raftAddr", self.Addr, "peers", len(cfg.Peers), "existingState", existing)
	return n, nil
}

// ErrNotLeader is returned by Propose on a node that is not the leader.
var ErrNotLeader = errors.New("controller: not the leader")

// Propose replicates c and returns its result once a majority has it and
// this node applied it. Only the leader proposes.
func (n *Node) Propose(ctx context.Context, c Command) (Result, error) {
	if n.raft.State() != raft.Leader {
		return Result{}, ErrNotLeader
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Result{}, err
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := n.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return Result{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return Result{}, fmt.Errorf("controller: replicate %s: %w", c.Op, err)
	}
	a := f.Response().(applied)
	return a.res, a.err
}

// IsLeader reports whether this node leads the group now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's id and Raft address ("" when none is known).
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Group returns this node's copy of a group's state (as far as it has
// applied the log).
func (n *Node) Group(name string) (Group, bool) {
	n.fsm.mu.Lock()
	defer n.fsm.mu.Unlock()
	return n.fsm.st.Group(name)
}

// Groups returns this node's copy of every group.
func (n *Node) Groups() []Group {
	n.fsm.mu.Lock()
	defer n.fsm.mu.Unlock()
	return n.fsm.st.Groups()
}

// Close leaves the group (the others elect without it) and closes the
// stores.
func (n *Node) Close() error {
	err := n.raft.Shutdown().Error()
	n.closeStores()
	return err
}

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
}

// slogWriter turns hclog's lines (one per Write) into slog records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)), "component", "raft")
	return len(p), nil
}

package controller

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// Config is a controller embedded in a namesrv: RocketMQ's controller keys.
type Config struct {
	Group        string        // controllerDLegerGroup (recorded; one group per set of peers)
	Peers        []Peer        // controllerDLegerPeers
	SelfID       string        // controllerDLegerSelfId
	StorePath    string        // controllerStorePath
	ElectUnclean bool          // enableElectUncleanMaster
	ScanInterval time.Duration // scanNotActiveBrokerInterval: how often the leader looks for dead masters
	// HeartbeatTimeout: a replica that has not beaten for this long is not
	// alive (a broker's own controllerHeartBeatTimeoutMills wins); also the
	// Raft heartbeat and election timeout.
	HeartbeatTimeout time.Duration
	Log              *slog.Logger
}

// Defaults, tuned for detection within a few seconds (RocketMQ's are 5 s
// scans and 10 s heartbeat timeouts).
const (
	DefaultScanInterval     = time.Second
	DefaultHeartbeatTimeout = 3 * time.Second
)

// Service serves the controller's requests on the namesrv's port and,
// while its node leads, watches the replicas' heartbeats and elects new
// masters.
type Service struct {
	cfg  Config
	node *Node
	log  *slog.Logger

	mu       sync.Mutex
	live     *Liveness // the leader's view; nil while not leading
	now      func() time.Time
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	handlers map[int32]func(*remoting.Command) *remoting.Command
}

// Start starts the Raft node and the leader's scan.
func Start(cfg Config) (*Service, error) {
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	raftTimeout := min(cfg.HeartbeatTimeout/3, DefaultHeartbeat)
	node, err := StartNode(NodeConfig{SelfID: cfg.SelfID, Peers: cfg.Peers, Dir: cfg.StorePath, HeartbeatTimeout: raftTimeout, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, node: node, log: cfg.Log, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	s.handlers = map[int32]func(*remoting.Command) *remoting.Command{
		remoting.BrokerHeartbeat:             s.heartbeat,
		remoting.ControllerRegisterBroker:    s.register,
		remoting.ControllerApplyBrokerID:     s.register,
		remoting.ControllerElectMaster:       s.electMaster,
		remoting.ControllerAlterSyncStateSet: s.alterSyncStateSet,
		remoting.ControllerGetReplicaInfo:    s.replicaInfo,
		remoting.ControllerGetMetadataInfo:   s.metadata,
		remoting.ControllerGetSyncStateData:  s.syncStateData,
	}
	go s.scanLoop()
	return s, nil
}

// Close stops the scan and leaves the Raft group.
func (s *Service) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.node.Close()
}

// scanLoop follows leadership (a new Liveness on gaining it) and, while
// leading, proposes the elections Scan calls for.
func (s *Service) scanLoop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		leading := s.node.IsLeader()
		if !leading {
			s.live = nil
			s.mu.Unlock()
			continue
		}
		if s.live == nil {
			s.live = NewLiveness(s.cfg.HeartbeatTimeout, now)
			s.log.Info("controller leads", "id", s.cfg.SelfID)
		}
		cmds := s.live.Scan(s.node.Groups(), now, s.cfg.ElectUnclean)
		s.mu.Unlock()
		for _, c := range cmds {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := s.node.Propose(ctx, c)
			cancel()
			switch {
			case err != nil:
				s.log.Warn("elect master", "brokerName", c.Group, "err", err)
			case r.Changed:
				s.log.Info("master elected", "brokerName", c.Group, "brokerId", r.Group.Master,
					"addr", r.Group.Replicas[r.Group.Master], "masterEpoch", r.Group.MasterEpoch)
			}
		}
	}
}

// Handlers are the controller's request handlers by code, for the
// namesrv's remoting server (worker pool: they wait for Raft).
func (s *Service) Handlers() map[int32]func(*remoting.Command) *remoting.Command { return s.handlers }

// notLeader answers a request only the leader serves, naming the leader.
func (s *Service) notLeader(req *remoting.Command) *remoting.Command {
	id, addr := s.node.Leader()
	resp := remoting.Errorf(req, remoting.ControllerNotLeader, "controller %s is not the leader (leader: %s at %s)", s.cfg.SelfID, orNone(id), orNone(addr))
	resp.SetExt("controllerLeaderId", id)
	resp.SetExt("controllerLeaderAddress", addr)
	return resp
}

func orNone(s string) string {
	if s == "" {
		return "none known"
	}
	return s
}

// heartbeat records a replica's heartbeat in the leader's view:
// BrokerHeartbeatRequestHeader (clusterName, brokerName, brokerAddr,
// brokerId, epoch, maxOffset, heartbeatTimeoutMills, electionPriority).
func (s *Service) heartbeat(req *remoting.Command) *remoting.Command {
	name, err := req.String("brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	id, err := req.Int64("brokerId")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	epoch, err1 := req.Int32Or("epoch", 0)
	maxOffset, err2 := req.Int64Or("maxOffset", 0)
	timeoutMs, err3 := req.Int64Or("heartbeatTimeoutMills", 0)
	prio, err4 := req.Int32Or("electionPriority", 0)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		return s.notLeader(req)
	}
	s.live.Heartbeat(name, id, Beat{At: s.now(), Epoch: epoch, MaxOffset: maxOffset, Priority: int(prio),
		Timeout: time.Duration(timeoutMs) * time.Millisecond})
	return remoting.NewResponse(req, remoting.Success, "")
}

// propose replicates c, answering the request with the group's state or
// the error's RocketMQ code.
func (s *Service) propose(req *remoting.Command, c Command) (Result, *remoting.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := s.node.Propose(ctx, c)
	if errors.Is(err, ErrNotLeader) {
		return r, s.notLeader(req)
	}
	if err != nil {
		return r, remoting.NewResponse(req, codeOf(err), err.Error())
	}
	return r, nil
}

// codeOf maps Apply's errors to the controller's response codes.
func codeOf(err error) int32 {
	switch {
	case errors.Is(err, ErrFencedMaster):
		return remoting.ControllerFencedMasterEpoch
	case errors.Is(err, ErrFencedSyncState):
		return remoting.ControllerFencedSyncStateSetEpoch
	case errors.Is(err, ErrNoMasterAvailable):
		return remoting.ControllerMasterNotAvailable
	case errors.Is(err, ErrNotAlive):
		return remoting.ControllerBrokerNotAlive
	case errors.Is(err, ErrNoGroup), errors.Is(err, ErrNoReplica):
		return remoting.ControllerBrokerMetadataNotExist
	case errors.Is(err, ErrBadCommand):
		return remoting.ControllerInvalidRequest
	}
	return remoting.SystemError
}

// withGroup answers with g's master and epochs in the ext fields
// (masterBrokerId, masterAddress, masterEpoch, syncStateSetEpoch) and its
// SyncStateSet as the body.
func withGroup(req *remoting.Command, g Group) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("masterBrokerId", g.Master)
	resp.SetExt("masterAddress", g.Replicas[g.Master])
	resp.SetExtInt("masterEpoch", int64(g.MasterEpoch))
	resp.SetExtInt("syncStateSetEpoch", int64(g.InSyncEpoch))
	resp.Body, _ = json.Marshal(syncStateSet{InSync: g.InSync, Epoch: g.InSyncEpoch})
	return resp
}

// syncStateSet is RocketMQ's SyncStateSet body.
type syncStateSet struct {
	InSync []int64 `json:"syncStateSet"`
	Epoch  int32   `json:"syncStateSetEpoch"`
}

// register gives a replica its broker id (the same one again for a known
// address): clusterName, brokerName, brokerAddress; answers brokerId and
// the group's master.
func (s *Service) register(req *remoting.Command) *remoting.Command {
	name, err := req.String("brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	addr, err := req.String("brokerAddress")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	r, resp := s.propose(req, Command{Op: OpRegister, Cluster: req.ExtValue("clusterName"), Group: name, Addr: addr})
	if resp != nil {
		return resp
	}
	resp = withGroup(req, r.Group)
	resp.SetExtInt("brokerId", r.Group.IDOf(addr))
	return resp
}

// electMaster elects a master for brokerName now: the given brokerId when
// designateElect is true (mqadmin electMaster), else the best live
// replica. It answers the group's master either way.
func (s *Service) electMaster(req *remoting.Command) *remoting.Command {
	name, err := req.String("brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	c := Command{Op: OpElect, Group: name, Unclean: s.cfg.ElectUnclean}
	if req.Bool("designateElect") {
		if c.Designated, err = req.Int64("brokerId"); err != nil {
			return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
		}
	}
	s.mu.Lock()
	if s.live == nil {
		s.mu.Unlock()
		return s.notLeader(req)
	}
	if g, ok := s.node.Group(name); ok {
		c.Candidates = s.live.Candidates(g, s.now())
	}
	s.mu.Unlock()
	r, resp := s.propose(req, c)
	if resp != nil {
		return resp
	}
	return withGroup(req, r.Group)
}

// alterSyncStateSet takes the master's new SyncStateSet: brokerName,
// masterBrokerId, masterEpoch; body {syncStateSet, syncStateSetEpoch}.
func (s *Service) alterSyncStateSet(req *remoting.Command) *remoting.Command {
	name, err := req.String("brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	master, err1 := req.Int64("masterBrokerId")
	epoch, err2 := req.Int32Or("masterEpoch", -1)
	var body syncStateSet
	err3 := json.Unmarshal(req.Body, &body)
	if err := errors.Join(err1, err2, err3); err != nil {
		return remoting.Errorf(req, remoting.ControllerInvalidRequest, "alter SyncStateSet of %s: %v", name, err)
	}
	s.mu.Lock()
	if s.live == nil {
		s.mu.Unlock()
		return s.notLeader(req)
	}
	var alive []int64
	if g, ok := s.node.Group(name); ok {
		alive = s.live.AliveIDs(g, s.now())
	}
	s.mu.Unlock()
	r, resp := s.propose(req, Command{Op: OpAlterInSync, Group: name, ID: master, MasterEpoch: epoch,
		InSyncEpoch: body.Epoch, InSync: body.InSync, Alive: alive})
	if resp != nil {
		return resp
	}
	return withGroup(req, r.Group)
}

// replicaInfo answers brokerName's master and SyncStateSet from this
// node's copy (any controller answers; a follower's may lag a moment).
func (s *Service) replicaInfo(req *remoting.Command) *remoting.Command {
	name, err := req.String("brokerName")
	if err != nil {
		return remoting.NewResponse(req, remoting.ControllerInvalidRequest, err.Error())
	}
	g, ok := s.node.Group(name)
	if !ok {
		return remoting.Errorf(req, remoting.ControllerBrokerMetadataNotExist, "no broker group %q registered with the controller", name)
	}
	return withGroup(req, g)
}

// metadata answers the controller group: leader id and address, whether
// this node leads, and the peers.
func (s *Service) metadata(req *remoting.Command) *remoting.Command {
	id, addr := s.node.Leader()
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("group", s.cfg.Group)
	resp.SetExt("controllerLeaderId", id)
	resp.SetExt("controllerLeaderAddress", addr)
	resp.SetExt("isLeader", strconv.FormatBool(s.node.IsLeader()))
	var peers []string
	for _, p := range s.cfg.Peers {
		peers = append(peers, p.ID+"-"+p.Addr)
	}
	resp.SetExt("peers", strings.Join(peers, ";"))
	return resp
}

// syncStateData answers every named group's state (body: a JSON list of
// brokerNames; empty: all), for mqadmin getSyncStateSet.
func (s *Service) syncStateData(req *remoting.Command) *remoting.Command {
	var names []string
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &names); err != nil {
			return remoting.Errorf(req, remoting.ControllerInvalidRequest, "body: want a JSON list of brokerNames: %v", err)
		}
	}
	var out []Group
	if len(names) == 0 {
		out = s.node.Groups()
	} else {
		for _, n := range names {
			g, ok := s.node.Group(n)
			if !ok {
				return remoting.Errorf(req, remoting.ControllerBrokerMetadataNotExist, "no broker group %q registered with the controller", n)
			}
			out = append(out, g)
		}
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	var err error
	if resp.Body, err = json.Marshal(out); err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode: %v", err)
	}
	return resp
}

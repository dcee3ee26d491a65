package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/broker/ha"
	"github.com/rocketgo/rocketgo/remoting"
)

// Controller mode (enableControllerMode=true), as RocketMQ 5 runs it
// (BROKER-INTERNALS §19): the controllers embedded in the namesrvs decide
// which replica of the group is master; the broker follows.
//
//   - At start the broker registers with the controller (its address gets a
//     broker id, stable across restarts) and starts as a slave: it takes no
//     write until the controller names it master.
//   - It beats to the controller leader every brokerHeartbeatInterval,
//     reporting its last epoch and log end (what an election compares), and
//     asks who is master every syncBrokerMetadataPeriod.
//   - Named master at epoch E: it stops replicating, cuts an incomplete
//     record its log may end with, appends (E, log end) to its epoch file,
//     takes writes and registers with the namesrvs as brokerId 0, so routes
//     name it at once.
//   - Named slave: it stops taking writes (dropping its own slaves, failing
//     their waits), registers with its controller id, and replicates from
//     the master. Each replication session starts with a handshake
//     (broker/ha/handshake.go): the master's epoch entries and log end let
//     the slave find the last point its log shares with the master's and
//     cut its divergent tail there before any byte is appended.
//   - The master reviews its SyncStateSet every checkSyncStateSetPeriod: a
//     slave that held the master's whole log as it was one review earlier is
//     in sync; one that has not for haMaxTimeSlaveNotCatchup, or is more
//     than haMaxGapNotInSync behind, is not. A change is proposed to the
//     controller, which accepts it only from the master at the current
//     epoch. While it is proposed, sends need the union of the old and the
//     new set; afterwards the set the controller recorded. So a send
//     answered under allAckInSyncStateSet is held by every replica the
//     controller may elect next, and a master cut off from the controller
//     cannot shrink the set to acknowledge alone.

// epochFileName is the epoch file under storePathRootDir.
const epochFileName = "epochFileCheckpoint"

// controllerAskTimeout bounds one request to a controller.
const controllerAskTimeout = 2 * time.Second

// controlled is the broker's side of controller mode.
type controlled struct {
	b      *Broker
	epochs *ha.EpochFile
	addrs  []string

	// roleMu serializes role changes and SyncStateSet reviews.
	roleMu sync.Mutex

	mu       sync.Mutex
	selfID   int64  // the controller's id for this broker; 0 until registered
	leader   int    // index in addrs of the controller that last answered as leader
	maxEpoch int32  // the highest master epoch seen from the controller
	master   string // slave: the master's client address ("" none)
	masterHA string // and its HA address, once asked
	// Master: the SyncStateSet the controller recorded, the set being
	// proposed (nil: none), when each slave was last in sync, and the log
	// end at the previous review.
	inSync      []int64
	inSyncEpoch int32
	proposing   []int64
	seen        map[int64]time.Time
	prevEnd     int64
}

func newControlled(b *Broker) (*controlled, error) {
	path := filepath.Join(b.cfg.StorePathRootDir, epochFileName)
	ef, err := ha.OpenEpochFile(path)
	if err != nil {
		return nil, err
	}
	return &controlled{b: b, epochs: ef, addrs: b.cfg.ControllerAddrs(), seen: map[int64]time.Time{}}, nil
}

// replicaInfo is the controller's view of the group.
type replicaInfo struct {
	masterID    int64
	masterAddr  string
	masterEpoch int32
	inSync      []int64
	inSyncEpoch int32
}

func parseReplicaInfo(resp *remoting.Command) (replicaInfo, error) {
	var ri replicaInfo
	var err1, err2, err3 error
	ri.masterID, err1 = resp.Int64Or("masterBrokerId", 0)
	ri.masterEpoch, err2 = resp.Int32Or("masterEpoch", 0)
	ri.inSyncEpoch, err3 = resp.Int32Or("syncStateSetEpoch", 0)
	ri.masterAddr = resp.ExtValue("masterAddress")
	var body struct {
		InSync []int64 `json:"syncStateSet"`
	}
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			return ri, fmt.Errorf("SyncStateSet body: %w", err)
		}
	}
	ri.inSync = body.InSync
	return ri, errors.Join(err1, err2, err3)
}

// ask sends req to the controller leader: the one that answered as leader
// last, then the others in turn (a follower answers CONTROLLER_NOT_LEADER).
func (cm *controlled) ask(ctx context.Context, req func() *remoting.Command) (*remoting.Command, error) {
	cm.mu.Lock()
	first := cm.leader
	cm.mu.Unlock()
	var errs []error
	for i := range cm.addrs {
		k := (first + i) % len(cm.addrs)
		actx, cancel := context.WithTimeout(ctx, controllerAskTimeout)
		resp, err := cm.b.client.Invoke(actx, cm.addrs[k], req())
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", cm.addrs[k], err))
			continue
		case resp.Code == remoting.ControllerNotLeader:
			errs = append(errs, fmt.Errorf("%s: not the leader", cm.addrs[k]))
			continue
		}
		cm.mu.Lock()
		cm.leader = k
		cm.mu.Unlock()
		return resp, nil
	}
	return nil, fmt.Errorf("no controller leader answered: %w", errors.Join(errs...))
}

// register gets this broker's id from the controller and applies the
// group's state it answers with.
func (cm *controlled) register(ctx context.Context) error {
	b := cm.b
	resp, err := cm.ask(ctx, func() *remoting.Command {
		return remoting.NewRequest(remoting.ControllerRegisterBroker,
			"clusterName", b.cfg.BrokerClusterName, "brokerName", b.cfg.BrokerName, "brokerAddress", b.addr)
	})
	if err != nil {
		return err
	}
	if resp.Code != remoting.Success {
		return fmt.Errorf("controller refused the registration: code %d: %s", resp.Code, resp.Remark)
	}
	id, err := resp.Int64("brokerId")
	if err != nil || id <= 0 {
		return fmt.Errorf("controller registration answered no broker id (%v)", err)
	}
	ri, err := parseReplicaInfo(resp)
	if err != nil {
		return fmt.Errorf("controller registration: %w", err)
	}
	cm.mu.Lock()
	first := cm.selfID == 0
	cm.selfID = id
	cm.mu.Unlock()
	if first {
		b.log.Info("registered with the controller", "brokerName", b.cfg.BrokerName, "controllerBrokerId", id)
	}
	cm.apply(ri)
	return nil
}

func (cm *controlled) id() int64 {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return cm.selfID
}

// start registers (for at most a few seconds: the loops keep trying) and
// starts the heartbeat, metadata and SyncStateSet loops.
func (cm *controlled) start() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*controllerAskTimeout)
	if err := cm.register(ctx); err != nil {
		cm.b.log.Warn("register with the controller (retrying)", "controllers", cm.b.cfg.ControllerAddr, "err", err)
	}
	cancel()
	cm.b.every(cm.b.cfg.BrokerHeartbeatInterval, cm.logFailures("heartbeat to the controller", cm.heartbeat))
	cm.b.every(cm.b.cfg.SyncBrokerMetadataPeriod, cm.logFailures("ask the controller for the group's master", cm.refresh))
	cm.b.every(cm.b.cfg.CheckSyncStateSetPeriod, cm.reviewInSync)
}

// logFailures wraps fn as a tick that logs the first failure of a run
// of them, and the recovery.
func (cm *controlled) logFailures(what string, fn func() error) func(time.Time) {
	failing := false
	return func(time.Time) {
		err := fn()
		switch {
		case err != nil && !failing:
			cm.b.log.Warn(what, "err", err)
			failing = true
		case err == nil && failing:
			cm.b.log.Info(what + ": working again")
			failing = false
		}
	}
}

// heartbeat tells the controller leader this broker is alive, with what an
// election compares: its last epoch and log end.
func (cm *controlled) heartbeat() error {
	id := cm.id()
	if id == 0 {
		return nil // not registered yet: the metadata loop registers
	}
	b := cm.b
	last, _ := cm.epochs.Last()
	resp, err := cm.ask(context.Background(), func() *remoting.Command {
		return remoting.NewRequest(remoting.BrokerHeartbeat,
			"clusterName", b.cfg.BrokerClusterName, "brokerName", b.cfg.BrokerName, "brokerAddr", b.addr,
			"brokerId", strconv.FormatInt(id, 10),
			"epoch", strconv.FormatInt(int64(last.Epoch), 10),
			"maxOffset", strconv.FormatInt(b.store.MaxOffset(), 10),
			"heartbeatTimeoutMills", strconv.FormatInt(b.cfg.ControllerHeartBeatTimeout.Milliseconds(), 10),
			"electionPriority", strconv.Itoa(b.cfg.BrokerElectionPriority))
	})
	if err != nil {
		return err
	}
	if resp.Code != remoting.Success {
		return fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
	}
	return nil
}

// refresh asks the controller for the group's master and follows it.
func (cm *controlled) refresh() error {
	if cm.id() == 0 {
		return cm.register(context.Background())
	}
	b := cm.b
	resp, err := cm.ask(context.Background(), func() *remoting.Command {
		return remoting.NewRequest(remoting.ControllerGetReplicaInfo, "brokerName", b.cfg.BrokerName)
	})
	if err != nil {
		return err
	}
	if resp.Code == remoting.ControllerBrokerMetadataNotExist {
		return cm.register(context.Background()) // a controller store started afresh
	}
	if resp.Code != remoting.Success {
		return fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
	}
	ri, err := parseReplicaInfo(resp)
	if err != nil {
		return err
	}
	cm.apply(ri)
	return nil
}

// apply follows the controller's decision: become master, become (or
// stay) the slave of the named master, or, with no master elected, take
// no writes. An answer older than one already applied (a follower's
// lagging copy) is ignored.
func (cm *controlled) apply(ri replicaInfo) {
	cm.roleMu.Lock()
	defer cm.roleMu.Unlock()
	cm.mu.Lock()
	self := cm.selfID
	if ri.masterEpoch < cm.maxEpoch {
		cm.mu.Unlock()
		return
	}
	cm.maxEpoch = ri.masterEpoch
	following := cm.master
	cm.mu.Unlock()
	r := cm.b.role()
	switch {
	case ri.masterID != 0 && ri.masterID == self:
		if r.name != Slave && r.epoch == ri.masterEpoch {
			cm.adoptInSync(ri.inSync, ri.inSyncEpoch)
			return
		}
		if err := cm.becomeMaster(ri); err != nil {
			cm.b.log.Error("become master", "masterEpoch", ri.masterEpoch, "err", err)
		}
	case ri.masterID == 0:
		if r.name != Slave || following != "" {
			cm.becomeSlave(ri, "")
		}
	default:
		if r.name == Slave && following == ri.masterAddr && r.epoch == ri.masterEpoch {
			return
		}
		cm.becomeSlave(ri, ri.masterAddr)
	}
}

// becomeMaster makes this broker the master at ri's epoch. roleMu must be
// held.
func (cm *controlled) becomeMaster(ri replicaInfo) error {
	b := cm.b
	// Master again at a new epoch: the slaves handshake again and learn
	// it, so their epoch entries match this log's. From a slave: what its
	// slaves reported when it last was master is stale.
	b.master.DropSlaves()
	cm.mu.Lock()
	cm.master, cm.masterHA = "", ""
	cm.mu.Unlock()
	b.setMaster("", "")
	b.slave.Reconnect() // no byte of the old master is appended after this
	if cut, end := b.store.CompleteOffset(), b.store.MaxOffset(); cut < end {
		b.log.Info("cutting an incomplete replicated record before taking writes", "from", end, "to", cut)
		if err := b.store.Truncate(cut); err != nil {
			return err
		}
	}
	end := b.store.MaxOffset()
	if err := cm.epochs.Truncate(end); err != nil {
		return err
	}
	if last, ok := cm.epochs.Last(); ok && last.Epoch == ri.masterEpoch {
		// Restarted before the controller noticed this master was gone:
		// master again at the same epoch, which started where it did.
		b.log.Info("master again at the same epoch", "masterEpoch", ri.masterEpoch, "epochStart", last.StartOffset)
	} else if err := cm.epochs.Append(ha.EpochEntry{Epoch: ri.masterEpoch, StartOffset: end}); err != nil {
		return err
	}
	// Topics the store holds but the table lacks (their metadata had not
	// reached this slave yet) become writable topics of the table.
	for topic, n := range b.store.Queues() {
		if _, ok := b.topics.get(topic); !ok {
			tc := storedTopic(topic, n)
			tc.Perm = permRead | permWrite
			if _, _, err := b.topics.createIfAbsent(tc); err != nil {
				b.log.Warn("add stored topic to the table", "topic", topic, "err", err)
			}
		}
	}
	cm.mu.Lock()
	cm.seen = map[int64]time.Time{}
	for _, id := range ri.inSync { // members get haMaxTimeSlaveNotCatchup to connect
		cm.seen[id] = time.Now()
	}
	cm.prevEnd = end
	cm.mu.Unlock()
	cm.adoptInSync(ri.inSync, ri.inSyncEpoch)
	name := AsyncMaster
	if b.cfg.BrokerRole == SyncMaster {
		name = SyncMaster
	}
	b.setRole(role{name: name, id: 0, epoch: ri.masterEpoch})
	b.log.Info("became master", "brokerName", b.cfg.BrokerName, "masterEpoch", ri.masterEpoch, "offset", end,
		"syncStateSet", fmt.Sprint(ri.inSync))
	b.registerSoon()
	return nil
}

// becomeSlave makes this broker a slave of the master at addr ("" none).
// roleMu must be held.
func (cm *controlled) becomeSlave(ri replicaInfo, addr string) {
	b := cm.b
	was := b.role()
	b.setRole(role{name: Slave, id: cm.id(), epoch: ri.masterEpoch})
	if was.name != Slave {
		// A send that passed the role check just before keeps waiting
		// for a replica that will never acknowledge (no broker id is
		// negative) and fails at its timeout.
		b.master.SetInSync([]int64{-1})
		b.master.DropSlaves()
		b.log.Info("stepped down: no longer the master", "brokerName", b.cfg.BrokerName, "masterEpoch", ri.masterEpoch,
			"newMaster", addr)
	}
	cm.mu.Lock()
	cm.master, cm.masterHA = addr, ""
	cm.inSync, cm.proposing = nil, nil
	cm.mu.Unlock()
	b.setMaster(addr, "")
	b.slave.Reconnect()
	if addr != "" {
		b.log.Info("following master", "master", addr, "masterEpoch", ri.masterEpoch)
	}
	b.registerSoon()
}

// masterHA is the HA address of the master the controller named, asked
// of the master itself (GET_BROKER_EPOCH_CACHE answers it): the slave's
// MasterAddr.
func (cm *controlled) masterHAAddr() string {
	cm.mu.Lock()
	addr, ha := cm.master, cm.masterHA
	cm.mu.Unlock()
	if addr == "" || ha != "" {
		return ha
	}
	ctx, cancel := context.WithTimeout(context.Background(), controllerAskTimeout)
	defer cancel()
	resp, err := cm.b.client.Invoke(ctx, addr, remoting.NewRequest(remoting.GetBrokerEpochCache))
	if err != nil || resp.Code != remoting.Success || resp.ExtValue("haServerAddr") == "" {
		cm.b.log.Debug("ask the master for its HA address", "master", addr, "err", err)
		return ""
	}
	ha = resp.ExtValue("haServerAddr")
	cm.mu.Lock()
	if cm.master == addr {
		cm.masterHA = ha
	}
	cm.mu.Unlock()
	return ha
}

// hello is what the slave says in the handshake: its id and the master
// epoch the controller announced.
func (cm *controlled) hello() (int64, int32) {
	r := cm.b.role()
	return cm.id(), r.epoch
}

// reconcile cuts the local log to the last point it shares with the
// master's, then adopts the master's epoch entries (the handshake).
func (cm *controlled) reconcile(epoch int32, entries []ha.EpochEntry, masterEnd int64) error {
	b := cm.b
	local := cm.epochs.Entries()
	end := b.store.MaxOffset()
	cut, ok := ha.ConsistentPoint(local, end, entries, masterEnd)
	if !ok {
		cut = b.store.MinOffset()
		if end > cut {
			b.log.Warn("this log shares no epoch with the master's: discarding it to replicate the master's from its start",
				"localEpochs", fmt.Sprint(local), "masterEpochs", fmt.Sprint(entries), "from", end)
		}
	}
	if cut < end {
		b.log.Warn("cutting the log where it leaves the master's", "from", end, "to", cut, "masterEpoch", epoch)
		if err := b.store.Truncate(cut); err != nil {
			return err
		}
	}
	return cm.epochs.Reset(entries)
}

// epochFor answers the master's handshake: its epoch while it is master
// (0 otherwise) and its epoch entries.
func (cm *controlled) epochFor() (int32, []ha.EpochEntry) {
	r := cm.b.role()
	if r.name == Slave {
		return 0, nil
	}
	return r.epoch, cm.epochs.Entries()
}

// adoptInSync records the SyncStateSet the controller holds and makes
// waits need it.
func (cm *controlled) adoptInSync(set []int64, epoch int32) {
	cm.mu.Lock()
	if epoch < cm.inSyncEpoch && cm.inSync != nil {
		cm.mu.Unlock()
		return
	}
	cm.inSync, cm.inSyncEpoch = slices.Clone(set), epoch
	need := cm.neededLocked()
	cm.mu.Unlock()
	cm.b.master.SetInSync(need)
}

// neededLocked is the slaves a wait needs: the recorded set, with the one
// being proposed added. cm.mu must be held.
func (cm *controlled) neededLocked() []int64 {
	var need []int64
	for _, id := range slices.Concat(cm.inSync, cm.proposing) {
		if id != cm.selfID && !slices.Contains(need, id) {
			need = append(need, id)
		}
	}
	return need
}

// inSyncCount is the size of the SyncStateSet the controller recorded.
func (cm *controlled) inSyncCount() int {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return len(cm.inSync)
}

// reviewInSync, on the master, works out which slaves are in sync and
// proposes a changed SyncStateSet to the controller.
func (cm *controlled) reviewInSync(now time.Time) {
	cm.roleMu.Lock()
	defer cm.roleMu.Unlock()
	b := cm.b
	r := b.role()
	if r.name == Slave {
		return
	}
	end := b.store.MaxOffset()
	cm.mu.Lock()
	self := cm.selfID
	want := nextInSync(inSyncReview{
		self: self, set: cm.inSync, slaves: b.master.Slaves(), seen: cm.seen, prevEnd: cm.prevEnd, end: end, now: now,
		maxGap: b.cfg.HAMaxGapNotInSync, maxLag: b.cfg.HAMaxTimeSlaveNotCatchup,
	})
	cm.prevEnd = end
	if slices.Equal(want, cm.inSync) {
		cm.mu.Unlock()
		return
	}
	cm.proposing = want
	need := cm.neededLocked()
	setEpoch := cm.inSyncEpoch
	cm.mu.Unlock()
	b.master.SetInSync(need) // the union while the change is proposed

	body, _ := json.Marshal(map[string]any{"syncStateSet": want, "syncStateSetEpoch": setEpoch})
	resp, err := cm.ask(context.Background(), func() *remoting.Command {
		req := remoting.NewRequest(remoting.ControllerAlterSyncStateSet, "brokerName", b.cfg.BrokerName,
			"masterBrokerId", strconv.FormatInt(self, 10), "masterEpoch", strconv.FormatInt(int64(r.epoch), 10))
		req.Body = body
		return req
	})
	cm.mu.Lock()
	cm.proposing = nil
	cm.mu.Unlock()
	if err == nil && resp.Code == remoting.Success {
		if ri, perr := parseReplicaInfo(resp); perr == nil {
			b.log.Info("SyncStateSet changed", "brokerName", b.cfg.BrokerName, "syncStateSet", fmt.Sprint(ri.inSync),
				"syncStateSetEpoch", ri.inSyncEpoch)
			cm.adoptInSync(ri.inSync, ri.inSyncEpoch)
			return
		}
	}
	switch {
	case err != nil:
		b.log.Warn("propose SyncStateSet", "want", fmt.Sprint(want), "err", err)
	default:
		b.log.Warn("propose SyncStateSet", "want", fmt.Sprint(want), "code", resp.Code, "remark", resp.Remark)
	}
	cm.mu.Lock()
	need = cm.neededLocked()
	cm.mu.Unlock()
	b.master.SetInSync(need)
}

// inSyncReview is what a SyncStateSet review decides from.
type inSyncReview struct {
	self    int64
	set     []int64 // the recorded SyncStateSet
	slaves  []ha.SlaveStat
	seen    map[int64]time.Time // updated: when each slave was last in sync
	prevEnd int64               // the master's log end at the previous review
	end     int64
	now     time.Time
	maxGap  int64
	maxLag  time.Duration
}

// nextInSync returns the SyncStateSet a review wants, sorted: the master,
// every slave that held the master's log as it was at the previous review
// and is within maxGap, and every member of the set that was in sync
// within maxLag and is within maxGap.
func nextInSync(r inSyncReview) []int64 {
	want := []int64{r.self}
	gap := map[int64]int64{}
	for _, sl := range r.slaves {
		if sl.ID <= 0 || sl.ID == r.self {
			continue
		}
		gap[sl.ID] = r.end - sl.AckedOffset
		if sl.AckedOffset >= r.prevEnd && r.end-sl.AckedOffset <= r.maxGap {
			r.seen[sl.ID] = r.now
		}
	}
	for id, at := range r.seen {
		g, connected := gap[id]
		if r.now.Sub(at) > r.maxLag { // out of sync too long
			if !connected {
				delete(r.seen, id)
			}
			continue
		}
		if connected && g > r.maxGap {
			continue
		}
		// A slave joins when in sync now; a member stays while in sync
		// lately, even through a reconnection.
		if at.Equal(r.now) || slices.Contains(r.set, id) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	return slices.Compact(want)
}

// getBrokerEpochCache answers GET_BROKER_EPOCH_CACHE (mqadmin
// getBrokerEpoch, and a slave asking its new master for its HA address):
// the epoch entries with their end offsets, the log end and the HA
// address.
func (b *Broker) getBrokerEpochCache(_ *remoting.Conn, req *remoting.Command) *remoting.Command {
	if b.ctl == nil {
		return remoting.Errorf(req, remoting.SystemError, "broker %s is not in controller mode (enableControllerMode=false): it keeps no epochs", b.cfg.BrokerName)
	}
	entries := b.ctl.epochs.Entries()
	end := b.store.MaxOffset()
	type entry struct {
		Epoch       int32 `json:"epoch"`
		StartOffset int64 `json:"startOffset"`
		EndOffset   int64 `json:"endOffset"`
	}
	list := make([]entry, len(entries))
	for i, e := range entries {
		list[i] = entry{e.Epoch, e.StartOffset, ha.EpochEnd(entries, i, end)}
	}
	r := b.role()
	body, err := json.Marshal(map[string]any{
		"clusterName": b.cfg.BrokerClusterName, "brokerName": b.cfg.BrokerName, "brokerId": r.id,
		"brokerRole": r.name, "masterEpoch": r.epoch, "epochList": list, "maxOffset": end,
	})
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode epochs: %v", err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("haServerAddr", b.haAddr)
	resp.Body = body
	return resp
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/broker/ha"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// startHA starts the HA side of this broker's role: a master serves its
// log to slaves; a slave pulls its master's.
func (b *Broker) startHA() error {
	if b.ctl != nil {
		return b.startControlledHA()
	}
	if b.cfg.BrokerRole == Slave {
		b.slave = ha.NewSlave(ha.SlaveConfig{
			MasterAddr:        b.masterHA,
			Sink:              b.store,
			Log:               b.log,
			HeartbeatInterval: b.cfg.HASendHeartbeatInterval,
			IdleTimeout:       b.cfg.HAHousekeepingInterval,
		})
		return nil
	}
	return b.startMaster(nil, false)
}

// startMaster starts the master side; epochs and allAck are controller
// mode's (ha.MasterConfig).
func (b *Broker) startMaster(epochs func() (int32, []ha.EpochEntry), allAck bool) error {
	port := b.cfg.HAListenPort // resolved: -1 is listenPort+1
	var onConfirm func()
	if epochs != nil && !b.cfg.ReadUnCommitted {
		onConfirm = b.polls.arrivedAll // held pulls may see more now
	}
	b.master = ha.NewMaster(ha.MasterConfig{
		Listen:            net.JoinHostPort(b.cfg.BrokerIP2, strconv.Itoa(port)),
		Source:            b.store,
		Log:               b.log,
		BatchSize:         b.cfg.HATransferBatchSize,
		HeartbeatInterval: b.cfg.HASendHeartbeatInterval,
		IdleTimeout:       b.cfg.HAHousekeepingInterval,
		SendTimeout:       b.cfg.HASendTimeout,
		FallbehindMax:     b.cfg.HASlaveFallbehindMax,
		Epochs:            epochs,
		AllAck:            allAck,
		OnConfirm:         onConfirm,
	})
	if err := b.master.Start(); err != nil {
		return fmt.Errorf("haListenPort=%d: %w", port, err)
	}
	b.haAddr = b.master.Addr()
	if b.cfg.BrokerRole == SyncMaster {
		b.sendStages = append(b.sendStages, b.replicaStage)
		b.stageNames = append(b.stageNames, stageSlaveWait)
	}
	return nil
}

// startControlledHA starts both sides in controller mode, where the role
// changes at run time: the master side listens always and serves slaves
// only while this broker is master; the slave side replicates while the
// controller names another master.
func (b *Broker) startControlledHA() error {
	b.slave = ha.NewSlave(ha.SlaveConfig{
		MasterAddr:        b.ctl.masterHAAddr,
		Sink:              b.store,
		Log:               b.log,
		HeartbeatInterval: b.cfg.HASendHeartbeatInterval,
		IdleTimeout:       b.cfg.HAHousekeepingInterval,
		Hello:             b.ctl.hello,
		Reconcile:         b.ctl.reconcile,
	})
	return b.startMaster(b.ctl.epochFor, b.cfg.AllAckInSyncStateSet)
}

// masterHA is the master HA address a slave connects to: the configured
// one, else what the namesrvs said.
func (b *Broker) masterHA() string {
	if b.cfg.HAMasterAddress != "" {
		return b.cfg.HAMasterAddress
	}
	// Asked before every connection attempt: while replication is down,
	// register again to learn a master that came back elsewhere.
	if b.slave != nil && !b.slave.Stats().Connected {
		b.registerSoon()
	}
	b.masterMu.Lock()
	defer b.masterMu.Unlock()
	return b.masterHAAddr
}

func (b *Broker) masterRemoting() string {
	b.masterMu.Lock()
	defer b.masterMu.Unlock()
	return b.masterAddr
}

// replicaStage holds a SYNC_MASTER send until a slave has it.
func (b *Broker) replicaStage(end int64, done func(int32, string)) {
	b.master.Wait(end, b.cfg.SyncFlushTimeout, func(err error) {
		switch {
		case err == nil:
			done(0, "")
		case errors.Is(err, ha.ErrAckTimeout) && b.cfg.AllAckInSyncStateSet && b.ctl != nil:
			done(remoting.FlushSlaveTimeout, fmt.Sprintf("the message is stored on the master but not every replica of the SyncStateSet acknowledged it within syncFlushTimeout=%v", b.cfg.SyncFlushTimeout))
		case errors.Is(err, ha.ErrAckTimeout):
			done(remoting.FlushSlaveTimeout, fmt.Sprintf("the message is stored on the master but no slave acknowledged it within syncFlushTimeout=%v", b.cfg.SyncFlushTimeout))
		case errors.Is(err, ha.ErrSlaveBehind):
			done(remoting.SlaveNotAvailable, fmt.Sprintf("the message is stored on the master but every slave is more than haSlaveFallbehindMax=%d bytes behind", b.cfg.HASlaveFallbehindMax))
		default:
			done(remoting.SlaveNotAvailable, "the message is stored on the master but no slave is connected")
		}
	})
}

// metadataRetry is how long a slave waits before it asks its master for
// metadata again after a failure (no master known, master down).
const metadataRetry = time.Second

// masterAskTimeout bounds a metadata request to the master, beyond the time
// the master may hold it.
const masterAskTimeout = 3 * time.Second

// syncFromMaster keeps a slave's topics, subscription groups and consumer
// offsets in step with its master's: everything every metadataSyncInterval
// and after every failure (the consumer offsets only this way), and in
// between a long poll (metawait.go) that brings topic and group changes as
// they happen. One goroutine applies everything, so an older table never
// overwrites a newer one.
func (b *Broker) syncFromMaster(done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-done
		cancel()
	}()
	var seen metaVersions // the master's versions this slave has
	var nextFull time.Time
	failing := false
	for ctx.Err() == nil {
		addr := b.masterRemoting()
		var wait time.Duration
		var err error
		switch {
		case addr == "" || addr == b.addr:
			wait = metadataRetry
		case !time.Now().Before(nextFull):
			seen, err = b.syncOnce(ctx, addr, seen)
			nextFull = time.Now().Add(b.cfg.MetadataSyncInterval)
		default:
			var polled bool
			seen, polled, err = b.syncChanges(ctx, addr, seen, time.Until(nextFull))
			if !polled {
				wait = time.Until(nextFull)
			}
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				b.log.Warn("sync metadata from master", "master", addr, "err", err)
			}
			failing, nextFull, wait = true, time.Time{}, metadataRetry
		case failing && addr != "":
			b.log.Info("sync metadata from master resumed", "master", addr)
			failing = false
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// askMaster sends req to the master at addr and returns its successful
// answer.
func (b *Broker) askMaster(ctx context.Context, addr string, req *remoting.Command, timeout time.Duration) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := b.client.Invoke(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.Success {
		return nil, fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
	}
	return resp, nil
}

// syncOnce takes the master's topics, consumer offsets and subscription
// groups. It returns the versions it has then.
func (b *Broker) syncOnce(ctx context.Context, addr string, seen metaVersions) (metaVersions, error) {
	resp, err := b.askMaster(ctx, addr, remoting.NewRequest(remoting.GetAllTopicConfig), masterAskTimeout)
	if err != nil {
		return seen, fmt.Errorf("topics: %w", err)
	}
	if seen.topics, err = b.applyTopics(resp.Body); err != nil {
		return seen, err
	}
	if resp, err = b.askMaster(ctx, addr, remoting.NewRequest(remoting.GetAllConsumerOffset), masterAskTimeout); err != nil {
		return seen, fmt.Errorf("consumer offsets: %w", err)
	}
	var offs offsetsFile
	if err := wire.Unmarshal(resp.Body, &offs); err != nil {
		return seen, fmt.Errorf("consumer offsets: %w", err)
	}
	b.offsets.merge(offs.OffsetTable)
	seen.groups, err = b.syncGroups(ctx, addr)
	return seen, err
}

// syncChanges long-polls the master for changes of its topic and group
// tables, waiting at most hold, and applies them. polled is false when the
// master does not long-poll (a RocketMQ master answers at once, without the
// versions): the caller waits for the next full sync.
func (b *Broker) syncChanges(ctx context.Context, addr string, seen metaVersions, hold time.Duration) (_ metaVersions, polled bool, err error) {
	if hold <= 0 {
		return seen, true, nil
	}
	req := remoting.NewRequest(remoting.GetAllTopicConfig,
		"topicsDataVersion", seen.topics,
		"groupsDataVersion", seen.groups,
		"suspendTimeoutMillis", strconv.FormatInt(hold.Milliseconds()+1, 10))
	resp, err := b.askMaster(ctx, addr, req, hold+masterAskTimeout)
	if err != nil {
		return seen, false, fmt.Errorf("topic and group changes: %w", err)
	}
	if len(resp.Body) > 0 {
		if seen.topics, err = b.applyTopics(resp.Body); err != nil {
			return seen, false, err
		}
	}
	groups, ok := resp.Ext("groupsDataVersion")
	if !ok {
		return seen, false, nil
	}
	if groups != seen.groups {
		if seen.groups, err = b.syncGroups(ctx, addr); err != nil {
			return seen, false, err
		}
	}
	return seen, true, nil
}

// applyTopics makes the topic table the master's (a GET_ALL_TOPIC_CONFIG
// body) and returns the master's version of it.
func (b *Broker) applyTopics(body []byte) (string, error) {
	var topics topicConfigWrapper
	if err := wire.Unmarshal(body, &topics); err != nil {
		return "", fmt.Errorf("topics: %w", err)
	}
	if changed, err := b.topics.replace(topics.TopicConfigTable, topics.DataVersion); err != nil {
		return "", fmt.Errorf("persist topics: %w", err)
	} else if changed {
		b.registerSoon()
	}
	return versionToken(topics.DataVersion), nil
}

// syncGroups takes the master's subscription groups and returns the
// master's version of them.
func (b *Broker) syncGroups(ctx context.Context, addr string) (string, error) {
	resp, err := b.askMaster(ctx, addr, remoting.NewRequest(remoting.GetAllSubscriptionGroupConfig), masterAskTimeout)
	if err != nil {
		return "", fmt.Errorf("subscription groups: %w", err)
	}
	var groups groupsFile
	if err := wire.Unmarshal(resp.Body, &groups); err != nil {
		return "", fmt.Errorf("subscription groups: %w", err)
	}
	if err := b.groups.merge(groups.SubscriptionGroupTable); err != nil {
		return "", fmt.Errorf("persist subscription groups: %w", err)
	}
	return versionToken(groups.DataVersion), nil
}

// getAllConsumerOffset handles GET_ALL_CONSUMER_OFFSET (43).
func (b *Broker) getAllConsumerOffset(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := b.offsets.marshal()
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode consumer offsets: %v", err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

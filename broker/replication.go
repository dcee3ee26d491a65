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
	port := b.cfg.HAListenPort
	if port < 0 {
		port = 0
		if b.cfg.ListenPort != 0 {
			port = b.cfg.ListenPort + 1
		}
	}
	ip := b.cfg.BrokerIP2
	if ip == "" {
		ip = b.cfg.BrokerIP1
	}
	b.master = ha.NewMaster(ha.MasterConfig{
		Listen:            net.JoinHostPort(ip, strconv.Itoa(port)),
		Source:            b.store,
		Log:               b.log,
		BatchSize:         b.cfg.HATransferBatchSize,
		HeartbeatInterval: b.cfg.HASendHeartbeatInterval,
		IdleTimeout:       b.cfg.HAHousekeepingInterval,
		FallbehindMax:     b.cfg.HASlaveFallbehindMax,
	})
	if err := b.master.Start(); err != nil {
		return err
	}
	b.haAddr = b.master.Addr()
	if b.cfg.BrokerRole == SyncMaster {
		b.sendStages = append(b.sendStages, b.replicaStage)
		b.stageNames = append(b.stageNames, stageSlaveWait)
	}
	return nil
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
		case errors.Is(err, ha.ErrAckTimeout):
			done(remoting.FlushSlaveTimeout, fmt.Sprintf("the message is stored on the master but no slave acknowledged it within syncFlushTimeout=%v", b.cfg.SyncFlushTimeout))
		case errors.Is(err, ha.ErrSlaveBehind):
			done(remoting.SlaveNotAvailable, fmt.Sprintf("the message is stored on the master but every slave is more than haSlaveFallbehindMax=%d bytes behind", b.cfg.HASlaveFallbehindMax))
		default:
			done(remoting.SlaveNotAvailable, "the message is stored on the master but no slave is connected")
		}
	})
}

// syncFromMaster keeps a slave's topics, subscription groups and consumer
// offsets in step with its master's, every 10 s.
func (b *Broker) syncFromMaster(done <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		if addr := b.masterRemoting(); addr != "" && addr != b.addr {
			if err := b.syncOnce(addr); err != nil {
				b.log.Warn("sync metadata from master", "master", addr, "err", err)
			}
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func (b *Broker) syncOnce(addr string) error {
	ask := func(code int32) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		resp, err := b.client.Invoke(ctx, addr, remoting.NewRequest(code))
		if err != nil {
			return nil, err
		}
		if resp.Code != remoting.Success {
			return nil, fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
		}
		return resp.Body, nil
	}
	body, err := ask(remoting.GetAllTopicConfig)
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	var topics topicConfigWrapper
	if err := wire.Unmarshal(body, &topics); err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	if changed, err := b.topics.replace(topics.TopicConfigTable, topics.DataVersion); err != nil {
		return fmt.Errorf("persist topics: %w", err)
	} else if changed {
		b.registerSoon()
	}
	if body, err = ask(remoting.GetAllConsumerOffset); err != nil {
		return fmt.Errorf("consumer offsets: %w", err)
	}
	var offs offsetsFile
	if err := wire.Unmarshal(body, &offs); err != nil {
		return fmt.Errorf("consumer offsets: %w", err)
	}
	b.offsets.merge(offs.OffsetTable)
	if body, err = ask(remoting.GetAllSubscriptionGroupConfig); err != nil {
		return fmt.Errorf("subscription groups: %w", err)
	}
	var groups groupsFile
	if err := wire.Unmarshal(body, &groups); err != nil {
		return fmt.Errorf("subscription groups: %w", err)
	}
	return b.groups.merge(groups.SubscriptionGroupTable)
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

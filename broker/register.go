package broker

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"strconv"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

const registerTimeout = 6 * time.Second

// registerAll registers with every namesrv in parallel and waits for them
// (at most registerTimeout). It remembers the master's addresses a slave
// is told.
func (b *Broker) registerAll() {
	addrs := b.cfg.NamesrvAddrs()
	if len(addrs) == 0 {
		return
	}
	b.metaWait.kick() // a topic change is announced here: tell the slaves too
	// The REGISTER_BROKER body (REMOTING.md §7.5), around the topic table
	// as topics.json holds it (encoded once per change).
	wrapper, err := b.registeredTopics()
	if err != nil {
		b.log.Error("encode registration", "err", err)
		return
	}
	body := make([]byte, 0, len(wrapper)+64)
	body = append(append(append(body, `{"topicConfigSerializeWrapper":`...), wrapper...), `,"filterServerList":[]}`...)
	crc := int64(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := remoting.NewRequest(remoting.RegisterBroker,
				"brokerName", b.cfg.BrokerName,
				"brokerAddr", b.addr,
				"clusterName", b.cfg.BrokerClusterName,
				"haServerAddr", b.haAddr,
				"brokerId", strconv.FormatInt(b.cfg.BrokerID, 10),
				"compressed", "false",
				"bodyCrc32", strconv.FormatInt(crc, 10),
				"heartbeatTimeoutMillis", "120000",
				"enableActingMaster", strconv.FormatBool(b.cfg.EnableSlaveActingMaster),
			)
			req.Body = body
			resp, err := b.client.Invoke(ctx, addr, req)
			if err != nil {
				b.log.Warn("register with namesrv", "addr", addr, "err", err)
				return
			}
			if resp.Code != remoting.Success {
				b.log.Warn("register with namesrv", "addr", addr, "code", resp.Code, "remark", resp.Remark)
				return
			}
			if master := resp.ExtValue("masterAddr"); master != "" {
				b.setMaster(master, resp.ExtValue("haServerAddr"))
			}
		}()
	}
	wg.Wait()
}

// setMaster records the master addresses a namesrv told this slave.
func (b *Broker) setMaster(addr, haAddr string) {
	b.masterMu.Lock()
	defer b.masterMu.Unlock()
	if b.masterAddr != addr || b.masterHAAddr != haAddr {
		b.log.Info("master learned", "master", addr, "ha", haAddr)
	}
	b.masterAddr, b.masterHAAddr = addr, haAddr
}

// registerSoon asks the registration loop to register now, without
// waiting for it.
func (b *Broker) registerSoon() {
	b.metaWait.kick()
	select {
	case b.registerNow <- struct{}{}:
	default:
	}
}

// unregisterAll tells every namesrv this broker is leaving.
func (b *Broker) unregisterAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, addr := range b.cfg.NamesrvAddrs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := remoting.NewRequest(remoting.UnregisterBroker,
				"brokerName", b.cfg.BrokerName,
				"brokerAddr", b.addr,
				"clusterName", b.cfg.BrokerClusterName,
				"brokerId", strconv.FormatInt(b.cfg.BrokerID, 10),
			)
			if _, err := b.client.Invoke(ctx, addr, req); err != nil {
				b.log.Warn("unregister from namesrv", "addr", addr, "err", err)
			}
		}()
	}
	wg.Wait()
}

// registeredTopics is the topicConfigSerializeWrapper of the registration:
// the topic table as topics.json holds it (encoded once per change), to
// which a slave adds the topics its store holds and its table lacks.
func (b *Broker) registeredTopics() ([]byte, error) {
	if b.cfg.BrokerRole == Slave {
		topics, version := b.topics.snapshot()
		n := len(topics)
		if addStoredTopics(topics, b.store.Queues()); len(topics) > n {
			return json.Marshal(topicConfigWrapper{topics, version})
		}
	}
	return b.topics.marshal()
}

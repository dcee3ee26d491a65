package broker

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// Registration with the namesrvs, as RocketMQ 5 does it. A full
// registration lists every topic (the table as topics.json holds it and, on
// a slave, the topics its store holds); it is sent at start, every
// registerNameServerPeriod, after a topic is deleted, and always by a
// slave. When topics are created or changed on a master, the registration
// lists only those, with the table's current data version (RocketMQ's
// registerIncrementBrokerData): a namesrv merges the topics a registration
// lists and removes none (namesrv/doc.go), so what a creation costs does
// not grow with the number of topics.
//
// One goroutine registers, one round at a time: Start's first round, then
// registerLoop. A change asks for a round (requestRegister) and may wait
// for it; a round reads the topic table after every request it serves was
// made, so when it ends every namesrv has been sent the change. Requests
// made while a round runs share the next one: topics created at once go out
// in one request. A round's increment is every entry that differs from the
// state the previous round sent (tableState.changedSince), so no change
// falls between two rounds; a namesrv that did not take the previous round
// is sent the full table.

const registerTimeout = 6 * time.Second

// registerRetry is how soon a round goes again to the namesrvs that did
// not take the last one (only to them, with every topic), doubling while
// they keep failing.
const registerRetry = time.Second

// regRound is a registration round that requests wait for.
type regRound struct {
	full bool          // a request wants every topic listed
	done chan struct{} // closed when the round has ended
}

func newRegRound() *regRound { return &regRound{done: make(chan struct{})} }

// requestRegister asks the registration loop for a round (full: list every
// topic; else the topics changed since the last round) and returns a
// channel closed once a round that read the topic table after this call
// has ended. It never blocks.
func (b *Broker) requestRegister(full bool) <-chan struct{} {
	b.metaWait.kick() // a topic change is announced here: tell the slaves too
	b.regMu.Lock()
	r := b.regNext
	r.full = r.full || full
	b.regMu.Unlock()
	select {
	case b.registerNow <- struct{}{}:
	default:
	}
	return r.done
}

// registerSoon asks for a full registration without waiting for it.
func (b *Broker) registerSoon() { b.requestRegister(true) }

// awaitRegistered waits until round is done or the broker closes.
func (b *Broker) awaitRegistered(round <-chan struct{}) {
	select {
	case <-round:
	case <-b.done:
	}
}

// registerLoop runs the rounds requests ask for, and a full one every
// registerNameServerPeriod.
func (b *Broker) registerLoop(done <-chan struct{}) {
	t := time.NewTicker(b.cfg.RegisterNameServerPeriod)
	defer t.Stop()
	var retry <-chan time.Time // armed while a namesrv did not take the last round
	backoff := registerRetry   // doubles while rounds keep failing, up to the period
	for {
		full := false
		select {
		case <-done:
			return
		case <-t.C:
			full = true
		case <-b.registerNow:
		case <-retry:
		}
		b.regMu.Lock()
		r := b.regNext
		b.regNext = newRegRound()
		b.regMu.Unlock()
		b.registerRound(full || r.full)
		close(r.done)
		retry = nil
		if !slices.Contains(slices.Collect(maps.Values(b.regOK)), false) {
			backoff = registerRetry
			continue
		}
		// A namesrv that was down gets the whole table again soon after it
		// is back, not a period later: clients that ask it find routes
		// within registerRetry of a short outage. The retries back off to
		// the period, so a namesrv that stays unreachable (each attempt can
		// take registerTimeout) does not keep the loop busy.
		retry = time.After(min(backoff, b.cfg.RegisterNameServerPeriod))
		backoff *= 2
	}
}

// registerRound registers with every namesrv in parallel and waits for them
// (at most registerTimeout): the topics changed since the last round, or
// every topic with full, on a slave, or to a namesrv that did not take the
// last round. It remembers the master's addresses a slave is told. Only
// the registering goroutine calls it.
func (b *Broker) registerRound(full bool) {
	addrs := b.cfg.NamesrvAddrs()
	if len(addrs) == 0 || b.brokerID() < 0 { // controller mode, before the controller gave an id
		return
	}
	s := b.topics.state()
	full = full || b.regBase == nil || b.isSlave()
	var inc, all []byte // REGISTER_BROKER bodies (REMOTING.md §7.5)
	if !full {
		if changed := s.changedSince(b.regBase); len(changed) > 0 {
			wrapper, err := json.Marshal(topicConfigWrapper{changed, s.version})
			if err != nil {
				b.log.Error("encode registration", "err", err)
				return
			}
			inc = registerBody(wrapper)
		}
	}
	bodies := make([][]byte, len(addrs)) // nil: nothing to send
	for i, addr := range addrs {
		if !full && b.regOK[addr] {
			bodies[i] = inc // this namesrv has the rest
			continue
		}
		if all == nil {
			wrapper, err := b.registeredTopics(s)
			if err != nil {
				b.log.Error("encode registration", "err", err)
				return
			}
			all = registerBody(wrapper)
		}
		bodies[i] = all
	}

	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	ok := make([]bool, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		if bodies[i] == nil {
			ok[i] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = b.registerWith(ctx, addr, bodies[i])
		}()
	}
	wg.Wait()
	if b.regOK == nil {
		b.regOK = make(map[string]bool, len(addrs))
	}
	for i, addr := range addrs {
		b.regOK[addr] = ok[i]
	}
	b.regBase = s
}

// registerBody wraps a topicConfigSerializeWrapper as a REGISTER_BROKER
// body.
func registerBody(wrapper []byte) []byte {
	body := make([]byte, 0, len(wrapper)+64)
	return append(append(append(body, `{"topicConfigSerializeWrapper":`...), wrapper...), `,"filterServerList":[]}`...)
}

// registerWith sends one REGISTER_BROKER and reports whether the namesrv
// took it.
func (b *Broker) registerWith(ctx context.Context, addr string, body []byte) bool {
	req := remoting.NewRequest(remoting.RegisterBroker,
		"brokerName", b.cfg.BrokerName,
		"brokerAddr", b.addr,
		"clusterName", b.cfg.BrokerClusterName,
		"haServerAddr", b.haAddr,
		"brokerId", strconv.FormatInt(b.brokerID(), 10),
		"compressed", "false",
		"bodyCrc32", strconv.FormatInt(int64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10),
		"heartbeatTimeoutMillis", "120000",
		"enableActingMaster", strconv.FormatBool(b.cfg.EnableSlaveActingMaster && b.ctl == nil),
	)
	req.Body = body
	resp, err := b.client.Invoke(ctx, addr, req)
	if err != nil {
		b.log.Warn("register with namesrv", "addr", addr, "err", err)
		return false
	}
	if resp.Code != remoting.Success {
		b.log.Warn("register with namesrv", "addr", addr, "code", resp.Code, "remark", resp.Remark)
		return false
	}
	// In controller mode the controller names the master, not the routes.
	if master := resp.ExtValue("masterAddr"); master != "" && b.ctl == nil {
		b.setMaster(master, resp.ExtValue("haServerAddr"))
	}
	return true
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
				"brokerId", strconv.FormatInt(b.brokerID(), 10),
			)
			if _, err := b.client.Invoke(ctx, addr, req); err != nil {
				b.log.Warn("unregister from namesrv", "addr", addr, "err", err)
			}
		}()
	}
	wg.Wait()
}

// registeredTopics is the topicConfigSerializeWrapper of a full
// registration: topic state s as topics.json holds it, to which a slave
// adds the topics its store holds and its table lacks.
func (b *Broker) registeredTopics(s *tableState[TopicConfig]) ([]byte, error) {
	if b.isSlave() {
		topics := maps.Clone(s.entries)
		if addStoredTopics(topics, b.store.Queues()); len(topics) > len(s.entries) {
			return json.Marshal(topicConfigWrapper{topics, s.version})
		}
	}
	return b.topics.t.fileOf(s)
}

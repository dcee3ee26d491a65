package broker

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/remoting"
)

// subscription is one topic subscription of a consumer group, as the
// heartbeat announced it.
type subscription struct {
	topic    string
	expr     string
	exprType string
	all      bool // "*" or empty: no filtering
	tags     []string
	codes    []int64 // TagsCode of each tag
}

func parseSubscription(topic, expr, exprType string) *subscription {
	s := &subscription{topic: topic, expr: expr, exprType: exprType}
	if exprType == "" {
		s.exprType = "TAG"
	}
	if s.exprType != "TAG" {
		// SQL92 filtering is not supported by this broker: deliver
		// everything and let the client decide.
		s.all = true
		return s
	}
	t := strings.TrimSpace(expr)
	if t == "" || t == "*" {
		s.all = true
		return s
	}
	for _, tag := range strings.Split(t, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			s.tags = append(s.tags, tag)
			s.codes = append(s.codes, commitlog.TagsCode(tag))
		}
	}
	if len(s.tags) == 0 {
		s.all = true
	}
	return s
}

// matches reports whether a consume-queue entry's tags code may match.
func (s *subscription) matches(code int64) bool {
	if s == nil || s.all {
		return true
	}
	for _, c := range s.codes {
		if c == code {
			return true
		}
	}
	return false
}

type client struct {
	id       string
	conn     *remoting.Conn
	lastSeen time.Time
}

type consumerGroup struct {
	clients          map[string]*client // by client id
	subs             map[string]*subscription
	consumeType      string
	messageModel     string
	consumeFromWhere string
}

// consumers tracks the live clients of every consumer and producer group.
type consumers struct {
	mu        sync.RWMutex
	groups    map[string]*consumerGroup
	producers map[string]map[string]*client
}

func newConsumers() *consumers {
	return &consumers{groups: map[string]*consumerGroup{}, producers: map[string]map[string]*client{}}
}

// heartbeatBody is the HEART_BEAT request body (REMOTING.md §9.1).
type heartbeatBody struct {
	ClientID        string `json:"clientID"`
	ProducerDataSet []struct {
		GroupName string `json:"groupName"`
	} `json:"producerDataSet"`
	ConsumerDataSet []struct {
		GroupName           string `json:"groupName"`
		ConsumeType         string `json:"consumeType"`
		MessageModel        string `json:"messageModel"`
		ConsumeFromWhere    string `json:"consumeFromWhere"`
		SubscriptionDataSet []struct {
			Topic          string `json:"topic"`
			SubString      string `json:"subString"`
			ExpressionType string `json:"expressionType"`
		} `json:"subscriptionDataSet"`
	} `json:"consumerDataSet"`
}

// register records a heartbeat. It returns the consumer groups whose
// membership changed.
func (cs *consumers) register(hb *heartbeatBody, conn *remoting.Conn, now time.Time) (changed []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	// A heartbeat served after its connection closed (a client that sent
	// it and exited) would register a client that no close removes: it
	// would hold queues of its group for channelExpiredTimeout.
	if conn != nil && conn.Closed() {
		return nil
	}
	for _, p := range hb.ProducerDataSet {
		m := cs.producers[p.GroupName]
		if m == nil {
			m = map[string]*client{}
			cs.producers[p.GroupName] = m
		}
		m[hb.ClientID] = &client{id: hb.ClientID, conn: conn, lastSeen: now}
	}
	for _, cd := range hb.ConsumerDataSet {
		g := cs.groups[cd.GroupName]
		if g == nil {
			g = &consumerGroup{clients: map[string]*client{}, subs: map[string]*subscription{}}
			cs.groups[cd.GroupName] = g
		}
		g.consumeType, g.messageModel, g.consumeFromWhere = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere
		c := g.clients[hb.ClientID]
		if c == nil || c.conn != conn {
			changed = append(changed, cd.GroupName)
			c = &client{id: hb.ClientID}
			g.clients[hb.ClientID] = c
		}
		c.conn, c.lastSeen = conn, now
		for _, sd := range cd.SubscriptionDataSet {
			old := g.subs[sd.Topic]
			if old == nil || old.expr != sd.SubString || old.exprType != sd.ExpressionType {
				g.subs[sd.Topic] = parseSubscription(sd.Topic, sd.SubString, sd.ExpressionType)
			}
		}
	}
	return changed
}

// clientConn returns the connection of the client with the given id, as
// its heartbeats named it (producer or consumer), or nil.
func (cs *consumers) clientConn(clientID string) *remoting.Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, m := range cs.producers {
		if c := m[clientID]; c != nil && c.conn != nil {
			return c.conn
		}
	}
	for _, g := range cs.groups {
		if c := g.clients[clientID]; c != nil && c.conn != nil {
			return c.conn
		}
	}
	return nil
}

// producerConn returns the connection of a live producer of group, or nil.
func (cs *consumers) producerConn(group string) *remoting.Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var best *client
	for _, c := range cs.producers[group] {
		if c.conn != nil && (best == nil || c.lastSeen.After(best.lastSeen)) {
			best = c
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}

// unregister removes clientID from the named groups; it returns the
// consumer groups whose membership changed.
func (cs *consumers) unregister(clientID, producerGroup, consumerGroup string) []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if producerGroup != "" {
		delete(cs.producers[producerGroup], clientID)
	}
	var changed []string
	if g := cs.groups[consumerGroup]; g != nil {
		if _, ok := g.clients[clientID]; ok {
			delete(g.clients, clientID)
			changed = append(changed, consumerGroup)
			cs.dropIfEmptyLocked(consumerGroup)
		}
	}
	return changed
}

// removeIf drops every client for which gone is true and returns the
// consumer groups that changed.
func (cs *consumers) removeIf(gone func(*client) bool) []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, m := range cs.producers {
		for id, c := range m {
			if gone(c) {
				delete(m, id)
			}
		}
	}
	var changed []string
	for name, g := range cs.groups {
		n := len(g.clients)
		for id, c := range g.clients {
			if gone(c) {
				delete(g.clients, id)
			}
		}
		if len(g.clients) != n {
			changed = append(changed, name)
			cs.dropIfEmptyLocked(name)
		}
	}
	return changed
}

// dropIfEmptyLocked forgets a group without clients. cs.mu must be held.
func (cs *consumers) dropIfEmptyLocked(name string) {
	if g := cs.groups[name]; g != nil && len(g.clients) == 0 {
		delete(cs.groups, name)
	}
}

// clientIDs returns the sorted ids of a group's consumers.
func (cs *consumers) clientIDs(group string) ([]string, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	g := cs.groups[group]
	if g == nil {
		return nil, false
	}
	ids := make([]string, 0, len(g.clients))
	for id := range g.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, true
}

func (cs *consumers) conns(group string) []*remoting.Conn {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	g := cs.groups[group]
	if g == nil {
		return nil
	}
	out := make([]*remoting.Conn, 0, len(g.clients))
	for _, c := range g.clients {
		out = append(out, c.conn)
	}
	return out
}

// subscription returns the group's subscription to topic, if any.
func (cs *consumers) subscription(group, topic string) *subscription {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	if g := cs.groups[group]; g != nil {
		return g.subs[topic]
	}
	return nil
}

// heartBeat handles HEART_BEAT (34).
func (b *Broker) heartBeat(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	var hb heartbeatBody
	if err := json.Unmarshal(req.Body, &hb); err != nil {
		return remoting.Errorf(req, remoting.SystemError, "heartbeat body is not valid JSON: %v", err)
	}
	if hb.ClientID == "" {
		return remoting.Errorf(req, remoting.SystemError, "heartbeat body lacks clientID")
	}
	for _, cd := range hb.ConsumerDataSet {
		if cd.GroupName == "" {
			return remoting.Errorf(req, remoting.SystemError, "heartbeat consumer data lacks groupName")
		}
		if err := b.groups.ensure(cd.GroupName); err != nil {
			b.log.Error("persist subscription groups", "err", err)
		}
		if cd.MessageModel != "BROADCASTING" {
			retry := retryPrefix + cd.GroupName
			if validateTopic(retry) == nil {
				if _, err := b.ensureTopic(retry, 1, permRead|permWrite); err != nil {
					b.log.Error("heartbeat: retry topic", "group", cd.GroupName, "err", err)
				}
			}
		}
	}
	changed := b.consumers.register(&hb, c, time.Now())
	for _, g := range changed {
		b.notifyConsumerIdsChanged(g)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// unregisterClient handles UNREGISTER_CLIENT (35).
func (b *Broker) unregisterClient(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	id, err := req.String("clientID")
	if err != nil {
		return fieldErr(req, err)
	}
	for _, g := range b.consumers.unregister(id, req.ExtValue("producerGroup"), req.ExtValue("consumerGroup")) {
		b.notifyConsumerIdsChanged(g)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// getConsumerListByGroup handles GET_CONSUMER_LIST_BY_GROUP (38).
func (b *Broker) getConsumerListByGroup(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.String("consumerGroup")
	if err != nil {
		return fieldErr(req, err)
	}
	ids, ok := b.consumers.clientIDs(group)
	if !ok {
		return remoting.Errorf(req, remoting.SystemError, "no consumer of group %s is online", group)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body, _ = json.Marshal(struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}{ids})
	return resp
}

// notifyConsumerIdsChanged tells every client of group to rebalance.
func (b *Broker) notifyConsumerIdsChanged(group string) {
	if g, ok := b.groups.get(group); ok && !g.NotifyConsumerIdsChangedEnable {
		return
	}
	for _, conn := range b.consumers.conns(group) {
		req := remoting.NewRequest(remoting.NotifyConsumerIdsChanged, "consumerGroup", group)
		if err := conn.Oneway(req); err != nil {
			b.log.Debug("notify consumer ids changed", "group", group, "addr", conn.RemoteAddr(), "err", err)
		}
	}
}

// connClosed forgets the clients, held pulls and held metadata requests of
// a closed connection.
func (b *Broker) connClosed(c *remoting.Conn) {
	b.polls.dropConn(c)
	b.metaWait.dropConn(c)
	for _, g := range b.consumers.removeIf(func(cl *client) bool { return cl.conn == c }) {
		b.notifyConsumerIdsChanged(g)
	}
}

// expireClients forgets clients silent for longer than channelExpiredTimeout.
func (b *Broker) expireClients(now time.Time) {
	limit := now.Add(-b.cfg.ChannelExpiredTimeout)
	expired := b.consumers.removeIf(func(cl *client) bool { return cl.lastSeen.Before(limit) })
	for _, g := range expired {
		b.log.Info("consumer expired", "group", g)
		b.notifyConsumerIdsChanged(g)
	}
}

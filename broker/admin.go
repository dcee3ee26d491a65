package broker

import (
	"fmt"
	"strings"

	"github.com/rocketgo/rocketgo/remoting"
)

// ensureTopic returns the topic's config, creating it with the given queue
// count and permission (and announcing it to the namesrvs) if it is new. It
// returns once the topic is persisted, or the error persisting it.
func (b *Broker) ensureTopic(name string, queues int32, perm int32) (TopicConfig, error) {
	tc, _, err := b.createTopic(name, queues, perm)
	return tc, err
}

// createTopic is ensureTopic that also returns, when it created the topic,
// the registration round that will announce it (closed once done).
func (b *Broker) createTopic(name string, queues int32, perm int32) (TopicConfig, <-chan struct{}, error) {
	tc, created, err := b.topics.createIfAbsent(TopicConfig{
		TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: "SINGLE_TAG",
	})
	var round <-chan struct{}
	if created {
		b.log.Info("topic created", "topic", name, "queues", queues)
		round = b.requestRegister(false)
	}
	if err != nil {
		return tc, nil, fmt.Errorf("create topic %s: persist topics: %w", name, err)
	}
	return tc, round, nil
}

// isSystemTopic reports whether name is reserved by the broker.
func (b *Broker) isSystemTopic(name string) bool {
	switch name {
	case autoCreateTopicKey, selfTestTopic, offsetMovedTopic, scheduleTopic, b.cfg.BrokerClusterName, b.cfg.BrokerName:
		return true
	}
	return strings.HasPrefix(name, "rmq_sys_") || strings.HasPrefix(name, "RMQ_SYS_")
}

// updateAndCreateTopic handles UPDATE_AND_CREATE_TOPIC (17). It answers
// once every namesrv has the new route, so a consumer started right after
// finds it.
func (b *Broker) updateAndCreateTopic(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.String("topic")
	if err != nil {
		return fieldErr(req, err)
	}
	if err := validateTopic(topic); err != nil {
		return remoting.NewResponse(req, remoting.InvalidParameter, err.Error())
	}
	if b.isSystemTopic(topic) {
		return remoting.Errorf(req, remoting.InvalidParameter, "the topic %s is a system topic and cannot be changed", topic)
	}
	tc := TopicConfig{TopicName: topic, TopicFilterType: "SINGLE_TAG"}
	if tc.ReadQueueNums, err = req.Int32Or("readQueueNums", 16); err != nil {
		return fieldErr(req, err)
	}
	if tc.WriteQueueNums, err = req.Int32Or("writeQueueNums", 16); err != nil {
		return fieldErr(req, err)
	}
	if tc.Perm, err = req.Int32Or("perm", permRead|permWrite); err != nil {
		return fieldErr(req, err)
	}
	if tc.TopicSysFlag, err = req.Int32Or("topicSysFlag", 0); err != nil {
		return fieldErr(req, err)
	}
	if v := req.ExtValue("topicFilterType"); v != "" {
		tc.TopicFilterType = v
	}
	tc.Order = req.Bool("order")
	switch {
	case tc.ReadQueueNums < 1 || tc.ReadQueueNums > 1024:
		return remoting.Errorf(req, remoting.InvalidParameter, "readQueueNums=%d: want 1..1024", tc.ReadQueueNums)
	case tc.WriteQueueNums < 1 || tc.WriteQueueNums > 1024:
		return remoting.Errorf(req, remoting.InvalidParameter, "writeQueueNums=%d: want 1..1024", tc.WriteQueueNums)
	case tc.Perm&^(permRead|permWrite|permInherit|permPriority) != 0:
		return remoting.Errorf(req, remoting.InvalidParameter, "perm=%d: want a combination of 8, 4, 2 and 1", tc.Perm)
	}
	changed, err := b.topics.put(tc)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "persist topic %s: %v", topic, err)
	}
	if changed {
		b.log.Info("topic updated", "topic", topic, "read", tc.ReadQueueNums, "write", tc.WriteQueueNums, "perm", tc.Perm)
		b.awaitRegistered(b.requestRegister(false))
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// deleteTopicInBroker handles DELETE_TOPIC_IN_BROKER (215).
func (b *Broker) deleteTopicInBroker(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.String("topic")
	if err != nil {
		return fieldErr(req, err)
	}
	if b.isSystemTopic(topic) {
		return remoting.Errorf(req, remoting.InvalidParameter, "the topic %s is a system topic and cannot be deleted", topic)
	}
	removed, err := b.topics.remove(topic)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "persist topics: %v", err)
	}
	b.offsets.removeTopic(topic)
	if err := b.store.DeleteTopic(topic); err != nil {
		return remoting.Errorf(req, remoting.SystemError, "delete consume queues of %s: %v", topic, err)
	}
	if removed {
		b.log.Info("topic deleted", "topic", topic)
		b.awaitRegistered(b.requestRegister(true))
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// deleteSubscriptionGroup handles DELETE_SUBSCRIPTIONGROUP (207): the
// group's config goes and, with cleanOffset=true, its committed offsets in
// every topic. A group the broker does not have is deleted already.
func (b *Broker) deleteSubscriptionGroup(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.String("groupName")
	if err != nil {
		return fieldErr(req, err)
	}
	removed, err := b.groups.remove(group)
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "persist subscription groups: %v", err)
	}
	if req.ExtValue("cleanOffset") == "true" {
		b.offsets.removeGroup(group)
	}
	if removed {
		b.log.Info("subscription group deleted", "group", group)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// topicConfigWrapper is TopicConfigSerializeWrapper.
type topicConfigWrapper struct {
	TopicConfigTable map[string]*TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion             `json:"dataVersion"`
}

// getAllSubscriptionGroupConfig handles GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
func (b *Broker) getAllSubscriptionGroupConfig(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := b.groups.marshal()
	if err != nil {
		return remoting.Errorf(req, remoting.SystemError, "encode subscription groups: %v", err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// createSystemTopics adds the topics every broker has.
func (b *Broker) createSystemTopics() {
	rw := int32(permRead | permWrite)
	tbwPerm := rw
	if b.cfg.AutoCreateTopicEnable {
		tbwPerm |= permInherit
	}
	for _, t := range []TopicConfig{
		{TopicName: autoCreateTopicKey, ReadQueueNums: b.cfg.DefaultTopicQueueNums, WriteQueueNums: b.cfg.DefaultTopicQueueNums, Perm: tbwPerm},
		{TopicName: selfTestTopic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: rw},
		{TopicName: offsetMovedTopic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: rw},
		{TopicName: scheduleTopic, ReadQueueNums: int32(len(b.delayLevels)), WriteQueueNums: int32(len(b.delayLevels)), Perm: rw},
		{TopicName: halfTopic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: rw},
		{TopicName: replyTopic(b.cfg.BrokerClusterName), ReadQueueNums: 1, WriteQueueNums: 1, Perm: rw},
		{TopicName: opTopic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: rw},
		{TopicName: b.cfg.BrokerClusterName, ReadQueueNums: 16, WriteQueueNums: 16, Perm: permRead | permWrite | permInherit},
		{TopicName: b.cfg.BrokerName, ReadQueueNums: 1, WriteQueueNums: 1, Perm: permRead | permWrite | permInherit},
	} {
		t.TopicFilterType = "SINGLE_TAG"
		if old, ok := b.topics.get(t.TopicName); ok && old.TopicName == t.TopicName && old.Perm == t.Perm && old.ReadQueueNums == t.ReadQueueNums {
			continue
		}
		if _, err := b.topics.put(t); err != nil {
			b.log.Error("persist topics", "topic", t.TopicName, "err", err)
		}
	}
}

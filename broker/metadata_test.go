package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// metadataPoll is a slave's long poll for topic and group changes.
func metadataPoll(topics, groups string, suspend time.Duration) *remoting.Command {
	return remoting.NewRequest(remoting.GetAllTopicConfig,
		"topicsDataVersion", topics, "groupsDataVersion", groups,
		"suspendTimeoutMillis", strconv.FormatInt(suspend.Milliseconds(), 10))
}

// pollResult is the outcome of a metadata poll run in the background.
type pollResult struct {
	resp *remoting.Command
	err  error
}

// pollAsync sends a metadata poll asking to be held for a minute with rpc
// and delivers its answer, or the error after 10 s without one (the
// default metadataLongPollTime is 20 s).
func (c *cluster) pollAsync(rpc *remoting.Client, topics, groups string) <-chan pollResult {
	out := make(chan pollResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := rpc.Invoke(ctx, c.brokerAddr, metadataPoll(topics, groups, time.Minute))
		out <- pollResult{resp, err}
	}()
	return out
}

func (c *cluster) waitHeld(n int) {
	c.t.Helper()
	eventually(c.t, 10*time.Second, strconv.Itoa(n)+" metadata polls held", func() bool {
		return c.runtime(c.brokerAddr)["metadataPollsHeld"] == strconv.Itoa(n)
	})
}

// versions returns the master's current table versions.
func (c *cluster) versions() (topics, groups string) {
	c.t.Helper()
	resp := c.invoke(remoting.NewRequest(remoting.GetAllTopicConfig))
	if resp.Code != remoting.Success || len(resp.Body) == 0 {
		c.t.Fatalf("GET_ALL_TOPIC_CONFIG: code %d %q, %d bytes", resp.Code, resp.Remark, len(resp.Body))
	}
	topics, groups = resp.ExtValue("topicsDataVersion"), resp.ExtValue("groupsDataVersion")
	if topics == "" || groups == "" {
		c.t.Fatalf("GET_ALL_TOPIC_CONFIG carries no versions: %v", resp.Fields())
	}
	return topics, groups
}

// TestMetadataLongPollBounds: a master holds at most
// metadataLongPollMaxHeld metadata polls (SYSTEM_BUSY beyond, saying
// which key) and each at most metadataLongPollTime, whatever the slave
// asks; a slave behind the master's versions is answered at once.
func TestMetadataLongPollBounds(t *testing.T) {
	c := startCluster(t, 1, "-metadataLongPollMaxHeld", "2", "-metadataLongPollTime", "1500")
	tv, gv := c.versions()
	resp := c.invoke(metadataPoll("0.0.0", gv, time.Minute))
	if resp.Code != remoting.Success || len(resp.Body) == 0 || resp.ExtValue("topicsDataVersion") != tv {
		t.Fatalf("a poll with an old topic version: code %d, %d bytes, version %q", resp.Code, len(resp.Body), resp.ExtValue("topicsDataVersion"))
	}

	a, b := c.pollAsync(c.rpc, tv, gv), c.pollAsync(c.rpc, tv, gv)
	c.waitHeld(2)
	resp = c.invoke(metadataPoll(tv, gv, time.Minute))
	if resp.Code != remoting.SystemBusy || !strings.Contains(resp.Remark, "metadataLongPollMaxHeld") {
		t.Fatalf("a third poll with metadataLongPollMaxHeld=2: code %d %q", resp.Code, resp.Remark)
	}
	// Both asked for a minute and are answered after 1.5 s, within the
	// 10 s the client waits: nothing changed, no body.
	for _, ch := range []<-chan pollResult{a, b} {
		r := <-ch
		if r.err != nil || r.resp.Code != remoting.Success || len(r.resp.Body) != 0 || r.resp.ExtValue("topicsDataVersion") != tv {
			t.Fatalf("a held poll at metadataLongPollTime: %v %+v", r.err, r.resp)
		}
	}
	c.waitHeld(0)
}

// TestMetadataLongPollWakes: a held metadata poll is answered as soon as
// a topic or a subscription group changes, with the topic table when it
// changed; the poll of a closed connection is dropped.
func TestMetadataLongPollWakes(t *testing.T) {
	c := startCluster(t, 1)
	tv, gv := c.versions()
	held := c.pollAsync(c.rpc, tv, gv)
	c.waitHeld(1)
	c.createTopic("LongPolled", 2)
	r := <-held
	if r.err != nil || r.resp.Code != remoting.Success {
		t.Fatalf("poll woken by a topic: %v %+v", r.err, r.resp)
	}
	var topics struct{ TopicConfigTable map[string]json.RawMessage }
	if err := json.Unmarshal(r.resp.Body, &topics); err != nil || topics.TopicConfigTable["LongPolled"] == nil {
		t.Fatalf("the answer lacks the new topic (%v): %.200s", err, r.resp.Body)
	}
	if got := r.resp.ExtValue("topicsDataVersion"); got == tv {
		t.Fatalf("topic version unchanged after a topic was created: %s", got)
	}

	tv, gv = c.versions()
	held = c.pollAsync(c.rpc, tv, gv)
	c.waitHeld(1)
	// A broadcasting group: no retry topic, only the group table changes.
	hb := heartbeat("GID_long_polled", "metadata-test")
	hb.Body = bytes.ReplaceAll(hb.Body, []byte(`"CLUSTERING"`), []byte(`"BROADCASTING"`))
	if resp := c.invoke(hb); resp.Code != remoting.Success {
		t.Fatalf("heartbeat: code %d %q", resp.Code, resp.Remark)
	}
	if r = <-held; r.err != nil || r.resp.ExtValue("groupsDataVersion") == gv || len(r.resp.Body) != 0 {
		t.Fatalf("poll woken by a new group, topics unchanged: %v %+v", r.err, r.resp)
	}

	// The default metadataLongPollTime is 20 s: a poll gone sooner was
	// dropped with its connection.
	other := remoting.NewClient(remoting.ClientConfig{})
	tv, gv = c.versions()
	lost := c.pollAsync(other, tv, gv)
	c.waitHeld(1)
	other.Close()
	if r := <-lost; r.err == nil {
		t.Fatalf("a poll on a closed client answered: %+v", r.resp)
	}
	eventually(t, 10*time.Second, "the closed connection's poll dropped", func() bool {
		return c.runtime(c.brokerAddr)["metadataPollsHeld"] == "0"
	})
}

// TestMetadataReachesSlavePromptly: topics and subscription groups created
// on the master reach the slave by its long poll, though its full sync
// (metadataSyncInterval) is a minute away; so do those created after the
// master restarted and the slave reconnected.
func TestMetadataReachesSlavePromptly(t *testing.T) {
	c := startCluster(t, 1)
	c.startSlave("-metadataSyncInterval", "60000")
	c.waitHeld(1) // the slave's poll
	slaveHas := func(code int32, field, name string) func() bool {
		return func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			resp, err := c.rpc.Invoke(ctx, c.slaveAddr, remoting.NewRequest(code))
			if err != nil || resp.Code != remoting.Success {
				return false
			}
			var table map[string]map[string]json.RawMessage
			if err := json.Unmarshal(resp.Body, &table); err != nil {
				return false
			}
			return table[field][name] != nil
		}
	}
	c.createTopic("Prompt", 2)
	eventually(t, 5*time.Second, "the topic on the slave", slaveHas(remoting.GetAllTopicConfig, "topicConfigTable", "Prompt"))
	if resp := c.invoke(heartbeat("GID_prompt", "metadata-test")); resp.Code != remoting.Success {
		t.Fatalf("heartbeat: code %d %q", resp.Code, resp.Remark)
	}
	eventually(t, 5*time.Second, "the group on the slave", slaveHas(remoting.GetAllSubscriptionGroupConfig, "subscriptionGroupTable", "GID_prompt"))

	c.broker.Kill()
	c.startBroker()
	c.createTopic("AfterRestart", 1)
	eventually(t, 5*time.Second, "a topic of the restarted master on the slave", slaveHas(remoting.GetAllTopicConfig, "topicConfigTable", "AfterRestart"))
}

// TestDeleteSubscriptionGroup: DELETE_SUBSCRIPTIONGROUP removes the group's
// config, with cleanOffset=true its committed offsets too, and the
// deletion outlives a restart; another group keeps both. A group the broker
// does not have is deleted already; a request without a group name is
// refused, naming the field.
func TestDeleteSubscriptionGroup(t *testing.T) {
	c := startCluster(t, 1)
	c.createTopic("Del", 1)
	for _, g := range []string{"GID_gone", "GID_kept"} {
		if resp := c.invoke(heartbeat(g, "delete-test")); resp.Code != remoting.Success {
			t.Fatalf("heartbeat %s: code %d %q", g, resp.Code, resp.Remark)
		}
		if resp := c.invoke(remoting.NewRequest(remoting.UpdateConsumerOffset, "consumerGroup", g, "topic", "Del",
			"queueId", "0", "commitOffset", "7")); resp.Code != remoting.Success {
			t.Fatalf("commit offset of %s: code %d %q", g, resp.Code, resp.Remark)
		}
	}
	groups := func() map[string]json.RawMessage {
		t.Helper()
		resp := c.invoke(remoting.NewRequest(remoting.GetAllSubscriptionGroupConfig))
		var table map[string]map[string]json.RawMessage
		if err := json.Unmarshal(resp.Body, &table); err != nil {
			t.Fatal(err)
		}
		return table["subscriptionGroupTable"]
	}
	offset := func(g string) string {
		t.Helper()
		resp := c.invoke(remoting.NewRequest(remoting.QueryConsumerOffset, "consumerGroup", g, "topic", "Del", "queueId", "0"))
		if resp.Code != remoting.Success {
			t.Fatalf("query offset of %s: code %d %q", g, resp.Code, resp.Remark)
		}
		return resp.ExtValue("offset")
	}
	del := func(args ...string) *remoting.Command {
		return c.invoke(remoting.NewRequest(remoting.DeleteSubscriptionGroup, args...))
	}
	if resp := del("groupName", "GID_gone", "cleanOffset", "true"); resp.Code != remoting.Success {
		t.Fatalf("delete: code %d %q", resp.Code, resp.Remark)
	}
	check := func(when string) {
		t.Helper()
		g := groups()
		if g["GID_gone"] != nil || g["GID_kept"] == nil {
			t.Errorf("%s: groups %v, want GID_kept without GID_gone", when, slices.Collect(maps.Keys(g)))
		}
		// With no committed offset, a queue that still starts at 0 answers 0.
		if gone, kept := offset("GID_gone"), offset("GID_kept"); gone != "0" || kept != "7" {
			t.Errorf("%s: offsets %s (deleted group) and %s (kept), want none (0) and 7", when, gone, kept)
		}
	}
	check("after the delete")
	if err := c.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	c.startBroker()
	check("after a restart")

	if resp := del("groupName", "GID_never"); resp.Code != remoting.Success {
		t.Errorf("deleting a group the broker never had: code %d %q", resp.Code, resp.Remark)
	}
	if resp := del(); resp.Code != remoting.InvalidParameter || !strings.Contains(resp.Remark, "groupName") {
		t.Errorf("no groupName: code %d %q, want INVALID_PARAMETER naming the field", resp.Code, resp.Remark)
	}
}

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// Driving a cluster loadgen did not start (RunSpec.Cleanup), a run leaves
// it as it found it: the topics it created, the retry topics the brokers
// made for its consumer groups, and those groups, are deleted when the run
// ends, as mqadmin deleteTopic and deleteSubGroup would. Producer groups
// live only in the brokers' memory and go when the producers close.

// cleanupTimeout bounds the deletions, which run after the run's own
// context may have ended (Ctrl-C).
const cleanupTimeout = 15 * time.Second

// consumerGroup names the consumer group of a run's t-th topic.
func consumerGroup(runID string, t int) string { return fmt.Sprintf("GID_%s_%d", runID, t) }

// retryPrefix is the prefix of the retry topic a broker keeps for each
// consumer group (RocketMQ's %RETRY%<group>).
const retryPrefix = "%RETRY%"

// removeRunResources deletes a run's topics and consumer groups from the
// cluster of group, through the first namesrv that answers: each topic and
// retry topic on the group's master and on every namesrv, each consumer
// group and its offsets on every broker of the group (a slave keeps the
// groups its consumers' heartbeats made).
func removeRunResources(namesrvs []string, group string, cred *remoting.Credentials, topics, groups []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	rpc := remoting.NewClient(remoting.ClientConfig{Credentials: cred})
	defer rpc.Close()
	cluster, bd, err := groupOf(ctx, rpc, namesrvs, group)
	if err != nil {
		return err
	}
	master := bd.BrokerAddrs[0]
	if master == "" {
		return fmt.Errorf("broker group %q has no live master to delete topics on", group)
	}
	var errs []error
	call := func(addr string, req *remoting.Command, what string) {
		resp, err := rpc.Invoke(ctx, addr, req)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s on %s: %w", what, addr, err))
		case resp.Code != remoting.Success:
			errs = append(errs, fmt.Errorf("%s on %s: code %d: %s", what, addr, resp.Code, resp.Remark))
		}
	}
	all := slices.Clone(topics)
	for _, g := range groups {
		all = append(all, retryPrefix+g)
	}
	for _, t := range all {
		call(master, remoting.NewRequest(remoting.DeleteTopicInBroker, "topic", t), "delete topic "+t)
		for _, ns := range namesrvs {
			call(ns, remoting.NewRequest(remoting.DeleteTopicInNamesrv, "topic", t, "clusterName", cluster), "delete topic "+t)
		}
	}
	ids := make([]int64, 0, len(bd.BrokerAddrs))
	for id := range bd.BrokerAddrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, g := range groups {
		for _, id := range ids {
			call(bd.BrokerAddrs[id], remoting.NewRequest(remoting.DeleteSubscriptionGroup, "groupName", g, "cleanOffset", strconv.FormatBool(true)),
				"delete consumer group "+g)
		}
	}
	return errors.Join(errs...)
}

// cleanupRun is Execute's deferred deletion of a run's topics and groups
// (RunSpec.Cleanup); a failure is logged, not the run's error.
func cleanupRun(spec RunSpec, runID string, topics []string, log *slog.Logger) {
	groups := make([]string, len(topics))
	for t := range topics {
		groups[t] = consumerGroup(runID, t)
	}
	if err := removeRunResources(spec.Namesrvs, spec.Group, spec.Credentials, topics, groups); err != nil {
		log.Warn("delete the run's topics and consumer groups", "label", spec.Label, "err", err)
	}
}

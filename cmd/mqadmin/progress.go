package main

// The operator's questions about consumption, with RocketMQ's command
// names and flags:
//
//	mqadmin consumerProgress  -n NAMESRV -g GROUP [-t TOPIC]
//	mqadmin topicStatus       -n NAMESRV -t TOPIC
//	mqadmin resetOffsetByTime -n NAMESRV -g GROUP -t TOPIC -s TIME [-f=false]
//
// TIME is ms since the epoch, now, or yyyy-MM-dd#HH:mm:ss:SSS in local
// time (RocketMQ's forms).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

func init() {
	commands["consumerProgress"] = consumerProgress
	commands["resetOffsetByTime"] = resetOffsetByTime
}

// Time layouts of RocketMQ's mqadmin (UtilAll).
const (
	layoutSecond = "2006-01-02 15:04:05"     // yyyy-MM-dd HH:mm:ss
	layoutMilli  = "2006-01-02 15:04:05,000" // timeMillisToHumanString2
	layoutReset  = "2006-01-02#15:04:05:000" // yyyy-MM-dd#HH:mm:ss:SSS
)

// queueTable fetches a table keyed by MessageQueue (the offsetTable of
// TopicStatsTable, ConsumeStats or ResetOffsetBody) from a broker and
// decodes each value into a new V.
func queueTable[V any](a *admin, addr string, req *remoting.Command, what string) ([]wire.MessageQueue, []V, error) {
	resp, err := a.call(addr, req)
	if err != nil {
		return nil, nil, err
	}
	if err := ok(resp, what+" from "+addr); err != nil {
		return nil, nil, err
	}
	raw, found, err := wire.ObjectField(resp.Body, "offsetTable")
	if err != nil || !found {
		return nil, nil, fmt.Errorf("%s from %s: no offsetTable in the body (%v)", what, addr, err)
	}
	entries, err := wire.ParseQueueMap(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s from %s: %w", what, addr, err)
	}
	mqs := make([]wire.MessageQueue, len(entries))
	vals := make([]V, len(entries))
	for i, e := range entries {
		mqs[i] = e.Queue
		if err := json.Unmarshal(e.Value, &vals[i]); err != nil {
			return nil, nil, fmt.Errorf("%s from %s: queue %+v: %w", what, addr, e.Queue, err)
		}
	}
	return mqs, vals, nil
}

// brokerOf returns the address to ask about a broker of a route: its
// master, or the lowest-numbered broker left.
func brokerOf(bd wire.BrokerData) (string, bool) {
	if addr := bd.BrokerAddrs[0]; addr != "" {
		return addr, true
	}
	ids := make([]int64, 0, len(bd.BrokerAddrs))
	for id := range bd.BrokerAddrs {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return "", false
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return bd.BrokerAddrs[ids[0]], true
}

// topicBrokers returns the broker name → address to ask, of the brokers
// that serve topic.
func (a *admin) topicBrokers(topic string) (map[string]string, error) {
	r, _, err := a.route(topic)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, bd := range r.BrokerDatas {
		if addr, ok := brokerOf(bd); ok {
			out[bd.BrokerName] = addr
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s: no broker serves it", topic)
	}
	return out, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func formatTime(ms int64, layout, none string) string {
	if ms <= 0 {
		return none
	}
	return time.UnixMilli(ms).Format(layout)
}

// topicStatus prints each queue's min and max offset and the store time
// of its last message (GET_TOPIC_STATS_INFO).
func topicStatus(a *admin, args []string) error {
	var topic string
	if err := a.flags("topicStatus", args, func(fs *flag.FlagSet) { fs.StringVar(&topic, "t", "", "topic") }); err != nil {
		return err
	}
	if topic == "" {
		return errors.New("topicStatus: -t TOPIC is required")
	}
	brokers, err := a.topicBrokers(topic)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, name := range sortedNames(brokers) {
		mqs, offs, err := queueTable[struct {
			MinOffset, MaxOffset, LastUpdateTimestamp int64
		}](a, brokers[name], remoting.NewRequest(remoting.GetTopicStatsInfo, "topic", topic), "topic stats of "+topic)
		if err != nil {
			return err
		}
		for i, mq := range mqs {
			o := offs[i]
			rows = append(rows, []string{mq.BrokerName, strconv.Itoa(int(mq.QueueID)), strconv.FormatInt(o.MinOffset, 10),
				strconv.FormatInt(o.MaxOffset, 10), formatTime(o.LastUpdateTimestamp, layoutMilli, "")})
		}
	}
	sortRows(rows)
	table("#Broker Name\t#QID\t#Min Offset\t#Max Offset\t#Last Updated", rows)
	return nil
}

// sortRows orders rows by their columns, numbers numerically.
func sortRows(rows [][]string) {
	sort.SliceStable(rows, func(i, j int) bool {
		for k := range rows[i] {
			a, b := rows[i][k], rows[j][k]
			if a == b {
				continue
			}
			x, err1 := strconv.ParseInt(a, 10, 64)
			y, err2 := strconv.ParseInt(b, 10, 64)
			if err1 == nil && err2 == nil {
				return x < y
			}
			return a < b
		}
		return false
	})
}

// consumerProgress prints, per queue, the queue's end, the group's
// committed offset, the difference (the lag) and the store time of the
// last message consumed (GET_CONSUME_STATS), from every broker that serves
// the topic, or every master of the cluster without -t.
func consumerProgress(a *admin, args []string) error {
	var group, topic string
	err := a.flags("consumerProgress", args, func(fs *flag.FlagSet) {
		fs.StringVar(&group, "g", "", "consumer group")
		fs.StringVar(&topic, "t", "", "topic (default: every topic of the group)")
	})
	if err != nil {
		return err
	}
	if group == "" {
		return errors.New("consumerProgress: -g GROUP is required")
	}
	var brokers map[string]string
	if topic != "" {
		if brokers, err = a.topicBrokers(topic); err != nil {
			return err
		}
	} else {
		ci, err := a.clusterInfo()
		if err != nil {
			return err
		}
		brokers = map[string]string{}
		for name, bd := range ci.BrokerAddrTable {
			if addr, ok := brokerOf(bd); ok {
				brokers[name] = addr
			}
		}
	}
	var rows [][]string
	var total int64
	for _, name := range sortedNames(brokers) {
		req := remoting.NewRequest(remoting.GetConsumeStats, "consumerGroup", group)
		if topic != "" {
			req.SetExt("topic", topic)
		}
		mqs, offs, err := queueTable[struct {
			BrokerOffset, ConsumerOffset, LastTimestamp int64
		}](a, brokers[name], req, "consume stats of "+group)
		if err != nil {
			return err
		}
		for i, mq := range mqs {
			o := offs[i]
			diff := o.BrokerOffset - o.ConsumerOffset
			total += diff
			rows = append(rows, []string{mq.Topic, mq.BrokerName, strconv.Itoa(int(mq.QueueID)), strconv.FormatInt(o.BrokerOffset, 10),
				strconv.FormatInt(o.ConsumerOffset, 10), "N/A", strconv.FormatInt(diff, 10), formatTime(o.LastTimestamp, layoutSecond, "N/A")})
		}
	}
	switch {
	case len(rows) == 0 && topic != "":
		return fmt.Errorf("consumerProgress: group %s has no consume stats of topic %s: it committed no offset there, or its online consumers do not subscribe to it", group, topic)
	case len(rows) == 0:
		return fmt.Errorf("consumerProgress: no broker has consume stats of group %s: it committed no offset and none of its consumers is online", group)
	}
	sortRows(rows)
	table("#Topic\t#Broker Name\t#QID\t#Broker Offset\t#Consumer Offset\t#Client IP\t#Diff\t#LastTime", rows)
	fmt.Printf("\nConsume Diff Total: %d\n", total)
	return nil
}

// parseResetTime reads -s: ms since the epoch, now, or
// yyyy-MM-dd#HH:mm:ss:SSS in local time.
func parseResetTime(s string, now time.Time) (int64, error) {
	if s == "now" {
		return now.UnixMilli(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < -1 {
			return 0, fmt.Errorf("-s %s: a negative time", s)
		}
		return ms, nil
	}
	// Go needs a '.' or ',' before fractional seconds; RocketMQ writes ':'.
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.Count(s, ":") == 3 {
		if t, err := time.ParseInLocation("2006-01-02#15:04:05.000", s[:i]+"."+s[i+1:], time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("-s %q: want ms since the epoch, now, or yyyy-MM-dd#HH:mm:ss:SSS (e.g. %s)", s, now.Format(layoutReset))
}

// resetOffsetByTime moves a consumer group to the offsets of a time on
// every broker of the topic (INVOKE_BROKER_TO_RESET_OFFSET); the brokers
// tell the group's running consumers.
func resetOffsetByTime(a *admin, args []string) error {
	var group, topic, when string
	var force bool
	err := a.flags("resetOffsetByTime", args, func(fs *flag.FlagSet) {
		fs.StringVar(&group, "g", "", "consumer group")
		fs.StringVar(&topic, "t", "", "topic")
		fs.StringVar(&when, "s", "", "time: ms since the epoch, now, or yyyy-MM-dd#HH:mm:ss:SSS (local)")
		fs.BoolVar(&force, "f", true, "move offsets forward too (false: only back)")
	})
	if err != nil {
		return err
	}
	if group == "" || topic == "" || when == "" {
		return errors.New("resetOffsetByTime: -g GROUP, -t TOPIC and -s TIME are required")
	}
	ts, err := parseResetTime(when, time.Now())
	if err != nil {
		return fmt.Errorf("resetOffsetByTime: %w", err)
	}
	brokers, err := a.topicBrokers(topic)
	if err != nil {
		return err
	}
	fmt.Printf("rollback consumer offset by specified consumerGroup[%s], topic[%s], force[%v], timestamp(string)[%s], timestamp(long)[%d]\n",
		group, topic, force, when, ts)
	var rows [][]string
	for _, name := range sortedNames(brokers) {
		req := remoting.NewRequest(remoting.InvokeBrokerToResetOffset, "topic", topic, "group", group,
			"timestamp", strconv.FormatInt(ts, 10), "isForce", strconv.FormatBool(force))
		mqs, offs, err := queueTable[int64](a, brokers[name], req, "reset offsets of "+group)
		if err != nil {
			return err
		}
		for i, mq := range mqs {
			rows = append(rows, []string{mq.BrokerName, strconv.Itoa(int(mq.QueueID)), strconv.FormatInt(offs[i], 10)})
		}
	}
	sortRows(rows)
	table("#brokerName\t#queueId\t#offset", rows)
	return nil
}

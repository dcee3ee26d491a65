package main

// Finding stored messages, with RocketMQ's command names and flags:
//
//	mqadmin queryMsgById        -n NAMESRV -i OFFSET_MSG_ID
//	mqadmin queryMsgByKey       -n NAMESRV -t TOPIC -k KEY [-b BEGIN_MS] [-e END_MS]
//	mqadmin queryMsgByUniqueKey -n NAMESRV -t TOPIC -i UNIQ_KEY
//
// The message id a producer's send result shows as offsetMsgId (store
// host and commit-log offset) goes to queryMsgById; the msgId (the
// UNIQ_KEY the client set) to queryMsgByUniqueKey.

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

func init() {
	commands["queryMsgById"] = queryMsgByID
	commands["queryMsgByKey"] = queryMsgByKey
	commands["queryMsgByUniqueKey"] = queryMsgByUniqueKey
}

// Bounds of QUERY_MESSAGE as RocketMQ's mqadmin sends them.
const (
	queryMaxNum   = 64 // queryMsgByKey
	uniqueMaxNum  = 32 // queryMsgByUniqueKey (the broker's defaultQueryMaxNum)
	uniqueKeyFlag = "_UNIQUE_KEY_QUERY"
)

// queryMsgByID prints the message an offset message id names, read from
// the broker the id names (VIEW_MESSAGE_BY_ID).
func queryMsgByID(a *admin, args []string) error {
	var id string
	if err := a.flags("queryMsgById", args, func(fs *flag.FlagSet) { fs.StringVar(&id, "i", "", "offset message id") }); err != nil {
		return err
	}
	if id == "" {
		return errors.New("queryMsgById: -i MSG_ID is required")
	}
	for _, one := range strings.Split(id, ",") {
		one = strings.TrimSpace(one)
		host, off, err := wire.ParseOffsetMsgID(one)
		if err != nil {
			return fmt.Errorf("queryMsgById: %q is not an offset message id (32 or 56 hex digits: store host, port, commit-log offset); "+
				"for the msgId a client sets (its UNIQ_KEY) use queryMsgByUniqueKey -t TOPIC -i ID", one)
		}
		resp, err := a.call(host.String(), remoting.NewRequest(remoting.ViewMessageByID, "offset", strconv.FormatInt(off, 10)))
		if err != nil {
			return err
		}
		if err := ok(resp, "message "+one); err != nil {
			return err
		}
		msgs, err := client.DecodeMessages(resp.Body)
		if err != nil || len(msgs) != 1 {
			return fmt.Errorf("message %s: a body of %d bytes that is not one message: %v", one, len(resp.Body), err)
		}
		printMessage(msgs[0])
	}
	return nil
}

// queryMessage asks every broker of topic for the messages under key and
// keeps those match accepts, newest first per broker.
func (a *admin) queryMessage(topic, key string, maxNum int, begin, end int64, unique bool, match func(*client.MessageExt) bool) ([]*client.MessageExt, error) {
	brokers, err := a.topicBrokers(topic)
	if err != nil {
		return nil, err
	}
	var out []*client.MessageExt
	for _, name := range sortedNames(brokers) {
		req := remoting.NewRequest(remoting.QueryMessage, "topic", topic, "key", key, "maxNum", strconv.Itoa(maxNum),
			"beginTimestamp", strconv.FormatInt(begin, 10), "endTimestamp", strconv.FormatInt(end, 10),
			uniqueKeyFlag, strconv.FormatBool(unique))
		resp, err := a.call(brokers[name], req)
		if err != nil {
			return nil, err
		}
		if resp.Code == remoting.QueryNotFound {
			continue
		}
		if err := ok(resp, "query "+topic+" on "+name); err != nil {
			return nil, err
		}
		msgs, err := client.DecodeMessages(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("query %s on %s: %w", topic, name, err)
		}
		for _, m := range msgs {
			if match(m) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// queryMsgByKey lists the messages of a topic whose KEYS hold the key.
func queryMsgByKey(a *admin, args []string) error {
	var topic, key string
	var begin, end int64
	err := a.flags("queryMsgByKey", args, func(fs *flag.FlagSet) {
		fs.StringVar(&topic, "t", "", "topic")
		fs.StringVar(&key, "k", "", "message key (one of the space-separated KEYS)")
		fs.Int64Var(&begin, "b", 0, "stored at or after this time, ms since the epoch")
		fs.Int64Var(&end, "e", math.MaxInt64, "stored at or before this time, ms since the epoch")
	})
	if err != nil {
		return err
	}
	if topic == "" || key == "" {
		return errors.New("queryMsgByKey: -t TOPIC and -k KEY are required")
	}
	msgs, err := a.queryMessage(topic, key, queryMaxNum, begin, end, false, func(m *client.MessageExt) bool {
		return m.Topic == topic && slices.Contains(m.Keys, key)
	})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("queryMsgByKey: no message of topic %s has the key %q", topic, key)
	}
	var rows [][]string
	for _, m := range msgs {
		rows = append(rows, []string{m.MsgID, strconv.Itoa(int(m.QueueID)), strconv.FormatInt(m.QueueOffset, 10), m.OffsetMsgID, readable(m.Body)})
	}
	table("#Message ID\t#QID\t#Offset\t#Offset ID\t#Body", rows)
	return nil
}

// queryMsgByUniqueKey prints the messages of a topic whose UNIQ_KEY (the
// msgId a producer's send result shows) is the id: one, or more when a
// producer sent it again.
func queryMsgByUniqueKey(a *admin, args []string) error {
	var topic, id string
	err := a.flags("queryMsgByUniqueKey", args, func(fs *flag.FlagSet) {
		fs.StringVar(&topic, "t", "", "topic")
		fs.StringVar(&id, "i", "", "unique key (the client's msgId)")
	})
	if err != nil {
		return err
	}
	if topic == "" || id == "" {
		return errors.New("queryMsgByUniqueKey: -t TOPIC and -i UNIQ_KEY are required")
	}
	msgs, err := a.queryMessage(topic, id, uniqueMaxNum, 0, math.MaxInt64, true, func(m *client.MessageExt) bool {
		return m.Topic == topic && m.Properties["UNIQ_KEY"] == id
	})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("queryMsgByUniqueKey: no message of topic %s has the unique key %q", topic, id)
	}
	for i, m := range msgs {
		if i > 0 {
			fmt.Println()
		}
		printMessage(m)
	}
	return nil
}

// printMessage prints a message as RocketMQ's mqadmin does, with the body
// itself instead of the path of a file holding it.
func printMessage(m *client.MessageExt) {
	line := func(name string, v any) { fmt.Printf("%-20s %v\n", name+":", v) }
	line("OffsetID", m.OffsetMsgID)
	line("Topic", m.Topic)
	line("Tags", "["+m.Tags+"]")
	line("Keys", "["+strings.Join(m.Keys, " ")+"]")
	line("Queue ID", m.QueueID)
	line("Queue Offset", m.QueueOffset)
	line("CommitLog Offset", m.CommitLogOffset)
	line("Reconsume Times", m.ReconsumeTimes)
	line("Born Timestamp", formatTime(m.BornTimestamp, layoutMilli, "0"))
	line("Store Timestamp", formatTime(m.StoreTimestamp, layoutMilli, "0"))
	line("Born Host", m.BornHost)
	line("Store Host", m.StoreHost)
	line("System Flag", m.SysFlag)
	names := make([]string, 0, len(m.Properties))
	for k := range m.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	props := make([]string, len(names))
	for i, k := range names {
		props[i] = k + "=" + m.Properties[k]
	}
	line("Properties", "{"+strings.Join(props, ", ")+"}")
	line("Message Body", readable(m.Body))
}

// readable is the body as text when it is printable UTF-8, else quoted
// with Go's escapes.
func readable(b []byte) string {
	if utf8.Valid(b) && strings.IndexFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return string(b)
	}
	return strconv.Quote(string(b))
}

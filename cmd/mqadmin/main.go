// Command mqadmin administers a rocketgo (or RocketMQ) cluster with
// RocketMQ's mqadmin sub-command names and flags:
//
//	mqadmin clusterList   -n NAMESRV
//	mqadmin topicList     -n NAMESRV
//	mqadmin topicRoute    -n NAMESRV -t TOPIC
//	mqadmin topicStatus   -n NAMESRV -t TOPIC
//	mqadmin updateTopic   -n NAMESRV (-b BROKER_ADDR | -c CLUSTER) -t TOPIC [-r 8] [-w 8] [-p 6]
//	mqadmin deleteTopic   -n NAMESRV -c CLUSTER -t TOPIC
//	mqadmin brokerStatus  -n NAMESRV -b BROKER_ADDR
//	mqadmin getControllerMetaData -a CONTROLLERS
//	mqadmin getSyncStateSet       -a CONTROLLERS [-b BROKER_NAME,…]
//	mqadmin electMaster           -a CONTROLLERS -b BROKER_NAME -i BROKER_ID
//	mqadmin getBrokerEpoch        -n NAMESRV -b BROKER_NAME
//
// NAMESRV is a ';'-separated list; the first that answers is used.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "mqadmin: %v\n", err)
		os.Exit(1)
	}
}

var commands = map[string]func(*admin, []string) error{
	"clusterList":  clusterList,
	"topicList":    topicList,
	"topicRoute":   topicRoute,
	"topicStatus":  topicStatus,
	"updateTopic":  updateTopic,
	"deleteTopic":  deleteTopic,
	"brokerStatus": brokerStatus,

	"getControllerMetaData": getControllerMetaData,
	"getSyncStateSet":       getSyncStateSet,
	"electMaster":           electMaster,
	"getBrokerEpoch":        getBrokerEpoch,
}

func run(args []string) error {
	if len(args) == 0 || commands[args[0]] == nil {
		var names []string
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(args) == 0 {
			return fmt.Errorf("usage: mqadmin COMMAND -n NAMESRV [flags]; commands: %s", strings.Join(names, ", "))
		}
		return fmt.Errorf("unknown command %q; commands: %s", args[0], strings.Join(names, ", "))
	}
	a := &admin{rpc: remoting.NewClient(remoting.ClientConfig{})}
	defer a.rpc.Close()
	return commands[args[0]](a, args[1:])
}

type admin struct {
	rpc      *remoting.Client
	namesrvs []string
}

// flags parses the command's flags; -n is always required.
func (a *admin) flags(name string, args []string, define func(fs *flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	ns := fs.String("n", os.Getenv("NAMESRV_ADDR"), "namesrv addresses, ';'-separated (default $NAMESRV_ADDR)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	a.namesrvs = splitAddrs(*ns)
	if len(a.namesrvs) == 0 {
		return fmt.Errorf("%s: -n NAMESRV is required", name)
	}
	return nil
}

func (a *admin) call(addr string, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := a.rpc.Invoke(ctx, addr, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return resp, nil
}

// namesrv sends req to the first namesrv that answers.
func (a *admin) namesrv(req *remoting.Command) (*remoting.Command, error) {
	var errs []error
	for _, ns := range a.namesrvs {
		resp, err := a.call(ns, req)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no namesrv answered: %w", errors.Join(errs...))
}

func ok(resp *remoting.Command, what string) error {
	if resp.Code != remoting.Success {
		return fmt.Errorf("%s: code %d: %s", what, resp.Code, resp.Remark)
	}
	return nil
}

func (a *admin) clusterInfo() (*wire.ClusterInfo, error) {
	resp, err := a.namesrv(remoting.NewRequest(remoting.GetBrokerClusterInfo))
	if err != nil {
		return nil, err
	}
	if err := ok(resp, "cluster info"); err != nil {
		return nil, err
	}
	var ci wire.ClusterInfo
	if err := wire.Unmarshal(resp.Body, &ci); err != nil {
		return nil, fmt.Errorf("cluster info: %w", err)
	}
	return &ci, nil
}

func table(header string, rows [][]string) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
}

func clusterList(a *admin, args []string) error {
	if err := a.flags("clusterList", args, nil); err != nil {
		return err
	}
	ci, err := a.clusterInfo()
	if err != nil {
		return err
	}
	var rows [][]string
	for name, bd := range ci.BrokerAddrTable {
		for id, addr := range bd.BrokerAddrs {
			rows = append(rows, []string{bd.Cluster, name, strconv.FormatInt(id, 10), addr})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], " ") < strings.Join(rows[j], " ") })
	table("#Cluster\t#Broker\t#BID\t#Addr", rows)
	return nil
}

func topicList(a *admin, args []string) error {
	if err := a.flags("topicList", args, nil); err != nil {
		return err
	}
	resp, err := a.namesrv(remoting.NewRequest(remoting.GetAllTopicListFromNameserver))
	if err != nil {
		return err
	}
	if err := ok(resp, "topic list"); err != nil {
		return err
	}
	var tl wire.TopicList
	if err := wire.Unmarshal(resp.Body, &tl); err != nil {
		return fmt.Errorf("topic list: %w", err)
	}
	sort.Strings(tl.TopicList)
	for _, t := range tl.TopicList {
		fmt.Println(t)
	}
	return nil
}

func (a *admin) route(topic string) (*wire.TopicRoute, []byte, error) {
	resp, err := a.namesrv(remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", topic))
	if err != nil {
		return nil, nil, err
	}
	if err := ok(resp, "route of "+topic); err != nil {
		return nil, nil, err
	}
	var r wire.TopicRoute
	if err := wire.Unmarshal(resp.Body, &r); err != nil {
		return nil, nil, fmt.Errorf("route of %s: %w", topic, err)
	}
	return &r, resp.Body, nil
}

func topicRoute(a *admin, args []string) error {
	var topic string
	if err := a.flags("topicRoute", args, func(fs *flag.FlagSet) { fs.StringVar(&topic, "t", "", "topic") }); err != nil {
		return err
	}
	if topic == "" {
		return errors.New("topicRoute: -t TOPIC is required")
	}
	_, body, err := a.route(topic)
	if err != nil {
		return err
	}
	var pretty any
	wire.Unmarshal(body, &pretty) // a Java namesrv writes bare integer keys
	out, _ := json.MarshalIndent(pretty, "", "  ")
	fmt.Println(string(out))
	return nil
}

func updateTopic(a *admin, args []string) error {
	var topic, broker, cluster string
	var read, write, perm int
	err := a.flags("updateTopic", args, func(fs *flag.FlagSet) {
		fs.StringVar(&topic, "t", "", "topic")
		fs.StringVar(&broker, "b", "", "create on this broker address")
		fs.StringVar(&cluster, "c", "", "create on every master of this cluster")
		fs.IntVar(&read, "r", 8, "read queues")
		fs.IntVar(&write, "w", 8, "write queues")
		fs.IntVar(&perm, "p", 6, "permission (2 write, 4 read, 6 both)")
	})
	if err != nil {
		return err
	}
	if topic == "" || (broker == "") == (cluster == "") {
		return errors.New("updateTopic: -t TOPIC and one of -b BROKER_ADDR or -c CLUSTER are required")
	}
	targets, err := a.masters(broker, cluster)
	if err != nil {
		return err
	}
	for _, addr := range targets {
		resp, err := a.call(addr, remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", topic,
			"readQueueNums", strconv.Itoa(read), "writeQueueNums", strconv.Itoa(write), "perm", strconv.Itoa(perm),
			"topicFilterType", "SINGLE_TAG", "topicSysFlag", "0", "order", "false"))
		if err != nil {
			return err
		}
		if err := ok(resp, "create "+topic+" on "+addr); err != nil {
			return err
		}
		fmt.Printf("create topic to %s success.\n", addr)
	}
	return nil
}

// masters returns broker, or every master address of cluster.
func (a *admin) masters(broker, cluster string) ([]string, error) {
	if broker != "" {
		return []string{broker}, nil
	}
	ci, err := a.clusterInfo()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range ci.ClusterAddrTable[cluster] {
		if addr := ci.BrokerAddrTable[name].BrokerAddrs[0]; addr != "" {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %q has no live master", cluster)
	}
	sort.Strings(out)
	return out, nil
}

func deleteTopic(a *admin, args []string) error {
	var topic, cluster string
	err := a.flags("deleteTopic", args, func(fs *flag.FlagSet) {
		fs.StringVar(&topic, "t", "", "topic")
		fs.StringVar(&cluster, "c", "", "cluster")
	})
	if err != nil {
		return err
	}
	if topic == "" || cluster == "" {
		return errors.New("deleteTopic: -t TOPIC and -c CLUSTER are required")
	}
	targets, err := a.masters("", cluster)
	if err != nil {
		return err
	}
	for _, addr := range targets {
		resp, err := a.call(addr, remoting.NewRequest(remoting.DeleteTopicInBroker, "topic", topic))
		if err != nil {
			return err
		}
		if err := ok(resp, "delete "+topic+" on "+addr); err != nil {
			return err
		}
	}
	for _, ns := range a.namesrvs {
		resp, err := a.call(ns, remoting.NewRequest(remoting.DeleteTopicInNamesrv, "topic", topic, "clusterName", cluster))
		if err != nil {
			return err
		}
		if err := ok(resp, "delete "+topic+" on namesrv "+ns); err != nil {
			return err
		}
	}
	fmt.Printf("delete topic [%s] from cluster [%s] success.\n", topic, cluster)
	return nil
}

func brokerStatus(a *admin, args []string) error {
	var broker string
	if err := a.flags("brokerStatus", args, func(fs *flag.FlagSet) { fs.StringVar(&broker, "b", "", "broker address") }); err != nil {
		return err
	}
	if broker == "" {
		return errors.New("brokerStatus: -b BROKER_ADDR is required")
	}
	resp, err := a.call(broker, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
	if err != nil {
		return err
	}
	if err := ok(resp, "runtime info of "+broker); err != nil {
		return err
	}
	var kv struct{ Table map[string]string }
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		return fmt.Errorf("runtime info: %w", err)
	}
	keys := make([]string, 0, len(kv.Table))
	for k := range kv.Table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-28s: %s\n", k, statusValue(k, kv.Table[k]))
	}
	return nil
}

// splitAddrs splits a ';'-separated address list, dropping blanks.
func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rocketgo/rocketgo/remoting"
)

// The controller's commands (RocketMQ 5 mqadmin names and flags). -a names
// the controllers: the namesrvs that embed them, ';'-separated.
//
//	mqadmin getControllerMetaData -a CONTROLLERS
//	mqadmin getSyncStateSet       -a CONTROLLERS -b BROKER_NAME[,…]
//	mqadmin electMaster           -a CONTROLLERS -b BROKER_NAME -i BROKER_ID

// controllerFlags parses -a (required) and the command's own flags.
func (a *admin) controllerFlags(name string, args []string, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addrs := fs.String("a", "", "controller addresses (namesrvs with enableControllerInNamesrv), ';'-separated")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	out := splitAddrs(*addrs)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: -a CONTROLLER_ADDRESSES is required", name)
	}
	return out, nil
}

// controller sends req to the first controller that answers and, when
// leader says so, to the first that leads (CONTROLLER_NOT_LEADER from the
// others).
func (a *admin) controller(addrs []string, mk func() *remoting.Command, leader bool) (*remoting.Command, error) {
	var errs []error
	for _, addr := range addrs {
		resp, err := a.call(addr, mk())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if leader && resp.Code == remoting.ControllerNotLeader {
			errs = append(errs, fmt.Errorf("%s: not the leader", addr))
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("no controller answered: %w", errors.Join(errs...))
}

func getControllerMetaData(a *admin, args []string) error {
	addrs, err := a.controllerFlags("getControllerMetaData", args, nil)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, addr := range addrs {
		resp, err := a.call(addr, remoting.NewRequest(remoting.ControllerGetMetadataInfo))
		if err != nil {
			fmt.Fprintf(w, "%s\tunreachable: %v\n", addr, err)
			continue
		}
		if err := ok(resp, "controller metadata from "+addr); err != nil {
			return err
		}
		fmt.Fprintf(w, "#ControllerAddr\t%s\n#ControllerGroup\t%s\n#ControllerLeaderId\t%s\n#ControllerLeaderAddress\t%s\n#IsLeader\t%s\n#Peers\t%s\n\n",
			addr, resp.ExtValue("group"), resp.ExtValue("controllerLeaderId"), resp.ExtValue("controllerLeaderAddress"),
			resp.ExtValue("isLeader"), resp.ExtValue("peers"))
	}
	return w.Flush()
}

// controllerGroup is a broker group as GET_SYNC_STATE_DATA answers it.
type controllerGroup struct {
	Cluster     string            `json:"cluster"`
	Name        string            `json:"brokerName"`
	Replicas    map[string]string `json:"replicas"`
	Master      int64             `json:"masterBrokerId"`
	MasterEpoch int32             `json:"masterEpoch"`
	InSync      []int64           `json:"syncStateSet"`
	InSyncEpoch int32             `json:"syncStateSetEpoch"`
}

func getSyncStateSet(a *admin, args []string) error {
	var names string
	addrs, err := a.controllerFlags("getSyncStateSet", args, func(fs *flag.FlagSet) {
		fs.StringVar(&names, "b", "", "broker names (brokerName), ','-separated; empty: every group")
	})
	if err != nil {
		return err
	}
	resp, err := a.controller(addrs, func() *remoting.Command {
		req := remoting.NewRequest(remoting.ControllerGetSyncStateData)
		if names != "" {
			req.Body, _ = json.Marshal(strings.Split(names, ","))
		}
		return req
	}, false)
	if err != nil {
		return err
	}
	if err := ok(resp, "SyncStateSet"); err != nil {
		return err
	}
	var groups []controllerGroup
	if err := json.Unmarshal(resp.Body, &groups); err != nil {
		return fmt.Errorf("SyncStateSet: %w", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#BrokerName\t#MasterId\t#MasterAddr\t#MasterEpoch\t#SyncStateSet\t#SyncStateSetEpoch\t#Replicas")
	for _, g := range groups {
		var set, reps []string
		for _, id := range g.InSync {
			set = append(set, strconv.FormatInt(id, 10))
		}
		for id, addr := range g.Replicas {
			reps = append(reps, id+"="+addr)
		}
		sort.Strings(reps)
		master := g.Replicas[strconv.FormatInt(g.Master, 10)]
		if g.Master == 0 {
			master = "(none)"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%s\t%d\t%s\n", g.Name, g.Master, master, g.MasterEpoch, strings.Join(set, ","), g.InSyncEpoch,
			strings.Join(reps, " "))
	}
	return w.Flush()
}

func electMaster(a *admin, args []string) error {
	var name string
	var id int64
	addrs, err := a.controllerFlags("electMaster", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "b", "", "broker name (brokerName) of the group")
		fs.Int64Var(&id, "i", 0, "broker id of the replica to make master")
	})
	if err != nil {
		return err
	}
	if name == "" || id <= 0 {
		return errors.New("electMaster: -b BROKER_NAME and -i BROKER_ID (> 0) are required")
	}
	resp, err := a.controller(addrs, func() *remoting.Command {
		return remoting.NewRequest(remoting.ControllerElectMaster, "brokerName", name, "brokerId", strconv.FormatInt(id, 10), "designateElect", "true")
	}, true)
	if err != nil {
		return err
	}
	if err := ok(resp, "elect master of "+name); err != nil {
		return err
	}
	fmt.Printf("elect master of %s: broker %s (%s) at master epoch %s\n", name, resp.ExtValue("masterBrokerId"),
		resp.ExtValue("masterAddress"), resp.ExtValue("masterEpoch"))
	return nil
}

// getBrokerEpoch prints the epoch entries of every replica of a group
// (controller mode): which master epoch wrote which range of each
// replica's CommitLog.
func getBrokerEpoch(a *admin, args []string) error {
	var name string
	if err := a.flags("getBrokerEpoch", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "b", "", "broker name (brokerName) of the group")
	}); err != nil {
		return err
	}
	if name == "" {
		return errors.New("getBrokerEpoch: -b BROKER_NAME is required")
	}
	ci, err := a.clusterInfo()
	if err != nil {
		return err
	}
	bd, found := ci.BrokerAddrTable[name]
	if !found || len(bd.BrokerAddrs) == 0 {
		return fmt.Errorf("getBrokerEpoch: no broker group %q is registered with the namesrvs", name)
	}
	ids := make([]int64, 0, len(bd.BrokerAddrs))
	for id := range bd.BrokerAddrs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#Broker\t#BID\t#Addr\t#Role\t#MaxOffset\t#Epoch\t#StartOffset\t#EndOffset")
	var errs []error
	for _, id := range ids {
		addr := bd.BrokerAddrs[id]
		resp, err := a.call(addr, remoting.NewRequest(remoting.GetBrokerEpochCache))
		if err == nil {
			err = ok(resp, "epochs of "+addr)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var ec struct {
			BrokerRole string `json:"brokerRole"`
			MaxOffset  int64  `json:"maxOffset"`
			EpochList  []struct {
				Epoch       int32 `json:"epoch"`
				StartOffset int64 `json:"startOffset"`
				EndOffset   int64 `json:"endOffset"`
			} `json:"epochList"`
		}
		if err := json.Unmarshal(resp.Body, &ec); err != nil {
			errs = append(errs, fmt.Errorf("epochs of %s: %w", addr, err))
			continue
		}
		if len(ec.EpochList) == 0 {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t-\t-\t-\n", name, id, addr, ec.BrokerRole, ec.MaxOffset)
		}
		for _, e := range ec.EpochList {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\n", name, id, addr, ec.BrokerRole, ec.MaxOffset, e.Epoch, e.StartOffset, e.EndOffset)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

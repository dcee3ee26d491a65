package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/remoting"
)

// launchControlled starts a controller-mode group: brokers named
// <group>-broker-0..N, all with the group's role (SYNC vs ASYNC is all a
// role means in this mode). broker-0 starts first and alone, so the
// controller elects it; the others join as slaves. Every broker reaches
// every namesrv (registration and controller) through a proxy of its own,
// so that a "partition" fault can cut it off from them.
func (c *Cluster) launchControlled(ctx context.Context, g *Group, binDir string, common []string, cpus *unix.CPUSet) error {
	gs := g.Spec
	for i := 0; i <= gs.Slaves; i++ {
		name := fmt.Sprintf("%s-broker-%d", gs.Name, i)
		n := &Node{Name: name, Bin: filepath.Join(binDir, "broker"), DataDir: filepath.Join(c.Dir, name), cpus: cpus, log: c.log, group: gs.Name}
		var via []string
		for k, ns := range c.NamesrvAddrs() {
			l, err := newLink(fmt.Sprintf("%s/broker-%d-namesrv-%d-link", gs.Name, i, k), ns)
			if err != nil {
				return err
			}
			c.links[l.name] = l
			n.nsLinks = append(n.nsLinks, l)
			via = append(via, l.addr())
		}
		addrs := strings.Join(via, ";")
		n.Args = append(append([]string(nil), common...), "-enableControllerMode", "true", "-controllerAddr", addrs, "-namesrvAddr", addrs,
			"-brokerRole", gs.role(), "-listenPort", "0", "-haListenPort", "0", "-storePathRootDir", n.DataDir)
		if i == 0 {
			g.Master = n
		} else {
			g.Slaves = append(g.Slaves, n)
		}
		if err := n.start(ctx, "broker"); err != nil {
			return err
		}
		if i == 0 {
			if err := c.WaitReady(ctx, 30*time.Second); err != nil {
				return fmt.Errorf("group %s: no master elected: %w", gs.Name, err)
			}
		}
	}
	return nil
}

// missingControlled names what the namesrv's table of a controller group
// lacks: a master (id 0) at a running broker of the group, and every
// running broker under some id.
func (c *Cluster) missingControlled(g *Group, addrs map[int64]string) string {
	if n := c.nodeAt(g, addrs[0]); n == nil || !n.Running() {
		return g.Spec.Name + " master"
	}
	for _, n := range append([]*Node{g.Master}, g.Slaves...) {
		if !n.Running() {
			continue
		}
		found := false
		for _, a := range addrs {
			found = found || a == n.Addr
		}
		if !found {
			return n.Name
		}
	}
	return ""
}

// nodeAt returns the broker of g listening at addr, or nil.
func (c *Cluster) nodeAt(g *Group, addr string) *Node {
	if addr == "" {
		return nil
	}
	for _, n := range append([]*Node{g.Master}, g.Slaves...) {
		if n != nil && n.Addr == addr {
			return n
		}
	}
	return nil
}

// controlled reports whether the group named name runs in controller mode.
func (c *Cluster) controlled(name string) bool {
	g := c.Group(name)
	return g != nil && c.Spec.controlled(g.Spec)
}

// routedMasters returns, for every running namesrv, the address it routes
// as group's master ("" when it routes none or does not answer).
func (c *Cluster) routedMasters(ctx context.Context, group string) []string {
	var out []string
	for _, ns := range c.Namesrvs {
		if !ns.Running() {
			continue
		}
		out = append(out, c.routedBy(ctx, ns.Addr, group))
	}
	return out
}

func (c *Cluster) routedBy(ctx context.Context, namesrv, group string) string {
	info, err := c.clusterInfo(ctx, namesrv)
	if err != nil {
		return ""
	}
	return info.BrokerAddrTable[group].BrokerAddrs[0]
}

// currentMaster is the running broker of group that a namesrv routes as
// master now.
func (c *Cluster) currentMaster(ctx context.Context, group string) (*Node, error) {
	g := c.Group(group)
	if g == nil {
		return nil, fmt.Errorf("no group %q", group)
	}
	for _, addr := range c.routedMasters(ctx, group) {
		if n := c.nodeAt(g, addr); n != nil && n.Running() {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no namesrv routes a running master of %s", group)
}

// electedMaster asks every running controller which address it holds
// as group's master and returns the answer at the highest master epoch:
// a controller that restarted may still be catching up on the Raft log.
func (c *Cluster) electedMaster(ctx context.Context, group string) (addr string, epoch int64, err error) {
	err = errors.New("no controller answered")
	answered := false
	for _, ns := range c.Namesrvs {
		if !ns.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, ierr := c.rpc.Invoke(cctx, ns.Addr, remoting.NewRequest(remoting.ControllerGetReplicaInfo, "brokerName", group))
		cancel()
		switch {
		case ierr != nil:
			err = ierr
		case resp.Code != remoting.Success:
			err = fmt.Errorf("replica info: code %d %s", resp.Code, resp.Remark)
		default:
			if e, _ := resp.Int64Or("masterEpoch", 0); !answered || e > epoch {
				addr, epoch, answered = resp.ExtValue("masterAddress"), e, true
			}
		}
	}
	if answered {
		return addr, epoch, nil
	}
	return "", 0, err
}

// controllerLeader is the namesrv whose controller leads the Raft group.
func (c *Cluster) controllerLeader(ctx context.Context) (*Node, error) {
	if !c.Spec.Controller {
		return nil, errors.New("controller-leader: the topology runs no controllers (controller: true)")
	}
	for _, ns := range c.Namesrvs {
		if !ns.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := c.rpc.Invoke(cctx, ns.Addr, remoting.NewRequest(remoting.ControllerGetMetadataInfo))
		cancel()
		if err == nil && resp.Code == remoting.Success && resp.ExtValue("isLeader") == "true" {
			return ns, nil
		}
	}
	return nil, errors.New("controller-leader: no running namesrv leads the controllers now")
}

// faultNode finds the node a fault acts on: a node by name ("namesrv-1",
// "<group>/slave-2", "<group>/broker-1"); "<group>/master", which for a
// controller group is the broker routed as master when the fault begins;
// or "controller-leader", the namesrv whose controller leads. Restart,
// resume and heal act on the node that the last fault on the same target
// hit, so "restart <group>/master" brings back the master that was
// killed, not the one elected since.
func (c *Cluster) faultNode(ctx context.Context, target, action string) (*Node, error) {
	switch action {
	case "restart", "resume", "heal":
		c.mu.Lock()
		n := c.hit[target]
		c.mu.Unlock()
		if n != nil {
			return n, nil
		}
	}
	var n *Node
	var err error
	group, role, _ := strings.Cut(target, "/")
	switch {
	case target == "controller-leader":
		n, err = c.controllerLeader(ctx)
	case role == "master" && c.controlled(group):
		n, err = c.currentMaster(ctx, group)
	default:
		if n = c.node(target); n == nil {
			err = fmt.Errorf("no node %q", target)
		}
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.hit[target] = n
	c.mu.Unlock()
	return n, nil
}

// partition cuts the broker off from every namesrv and controller: their
// proxies refuse and close its connections. Its clients and its HA links
// stay up, as when a broker loses the control network only.
func (n *Node) partition() error {
	if len(n.nsLinks) == 0 {
		return fmt.Errorf("%s: only brokers of controller groups reach the namesrvs through proxies that can be cut", n.Name)
	}
	for _, l := range n.nsLinks {
		l.proxy.Stop()
	}
	return nil
}

// heal reconnects a partitioned broker.
func (n *Node) heal() error {
	if len(n.nsLinks) == 0 {
		return fmt.Errorf("%s: not a broker of a controller group", n.Name)
	}
	var errs []error
	for _, l := range n.nsLinks {
		if err := l.proxy.Start(); err != nil && !strings.Contains(err.Error(), "already started") {
			errs = append(errs, fmt.Errorf("%s: reopen %s: %w", n.Name, l.name, err))
		}
	}
	return errors.Join(errs...)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

package loadgen

import (
	"context"
	"strings"
	"time"
)

// Failover is what a fault that took a group's master (kill, stop, pause,
// partition) cost the producers, and how the group got a master back.
type Failover struct {
	At         time.Duration `json:"atNs"`   // the fault began, since the measured window opened
	Kind       string        `json:"kind"`   // kill, stop, pause, partition
	Target     string        `json:"target"` // "<group>/master"
	Node       string        `json:"node"`   // the broker it hit
	Controller bool          `json:"controller"`
	// LastOK and FirstOK are when the producers heard the last SEND_OK
	// before the outage and the first after it (since the window opened,
	// to okTick); the outage is the longest silence that begins between
	// the fault and the next failover. Unavailable is FirstOK − LastOK;
	// Recovered is false when no SEND_OK came after it (Unavailable then
	// runs to the last answer counted).
	LastOK      time.Duration `json:"lastOkNs"`
	FirstOK     time.Duration `json:"firstOkNs"`
	Unavailable time.Duration `json:"unavailableNs"`
	Recovered   bool          `json:"recovered"`
	// Elected: from the fault until the controllers named another master
	// (controller groups; 0 when not seen). Routed: until every live
	// namesrv routed a running master other than the one hit, or the
	// one hit after it was restarted (0 when not seen).
	Elected   time.Duration `json:"electedNs,omitempty"`
	Routed    time.Duration `json:"routedNs,omitempty"`
	NewMaster string        `json:"newMaster,omitempty"`
}

const (
	okTick = 10 * time.Millisecond // resolution of the SEND_OK timeline
	okTail = 15 * time.Second      // the timeline runs this long past the window
	// failoverPoll is how often a failover watch asks the controllers
	// and namesrvs.
	failoverPoll = 20 * time.Millisecond
)

// losesMaster reports whether the fault takes a group's master away.
func losesMaster(f FaultPlan) bool {
	switch f.Action {
	case "kill", "stop", "pause", "partition":
		return strings.HasSuffix(f.Target, "/master")
	}
	return false
}

// runTarget turns a fault target without a group ("master", "slave-1",
// "broker-2") into the run's group's; others are left as they are.
func runTarget(target, group string) string {
	if strings.Contains(target, "/") || group == "" {
		return target
	}
	if target == "master" || strings.HasPrefix(target, "slave-") || strings.HasPrefix(target, "broker-") {
		return group + "/" + target
	}
	return target
}

func targetGroup(target string) string {
	g, _, _ := strings.Cut(target, "/")
	return g
}

// failoverWatch follows one failover while the run goes on.
type failoverWatch struct {
	began      time.Duration // since the window opened
	kind       string
	target     string
	node       string
	controller bool

	elected, routed time.Duration // since began; 0: not seen
	newMaster       string
}

// watch polls the controllers (controller groups) and the namesrvs from
// the fault's end until both have named a new master, or until until.
func (fw *failoverWatch) watch(ctx context.Context, c *Cluster, group string, hit *Node, began, until time.Time) {
	g := c.Group(group)
	if g == nil {
		return
	}
	starts := hit.startCount()
	for ctx.Err() == nil && time.Now().Before(until) {
		if fw.controller && fw.elected == 0 {
			if addr, _, err := c.electedMaster(ctx, group); err == nil && addr != "" && addr != hit.Addr {
				fw.elected = time.Since(began)
				if n := c.nodeAt(g, addr); n != nil {
					fw.newMaster = n.Name
				}
			}
		}
		if fw.routed == 0 {
			routes := c.routedMasters(ctx, group)
			ok := len(routes) > 0
			for _, addr := range routes {
				n := c.nodeAt(g, addr)
				ok = ok && n != nil && n.Running() && (n != hit || hit.startCount() > starts)
			}
			if ok {
				fw.routed = time.Since(began)
				if fw.newMaster == "" {
					fw.newMaster = c.nodeAt(g, routes[0]).Name
				}
			}
		}
		if fw.routed != 0 && (fw.elected != 0 || !fw.controller) {
			return
		}
		sleepCtx(ctx, failoverPoll)
	}
}

// failovers measures each watched failover on the run's SEND_OK timeline
// and returns them with the timeline in 100 ms steps.
func failovers(r *recorder, watches []*failoverWatch) ([]Failover, []int32) {
	r.mu.Lock()
	ok := append([]int32(nil), r.okAt...)
	r.mu.Unlock()
	var out []Failover
	for i, fw := range watches {
		next := time.Duration(len(ok)) * okTick
		for _, later := range watches[i+1:] {
			if later.began > fw.began {
				next = min(next, later.began)
			}
		}
		f := Failover{At: fw.began, Kind: fw.kind, Target: fw.target, Node: fw.node, Controller: fw.controller,
			Elected: fw.elected, Routed: fw.routed, NewMaster: fw.newMaster}
		f.LastOK, f.FirstOK, f.Recovered = outage(ok, fw.began, next)
		f.Unavailable = f.FirstOK - f.LastOK
		out = append(out, f)
	}
	per := int(100 * time.Millisecond / okTick)
	coarse := make([]int32, (len(ok)+per-1)/per)
	for i, n := range ok {
		coarse[i/per] += n
	}
	return out, coarse
}

// outage finds in ok (SEND_OK answers per okTick) the longest silence
// after from — after the last answer at or before it, or after a later
// one — that ended by to (the next failover); when none ended by then, the
// one that ran into it. It returns the end of the tick of the answer
// before the silence and the start of the tick of the answer that ended
// it; with no answer after from, the end of the timeline and recovered
// false.
func outage(ok []int32, from, to time.Duration) (last, first time.Duration, recovered bool) {
	if len(ok) == 0 {
		return 0, 0, false
	}
	a := min(max(int(from/okTick), 0), len(ok)-1)
	b := int(to / okTick)
	prev := -1
	for i := a; i >= 0; i-- {
		if ok[i] > 0 {
			prev = i
			break
		}
	}
	type gap struct{ from, to int }
	within, across := gap{prev, -1}, gap{prev, -1} // ended by b; ran past it
	longer := func(g gap, from, to int) bool { return g.to < 0 || to-from > g.to-g.from }
	for i := a + 1; i < len(ok) && prev < b; i++ {
		if ok[i] == 0 {
			continue
		}
		switch {
		case i <= b && longer(within, prev, i):
			within = gap{prev, i}
		case i > b && longer(across, prev, i):
			across = gap{prev, i}
		}
		prev = i
	}
	best := within
	if best.to < 0 {
		best = across
	}
	last = time.Duration(best.from+1) * okTick
	if best.to < 0 {
		return last, time.Duration(len(ok)) * okTick, false
	}
	return last, time.Duration(best.to) * okTick, true
}

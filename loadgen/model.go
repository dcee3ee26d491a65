package loadgen

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The capacity model carries a run's resource table to other hardware.
// What a message costs a broker group (CPU µs on the master and on each
// slave, CommitLog bytes, network bytes) is a property of the code and the
// workload, not of the machine's size; a machine's capacity is then what
// each of its resources affords at that cost, and the group's is the
// least of those: the resource that binds first.
//
// It is checked where it was measured: with every process of the run on
// this host, the model predicts the rate at which they would use all its
// cores, and the SLO search measured the rate the SLO allows. Their ratio
// (SLO headroom) says how much of the CPU the SLO leaves usable; the
// sizing table applies it to the target hardware.

// Hardware is a machine profile: what each broker (master or slave) runs
// on. Zero disk or network means "not given": that resource is not
// modelled.
type Hardware struct {
	Cores    float64 `json:"cores" yaml:"cores"`
	DiskMBps float64 `json:"diskMBps,omitempty" yaml:"diskMBps"` // sequential write, 10^6 bytes/s
	NetGbps  float64 `json:"netGbps,omitempty" yaml:"netGbps"`   // each direction
}

func (h Hardware) String() string {
	parts := []string{"cores=" + strconv.FormatFloat(h.Cores, 'f', -1, 64)}
	if h.DiskMBps > 0 {
		parts = append(parts, "diskMBps="+strconv.FormatFloat(h.DiskMBps, 'f', -1, 64))
	}
	if h.NetGbps > 0 {
		parts = append(parts, "netGbps="+strconv.FormatFloat(h.NetGbps, 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}

// ParseHardware reads a profile given as 'cores=16,diskMBps=800,netGbps=10'
// or as the path of a YAML file with those keys.
func ParseHardware(s string) (Hardware, error) {
	var h Hardware
	if !strings.Contains(s, "=") {
		b, err := os.ReadFile(s)
		if err != nil {
			return h, fmt.Errorf("-hardware: %q is neither key=value,… nor a readable file: %w", s, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&h); err != nil {
			return h, fmt.Errorf("-hardware %s: %w", s, err)
		}
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return h, fmt.Errorf("-hardware: %q is not key=value", kv)
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return h, fmt.Errorf("-hardware: %s=%q is not a number", k, v)
			}
			switch strings.TrimSpace(k) {
			case "cores":
				h.Cores = x
			case "diskMBps":
				h.DiskMBps = x
			case "netGbps":
				h.NetGbps = x
			default:
				return h, fmt.Errorf("-hardware: unknown key %q (want cores, diskMBps, netGbps)", k)
			}
		}
	}
	switch {
	case h.Cores <= 0:
		return h, errors.New("-hardware: cores must be > 0")
	case h.DiskMBps < 0 || h.NetGbps < 0:
		return h, errors.New("-hardware: diskMBps and netGbps must be ≥ 0 (0: not modelled)")
	}
	return h, nil
}

// MessageCost is what one acknowledged message cost a broker group in a
// run (medians of its repetitions at one rate).
type MessageCost struct {
	Label       string  `json:"label"`
	Rate        float64 `json:"rate"`        // the target rate the costs come from
	MasterCPUUs float64 `json:"masterCpuUs"` // CPU µs per message on the master
	SlaveCPUUs  float64 `json:"slaveCpuUs"`  // on the busiest slave
	Slaves      int     `json:"slaves"`
	// OtherCPUUs is what the run's other processes on this host (namesrvs,
	// the local load workers) spent per message: part of the prediction for
	// this host, not of a broker machine's.
	OtherCPUUs float64 `json:"otherCpuUs"`
	// HostCores is the CPU every process of the run used together, in
	// cores: how busy the host was at this rate.
	HostCores float64 `json:"hostCores"`
	LogBytes  float64 `json:"logBytes"` // CommitLog bytes written per message (master; each slave writes as much)
	NetBytes  float64 `json:"netBytes"` // master's bytes in and out per message
}

// Bound is the rate one resource affords.
type Bound struct {
	Resource string  `json:"resource"`
	Rate     float64 `json:"rate"` // msg/s
}

// Prediction is a group's modelled maximum on a hardware profile.
type Prediction struct {
	Cost    MessageCost `json:"cost"`
	Bounds  []Bound     `json:"bounds"`
	Max     float64     `json:"max"`     // msg/s per broker group
	Binding string      `json:"binding"` // the resource of Max
}

// Predict models a group whose master and slaves each run on a machine
// like hw. Network counts the master's bytes in and out against one
// direction's rate (conservative by up to 2× on a full-duplex link).
func Predict(c MessageCost, hw Hardware) Prediction {
	p := Prediction{Cost: c}
	add := func(res string, capacity, perMsg float64) {
		if capacity > 0 && perMsg > 0 {
			p.Bounds = append(p.Bounds, Bound{res, capacity / perMsg})
		}
	}
	add("master CPU", hw.Cores*1e6, c.MasterCPUUs)
	if c.Slaves > 0 {
		add("slave CPU", hw.Cores*1e6, c.SlaveCPUUs)
	}
	add("disk", hw.DiskMBps*1e6, c.LogBytes+cqBytesPerMsg)
	add("network", hw.NetGbps*1e9/8, c.NetBytes)
	p.pick()
	return p
}

// PredictHere models every process of the run sharing one machine of
// cores: the rate at which they would use all of its CPU.
func PredictHere(c MessageCost, cores float64) Prediction {
	p := Prediction{Cost: c}
	total := c.MasterCPUUs + float64(c.Slaves)*c.SlaveCPUUs + c.OtherCPUUs
	if total > 0 && cores > 0 {
		p.Bounds = []Bound{{"CPU of this host", cores * 1e6 / total}}
	}
	p.pick()
	return p
}

func (p *Prediction) pick() {
	for _, b := range p.Bounds {
		if p.Binding == "" || b.Rate < p.Max {
			p.Max, p.Binding = b.Rate, b.Resource
		}
	}
}

// cqBytesPerMsg is a consume-queue entry, written beside every message.
const cqBytesPerMsg = 20

// costsOf takes, for each label, the message cost from its runs at the
// highest rate that met the SLO (the capacity when there was a search:
// confirmed, or its last pass; else the highest target rate achieved
// within 2%), medians of the repetitions. CPU per message falls as the
// rate rises (wake-ups and system calls are shared by more messages), so
// the cost at the highest rate within the SLO is the one that predicts a
// capacity. Labels whose runs carry no resource table have none.
func costsOf(s *Summary) []MessageCost {
	var out []MessageCost
	for _, label := range labels(s) {
		rate := -1.0
		for _, c := range s.Capacity {
			if c.Label == label {
				if m, _ := c.Result.measured(); m > 0 {
					rate = m
				}
			}
		}
		var runs []*Run
		for i := range s.Runs {
			r := &s.Runs[i]
			if r.Label != label || len(r.Resources) == 0 || r.TargetRate <= 0 {
				continue
			}
			if rate < 0 && r.AchievedRate < 0.98*r.TargetRate {
				continue
			}
			runs = append(runs, r)
		}
		if len(runs) == 0 {
			continue
		}
		if rate < 0 {
			for _, r := range runs {
				rate = max(rate, r.TargetRate)
			}
		}
		var master, slave, other, logB, netB, busy []float64
		slaves := 0
		for _, r := range runs {
			if r.TargetRate != rate {
				continue
			}
			var m, sl, o, lb, nb float64 = -1, -1, 0, -1, -1
			ns := 0
			cores := 0.0
			for _, n := range r.Resources {
				cores += max(n.CPUCores, 0)
				switch groupRole(r, runGroupName(s, r), n) {
				case "master":
					m, lb, nb = n.CPUPerMsgUs, n.LogBytesPerMsg, n.NetBytesPerMsg
				case "slave":
					ns++
					sl = max(sl, n.CPUPerMsgUs)
				default: // namesrvs, load workers, other groups' brokers
					if n.CPUPerMsgUs > 0 {
						o += n.CPUPerMsgUs
					}
				}
			}
			if m < 0 {
				continue
			}
			slaves = ns
			master, other, busy = append(master, m), append(other, o), append(busy, cores)
			if sl >= 0 {
				slave = append(slave, sl)
			}
			if lb > 0 {
				logB = append(logB, lb)
			}
			if nb > 0 {
				netB = append(netB, nb)
			}
		}
		if len(master) == 0 {
			continue
		}
		c := MessageCost{Label: label, Rate: rate, MasterCPUUs: medianOf(master), Slaves: slaves, OtherCPUUs: medianOf(other),
			HostCores: medianOf(busy)}
		if len(slave) > 0 {
			c.SlaveCPUUs = medianOf(slave)
		}
		if len(logB) > 0 {
			c.LogBytes = medianOf(logB)
		}
		if len(netB) > 0 {
			c.NetBytes = medianOf(netB)
		}
		out = append(out, c)
	}
	return out
}

// labels lists the summary's run labels in first-seen order.
func labels(s *Summary) []string {
	var out []string
	for _, r := range s.Runs {
		if !slices.Contains(out, r.Label) {
			out = append(out, r.Label)
		}
	}
	return out
}

// runGroupName names the group r measured: its own record, else (summaries
// written before runs named it) the topology's only group of its mode.
func runGroupName(s *Summary, r *Run) string {
	if r.Group != "" {
		return r.Group
	}
	name := ""
	for _, g := range s.Topology.Groups {
		role, flush := cmp.Or(g.Role, roleAsync), cmp.Or(g.Flush, "ASYNC_FLUSH")
		if role == r.Mode && flush == r.Flush {
			if name != "" {
				return ""
			}
			name = g.Name
		}
	}
	return name
}

// groupRole is n's role in group (of run r): "master", "slave", or "" for
// any other process. Nodes loadgen started are named after their group;
// an existing cluster's are not, and its only master is taken.
func groupRole(r *Run, group string, n NodeResources) string {
	if group != "" {
		switch {
		case n.Node == group+"-master":
			return "master"
		case strings.HasPrefix(n.Node, group+"-slave-"):
			return "slave"
		}
		if slices.ContainsFunc(r.Resources, func(x NodeResources) bool { return x.Node == group+"-master" }) {
			return "" // the group's nodes are named: n is not one
		}
	}
	masters := 0
	for _, x := range r.Resources {
		if x.Role == "master" {
			masters++
		}
	}
	if masters == 1 && (n.Role == "master" || n.Role == "slave") {
		return n.Role
	}
	return ""
}

package loadgen

import (
	"fmt"
	"math"
	"strings"
)

// modelCheck is the model checked on the machine it was measured on.
type modelCheck struct {
	label     string
	predicted float64 // msg/s, every process of the run on this host, CPU saturated
	measured  float64 // msg/s, the SLO capacity
	confirmed bool    // measured was confirmed (else the last pass of an exhausted search)
	busy      float64 // share of the host's CPU in use at the measured rate
}

func (c modelCheck) err() float64      { return c.predicted/c.measured - 1 }
func (c modelCheck) headroom() float64 { return math.Min(c.measured/c.predicted, 1) }

// modelChecks pairs each label's prediction for this host with its
// confirmed capacity.
func modelChecks(s *Summary, costs []MessageCost) []modelCheck {
	var out []modelCheck
	for _, c := range costs {
		for _, cp := range s.Capacity {
			m, confirmed := cp.Result.measured()
			if cp.Label != c.Label || m <= 0 {
				continue
			}
			if p := PredictHere(c, float64(s.Machine.Cores)); p.Max > 0 {
				out = append(out, modelCheck{c.Label, p.Max, m, confirmed, c.HostCores / float64(max(s.Machine.Cores, 1))})
			}
		}
	}
	return out
}

// writeModel is the "Capacity model" section: what a message costs each
// group, the model checked on this host, and its prediction on the
// hardware profile the reader gave (-hardware).
func writeModel(b *strings.Builder, s *Summary) {
	costs := costsOf(s)
	if len(costs) == 0 {
		return
	}
	b.WriteString("## Capacity model\n\n")
	b.WriteString("What one acknowledged message cost each group, from the resource table at the capacity the SLO search measured " +
		"(confirmed, or its last pass) or, in a run without a search, at the highest rate it achieved; medians of the repetitions. " +
		"CPU per message falls as the rate rises, so the cost near capacity is the one that predicts it. CPU per message is a property of " +
		"the code and the workload, not of the machine's size: it is what carries to other hardware. *Others here* is what " +
		"the run's other processes on this host (namesrvs, idle groups, the load workers) spent per message.\n\n")
	b.WriteString("| mode | from msg/s | master CPU µs/msg | slave CPU µs/msg (slaves) | others here µs/msg | CommitLog B/msg | master net B/msg |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range costs {
		slave := "—"
		if c.Slaves > 0 {
			slave = fmt.Sprintf("%s (%d)", num(c.SlaveCPUUs), c.Slaves)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(c.Label), rateNum(c.Rate), num(c.MasterCPUUs), slave,
			num(c.OtherCPUUs), numOrDash(c.LogBytes), numOrDash(c.NetBytes))
	}
	b.WriteString("\n")

	checks := modelChecks(s, costs)
	if len(checks) > 0 {
		fmt.Fprintf(b, "**Checked on this host.** With every process of the run on this host's %d cores, the model says they "+
			"would use all of its CPU at the *predicted* rate; the SLO search measured the rate the SLO allows (*host busy* is "+
			"the share of the host's CPU all of them used there). *SLO headroom* is their ratio: the share of saturation the SLO "+
			"leaves usable, which the prediction below applies. An error beyond ±25%% means the SLO bound this mode before the CPU "+
			"did (latency, not capacity) or that the runs disagreed.\n\n", s.Machine.Cores)
		b.WriteString("| mode | predicted msg/s (CPU saturated) | measured within SLO | error | host busy | SLO headroom |\n|---|--:|--:|--:|--:|--:|\n")
		for _, c := range checks {
			m := rateNum(c.measured)
			if !c.confirmed {
				m += " (last pass, not confirmed)"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %+.0f%% | %.0f%% | %.2f |\n", cell(c.label), rateNum(c.predicted), m, 100*c.err(), 100*c.busy, c.headroom())
		}
		b.WriteString("\n")
	} else {
		b.WriteString("This run searched for no SLO capacity, so the model is not checked here (`loadgen scenario capacity` does).\n\n")
	}

	hw := s.Hardware
	if hw == nil {
		b.WriteString("Give a hardware profile (`-hardware 'cores=16,diskMBps=800,netGbps=10'` to `run`, `scenario` or `report`) " +
			"for the model's prediction on it.\n\n")
		return
	}
	fmt.Fprintf(b, "**On `%s`**, each broker (master or slave) on its own such machine: the rate each resource affords at "+
		"these costs, and the least of them, per broker group. Disk counts the CommitLog and consume-queue bytes; network "+
		"counts the master's bytes in and out against one direction's rate (conservative by up to 2× on a full-duplex link). "+
		"*Within SLO* applies the headroom measured here.\n\n", hw)
	b.WriteString("| mode | max msg/s per group | binds first | master CPU | slave CPU | disk | network | within SLO |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|\n")
	for _, c := range costs {
		p := Predict(c, *hw)
		bound := func(res string) string {
			for _, x := range p.Bounds {
				if x.Resource == res {
					return rateNum(x.Rate)
				}
			}
			return "—"
		}
		within := "—"
		for _, ch := range checks {
			if ch.label == c.Label {
				within = rateNum(p.Max * ch.headroom())
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(c.Label), rateNum(p.Max), p.Binding,
			bound("master CPU"), bound("slave CPU"), bound("disk"), bound("network"), within)
	}
	b.WriteString("\n")
}

// modelCapacity is the per-group rate the sizing table plans with on the
// hardware profile: the model's maximum times the SLO headroom measured
// here; 0 when either is missing.
func modelCapacity(s *Summary, label string) float64 {
	if s.Hardware == nil {
		return 0
	}
	costs := costsOf(s)
	for _, ch := range modelChecks(s, costs) {
		if ch.label != label {
			continue
		}
		for _, c := range costs {
			if c.Label == label {
				return Predict(c, *s.Hardware).Max * ch.headroom()
			}
		}
	}
	return 0
}

func num(v float64) string {
	return fmt.Sprintf("%.*f", decimals(v), v)
}

func numOrDash(v float64) string {
	if v <= 0 {
		return "—"
	}
	return num(v)
}

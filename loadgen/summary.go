package loadgen

import "time"

// Summary is what summary.json holds: everything needed to understand,
// reproduce and compare one run of a scenario.
type Summary struct {
	Scenario  string        `json:"scenario"`
	Profile   string        `json:"profile,omitempty"` // quick, full, …
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"durationNs"`
	Machine   Machine       `json:"machine"`
	Versions  Versions      `json:"versions"`
	Workload  Workload      `json:"workload"`
	Topology  TopologySpec  `json:"topology"`
	Existing  []string      `json:"existingNamesrvs,omitempty"` // namesrvs of a cluster loadgen drove but did not start (Topology then empty)
	Placement Placement     `json:"placement"`
	Runs      []Run         `json:"runs"`
	Notes     []string      `json:"notes,omitempty"`    // findings in words, e.g. why SYNC is not slower
	Command   string        `json:"command,omitempty"`  // how to reproduce the run
	Capacity  []Capacity    `json:"capacity,omitempty"` // SLO searches, one per label
	// Calibration is the tool's own floor at the plan's rates, measured
	// against a null target before the runs (calibrate.go).
	Calibration []CalibrationPoint `json:"calibration,omitempty"`
	// Workers are the load workers the runs were split over (local
	// processes unless -workers named others), with their clock offsets.
	Workers []WorkerInfo `json:"workers,omitempty"`
	// Hardware is the profile the capacity model predicts for (-hardware).
	Hardware *Hardware `json:"hardware,omitempty"`
}

// Machine fingerprints the host the run measured.
type Machine struct {
	CPUModel    string  `json:"cpuModel"`
	Cores       int     `json:"cores"`
	MemoryBytes int64   `json:"memoryBytes"`
	Kernel      string  `json:"kernel"`
	GoVersion   string  `json:"goVersion"`
	Hostname    string  `json:"hostname"`
	IdleAtStart float64 `json:"idleAtStart"` // fraction of CPU idle over the second before the run
	Load1       float64 `json:"load1"`       // 1-minute load average at start
	Floors      *Floors `json:"floors,omitempty"`
}

// Versions names the code that ran.
type Versions struct {
	Rocketgo string `json:"rocketgo"` // git describe of the checkout, or "unknown"
	Loadgen  string `json:"loadgen"`
}

// Placement records which CPUs the brokers and the load generator ran on.
type Placement struct {
	Brokers string `json:"brokers"` // e.g. "0", "all"
	Loadgen string `json:"loadgen"`
}

// Run is one measured configuration: one broker group mode at one target
// rate, one repetition.
type Run struct {
	Label      string  `json:"label"`           // e.g. "SYNC_MASTER+ASYNC_FLUSH"
	Mode       string  `json:"mode"`            // brokerRole of the group under test
	Flush      string  `json:"flush"`           // flushDiskType of the group under test
	Group      string  `json:"group,omitempty"` // brokerName of the group under test
	TargetRate float64 `json:"targetRate"`      // msg/s asked for (0 = as fast as the window allows)
	Repetition int     `json:"repetition"`

	Warmup   time.Duration `json:"warmupNs"`
	Measured time.Duration `json:"measuredNs"`

	Sent         int64            `json:"sent"`         // sends started in the measured window
	Acked        int64            `json:"acked"`        // answered SEND_OK
	Statuses     map[string]int64 `json:"statuses"`     // SEND_OK, SLAVE_NOT_AVAILABLE, …, error kinds
	Errors       int64            `json:"errors"`       // transport errors and timeouts
	AchievedRate float64          `json:"achievedRate"` // acked per second over the measured window
	Consumed     int64            `json:"consumed"`
	Duplicates   int64            `json:"duplicates"`
	Lost         int64            `json:"lost"` // acked but never consumed by the end of the drain
	Backlog      int64            `json:"backlog"`
	// LostWorkers are the workers given up on during the run ("addr:
	// why"): their share of the ledger is not counted as lost messages.
	LostWorkers []string `json:"lostWorkers,omitempty"`

	// Latencies in microseconds. Send: ack − intended send time (the
	// open-loop, coordinated-omission-free number). Service: ack − actual
	// send. Pacing: actual − intended send. EndToEnd: consumed − intended send.
	Send     Percentiles `json:"send"`
	Service  Percentiles `json:"service"`
	Pacing   Percentiles `json:"pacing"`
	EndToEnd Percentiles `json:"endToEnd"`
	// Hiccup: how late a thread that only sleeps 1 ms at a time woke up
	// during the measured window (the machine's own stalls; see hiccup.go).
	Hiccup Percentiles `json:"hiccup"`
	// Broker: the master's own send stages over the measured window, by
	// stage (StageStore, …; see brokerlat.go); empty for brokers that do
	// not report them.
	Broker map[string]Percentiles `json:"broker,omitempty"`
	// LogBytes is how much the master's CommitLog grew over the measured
	// window (-1 when unknown): with Acked, the bytes each message costs on
	// disk, for sizing retention.
	LogBytes int64 `json:"logBytes"`
	// Resources is what each server process used over the measured
	// window, per acknowledged message (resources.go); empty without
	// metrics endpoints.
	Resources []NodeResources `json:"resources,omitempty"`
	// ScrapeEvery is how often the endpoints were scraped (0: when the
	// window opened and when its sends were answered).
	ScrapeEvery time.Duration `json:"scrapeEveryNs,omitempty"`

	Intervals []Interval `json:"intervals"`
	Faults    []Fault    `json:"faults,omitempty"`
	// Failovers are the faults that took the group's master (kill, stop,
	// pause, partition) and how long the producers went without SEND_OK;
	// OKPer100ms counts SEND_OK answers per 100 ms of the window (and
	// after it) in runs that have them, for the failover chart.
	Failovers  []Failover `json:"failovers,omitempty"`
	OKPer100ms []int32    `json:"okPer100ms,omitempty"`

	// Files in the result folder, relative to it.
	HgrmFiles map[string]string `json:"hgrmFiles"` // "send", "endToEnd", … → *.hgrm
}

// Percentiles summarises a latency histogram (µs).
type Percentiles struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	Min    int64   `json:"min"`
	P50    int64   `json:"p50"`
	P90    int64   `json:"p90"`
	P99    int64   `json:"p99"`
	P999   int64   `json:"p999"`
	P9999  int64   `json:"p9999"`
	Max    int64   `json:"max"`
	StdDev float64 `json:"stdDev"`
}

// Interval is one second (or the run's interval) of the time series.
type Interval struct {
	Start    time.Duration `json:"startNs"` // since the measured window began (negative during warm-up)
	Sent     int64         `json:"sent"`
	Acked    int64         `json:"acked"`
	Errors   int64         `json:"errors"`
	Consumed int64         `json:"consumed"`
	SendP50  int64         `json:"sendP50"`
	SendP99  int64         `json:"sendP99"`
	SendMax  int64         `json:"sendMax"`
	// ServiceP99 (ack − actual send) and PacingP99 (actual − intended
	// send) split the second's send p99 into the servers' part and the
	// tool's; HiccupMax is the latest the hiccup meter woke in the
	// second: the machine's own worst stall.
	ServiceP99  int64 `json:"serviceP99"`
	PacingP99   int64 `json:"pacingP99"`
	HiccupMax   int64 `json:"hiccupMax"`
	EndToEndP99 int64 `json:"endToEndP99"`
}

// Fault is an injected fault and what it cost.
type Fault struct {
	At          time.Duration `json:"atNs"`             // since the measured window began, when the action returned
	Took        time.Duration `json:"tookNs,omitempty"` // how long the action ran (a kill waits for the exit; topic creation takes a while)
	Kind        string        `json:"kind"`             // kill-master, restart-master, kill-slave, kill-namesrv, latency, bandwidth, …
	Target      string        `json:"target"`
	RecoveredAt time.Duration `json:"recoveredAtNs,omitempty"` // when p99 and rate were back to their pre-fault level; 0 if never
}

// Capacity is the outcome of a capacity search for one label.
type Capacity struct {
	Label  string         `json:"label"`
	Result CapacityResult `json:"result"`
}

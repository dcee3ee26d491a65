// Package loadgen benchmarks rocketgo the way a performance engineer
// would: it starts a topology of real processes on 127.0.0.1 (Launch),
// drives open-loop load through rocketgo's own client (Execute), and writes
// a result folder a team can read and compare (RunPlan).
//
// Measurement. Each send has an intended time from the target rate (pacer);
// send latency counts from that time to the acknowledgement, so a stalled
// broker shows up as latency instead of as a lower send rate (no
// coordinated omission). Three more histograms separate the parts: service
// (ack − actual send), pacing (actual − intended) and end-to-end (intended
// send → consumed; the intended time is carried in the message body on the
// driver's clock, and each worker corrects by its measured clock offset). Histograms are HdrHistogram at microsecond resolution;
// each second of the measured window also gets its own, for the time
// series. Acknowledged and consumed messages are tracked per producer and
// sequence number, so losses and duplicates are counted exactly.
//
// Result folder (<results>/<UTC time>-<scenario>/):
//
//	summary.json                  Summary: workload, topology, machine, versions, every run
//	<label>-rate<r>-rep<n>-<kind>.hgrm   HdrHistogram percentile distributions
//	latency-percentiles.svg, latency-over-time.svg, latency-vs-throughput.svg, end-to-end.svg
//	report.md                     the verdict in words, tables, charts, how to reproduce
//
// Histogram keys passed to WriteCharts are HistKey(label, rate, kind),
// repetitions merged.
//
// Workers. Producers and consumers run in worker processes (part.go,
// worker.go: `loadgen worker`, HTTP + JSON), local ones started by the
// driver or remote ones it is given; the driver (Execute) creates the
// topics, starts every worker's part at one instant, injects faults,
// samples the servers and the machine's stalls, and merges the workers'
// records into one (merge.go, workers.go).
//
// Processes started by Launch die with the load generator (PDEATHSIG) and
// are stopped by PID; none is left behind when a start fails.
package loadgen

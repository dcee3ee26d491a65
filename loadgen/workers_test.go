package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMergeSplitsAlike records one run's events (sends with their
// outcomes, consumption, duplicates, reordering) into one recorder, and
// the same events split over 2 and 3 workers' recorders the way split
// assigns producers and consumer slots, sent through JSON and merged: the
// merged summaries, histograms and interval series must be identical.
func TestMergeSplitsAlike(t *testing.T) {
	w := Workload{Topics: 3, ProducersPerTopic: 2, ConsumersPerTopic: 2, QueuesPerTopic: 4, Duration: 3 * time.Second}
	nprod := w.Topics * w.ProducersPerTopic
	warmupEnd := time.Now()
	end := warmupEnd.Add(w.Duration)
	type event struct {
		producer   int
		seq        int64
		intended   time.Time
		sent, done time.Duration
		ok         bool
		reads      int // times consumed: 0 lost, 2 duplicated
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var events []event
	for p := range nprod {
		for seq := int64(0); seq < 1500; seq++ {
			e := event{producer: p, seq: seq, intended: warmupEnd.Add(time.Duration(seq) * 2 * time.Millisecond).Add(-200 * time.Millisecond),
				sent: time.Duration(rnd.IntN(300)) * time.Microsecond, ok: rnd.IntN(50) != 0, reads: 1}
			e.done = e.sent + time.Duration(100+rnd.IntN(5000))*time.Microsecond
			switch rnd.IntN(100) {
			case 0:
				e.reads = 0
			case 1:
				e.reads = 2
			}
			events = append(events, e)
		}
	}
	rnd.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] }) // any order
	// slot is the consumer slot that reads a message: queue seq%4 of the
	// producer's topic, read by consumer queue%ConsumersPerTopic.
	slot := func(e event) ConsumerSlot {
		return ConsumerSlot{Topic: e.producer % w.Topics, K: int(e.seq%int64(w.QueuesPerTopic)) % w.ConsumersPerTopic}
	}
	record := func(rec *recorder, e event, sends, consumes bool) {
		if sends {
			rec.started(e.intended)
			rec.done(e.producer, e.seq, e.intended, e.intended.Add(e.sent), e.intended.Add(e.done), map[bool]string{true: "SEND_OK", false: "TIMEOUT"}[e.ok], e.ok)
		}
		if consumes {
			for range e.reads {
				rec.consume(e.producer, e.seq, e.intended, e.intended.Add(e.done+3*time.Millisecond))
			}
		}
	}
	one := newRecorder(nprod, warmupEnd, end)
	for _, e := range events {
		record(one, e, true, true)
	}
	want := one.output(RunSpec{Workload: w}, nil, newHist(), nil)
	if want.Run.Lost == 0 || want.Run.Duplicates == 0 || want.Run.Errors == 0 {
		t.Fatalf("the events should lose, duplicate and fail some: %+v", want.Run)
	}

	for _, n := range []int{1, 2, 3} {
		a := split(w, n)
		merged := newRecorder(nprod, warmupEnd, end)
		for i := range n {
			rec := newRecorder(nprod, warmupEnd, end)
			for _, e := range events {
				sends := contains(a.producers[i], e.producer)
				consumes := contains(a.consumers[i], slot(e))
				if sends || consumes {
					record(rec, e, sends, consumes)
				}
			}
			b, err := json.Marshal(rec.export())
			if err != nil {
				t.Fatal(err)
			}
			var st recordState
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			if err := merged.merge(&st); err != nil {
				t.Fatal(err)
			}
		}
		got := merged.output(RunSpec{Workload: w}, nil, newHist(), nil)
		if !reflect.DeepEqual(got.Run, want.Run) {
			t.Errorf("%d workers: merged run\n%+v\nwant\n%+v", n, got.Run, want.Run)
		}
		for kind, h := range want.Hists {
			if !got.Hists[kind].Equals(h) {
				t.Errorf("%d workers: %s histogram differs", n, kind)
			}
		}
		for i := range want.sendBySecond {
			if !got.sendBySecond[i].Equals(want.sendBySecond[i]) {
				t.Errorf("%d workers: second %d differs", n, i)
			}
		}
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestSplit: producers and consumers go to separate halves of the
// workers; every producer and consumer slot exactly once.
func TestSplit(t *testing.T) {
	w := Workload{Topics: 2, ProducersPerTopic: 3, ConsumersPerTopic: 2}
	a := split(w, 3)
	if !reflect.DeepEqual(a.producers, [][]int{{0, 2, 4}, {1, 3, 5}, nil}) {
		t.Errorf("producers %v", a.producers)
	}
	if !reflect.DeepEqual(a.consumers, [][]ConsumerSlot{nil, nil, {{0, 0}, {0, 1}, {1, 0}, {1, 1}}}) {
		t.Errorf("consumers %v", a.consumers)
	}
	w.ConsumersPerTopic = 0
	if a := split(w, 2); len(a.producers[0]) != 3 || len(a.producers[1]) != 3 {
		t.Errorf("without consumers every worker sends: %v", a.producers)
	}
	if a := split(Workload{Topics: 1, ProducersPerTopic: 1, ConsumersPerTopic: 1}, 1); len(a.producers[0]) != 1 || len(a.consumers[0]) != 1 {
		t.Errorf("one worker runs everything: %+v", a)
	}
}

// TestWorkerLostMidRun kills one of three workers a second into a run:
// a sending one, then the consuming one. The run finishes and names the
// worker lost; the messages whose acknowledgements died with a sender are
// in no ledger, and those of the topics a lost consumer was reading are
// not counted as lost.
func TestWorkerLostMidRun(t *testing.T) {
	c := launchOneGroup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		victim int // 0, 1 send (one producer each), 2 consumes
	}{{"sender", 1}, {"consumer", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := StartLocalWorkers(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			for _, wi := range pool.Infos() {
				if wi.Version == "" || wi.Machine.Cores == 0 || wi.PID == 0 || wi.ClockUncertainty <= 0 || wi.ClockUncertainty > time.Second {
					t.Fatalf("worker info %+v", wi)
				}
			}
			w := Workload{Topics: 1, QueuesPerTopic: 4, MessageSize: 256, ProducersPerTopic: 2, ConsumersPerTopic: 1,
				Rate: 1000, InFlight: 256, BatchSize: 1, Duration: 3 * time.Second, Warmup: 500 * time.Millisecond,
				Drain: 5 * time.Second, SendTimeout: 3 * time.Second}
			victim := pool.local[tc.victim]
			go func() {
				time.Sleep(1500 * time.Millisecond)
				victim.Process.Kill()
			}()
			out, err := Execute(ctx, RunSpec{Namesrvs: c.NamesrvAddrs(), Workload: w, Label: "lost", Group: "g", Workers: pool})
			if err != nil {
				t.Fatal(err)
			}
			r := out.Run
			t.Logf("sent %d acked %d consumed %d lost %d dup %d; lost workers %v", r.Sent, r.Acked, r.Consumed, r.Lost, r.Duplicates, r.LostWorkers)
			if len(r.LostWorkers) != 1 || !strings.HasPrefix(r.LostWorkers[0], pool.Infos()[tc.victim].Addr) || r.Lost != 0 || r.Duplicates != 0 {
				t.Fatalf("lost workers %v, lost %d, duplicates %d", r.LostWorkers, r.Lost, r.Duplicates)
			}
			switch tc.victim {
			case 1: // only the surviving producer's sends are in, all consumed
				if r.Acked < 1000 || r.Acked > 2000 || r.Consumed < r.Acked {
					t.Fatalf("acked %d, consumed %d: want producer 0's ~1500, all consumed", r.Acked, r.Consumed)
				}
			case 2: // every send is in; what the consumer read died with it
				if r.Acked < 2700 || r.Consumed != 0 {
					t.Fatalf("acked %d, consumed %d: want ~3000 acked, nothing consumed on record", r.Acked, r.Consumed)
				}
			}
			if len(out.Workers) != 3 {
				t.Fatalf("workers %+v", out.Workers)
			}
		})
	}
}

// TestReportNamesWorkers: the report's setup names the workers, their
// clock offsets when remote, and a worker lost during a run.
func TestReportNamesWorkers(t *testing.T) {
	s, _ := syntheticSummary(t)
	s.Workers = []WorkerInfo{
		{Addr: "10.0.0.7:7800", Version: "abc123", Machine: Machine{Hostname: "lg1", Cores: 16}, ClockOffset: 1234 * time.Microsecond, ClockUncertainty: 80 * time.Microsecond},
		{Addr: "10.0.0.8:7800", Version: "abc123", Machine: Machine{Hostname: "lg2", Cores: 16}, ClockOffset: -50 * time.Microsecond, ClockUncertainty: 120 * time.Microsecond},
	}
	s.Runs[0].LostWorkers = []string{"10.0.0.8:7800: connection refused"}
	dir := t.TempDir()
	if err := WriteReport(dir, s, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, w := range []string{"**Load workers** (remote)", "10.0.0.7:7800 (lg1, abc123, 16 cores, clock offset 1.234ms ± 80µs)",
		"uncertain by up to 240µs", "**Worker lost** in " + s.Runs[0].Label, "10.0.0.8:7800: connection refused"} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("report.md lacks %q:\n%s", w, data)
		}
	}
}

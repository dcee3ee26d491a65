package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/internal/procs"
	"github.com/rocketgo/rocketgo/remoting"
)

// A part is one worker's share of a run: some of its producers (paced
// sends) and some of its consumers (pulls), measured into the worker's own
// recorder. The driver prepares a part on every worker, starts them all
// at one instant, and merges what they recorded (workers.go).
//
// Times cross processes, maybe hosts: the driver gives each worker its
// clock offset (worker clock − driver clock, estimated from round trips)
// and the run's instants on the driver's clock. Payloads carry the
// intended send time on the driver's clock, so a consumer on another
// worker computes end-to-end latency on the same time line.

// PartSpec is what the driver asks one worker to run.
type PartSpec struct {
	RunID     string                `json:"runId"`
	Namesrvs  []string              `json:"namesrvs"`
	Topics    []string              `json:"topics"`
	Workload  Workload              `json:"workload"`
	Producers []int                 `json:"producers"` // global producer numbers (0..Topics×ProducersPerTopic-1)
	Consumers []ConsumerSlot        `json:"consumers"`
	OffsetNs  int64                 `json:"offsetNs"` // this worker's clock − the driver's
	Cred      *remoting.Credentials `json:"credentials,omitempty"`
	// BrokerVia maps a broker address to the one the clients dial (a
	// fault proxy in front of a master).
	BrokerVia map[string]string `json:"brokerVia,omitempty"`
}

// ConsumerSlot is consumer K of topic Topic: it reads the topic's queues
// whose number ≡ K (mod ConsumersPerTopic).
type ConsumerSlot struct {
	Topic int `json:"topic"`
	K     int `json:"k"`
}

// PartTimes are a run's instants on the driver's clock (Unix ns).
type PartTimes struct {
	Start     int64 `json:"startNs"`
	WarmupEnd int64 `json:"warmupEndNs"`
	End       int64 `json:"endNs"`
}

// PartStatus is a part's live counters (warm-up included) for progress
// and for the driver's drain.
type PartStatus struct {
	Sent     int64 `json:"sent"`
	Acked    int64 `json:"acked"`
	Errors   int64 `json:"errors"`
	Consumed int64 `json:"consumed"`
	SendP99  int64 `json:"sendP99"` // µs, measured window so far
	Unique   int64 `json:"unique"`  // consumed, duplicates not counted
	// WindowAcked counts the acknowledged sends of the measured window.
	WindowAcked int64  `json:"windowAcked"`
	SendsDone   bool   `json:"sendsDone"` // every send answered or failed
	Err         string `json:"err,omitempty"`
}

// part runs a PartSpec in this process.
type part struct {
	spec PartSpec
	log  *slog.Logger

	producers []*client.Producer
	prodNum   []int // global number of producers[i]
	queues    [][]client.MessageQueue
	consumers []*client.PullConsumer
	reads     []consumerRead
	payload   []byte

	started   atomic.Bool
	rec       *recorder
	stopSends chan struct{}
	cancel    context.CancelFunc // stops the consumers
	sendsDone chan struct{}
	cwg       sync.WaitGroup
}

type consumerRead struct {
	c *client.PullConsumer
	q client.MessageQueue
}

// preparePart starts the part's clients and looks up their queues; the
// part sends nothing until start.
func preparePart(ctx context.Context, spec PartSpec, log *slog.Logger) (*part, error) {
	w := spec.Workload
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if len(spec.Topics) != w.Topics {
		return nil, fmt.Errorf("part: %d topic names for %d topics", len(spec.Topics), w.Topics)
	}
	nprod := w.Topics * w.ProducersPerTopic
	p := &part{spec: spec, log: log, stopSends: make(chan struct{}), sendsDone: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	opts := []client.Option{client.Logger(log)}
	if cr := spec.Cred; cr != nil {
		opts = append(opts, client.Credentials(cr.AccessKey, cr.SecretKey))
	}
	if len(spec.BrokerVia) > 0 {
		via := spec.BrokerVia
		opts = append(opts, client.BrokerAddr(func(a string) string {
			if v, ok := via[a]; ok {
				return v
			}
			return a
		}))
	}
	for _, i := range spec.Producers {
		if i < 0 || i >= nprod {
			return nil, fmt.Errorf("part: producer %d of %d", i, nprod)
		}
		pr, err := client.NewProducer(spec.Namesrvs, append(opts, client.Group(fmt.Sprintf("PG_%s_%d", spec.RunID, i)),
			client.SendTimeout(w.SendTimeout), client.InFlight(w.InFlight))...)
		if err != nil {
			return nil, fmt.Errorf("producer %d: %w", i, err)
		}
		if err := pr.Start(); err != nil {
			return nil, fmt.Errorf("start producer %d: %w", i, err)
		}
		p.producers = append(p.producers, pr)
		p.prodNum = append(p.prodNum, i)
		qs, err := pr.Queues(ctx, spec.Topics[i%w.Topics])
		if err != nil {
			return nil, fmt.Errorf("producer %d: queues of %s: %w", i, spec.Topics[i%w.Topics], err)
		}
		p.queues = append(p.queues, qs)
	}
	for _, s := range spec.Consumers {
		if s.Topic < 0 || s.Topic >= w.Topics || s.K < 0 || s.K >= w.ConsumersPerTopic {
			return nil, fmt.Errorf("part: consumer %d of topic %d (%d topics, %d consumers each)", s.K, s.Topic, w.Topics, w.ConsumersPerTopic)
		}
		topic := spec.Topics[s.Topic]
		c, err := client.NewPullConsumer(spec.Namesrvs, consumerGroup(spec.RunID, s.Topic), opts...)
		if err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
		c.Subscribe(topic, "*")
		if err := c.Start(); err != nil {
			return nil, fmt.Errorf("start consumer: %w", err)
		}
		p.consumers = append(p.consumers, c)
		qs, err := c.Queues(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("consumer queues of %s: %w", topic, err)
		}
		for qi, q := range qs {
			if qi%w.ConsumersPerTopic == s.K {
				p.reads = append(p.reads, consumerRead{c, q})
			}
		}
	}
	payload, err := w.payload()
	if err != nil {
		return nil, err
	}
	p.payload = payload
	ok = true
	return p, nil
}

// starting reports whether the part may start: only once.
func (p *part) starting() bool { return p.started.CompareAndSwap(false, true) }

// local turns an instant on the driver's clock into this process's,
// with a monotonic reading.
func (p *part) local(driverNs int64) time.Time {
	now := time.Now()
	return now.Add(time.Duration(driverNs + p.spec.OffsetNs - now.UnixNano()))
}

// start runs the part: consumers at once, producers paced from t.Start.
// It returns at once; sendsDone closes when every send is answered.
func (p *part) start(t PartTimes) {
	w := p.spec.Workload
	nprod := w.Topics * w.ProducersPerTopic
	start := p.local(t.Start)
	warmupEnd, end := start.Add(time.Duration(t.WarmupEnd-t.Start)), start.Add(time.Duration(t.End-t.Start))
	p.rec = newRecorder(nprod, warmupEnd, end)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, r := range p.reads {
		p.cwg.Add(1)
		go func() {
			defer p.cwg.Done()
			consumeQueue(ctx, r.c, r.q, p.rec, p.spec.OffsetNs, p.log)
		}()
	}
	go func() {
		select {
		case <-time.After(time.Until(end)):
		case <-ctx.Done():
		}
		close(p.stopSends)
	}()
	go func() {
		defer close(p.sendsDone)
		p.send(ctx, start)
	}()
}

// send paces the part's producers until stopSends and waits for every
// answer.
func (p *part) send(ctx context.Context, start time.Time) {
	if len(p.producers) == 0 {
		return
	}
	w := p.spec.Workload
	nprod := w.Topics * w.ProducersPerTopic
	rec := p.rec
	// The pacers sleep in clock_nanosleep on locked threads: Ps of their
	// own, or they starve the client's goroutines.
	release := procs.Reserve(len(p.producers))
	defer release()
	var swg sync.WaitGroup // outstanding sends
	var pwg sync.WaitGroup
	batch := max(w.BatchSize, 1)
	for pi, pr := range p.producers {
		i := p.prodNum[pi]
		qs := p.queues[pi]
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			// The pacer hands out one send (of batch messages) per tick;
			// producers are phased evenly over one interval.
			rate := w.Rate / float64(nprod) / float64(batch)
			pc := newPacer(start.Add(time.Duration(float64(i)/float64(nprod)*float64(time.Second)/max(rate, 1))), rate)
			pc.lock()
			topic := p.spec.Topics[i%w.Topics]
			// Batches are synchronous in the client: at most InFlight of
			// them run at once, each on its own goroutine.
			slots := make(chan struct{}, w.InFlight)
			msg := func(seq int64, intended time.Time) *client.Message {
				body := make([]byte, len(p.payload))
				copy(body, p.payload)
				binary.BigEndian.PutUint32(body, payloadMagic)
				binary.BigEndian.PutUint32(body[4:], uint32(i))
				binary.BigEndian.PutUint64(body[8:], uint64(seq))
				binary.BigEndian.PutUint64(body[16:], uint64(intended.UnixNano()-p.spec.OffsetNs))
				return &client.Message{Topic: topic, Body: body}
			}
			for n := int64(0); ; n++ {
				intended, ok := pc.next(p.stopSends)
				if !ok {
					return
				}
				q := qs[int(n)%len(qs)]
				first := n * int64(batch)
				if batch == 1 {
					rec.started(intended)
					swg.Add(1)
					sentAt := time.Now()
					err := pr.SendAsync(ctx, q, msg(first, intended), func(res client.SendResult, err error) {
						defer swg.Done()
						status, ok := outcome(res, err)
						rec.done(i, first, intended, sentAt, time.Now(), status, ok)
					})
					if err != nil {
						status, _ := outcome(client.SendResult{}, err)
						rec.done(i, first, intended, sentAt, time.Now(), status, false)
						swg.Done()
					}
					continue
				}
				ms := make([]*client.Message, batch)
				for k := range ms {
					ms[k] = msg(first+int64(k), intended)
					rec.started(intended)
				}
				slots <- struct{}{}
				swg.Add(1)
				go func() {
					defer swg.Done()
					defer func() { <-slots }()
					sentAt := time.Now()
					res, err := pr.SendBatch(ctx, q, ms)
					now := time.Now()
					status, ok := outcome(res, err)
					for k := range ms {
						rec.done(i, first+int64(k), intended, sentAt, now, status, ok)
					}
				}()
			}
		}()
	}
	pwg.Wait()
	swg.Wait()
}

// status reads the live counters.
func (p *part) status() PartStatus {
	s := PartStatus{}
	if p.rec == nil {
		return s
	}
	l := &p.rec.live
	s.Sent, s.Acked, s.Errors, s.Consumed, s.Unique = l.sent.Load(), l.acked.Load(), l.errs.Load(), l.consumed.Load(), l.unique.Load()
	p.rec.mu.Lock()
	s.SendP99 = p.rec.send.ValueAtQuantile(99)
	s.WindowAcked = p.rec.acked
	p.rec.mu.Unlock()
	select {
	case <-p.sendsDone:
		s.SendsDone = true
	default:
	}
	return s
}

// finish stops sending (if the window is not over), waits for the answers,
// stops the consumers and returns what the part recorded.
func (p *part) finish() *recordState {
	if p.rec == nil {
		return nil
	}
	select {
	case <-p.stopSends:
	default:
		p.cancel() // stops the pacers through the end timer
	}
	<-p.sendsDone
	p.cancel()
	p.cwg.Wait()
	return p.rec.export()
}

// close stops everything and closes the clients.
func (p *part) close() {
	if p.cancel != nil {
		p.cancel()
		<-p.sendsDone
		p.cwg.Wait()
	}
	for _, c := range p.consumers {
		c.Close()
	}
	for _, pr := range p.producers {
		pr.Close()
	}
}

package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/broker/ha"
	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/commitlog/index"
	"github.com/rocketgo/rocketgo/remoting"
)

// Broker is one broker process: a remoting server in front of a commit log,
// with the topic, offset and consumer tables around it.
type Broker struct {
	cfg Config
	log *slog.Logger

	store     *commitlog.Log
	index     *index.Index // nil unless messageIndexEnable
	fs        commitlog.FS // the store's and the metadata files' file system; nil: the real one (tests inject faults)
	server    *remoting.Server
	client    *remoting.Client
	topics    *topicTable
	offsets   *offsetTable
	groups    *groupTable
	consumers *consumers
	polls     *polls
	metaWait  *metaWaiters // slaves' metadata requests held on a master
	locks     locks
	delays    *scheduler
	cleaner   *cleaner
	tx        *txChecker
	acl       *acl           // nil unless aclEnable
	metrics   *brokerMetrics // nil unless metricsExporterType=PROM
	master    *ha.Master     // nil on a slave
	slave     *ha.Slave      // nil on a master
	ctl       *controlled    // nil unless enableControllerMode: then master and slave are both set

	roleNow atomic.Pointer[role]

	// sendStages are what a send waits for before it is answered, and
	// the latency stage each one is recorded under.
	sendStages []sendStage
	stageNames []string
	lat        *stageStats

	delayLevels []time.Duration // messageDelayLevel

	serverTLS *remoting.ServerTLS // nil: tls.server.mode=disabled
	clientTLS *tls.Config         // nil unless tls.enable

	memTotal  int64          // bytes of RAM, for the slave-read rule
	addr      string         // advertised ip:port for clients
	haAddr    string         // advertised ip:port for slaves
	storeHost netip.AddrPort // addr, as stored in every record

	masterMu     sync.Mutex
	masterAddr   string
	masterHAAddr string

	// Registration (register.go): requests ask the loop for a round.
	registerNow chan struct{} // wakes the loop
	regMu       sync.Mutex
	regNext     *regRound // the round the loop runs next; regMu
	// Owned by the registering goroutine (Start, then registerLoop).
	regBase *tableState[TopicConfig] // the topic state the last round sent
	regOK   map[string]bool          // namesrv → it took the last round

	stats struct{ sent, pulled atomic.Int64 }

	done   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
}

// New checks cfg and returns a broker that Start will open.
func New(cfg Config, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{
		cfg:         cfg.Resolved(),
		log:         log,
		consumers:   newConsumers(),
		lat:         newStageStats(),
		registerNow: make(chan struct{}, 1),
		regNext:     newRegRound(),
		done:        make(chan struct{}),
	}
	var err error
	if b.serverTLS, err = cfg.tlsServer().Load(); err != nil {
		return nil, err
	}
	if cfg.TLSEnable {
		if b.clientTLS, err = cfg.tlsClient().Config(); err != nil {
			return nil, err
		}
	}
	r := role{name: b.cfg.BrokerRole, id: b.cfg.BrokerID}
	if b.cfg.EnableControllerMode {
		r = role{name: Slave, id: -1} // until the controller says
	}
	b.setRole(r)
	b.polls = newPolls(b)
	b.metaWait = newMetaWaiters(cfg.MetadataLongPollMaxHeld)
	b.delayLevels, _ = parseDelayLevels(cfg.MessageDelayLevel) // validated above
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		b.memTotal = int64(si.Totalram) * int64(si.Unit)
	}
	return b, nil
}

// Start opens the store, starts listening and registers with the namesrvs.
func (b *Broker) Start() error {
	root := b.cfg.StorePathRootDir
	if err := os.MkdirAll(configDir(root), 0o755); err != nil {
		return fmt.Errorf("create store dir: %w", err)
	}
	var err error
	if b.cfg.MetricsExporterType == MetricsProm {
		b.metrics = newBrokerMetrics(b)
	}
	if b.topics, err = loadTopicsWith(filepath.Join(configDir(root), "topics.json"), b.metrics); err != nil {
		return err
	}
	if b.offsets, err = loadOffsets(filepath.Join(configDir(root), "consumerOffset.json")); err != nil {
		return err
	}
	if b.groups, err = loadGroups(filepath.Join(configDir(root), "subscriptionGroup.json")); err != nil {
		return err
	}
	b.groups.changed = b.metaWait.kick
	b.topics.t.fs, b.offsets.fs, b.groups.t.fs = b.fs, b.fs, b.fs
	flush := commitlog.AsyncFlush
	if b.cfg.FlushDiskType == SyncFlush {
		flush = commitlog.SyncFlush
		b.sendStages = append(b.sendStages, b.flushStage)
		b.stageNames = append(b.stageNames, stageFlushWait)
	}
	b.store, err = commitlog.Open(commitlog.Config{
		Dir:              root,
		SegmentSize:      b.cfg.MappedFileSizeCommitLog,
		QueueFileEntries: int(b.cfg.MappedFileSizeConsumeQueue / 20),
		Flush:            flush,
		FlushInterval:    b.cfg.FlushIntervalCommitLog,
		SyncFlushTimeout: b.cfg.SyncFlushTimeout,
		DeleteGrace:      b.cfg.DestroyMapedFileIntervalForcibly,
		Log:              b.log,
		FS:               b.fs,
		OnSync:           b.metrics.onSync(),
	})
	if err != nil {
		return fmt.Errorf("open store %s: %w", root, err)
	}
	if err := b.openIndex(); err != nil {
		b.store.Close()
		return err
	}
	b.cleaner = newCleaner(b)
	b.tx = newTxChecker(b)
	if b.cfg.AclEnable {
		if b.acl, err = newACL(b.cfg.AclFile); err != nil {
			b.store.Close()
			return fmt.Errorf("aclEnable=true: %w", err)
		}
	}
	if b.cfg.EnableControllerMode {
		if b.ctl, err = newControlled(b); err != nil {
			b.store.Close()
			return err
		}
	}
	var watch *queueWatch // a slave registers soon when its store gets a new queue
	if b.isSlave() {
		watch = &queueWatch{fresh: func() {
			if b.isSlave() {
				b.registerSoon()
			}
		}}
	}
	// Once per append call and queue (a batch is one arrival).
	b.store.SetArrivalListener(func(topic string, queueID int32, _ int64, _ int64) {
		b.polls.arrived(topic, queueID)
		if b.index != nil {
			b.index.Kick()
		}
		if b.master != nil {
			b.master.Notify()
		}
		if watch != nil {
			watch.seen(topic, queueID)
		}
	})
	b.createSystemTopics()
	if b.delays, err = newScheduler(b); err != nil {
		b.store.Close()
		return err
	}

	// The HA listener first: the listening line of the client port is the
	// last thing a supervisor waits for.
	if err := b.startHA(); err != nil {
		b.store.Close()
		return err
	}
	b.server = remoting.NewServer(remoting.ServerConfig{
		Addr:         net.JoinHostPort(b.cfg.BrokerIP1, strconv.Itoa(b.cfg.ListenPort)),
		Name:         "broker",
		Log:          b.log,
		MaxFrameSize: b.cfg.MaxFrameSize,
		Workers:      b.cfg.ServerWorkerThreads,
		IdleTimeout:  time.Duration(b.cfg.ServerChannelMaxIdleTimeSeconds) * time.Second,
		TLS:          b.serverTLS,
		Limits:       b.cfg.Limits,
		Observe:      b.metrics.observer(),
	})
	b.routes()
	b.server.OnClose(b.connClosed)
	if b.metrics != nil {
		if err := b.metrics.start(); err != nil {
			if b.master != nil {
				b.master.Close()
			}
			b.store.Close()
			return err
		}
	}
	if err := b.server.Start(); err != nil {
		b.metrics.close()
		if b.master != nil {
			b.master.Close()
		}
		b.store.Close()
		return fmt.Errorf("listenPort=%d: %w", b.cfg.ListenPort, err) // "listen ADDR: reason"
	}
	b.addr = b.server.Addr()
	b.storeHost, err = netip.ParseAddrPort(b.addr)
	if err != nil {
		b.server.Close()
		if b.master != nil {
			b.master.Close()
		}
		b.store.Close()
		return fmt.Errorf("parse listen address %s: %w", b.addr, err)
	}
	b.storeHost = netip.AddrPortFrom(b.storeHost.Addr().Unmap(), b.storeHost.Port())
	b.client = remoting.NewClient(remoting.ClientConfig{Log: b.log, TLS: b.clientTLS})
	if b.clientTLS != nil && b.cfg.TLSClientTrustCertPath == "" {
		b.log.Warn("tls.enable=true without tls.client.trustCertPath: the certificates of namesrvs and masters are not verified")
	}

	b.log.Info("broker started", "cluster", b.cfg.BrokerClusterName, "name", b.cfg.BrokerName, "id", b.cfg.BrokerID,
		"role", b.cfg.BrokerRole, "controllerMode", b.cfg.EnableControllerMode, "flush", b.cfg.FlushDiskType, "addr", b.addr, "store", root)
	if b.ctl != nil {
		b.ctl.start() // registers with the controller and takes the role it gives
	}
	b.registerRound(true)
	if b.slave != nil {
		b.slave.Start()
		b.goLoop(b.syncFromMaster)
	}
	b.goLoop(b.registerLoop)
	b.goLoop(b.housekeepingLoop)
	b.goLoop(b.polls.run)
	b.goLoop(b.serveHeldMetadata)
	if b.index != nil {
		b.index.Start()
	}
	b.every(b.cfg.CleanResourceInterval, func(now time.Time) { b.cleaner.once(now, b.done) })
	if b.acl != nil {
		b.every(aclReloadInterval, func(time.Time) { b.acl.reload(b) })
	}
	if b.ctl != nil || !b.isSlave() { // a slave of controller mode may become master
		b.every(b.cfg.TransactionCheckInterval, func(now time.Time) {
			if !b.isSlave() {
				b.tx.check(now)
			}
		})
		b.every(scheduleTick, func(now time.Time) {
			if !b.isSlave() {
				b.delays.deliverAll(now)
			}
		})
	}
	return nil
}

// routes binds request codes to handlers.
func (b *Broker) routes() {
	s := b.server
	// With aclEnable every request is checked before its handler runs.
	guard := func(fn remoting.HandlerFunc) remoting.HandlerFunc {
		if b.acl == nil {
			return fn
		}
		return func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			if resp := b.acl.check(c, req); resp != nil {
				return resp
			}
			return fn(c, req)
		}
	}
	handle := func(code int32, fn remoting.HandlerFunc) { s.Handle(code, guard(fn)) }
	scoped := func(code int32, fn remoting.HandlerFunc) { s.HandleScoped(code, guard(fn)) }
	inline := func(code int32, fn remoting.HandlerFunc) { s.HandleInline(code, guard(fn)) }
	// The hot paths keep nothing of a request they have answered (a send
	// that waits for a flush or a slave, and a parked pull, return
	// req.Later()), so the server recycles their memory. Sends, replies
	// and offset requests never block (an append writes to pre-faulted
	// pages; the topic table is read without a lock; waiting for a flush,
	// a slave or a requester is a callback), so they run on the event
	// loop; a send that would create a topic (an fsync) or a file the
	// store has not made ahead (commitlog.ErrWouldBlock) is offloaded.
	// Pulls run on workers, which fault in cold pages (Prefault) before
	// the loop writes them.
	inline(remoting.SendMessage, b.sendMessage)
	inline(remoting.SendMessageV2, b.sendMessage)
	inline(remoting.SendBatchMessage, b.sendMessage)
	scoped(remoting.PullMessage, b.pullMessage)
	inline(remoting.QueryConsumerOffset, b.queryConsumerOffset)
	inline(remoting.UpdateConsumerOffset, b.updateConsumerOffset)
	inline(remoting.GetMaxOffset, b.getMaxOffset)
	inline(remoting.GetMinOffset, b.getMinOffset)
	inline(remoting.SendReplyMessage, b.sendMessage) // the push to the requester is asynchronous
	inline(remoting.SendReplyMessageV2, b.sendMessage)
	handle(remoting.HeartBeat, b.heartBeat)
	handle(remoting.UnregisterClient, b.unregisterClient)
	handle(remoting.GetConsumerListByGroup, b.getConsumerListByGroup)
	handle(remoting.SearchOffsetByTimestamp, b.searchOffsetByTimestamp)
	handle(remoting.GetEarliestMsgStoretime, b.getEarliestMsgStoretime)
	handle(remoting.UpdateAndCreateTopic, b.updateAndCreateTopic)
	handle(remoting.DeleteTopicInBroker, b.deleteTopicInBroker)
	handle(remoting.GetAllTopicConfig, b.getAllTopicConfig)
	handle(remoting.GetAllSubscriptionGroupConfig, b.getAllSubscriptionGroupConfig)
	handle(remoting.DeleteSubscriptionGroup, b.deleteSubscriptionGroup)
	handle(remoting.ConsumerSendMsgBack, b.consumerSendMsgBack)
	handle(remoting.LockBatchMQ, b.lockBatchMQ)
	handle(remoting.UnlockBatchMQ, b.unlockBatchMQ)
	handle(remoting.EndTransaction, b.endTransaction)
	handle(remoting.GetAllConsumerOffset, b.getAllConsumerOffset)
	handle(remoting.GetBrokerRuntimeInfo, b.getBrokerRuntimeInfo)
	handle(remoting.QueryMessage, b.queryMessage)
	handle(remoting.ViewMessageByID, b.viewMessageByID)
	handle(remoting.GetTopicStatsInfo, b.getTopicStatsInfo)
	handle(remoting.GetConsumeStats, b.getConsumeStats)
	handle(remoting.InvokeBrokerToResetOffset, b.invokeBrokerToResetOffset)
	handle(remoting.GetBrokerEpochCache, b.getBrokerEpochCache)
}

// every runs fn on a goroutine of its own every d until the broker stops.
func (b *Broker) every(d time.Duration, fn func(now time.Time)) {
	b.goLoop(func(done <-chan struct{}) {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				fn(now)
			}
		}
	})
}

func (b *Broker) goLoop(fn func(done <-chan struct{})) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.done)
	}()
}

// Addr returns the advertised client address (ip:port).
func (b *Broker) Addr() string { return b.addr }

// housekeepingLoop persists consumer offsets and expires silent clients.
func (b *Broker) housekeepingLoop(done <-chan struct{}) {
	persist := time.NewTicker(b.cfg.FlushConsumerOffsetInterval)
	defer persist.Stop()
	scan := time.NewTicker(10 * time.Second)
	defer scan.Stop()
	for {
		select {
		case <-done:
			return
		case <-persist.C:
			if err := b.offsets.persist(); err != nil {
				b.log.Error("persist consumer offsets", "err", err)
			}
			if err := b.delays.persist(); err != nil {
				b.log.Error("persist delay offsets", "err", err)
			}
		case now := <-scan.C:
			b.expireClients(now)
		}
	}
}

// Close unregisters from the namesrvs, stops serving, and closes the store
// cleanly so the next start needs no recovery.
func (b *Broker) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	b.unregisterAll()
	var errs []error
	b.metrics.close()
	if err := b.server.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close server: %w", err))
	}
	if b.slave != nil {
		b.slave.Close()
	}
	if b.master != nil {
		if err := b.master.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close HA: %w", err))
		}
	}
	close(b.done)
	b.wg.Wait()
	if err := b.offsets.persist(); err != nil {
		errs = append(errs, fmt.Errorf("persist consumer offsets: %w", err))
	}
	if err := b.delays.persist(); err != nil {
		errs = append(errs, fmt.Errorf("persist delay offsets: %w", err))
	}
	if b.index != nil {
		if err := b.index.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close message index: %w", err))
		}
	}
	if err := b.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	b.client.Close()
	return errors.Join(errs...)
}

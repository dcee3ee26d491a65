package namesrv

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/internal/metrics"
	"github.com/rocketgo/rocketgo/namesrv/controller"
	"github.com/rocketgo/rocketgo/remoting"
)

// Defaults for Config fields left zero.
const (
	DefaultListen       = "127.0.0.1:9876"
	DefaultBrokerExpiry = 120 * time.Second
	DefaultScanInterval = 10 * time.Second
)

var (
	// ErrCRCMismatch: a REGISTER_BROKER body does not match its bodyCrc32.
	ErrCRCMismatch = errors.New("namesrv: crc32 not match")
	// ErrMalformedBody: a request body could not be decoded.
	ErrMalformedBody = errors.New("namesrv: malformed body")
	// ErrClosed: Start was called after Close.
	ErrClosed = errors.New("namesrv: server closed")
)

// Config configures a Server.
type Config struct {
	Listen       string              // host:port; port 0 picks a free port. Default DefaultListen.
	Log          *slog.Logger        // nil discards
	BrokerExpiry time.Duration       // forget a broker this long after its last registration; default 120 s
	ScanInterval time.Duration       // how often to look for expired brokers; default 10 s
	Limits       remoting.Limits     // memory per client connection; zero fields take remoting's defaults
	TLS          *remoting.ServerTLS // nil: plain TCP only (tls.server.mode=disabled)
	// Metrics is the host:port of the Prometheus endpoint (port 0 picks a
	// free one); "" serves none. Pprof adds net/http/pprof to it.
	Metrics string
	Pprof   bool
	// Controller embeds a controller (enableControllerInNamesrv): its
	// Raft node starts with the server, and its requests are served on
	// the same port. nil: none.
	Controller *controller.Config
}

// Server is a name server: it keeps the route table that brokers register
// into and clients query.
type Server struct {
	cfg      Config
	log      *slog.Logger
	rs       *remoting.Server
	table    *routeTable
	handlers map[int32]handler
	metrics  *nsMetrics // nil without Config.Metrics
	now      func() time.Time
	ctl      atomic.Pointer[controller.Service] // while started, with Config.Controller

	mu      sync.Mutex // guards started, closed
	started bool
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// peer is the connection a request arrived on, as the route table sees it.
// *remoting.Conn implements it.
type peer interface {
	ID() uint64
	Close()
}

// handler serves one request code; a non-nil error becomes an error
// response through errorResponse.
type handler func(p peer, req *remoting.Command) (*remoting.Command, error)

// New returns a Server for cfg. It does not listen until Start.
func New(cfg Config) *Server {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.BrokerExpiry <= 0 {
		cfg.BrokerExpiry = DefaultBrokerExpiry
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Log,
		table: newRouteTable(),
		now:   time.Now,
		stop:  make(chan struct{}),
	}
	s.handlers = map[int32]handler{
		remoting.GetKVConfig:                   s.kvConfig,
		remoting.RegisterBroker:                s.registerBroker,
		remoting.UnregisterBroker:              s.unregisterBroker,
		remoting.GetRouteinfoByTopic:           s.routeByTopic,
		remoting.GetBrokerClusterInfo:          s.clusterInfo,
		remoting.GetAllTopicListFromNameserver: s.allTopics,
		remoting.DeleteTopicInNamesrv:          s.deleteTopic,
		remoting.QueryDataVersion:              s.queryDataVersion,
	}
	rc := remoting.ServerConfig{Addr: cfg.Listen, Name: "namesrv", Log: cfg.Log, Limits: cfg.Limits, TLS: cfg.TLS}
	if cfg.Metrics != "" {
		s.metrics = newNSMetrics(s)
		rc.Observe = s.metrics.rpc.Observe
	}
	s.rs = remoting.NewServer(rc)
	for code, h := range s.handlers {
		s.rs.Handle(code, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
			return s.call(h, c, req)
		})
	}
	if cfg.Controller != nil {
		for _, code := range controllerCodes {
			s.rs.Handle(code, func(c *remoting.Conn, req *remoting.Command) *remoting.Command {
				ctl := s.ctl.Load()
				if ctl == nil {
					return remoting.Errorf(req, remoting.ServiceNotAvailable, "the controller is not running")
				}
				return ctl.Handlers()[req.Code](req)
			})
		}
	}
	s.rs.OnClose(func(c *remoting.Conn) { s.connClosed(c.ID()) })
	return s
}

// controllerCodes are the requests an embedded controller serves.
var controllerCodes = []int32{remoting.BrokerHeartbeat, remoting.ControllerRegisterBroker, remoting.ControllerApplyBrokerID,
	remoting.ControllerElectMaster, remoting.ControllerAlterSyncStateSet, remoting.ControllerGetReplicaInfo,
	remoting.ControllerGetMetadataInfo, remoting.ControllerGetSyncStateData}

// Start listens (logging "listening" with service=namesrv and the address)
// and starts the expiry scan.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return nil
	}
	if s.metrics != nil {
		srv, err := metrics.Serve(s.cfg.Metrics, s.metrics.reg, s.cfg.Pprof, s.log)
		if err != nil {
			return fmt.Errorf("namesrv: -metrics: %w", err)
		}
		s.metrics.srv = srv
	}
	if s.cfg.Controller != nil {
		cc := *s.cfg.Controller
		if cc.Log == nil {
			cc.Log = s.log
		}
		ctl, err := controller.Start(cc)
		if err != nil {
			if s.metrics != nil {
				s.metrics.srv.Close()
			}
			return fmt.Errorf("namesrv: %w", err)
		}
		s.ctl.Store(ctl)
	}
	if err := s.rs.Start(); err != nil {
		if s.metrics != nil {
			s.metrics.srv.Close()
		}
		if ctl := s.ctl.Swap(nil); ctl != nil {
			ctl.Close()
		}
		return fmt.Errorf("namesrv: %w", err) // "listen ADDR: reason"
	}
	s.started = true
	s.wg.Add(1)
	go s.scanLoop()
	return nil
}

// Addr returns the address the server listens on once started.
func (s *Server) Addr() string { return s.rs.Addr() }

// Close stops the expiry scan and the listener and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	if !started {
		return nil
	}
	if s.metrics != nil {
		s.metrics.srv.Close()
	}
	err := s.rs.Close()
	if ctl := s.ctl.Swap(nil); ctl != nil {
		err = errors.Join(err, ctl.Close())
	}
	return err
}

// call runs h and turns its error into a response.
func (s *Server) call(h handler, p peer, req *remoting.Command) *remoting.Command {
	resp, err := h(p, req)
	if err != nil {
		s.log.Warn("request failed", "code", req.Code, "err", err)
		return errorResponse(req, err)
	}
	return resp
}

// dispatch serves req as if it arrived on p; tests use it to bypass the
// network.
func (s *Server) dispatch(p peer, req *remoting.Command) *remoting.Command {
	h, ok := s.handlers[req.Code]
	if !ok {
		return remoting.Errorf(req, remoting.RequestCodeNotSupported, "request code %d not supported", req.Code)
	}
	return s.call(h, p, req)
}

// errorResponse maps a handler error to its RocketMQ response.
func errorResponse(req *remoting.Command, err error) *remoting.Command {
	var fe *remoting.FieldError
	switch {
	case errors.As(err, &fe):
		return remoting.NewResponse(req, remoting.InvalidParameter, fe.Error())
	case errors.Is(err, ErrCRCMismatch):
		return remoting.NewResponse(req, remoting.SystemError, "crc32 not match")
	default:
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
}

// connClosed forgets the brokers that registered through connection id.
func (s *Server) connClosed(id uint64) {
	for _, rb := range s.table.removeConn(id) {
		s.logRemoved(rb, "connection closed")
	}
}

func (s *Server) scanLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.ScanInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.expire()
		}
	}
}

// expire forgets brokers that have not registered within their timeout and
// closes connections left without a live broker.
func (s *Server) expire() {
	removed, idle := s.table.expire(s.now(), s.cfg.BrokerExpiry)
	for _, rb := range removed {
		s.logRemoved(rb, "expired")
	}
	for _, c := range idle {
		c.Close()
	}
}

func (s *Server) logRemoved(rb removedBroker, reason string) {
	s.log.Info("broker removed", "reason", reason, "cluster", rb.cluster, "brokerName", rb.name,
		"brokerId", rb.id, "addr", rb.addr, "groupGone", rb.groupGone)
}

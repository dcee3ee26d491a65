// Command namesrv runs a RocketMQ-compatible name server.
//
//	namesrv -listen 127.0.0.1:9876 [-tls.server.mode enforcing -tls.server.certPath C -tls.server.keyPath K ...] [-KEY=VALUE ...]
//
// Port 0 picks a free port; the "listening" log line names it. The TLS
// flags carry RocketMQ's tls.server.* names (see README "TLS"). The bounds
// on memory per client connection are flags named after the broker's keys
// (writeBufferHighWaterMark, writeBufferLowWaterMark,
// serverSlowConsumerTimeout, serverChannelMaxInflightRequests,
// serverWorkerQueueMaxBytes), parsed as the broker parses them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rocketgo/rocketgo/internal/props"
	"github.com/rocketgo/rocketgo/namesrv"
	"github.com/rocketgo/rocketgo/namesrv/controller"
	"github.com/rocketgo/rocketgo/remoting"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("namesrv", flag.ContinueOnError)
	listen := fs.String("listen", namesrv.DefaultListen, "`host:port` to listen on; port 0 picks a free port")
	metricsAddr := fs.String("metrics", "", "`host:port` of the Prometheus endpoint (GET /metrics); port 0 picks a free port; off when empty")
	enablePprof := fs.Bool("enablePprof", false, "serve net/http/pprof under /debug/pprof/ on the -metrics port")
	var ts remoting.TLSServerSettings
	fs.StringVar(&ts.Mode, "tls.server.mode", "disabled", "TLS on the port: disabled, permissive (TLS and plain) or enforcing (TLS only)")
	fs.StringVar(&ts.CertPath, "tls.server.certPath", "", "PEM certificate (chain) of the server")
	fs.StringVar(&ts.KeyPath, "tls.server.keyPath", "", "PEM private key of the server, unencrypted")
	fs.StringVar(&ts.TrustCertPath, "tls.server.trustCertPath", "", "PEM CA certificates that sign client certificates")
	fs.StringVar(&ts.NeedClientAuth, "tls.server.need.client.auth", "none", "client certificates: none, optional or require")
	handshakeMillis := fs.Int64("tls.server.handshakeTimeoutMillis", remoting.DefaultHandshakeTimeout.Milliseconds(),
		"milliseconds a new connection has to send its first byte and finish its TLS handshake")
	confFile := fs.String("c", "", "namesrv.properties `file` (RocketMQ keys: the controller's and the connection bounds); flags win over it")
	limits := remoting.DefaultLimits()
	for _, key := range props.Keys(&limits) {
		fs.String(key, "", "bound on memory per connection, as the broker's key "+key)
	}
	ctl := defaultControllerSettings()
	for _, key := range props.Keys(&ctl) {
		fs.String(key, "", "embedded controller: "+key+" (see README, automatic failover)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package has printed the problem and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "namesrv: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err := checkListen(*listen); err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: invalid -listen: %v\n", err)
		return 2
	}
	if *metricsAddr != "" {
		if err := checkListen(*metricsAddr); err != nil {
			fmt.Fprintf(os.Stderr, "namesrv: invalid -metrics: %v\n", err)
			return 2
		}
	}
	if *enablePprof && *metricsAddr == "" {
		fmt.Fprintf(os.Stderr, "namesrv: -enablePprof needs -metrics HOST:PORT (pprof is served on the metrics port)\n")
		return 2
	}
	set := map[string]string{}
	if *confFile != "" {
		f, err := os.Open(*confFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "namesrv: -c: %v\n", err)
			return 2
		}
		kv, err := props.Parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "namesrv: -c %s: %v\n", *confFile, err)
			return 2
		}
		set = kv
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "listen" && f.Name != "metrics" && f.Name != "enablePprof" && f.Name != "c" && !strings.HasPrefix(f.Name, "tls.") {
			set[f.Name] = f.Value.String()
		}
	})
	unknownL, errL := props.Bind(&limits, set)
	unknownC, errC := props.Bind(&ctl, set)
	if err := errors.Join(errL, errC); err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: %v\n", err)
		return 2
	}
	var unknown []string
	for _, k := range unknownL {
		if slices.Contains(unknownC, k) {
			unknown = append(unknown, k)
		}
	}
	controllerCfg, err := ctl.config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: bad configuration: %v\n", err)
		return 2
	}
	if err := limits.Validate(remoting.DefaultMaxFrameSize); err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: %v\n", err)
		return 2
	}

	ts.HandshakeTimeout = time.Duration(*handshakeMillis) * time.Millisecond
	serverTLS, err := ts.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: bad TLS flags:\n%v\n", err)
		return 2
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, k := range unknown {
		log.Warn("unknown config key ignored", "key", k, "file", *confFile)
	}
	cfg := namesrv.Config{Listen: *listen, Log: log, TLS: serverTLS, Limits: limits, Metrics: *metricsAddr, Pprof: *enablePprof,
		Controller: controllerCfg}
	if controllerCfg != nil {
		log.Info("controller config", "settings", props.Format(&ctl))
	}
	log.Info("namesrv config", "listen", cfg.Listen, "brokerExpiry", namesrv.DefaultBrokerExpiry,
		"scanInterval", namesrv.DefaultScanInterval, "limits", props.Format(&limits), "tls.server.mode", ts.Mode, "tls.server.certPath", ts.CertPath,
		"tls.server.trustCertPath", ts.TrustCertPath, "tls.server.need.client.auth", ts.NeedClientAuth)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM) // before the listening line
	srv := namesrv.New(cfg)
	if err := srv.Start(); err != nil {
		log.Error("start", "err", err)
		return 1
	}
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	if err := srv.Close(); err != nil {
		log.Error("close", "err", err)
		return 1
	}
	return 0
}

// checkListen rejects what is not host:port with a port in 0..65535.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q of %q is not a number in 0..65535", port, addr)
	}
	return nil
}

// controllerSettings are RocketMQ's keys of a controller embedded in the
// namesrv.
type controllerSettings struct {
	Enable       bool          `prop:"enableControllerInNamesrv"`
	Group        string        `prop:"controllerDLegerGroup"`
	Peers        string        `prop:"controllerDLegerPeers"`  // n0-127.0.0.1:9878;n1-…
	SelfID       string        `prop:"controllerDLegerSelfId"` // n0
	StorePath    string        `prop:"controllerStorePath"`
	ElectUnclean bool          `prop:"enableElectUncleanMaster"`
	Scan         time.Duration `prop:"scanNotActiveBrokerInterval"`
	// HeartbeatTimeout: a replica silent this long is dead, unless it sent
	// its own timeout (the broker's key of the same name).
	HeartbeatTimeout time.Duration `prop:"controllerHeartBeatTimeoutMills"`
}

func defaultControllerSettings() controllerSettings {
	return controllerSettings{Group: "DefaultControllerGroup", Scan: controller.DefaultScanInterval,
		HeartbeatTimeout: controller.DefaultHeartbeatTimeout}
}

// config checks the settings and returns the controller's config, or nil
// when the controller is off. Errors name the key.
func (c controllerSettings) config() (*controller.Config, error) {
	if !c.Enable {
		return nil, nil
	}
	var errs []error
	peers, err := controller.ParsePeers(c.Peers)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.SelfID == "":
		errs = append(errs, errors.New("controllerDLegerSelfId: empty (want this namesrv's id in controllerDLegerPeers)"))
	case err == nil && !slices.ContainsFunc(peers, func(p controller.Peer) bool { return p.ID == c.SelfID }):
		errs = append(errs, fmt.Errorf("controllerDLegerSelfId=%s is not among controllerDLegerPeers=%s", c.SelfID, c.Peers))
	}
	if c.StorePath == "" {
		errs = append(errs, errors.New("controllerStorePath: empty (want the directory of this controller's Raft log)"))
	}
	if c.Scan <= 0 {
		errs = append(errs, fmt.Errorf("scanNotActiveBrokerInterval=%v: want > 0", c.Scan))
	}
	if c.HeartbeatTimeout <= 0 {
		errs = append(errs, fmt.Errorf("controllerHeartBeatTimeoutMills=%v: want > 0", c.HeartbeatTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &controller.Config{Group: c.Group, Peers: peers, SelfID: c.SelfID, StorePath: c.StorePath,
		ElectUnclean: c.ElectUnclean, ScanInterval: c.Scan, HeartbeatTimeout: c.HeartbeatTimeout}, nil
}

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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rocketgo/rocketgo/internal/props"
	"github.com/rocketgo/rocketgo/namesrv"
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
	limits := remoting.DefaultLimits()
	for _, key := range props.Keys(&limits) {
		fs.String(key, "", "bound on memory per connection, as the broker's key "+key)
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
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "listen" && f.Name != "metrics" && f.Name != "enablePprof" && !strings.HasPrefix(f.Name, "tls.") {
			set[f.Name] = f.Value.String()
		}
	})
	if _, err := props.Bind(&limits, set); err != nil {
		fmt.Fprintf(os.Stderr, "namesrv: %v\n", err)
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
	cfg := namesrv.Config{Listen: *listen, Log: log, TLS: serverTLS, Limits: limits, Metrics: *metricsAddr, Pprof: *enablePprof}
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

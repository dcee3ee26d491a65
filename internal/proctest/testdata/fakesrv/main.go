// Command fakesrv stands in for a server in proctest's own tests: it listens
// on 127.0.0.1:0 once per -services entry, logs a listening line for each,
// and exits 0 on SIGTERM. With -fail it exits 3 before listening.
package main

import (
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	services := flag.String("services", "fake", "comma-separated service names")
	fail := flag.Bool("fail", false, "exit 3 before listening")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *fail {
		log.Error("asked to fail")
		os.Exit(3)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for _, name := range strings.Split(*services, ",") {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Error("listen", "err", err)
			os.Exit(1)
		}
		defer l.Close()
		log.Info("listening", "service", name, "addr", l.Addr().String())
	}
	log.Info("ready", "note", "a value with spaces")
	<-sig
	log.Info("stopping")
}

// Command broker runs a rocketgo broker.
//
//	broker -c broker.properties [-namesrvAddr 'a:9876;b:9876'] [-KEY=VALUE ...]
//
// Settings apply in this order: defaults, the -c file, then flags named
// after the same keys. A bad value stops the start with a message naming
// the key.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"

	"github.com/rocketgo/rocketgo/broker"
	"github.com/rocketgo/rocketgo/internal/props"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Collect less often than Go's default, within a bound (heap.go),
	// unless GOGC or GOMEMLIMIT say otherwise.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		boundHeap(32 << 20)
	}
	if path := os.Getenv("ROCKETGO_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "broker: %v\n", err)
			os.Exit(2)
		}
		defer stop()
	}
	if path := os.Getenv("ROCKETGO_TRACE"); path != "" {
		stop, err := startTrace(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "broker: %v\n", err)
			os.Exit(2)
		}
		defer stop()
	}
	cfg, err := loadConfig(os.Args[1:], log)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		os.Exit(2)
	}
	b, err := broker.New(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: bad configuration:\n%v\n", err)
		os.Exit(2)
	}
	// Catch signals before listening: a supervisor may signal as soon as
	// it sees the listening line.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := b.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "broker: start: %v\n", err)
		os.Exit(1)
	}
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	if err := b.Close(); err != nil {
		log.Error("shutdown", "err", err)
		os.Exit(1)
	}
}

// startCPUProfile profiles the process into path until the returned
// function runs (ROCKETGO_CPUPROFILE, for performance work; %p in the
// path becomes the process id).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startTrace writes an execution trace of the process into path until the
// returned function runs (ROCKETGO_TRACE: where a goroutine or an event
// loop waited, and on what; %p as for ROCKETGO_CPUPROFILE).
func startTrace(path string) (func(), error) {
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("trace: %w", err)
	}
	return func() { trace.Stop(); f.Close() }, nil
}

// loadConfig applies defaults, then the -c file, then the flags that were
// set, and reports every key whose value does not parse.
func loadConfig(args []string, log *slog.Logger) (broker.Config, error) {
	cfg := broker.DefaultConfig()
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	file := fs.String("c", "", "broker.properties file")
	for _, key := range props.Keys(&cfg) {
		fs.String(key, "", "broker.properties key "+key)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (settings are -KEY=VALUE)", fs.Arg(0))
	}
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		kv, err := props.Parse(f)
		f.Close()
		if err != nil {
			return cfg, fmt.Errorf("parse %s: %w", *file, err)
		}
		unknown, err := props.Bind(&cfg, kv)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", *file, err)
		}
		for _, k := range unknown {
			log.Warn("unknown config key ignored", "key", k, "file", *file)
		}
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "c" {
			set[f.Name] = f.Value.String()
		}
	})
	if _, err := props.Bind(&cfg, set); err != nil {
		return cfg, fmt.Errorf("flags: %w", err)
	}
	log.Info("config", "effective", props.Format(&cfg))
	return cfg, nil
}

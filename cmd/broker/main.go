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
	"io"
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
	cfg, from, err := loadConfig(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		os.Exit(2)
	}
	for _, k := range from.unknown {
		log.Warn("unknown config key ignored", "key", k, "file", from.file)
	}
	b, err := broker.New(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: bad configuration:\n%v\n", from.attribute(err))
		os.Exit(2)
	}
	effective := cfg.Resolved() // as the broker uses it: haListenPort=10912, not -1
	log.Info("config", "effective", props.Format(&effective))
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
// set, and reports every key whose value does not parse. It writes the
// help to out when asked (-h).
func loadConfig(args []string, out io.Writer) (broker.Config, *sources, error) {
	cfg := broker.DefaultConfig()
	from := &sources{by: map[string]string{}}
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("c", "", "broker.properties file")
	for _, s := range broker.Settings {
		fs.String(s.Key, "", s.Meaning)
	}
	fs.Usage = func() {
		fmt.Fprint(out, `Usage: broker [-c broker.properties] [-KEY=VALUE ...]

Settings apply in this order: defaults, the -c file (RocketMQ's
broker.properties keys; unknown keys are logged and ignored), then flags
named after the same keys. A bad value stops the start with a message
naming the key. Durations (ms) also take Go syntax: 500ms, 2s, 1m.

  -c file
    	broker.properties file
`)
		broker.WriteSettingsHelp(out, &cfg)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, from, err
	}
	if fs.NArg() > 0 {
		return cfg, from, fmt.Errorf("unexpected argument %q (settings are -KEY=VALUE)", fs.Arg(0))
	}
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return cfg, from, fmt.Errorf("read config: %w", err)
		}
		kv, err := props.Parse(f)
		f.Close()
		if err != nil {
			return cfg, from, fmt.Errorf("parse %s: %w", *file, err)
		}
		if from.unknown, err = props.Bind(&cfg, kv); err != nil {
			return cfg, from, fmt.Errorf("%s: %w", *file, err)
		}
		from.file = *file
		for k := range kv {
			from.by[k] = *file
		}
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "c" {
			set[f.Name] = f.Value.String()
			from.by[f.Name] = "flags"
		}
	})
	if _, err := props.Bind(&cfg, set); err != nil {
		return cfg, from, fmt.Errorf("flags: %w", err)
	}
	return cfg, from, nil
}

// sources records where settings came from, to name the file (or the
// flags) in an error about one, as a value that does not parse is named.
type sources struct {
	file    string            // the -c file, "" without one
	unknown []string          // its keys that are no setting
	by      map[string]string // key → the file's name, or "flags"
}

// attribute prefixes each error in err (a list, as Validate returns) that
// starts with a key set in the file or by a flag with where it was set:
// "broker.properties: brokerRole=\"FOO\": want ASYNC_MASTER, …".
func (s *sources) attribute(err error) error {
	var out []error
	for _, e := range leaves(err) {
		key, _, _ := strings.Cut(e.Error(), "=")
		key, _, _ = strings.Cut(key, " ")
		key, _, _ = strings.Cut(key, ":")
		if where := s.by[key]; where != "" {
			e = fmt.Errorf("%s: %w", where, e)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// leaves flattens lists of errors (errors.Join) into their members.
func leaves(err error) []error {
	list, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range list.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

package proctest

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var fakesrv string // path of the built testdata/fakesrv binary

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := Build("./internal/proctest/testdata/fakesrv")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakesrv = filepath.Join(dir, "fakesrv")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
}

func TestStartAddrStop(t *testing.T) {
	needBinary(t)
	p := Start(t, fakesrv, "-services", "broker,ha")
	for _, service := range []string{"broker", "ha"} {
		addr := p.Addr(service)
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s address %s: %v", service, addr, err)
		}
		c.Close()
	}
	if p.Addr("broker") == p.Addr("ha") {
		t.Fatalf("broker and ha share address %s", p.Addr("ha"))
	}
	if !p.WaitLog("a value with spaces", 5*time.Second) {
		t.Fatalf("ready line missing from log:\n%s", p.Log())
	}
	if _, err := os.Stat(p.LogPath()); p.Pid() <= 0 || err != nil {
		t.Errorf("Pid()=%d LogPath()=%q: %v", p.Pid(), p.LogPath(), err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v\n%s", err, p.Log())
	}
	if !p.Exited() || !strings.Contains(p.Log(), "msg=stopping") {
		t.Fatalf("after Stop: exited=%v log:\n%s", p.Exited(), p.Log())
	}
	if err := p.Stop(); err != nil { // second Stop reports the same exit
		t.Fatalf("second Stop: %v", err)
	}
	if p.WaitLog("never logged", time.Second) {
		t.Fatal("WaitLog found a string that was never logged")
	}
}

func TestKill(t *testing.T) {
	needBinary(t)
	p := Start(t, fakesrv)
	p.Kill()
	if !p.Exited() {
		t.Fatal("process still running after Kill")
	}
	var exitErr *exec.ExitError
	if err := p.Stop(); !errors.As(err, &exitErr) {
		t.Fatalf("Stop after Kill = %v, want the SIGKILL exit status", err)
	}
	p.Kill() // idempotent
}

// fakeTB records Fatalf instead of failing the real test and stops the
// goroutine it runs in, as testing.T would.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}

func TestStartReportsEarlyExit(t *testing.T) {
	needBinary(t)
	tb := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(tb, fakesrv, "-fail")
	}()
	<-done
	for _, fn := range tb.cleanups {
		fn()
	}
	if !strings.Contains(tb.fatal, "did not log msg=listening") || !strings.Contains(tb.fatal, "asked to fail") ||
		!strings.Contains(tb.fatal, "exit status 3") {
		t.Fatalf("fatal message = %q", tb.fatal)
	}
}

func TestAddrUnknownService(t *testing.T) {
	needBinary(t)
	p := Start(t, fakesrv, "-services", "namesrv")
	tb := &fakeTB{TB: t}
	q := &Proc{t: tb, cmd: p.cmd, logPath: p.logPath, done: p.done}
	p.Kill() // exited: Addr must give up at once instead of waiting 10 s
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		q.Addr("broker")
	}()
	<-done
	if !strings.Contains(tb.fatal, "no listening line with service=broker") {
		t.Fatalf("fatal message = %q", tb.fatal)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Addr on an exited process took %v", d)
	}
}

func TestParseLogfmt(t *testing.T) {
	cases := []struct {
		line string
		want map[string]string
	}{
		{
			`time=2025-01-02T03:04:05.000Z level=INFO msg=listening service=broker addr=127.0.0.1:40123`,
			map[string]string{"time": "2025-01-02T03:04:05.000Z", "level": "INFO", "msg": "listening",
				"service": "broker", "addr": "127.0.0.1:40123"},
		},
		{
			`level=WARN msg="bad frame" addr=[::1]:9 err="quote \" inside"`,
			map[string]string{"level": "WARN", "msg": "bad frame", "addr": "[::1]:9", "err": `quote " inside`},
		},
		{`msg=x tail="unterminated`, map[string]string{"msg": "x"}},
		{`no fields here`, map[string]string{}},
		{``, map[string]string{}},
	}
	for _, c := range cases {
		if got := parseLogfmt(c.line); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseLogfmt(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort()
	if port <= 0 {
		t.Fatalf("FreePort() = %d", port)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(); err == nil {
		t.Error("Build() with no packages succeeded")
	}
	if testing.Short() {
		return
	}
	if _, err := Build("./internal/proctest/testdata/doesnotexist"); err == nil {
		t.Error("Build of a missing package succeeded")
	}
}

// A dead port refuses connections and cannot be taken by a listener.
func TestDeadPort(t *testing.T) {
	port := DeadPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("a listener took the dead port %d", port)
	}
}

package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/procs"
)

const (
	startTimeout = 30 * time.Second // until the first listening line
	addrTimeout  = 10 * time.Second // until the listening line of one service
	stopTimeout  = 15 * time.Second // SIGTERM grace before SIGKILL
)

// Proc is a running child process started by Start.
type Proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been waited for
	err     error         // exit status; valid after done is closed

	killOnce sync.Once
}

// Start runs bin with args, its stdout and stderr captured to a file under
// t.TempDir(), and returns once the process has logged its first
// `msg=listening` line. It fails the test if the process cannot start, exits
// first, or does not log the line within 30 s. A t.Cleanup kills the process
// (SIGKILL) and waits for it.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), filepath.Base(bin)+"-*.log")
	if err != nil {
		t.Fatalf("proctest: create log file: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = sysProcAttr()
	if err := procs.OnSpawnThread(cmd.Start); err != nil { // Pdeathsig follows the forking thread
		f.Close()
		t.Fatalf("proctest: start %s: %v", bin, err)
	}
	f.Close() // the child holds its own descriptor
	p := &Proc{t: t, cmd: cmd, logPath: f.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		// Binaries built with -race (PROCTEST_BUILDFLAGS=-race) report
		// races on stderr: they fail the test that ran them.
		if log := p.Log(); strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("proctest: %s reported a data race; log %s:\n%s", bin, p.logPath, log)
		}
	})

	if _, ok := p.waitLine(listeningLine(""), startTimeout); !ok {
		t.Fatalf("proctest: %s %s did not log msg=listening (%s); log %s:\n%s",
			bin, strings.Join(args, " "), p.state(), p.logPath, p.Log())
	}
	return p
}

// Addr returns the addr= value of the `msg=listening` line whose service=
// is service ("namesrv", "broker", "ha"), waiting up to 10 s for it. It
// fails the test if the line does not appear.
func (p *Proc) Addr(service string) string {
	p.t.Helper()
	fields, ok := p.waitLine(listeningLine(service), addrTimeout)
	if !ok || fields["addr"] == "" {
		p.t.Fatalf("proctest: no listening line with service=%s (%s); log %s:\n%s",
			service, p.state(), p.logPath, p.Log())
	}
	return fields["addr"]
}

// WaitLog polls the log until it contains substr and reports whether it did
// within timeout. It gives up early when the process has exited and the log
// does not contain substr.
func (p *Proc) WaitLog(substr string, timeout time.Duration) bool {
	_, ok := p.waitLine(func(line string) (map[string]string, bool) {
		return nil, strings.Contains(line, substr)
	}, timeout)
	return ok || strings.Contains(p.Log(), substr) // substr may span lines
}

// Kill sends SIGKILL and waits for the process to exit. Calling it again, or
// after the process exited, does nothing.
func (p *Proc) Kill() {
	p.killOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
}

// Stop sends SIGTERM, waits up to 15 s for the process to exit (then kills
// it) and returns its exit error: nil after a clean exit with status 0.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.done: // exited between the check and the signal
			return p.err
		default:
			return fmt.Errorf("proctest: SIGTERM to pid %d: %w", p.Pid(), err)
		}
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("proctest: pid %d ignored SIGTERM for %v: %w", p.Pid(), stopTimeout, p.err)
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the file holding the process's stdout and stderr.
func (p *Proc) LogPath() string { return p.logPath }

// Log returns what the process has written so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.logPath, err)
	}
	return string(b)
}

func (p *Proc) state() string {
	select {
	case <-p.done:
		if p.err != nil {
			return "exited: " + p.err.Error()
		}
		return "exited with status 0"
	default:
		return "still running"
	}
}

// matcher inspects one log line and returns its parsed fields when it is the
// line being waited for.
type matcher func(line string) (map[string]string, bool)

// listeningLine matches a `msg=listening` line, and with service != "" only
// one whose service= field equals it.
func listeningLine(service string) matcher {
	return func(line string) (map[string]string, bool) {
		if !strings.Contains(line, "msg=listening") {
			return nil, false
		}
		fields := parseLogfmt(line)
		if fields["msg"] != "listening" {
			return nil, false
		}
		if service != "" && fields["service"] != service {
			return nil, false
		}
		return fields, true
	}
}

// waitLine polls the log (every 10 ms at first, then every 50 ms) until a
// line matches, the timeout passes, or the process has exited and its final
// log has no match.
func (p *Proc) waitLine(match matcher, timeout time.Duration) (map[string]string, bool) {
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for {
		exited := p.Exited() // before scanning: a last scan covers everything it wrote
		if fields, ok := p.scan(match); ok {
			return fields, true
		}
		if exited || time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(interval)
		if interval < 50*time.Millisecond {
			interval += 10 * time.Millisecond
		}
	}
}

func (p *Proc) scan(match matcher) (map[string]string, bool) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if fields, ok := match(sc.Text()); ok {
			return fields, true
		}
	}
	return nil, false
}

// parseLogfmt splits a slog TextHandler line into its key=value fields.
// Quoted values are unquoted; a malformed tail is ignored.
func parseLogfmt(line string) map[string]string {
	fields := make(map[string]string)
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			break
		}
		key := line[i : i+eq]
		i += eq + 1
		if i < len(line) && line[i] == '"' {
			end := i + 1
			for end < len(line) && line[end] != '"' {
				if line[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(line) {
				break
			}
			v, err := strconv.Unquote(line[i : end+1])
			if err != nil {
				v = line[i+1 : end]
			}
			fields[key] = v
			i = end + 1
			continue
		}
		end := strings.IndexByte(line[i:], ' ')
		if end < 0 {
			end = len(line) - i
		}
		fields[key] = line[i : i+end]
		i += end
	}
	return fields
}

package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/proctest"
)

// The peer DESIGN §6 measures against: NATS JetStream, through its own
// benchmark tool. `make peerbench` installs both at these versions into
// .peer/bin and points ROCKETGO_PEER_BIN there.
const (
	natsServerVersion = "v2.15.2"
	natsCLIVersion    = "v0.5.0"
)

// natsPeer is NATS JetStream on this machine: an R1 server and an R3
// cluster, all on 127.0.0.1 with free ports, stopped by PID when the test
// ends.
type natsPeer struct {
	tb     testing.TB
	nats   string // the nats CLI
	r1, r3 string // server URLs
}

func startNATSPeer(tb testing.TB) *natsPeer {
	tb.Helper()
	dir := os.Getenv("ROCKETGO_PEER_BIN")
	if dir == "" {
		tb.Skip("ROCKETGO_PEER_BIN is not set: run make peerbench (it installs nats-server " + natsServerVersion + " and natscli " + natsCLIVersion + ")")
	}
	server, cli := filepath.Join(dir, "nats-server"), filepath.Join(dir, "nats")
	for _, f := range []string{server, cli} {
		if _, err := os.Stat(f); err != nil {
			tb.Fatalf("ROCKETGO_PEER_BIN=%s: %v", dir, err)
		}
	}
	p := &natsPeer{tb: tb, nats: cli}
	port := proctest.FreePort()
	p.r1 = fmt.Sprintf("nats://127.0.0.1:%d", port)
	p.start(server, port, "-js", "-sd", tb.TempDir(), "-n", "r1")
	var routes, urls []string
	cports := []int{proctest.FreePort(), proctest.FreePort(), proctest.FreePort()}
	for _, c := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", c))
	}
	for i, c := range cports {
		port := proctest.FreePort()
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", port))
		p.start(server, port, "-js", "-sd", tb.TempDir(), "-n", fmt.Sprintf("r3-%d", i),
			"--cluster_name", "r3", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", c), "--routes", strings.Join(routes, ","))
	}
	p.r3 = strings.Join(urls, ",")
	return p
}

// start runs a nats-server on 127.0.0.1:port with args and waits until
// that port takes connections; the test's cleanup kills it by PID.
func (p *natsPeer) start(bin string, port int, args ...string) {
	p.tb.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args = append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
	log, err := os.Create(filepath.Join(p.tb.TempDir(), "nats-server.log"))
	if err != nil {
		p.tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.tb.Fatal(err)
	}
	log.Close()
	p.tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("nats-server %v did not listen on %s within 20 s", args, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nats bench's summary: with several clients an aggregated line and a
// latencies line, with one client a single stats line.
var (
	natsRate       = regexp.MustCompile(`(?:aggregated|publisher) stats: ([\d,]+) msgs/sec`)
	natsLatency    = regexp.MustCompile(`latencies per operation .*P50 ([\d,.]+)us \| P90 [\d,.]+us \| P99 ([\d,.]+)us`)
	natsOneLatency = regexp.MustCompile(`publisher stats: .*P50: ([\d,.]+)us ~ P90: [\d,.]+us ~ P99: ([\d,.]+)us`)
)

// bench runs `nats bench js pub MODE` against url, retrying while
// JetStream is not ready yet (a new cluster elects its meta leader), and
// returns msg/s and the p50 and p99 latencies per operation (µs).
func (p *natsPeer) bench(url, mode, stream string, replicas, clients, batch, msgs int) (rate, p50, p99 float64) {
	p.tb.Helper()
	args := []string{"bench", "js", "pub", mode, stream + ".x", "-s", url, "--stream", stream, "--create", "--purge",
		"--replicas", strconv.Itoa(replicas), "--clients", strconv.Itoa(clients), "--msgs", strconv.Itoa(msgs),
		"--size", "1KiB", "--no-progress"}
	if mode == "async" {
		args = append(args, "--batch", strconv.Itoa(batch))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(p.nats, args...).CombinedOutput()
		if err == nil {
			num := func(s string) float64 {
				v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
				if err != nil {
					p.tb.Fatalf("nats bench: %q is not a number in:\n%s", s, out)
				}
				return v
			}
			m, l := natsRate.FindSubmatch(out), natsLatency.FindSubmatch(out)
			if l == nil {
				l = natsOneLatency.FindSubmatch(out)
			}
			if m == nil || l == nil {
				p.tb.Fatalf("nats %s: no aggregated stats in:\n%s", strings.Join(args, " "), out)
			}
			return num(string(m[1])), num(string(l[1])), num(string(l[2]))
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

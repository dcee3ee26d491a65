package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"

	"github.com/rocketgo/rocketgo/internal/procs"
)

// Cluster is a running topology: namesrvs and broker groups started by
// Launch on 127.0.0.1, each with its own data directory under Dir.
type Cluster struct {
	Spec     TopologySpec
	Dir      string
	Namesrvs []*Node
	Groups   []*Group

	log   *slog.Logger
	rpc   *remoting.Client
	links map[string]*link
	// clientVia maps a master's address to the proxy loadgen's clients
	// reach it through (ProxyClients).
	clientVia map[string]string

	mu  sync.Mutex
	hit map[string]*Node // by fault target: the node the last fault on it acted on
}

// Group is a running broker group.
type Group struct {
	Spec   GroupSpec
	Master *Node
	Slaves []*Node
}

// Node is one process of the topology.
type Node struct {
	Name    string // namesrv-0, <group>-master, <group>-slave-1
	Bin     string
	Args    []string
	DataDir string
	LogPath string
	Addr    string // client address once started
	HAAddr  string // a master's HA address once started
	// MetricsAddr is the node's Prometheus endpoint once started (loadgen
	// starts every node with metrics on, on a free port).
	MetricsAddr string
	cpus        *unix.CPUSet
	log         *slog.Logger
	env         []string // added to loadgen's environment
	// nsLinks are a controller-mode broker's proxies to each namesrv;
	// group is its group's name.
	nsLinks []*link
	group   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	starts  int // processes started so far
}

// ErrBinaryMissing is returned when a binary Launch needs does not exist.
var ErrBinaryMissing = errors.New("loadgen: binary missing")

// Launch starts spec's processes from binDir (bin/namesrv, bin/broker),
// waits until every namesrv routes every group, and returns the cluster.
// On any failure it stops what it started and returns an error naming the
// node and what went wrong; no process is left behind.
func Launch(ctx context.Context, spec TopologySpec, binDir, dir string, log *slog.Logger) (*Cluster, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"namesrv", "broker"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return nil, fmt.Errorf("%w: %s (run make build): %v", ErrBinaryMissing, filepath.Join(binDir, name), err)
		}
	}
	brokerCPUs, err := parseCPUs(spec.BrokerCPUs)
	if err != nil {
		return nil, fmt.Errorf("brokerCPUs: %w", err)
	}
	c := &Cluster{Spec: spec, Dir: dir, log: log, rpc: remoting.NewClient(remoting.ClientConfig{Log: log}),
		links: map[string]*link{}, clientVia: map[string]string{}, hit: map[string]*Node{}}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	var peers []string // the controllers' Raft peers: n<i>-127.0.0.1:<port>
	if spec.Controller {
		for i := 0; i < spec.Namesrvs; i++ {
			port, err := freePort()
			if err != nil {
				return fail(fmt.Errorf("controller Raft port: %w", err))
			}
			peers = append(peers, fmt.Sprintf("n%d-127.0.0.1:%d", i, port))
		}
	}
	for i := 0; i < spec.Namesrvs; i++ {
		n := &Node{Name: fmt.Sprintf("namesrv-%d", i), Bin: filepath.Join(binDir, "namesrv"), Args: []string{"-listen", "127.0.0.1:0", "-metrics", "127.0.0.1:0"},
			DataDir: filepath.Join(dir, fmt.Sprintf("namesrv-%d", i)), cpus: brokerCPUs, log: log}
		if spec.Controller {
			n.Args = append(n.Args, "-enableControllerInNamesrv", "true", "-controllerDLegerGroup", "loadgen",
				"-controllerDLegerPeers", strings.Join(peers, ";"), "-controllerDLegerSelfId", fmt.Sprintf("n%d", i),
				"-controllerStorePath", filepath.Join(n.DataDir, "controller"))
		}
		c.Namesrvs = append(c.Namesrvs, n)
		if err := n.start(ctx, "namesrv"); err != nil {
			return fail(err)
		}
	}
	ns := strings.Join(c.NamesrvAddrs(), ";")
	segment := spec.SegmentSize
	if segment == 0 {
		segment = 1 << 30
	}
	for _, gs := range spec.Groups {
		g := &Group{Spec: gs}
		c.Groups = append(c.Groups, g)
		common := []string{"-brokerClusterName", spec.cluster(), "-brokerName", gs.Name,
			"-mappedFileSizeCommitLog", strconv.FormatInt(segment, 10), "-flushDiskType", gs.flush(),
			"-metricsExporterType", "PROM", "-metricsPromExporterHost", "127.0.0.1", "-metricsPromExporterPort", "0"}
		for k, v := range gs.Extra {
			common = append(common, "-"+k, v)
		}
		if spec.controlled(gs) {
			if err := c.launchControlled(ctx, g, binDir, common, brokerCPUs); err != nil {
				return fail(err)
			}
			continue
		}
		common = append(common, "-namesrvAddr", ns)
		g.Master = &Node{Name: gs.Name + "-master", Bin: filepath.Join(binDir, "broker"), DataDir: filepath.Join(dir, gs.Name+"-master"), cpus: brokerCPUs, log: log,
			Args: append(append([]string(nil), common...), "-brokerRole", gs.role(), "-listenPort", "0", "-haListenPort", "0")}
		g.Master.Args = append(g.Master.Args, "-storePathRootDir", g.Master.DataDir)
		if err := g.Master.start(ctx, "broker"); err != nil {
			return fail(err)
		}
		if spec.ProxyClients {
			l, err := newLink(gs.Name+"/client-link", g.Master.Addr)
			if err != nil {
				return fail(err)
			}
			c.links[l.name] = l
			c.clientVia[g.Master.Addr] = l.addr()
		}
		for i := 1; i <= gs.Slaves; i++ {
			s := &Node{Name: fmt.Sprintf("%s-slave-%d", gs.Name, i), Bin: filepath.Join(binDir, "broker"), DataDir: filepath.Join(dir, fmt.Sprintf("%s-slave-%d", gs.Name, i)), cpus: brokerCPUs, log: log,
				Args: append(append([]string(nil), common...), "-brokerRole", "SLAVE", "-brokerId", strconv.Itoa(i), "-listenPort", "0")}
			s.Args = append(s.Args, "-storePathRootDir", s.DataDir)
			if spec.ProxyLinks {
				l, err := newLink(fmt.Sprintf("%s/slave-%d-link", gs.Name, i), g.Master.HAAddr)
				if err != nil {
					return fail(err)
				}
				c.links[l.name] = l
				s.Args = append(s.Args, "-haMasterAddress", l.addr())
			}
			g.Slaves = append(g.Slaves, s)
			if err := s.start(ctx, "broker"); err != nil {
				return fail(err)
			}
		}
	}
	if err := c.WaitReady(ctx, 30*time.Second); err != nil {
		return fail(err)
	}
	return c, nil
}

// Validate reports every problem of the spec.
func (s *TopologySpec) Validate() error {
	var errs []error
	if s.Namesrvs < 1 || s.Namesrvs > 16 {
		errs = append(errs, fmt.Errorf("topology: namesrvs=%d: want 1..16", s.Namesrvs))
	}
	if len(s.Groups) == 0 {
		errs = append(errs, errors.New("topology: no broker groups"))
	}
	seen := map[string]bool{}
	for i, g := range s.Groups {
		if g.Name == "" || strings.ContainsAny(g.Name, " /;,:\"") {
			errs = append(errs, fmt.Errorf("topology: group %d: name %q must be non-empty, without spaces or / ; , : \"", i, g.Name))
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("topology: group name %q used twice", g.Name))
		}
		seen[g.Name] = true
		switch g.role() {
		case "ASYNC_MASTER", "SYNC_MASTER":
		default:
			errs = append(errs, fmt.Errorf("topology: group %s: role %q: want ASYNC_MASTER or SYNC_MASTER", g.Name, g.Role))
		}
		switch g.flush() {
		case "ASYNC_FLUSH", "SYNC_FLUSH":
		default:
			errs = append(errs, fmt.Errorf("topology: group %s: flush %q: want ASYNC_FLUSH or SYNC_FLUSH", g.Name, g.Flush))
		}
		if g.Slaves < 0 || g.Slaves > 8 {
			errs = append(errs, fmt.Errorf("topology: group %s: slaves=%d: want 0..8", g.Name, g.Slaves))
		}
		if g.role() == "SYNC_MASTER" && g.Slaves == 0 {
			errs = append(errs, fmt.Errorf("topology: group %s: SYNC_MASTER needs at least one slave", g.Name))
		}
		if g.Controller != nil && *g.Controller && !s.Controller {
			errs = append(errs, fmt.Errorf("topology: group %s: controller: true needs controller: true on the topology (its namesrvs run the controllers)", g.Name))
		}
	}
	if s.Controller {
		for _, g := range s.Groups {
			if s.controlled(g) && (s.ProxyLinks || s.ProxyClients) {
				errs = append(errs, fmt.Errorf("topology: group %s runs in controller mode: proxyLinks and proxyClients need fixed masters (leave them off, or set controller: false on the group)", g.Name))
				break
			}
		}
	}
	if _, err := parseCPUs(s.BrokerCPUs); err != nil {
		errs = append(errs, fmt.Errorf("topology: brokerCPUs: %w", err))
	}
	if _, err := parseCPUs(s.LoadgenCPUs); err != nil {
		errs = append(errs, fmt.Errorf("topology: loadgenCPUs: %w", err))
	}
	return errors.Join(errs...)
}

func (s *TopologySpec) cluster() string {
	if s.Cluster == "" {
		return "LoadgenCluster"
	}
	return s.Cluster
}

func (g *GroupSpec) role() string {
	if g.Role == "" {
		return "ASYNC_MASTER"
	}
	return g.Role
}

func (g *GroupSpec) flush() string {
	if g.Flush == "" {
		return "ASYNC_FLUSH"
	}
	return g.Flush
}

// clientAddr is the address loadgen's clients use for a broker address.
func (c *Cluster) clientAddr(addr string) string {
	if via, ok := c.clientVia[addr]; ok {
		return via
	}
	return addr
}

// NamesrvAddrs returns the namesrvs' addresses.
func (c *Cluster) NamesrvAddrs() []string {
	var out []string
	for _, n := range c.Namesrvs {
		if n.Addr != "" {
			out = append(out, n.Addr)
		}
	}
	return out
}

// Group returns the group named name.
func (c *Cluster) Group(name string) *Group {
	for _, g := range c.Groups {
		if g.Spec.Name == name {
			return g
		}
	}
	return nil
}

// Nodes returns every node.
func (c *Cluster) Nodes() []*Node {
	nodes := append([]*Node(nil), c.Namesrvs...)
	for _, g := range c.Groups {
		if g.Master != nil {
			nodes = append(nodes, g.Master)
		}
		nodes = append(nodes, g.Slaves...)
	}
	return nodes
}

// WaitReady polls every live namesrv until its cluster info lists every
// group with a master and all its live slaves.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, ns := range c.Namesrvs {
		if !ns.Running() {
			continue
		}
		for {
			missing, err := c.missingFrom(ctx, ns.Addr)
			if err == nil && missing == "" {
				break
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("it lacks %s", missing)
				}
				return fmt.Errorf("namesrv %s (%s) did not see the whole topology within %v: %w", ns.Name, ns.Addr, timeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// missingFrom returns the first broker the namesrv at addr does not list.
func (c *Cluster) missingFrom(ctx context.Context, addr string) (string, error) {
	info, err := c.clusterInfo(ctx, addr)
	if err != nil {
		return "", err
	}
	for _, g := range c.Groups {
		addrs := info.BrokerAddrTable[g.Spec.Name].BrokerAddrs
		if c.Spec.controlled(g.Spec) {
			if m := c.missingControlled(g, addrs); m != "" {
				return m, nil
			}
			continue
		}
		if g.Master.Running() && addrs[0] != g.Master.Addr {
			return g.Master.Name, nil
		}
		for i, s := range g.Slaves {
			if s.Running() && addrs[int64(i+1)] != s.Addr {
				return s.Name, nil
			}
		}
	}
	return "", nil
}

// clusterInfo asks the namesrv at addr for its cluster table, waiting at
// most a second.
func (c *Cluster) clusterInfo(ctx context.Context, addr string) (wire.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var info wire.ClusterInfo
	resp, err := c.rpc.Invoke(ctx, addr, remoting.NewRequest(remoting.GetBrokerClusterInfo))
	if err != nil {
		return info, err
	}
	if resp.Code != remoting.Success {
		return info, fmt.Errorf("cluster info: code %d %s", resp.Code, resp.Remark)
	}
	if err := wire.Unmarshal(resp.Body, &info); err != nil {
		return info, fmt.Errorf("cluster info: %w", err)
	}
	return info, nil
}

// Stop stops every node (SIGTERM, then SIGKILL after 10 s).
func (c *Cluster) Stop() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	nodes := c.Nodes()
	// Brokers first, so they can unregister from live namesrvs.
	for _, phase := range [][]*Node{nodes[len(c.Namesrvs):], nodes[:len(c.Namesrvs)]} {
		for _, n := range phase {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.Stop(10 * time.Second); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	for _, l := range c.links {
		l.stop()
	}
	c.rpc.Close()
	return errors.Join(errs...)
}

// start launches the node and waits for its listening line. The node
// writes its log file itself: were its output piped through loadgen, every
// line a busy server logs (a topic created, a client gone) would cost the
// measuring process a read and a write. loadgen reads the file only until
// the node listens.
func (n *Node) start(ctx context.Context, service string) error {
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return fmt.Errorf("%s: create data dir: %w", n.Name, err)
	}
	if n.LogPath == "" {
		n.LogPath = filepath.Join(n.DataDir, "process.log")
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", n.Name, err)
	}
	st, err := logf.Stat()
	if err != nil {
		logf.Close()
		return fmt.Errorf("%s: open log: %w", n.Name, err)
	}
	watch := &logWatch{path: n.LogPath, off: st.Size()} // a restart appends: skip the last run's lines
	cmd := exec.Command(n.Bin, n.Args...)
	cmd.Dir = n.DataDir
	if n.env != nil {
		cmd.Env = append(os.Environ(), n.env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with us, and get our own process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := n.startPinned(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start %s: %w", n.Name, n.Bin, err)
	}
	logf.Close() // the child has its own copy
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.exitErr = cmd, exited, nil
	n.starts++
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for gone := false; ; {
		// A master logs its HA and metrics addresses before its client one.
		for _, line := range watch.lines() {
			if !strings.Contains(line, "msg=listening") {
				continue
			}
			switch a := logValue(line, "addr"); {
			case strings.Contains(line, "service=metrics"):
				n.MetricsAddr = a
			case strings.Contains(line, "service=ha"):
				n.HAAddr = a
			case strings.Contains(line, "service="+service) && a != "":
				n.Addr = a
				n.log.Info("node started", "node", n.Name, "addr", a, "pid", cmd.Process.Pid)
				return nil
			}
		}
		if gone {
			return fmt.Errorf("%s exited before listening (%v); its log %s ends:\n%s", n.Name, n.exitErr, n.LogPath, tail(n.LogPath, 12))
		}
		select {
		case <-exited:
			gone = true // read what it wrote before it went, then give up
		case <-timer.C:
			n.Kill()
			return fmt.Errorf("%s did not log a listening line within 20 s; its log %s ends:\n%s", n.Name, n.LogPath, tail(n.LogPath, 12))
		case <-ctx.Done():
			n.Kill()
			return ctx.Err()
		case <-poll.C:
		}
	}
}

// logWatch reads the lines appended to a file since off.
type logWatch struct {
	path    string
	off     int64
	partial []byte
}

// lines returns the whole lines written since the last call.
func (w *logWatch) lines() []string {
	f, err := os.Open(w.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, w.off, 1<<40))
	if err != nil || len(b) == 0 {
		return nil
	}
	w.off += int64(len(b))
	b = append(w.partial, b...)
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		w.partial = b
		return nil
	}
	w.partial = append([]byte(nil), b[end+1:]...)
	return strings.Split(string(b[:end]), "\n")
}

// startPinned starts cmd from a thread pinned to the node's CPUs, so the
// child inherits that affinity from its first instruction. The thread is
// procs' spawning thread, which never exits: the child's Pdeathsig follows
// the thread that forked it.
func (n *Node) startPinned(cmd *exec.Cmd) error {
	return procs.OnSpawnThread(func() error {
		if n.cpus == nil {
			return cmd.Start()
		}
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return err
		}
		if err := unix.SchedSetaffinity(0, n.cpus); err != nil {
			return fmt.Errorf("pin to CPUs: %w", err)
		}
		err := cmd.Start()
		if rerr := unix.SchedSetaffinity(0, &old); rerr != nil && err == nil {
			err = rerr
		}
		return err
	})
}

// Restart starts a stopped or killed node again with the same arguments,
// on the same port (so clients' cached routes stay valid).
func (n *Node) Restart(ctx context.Context) error {
	if n.Running() {
		return fmt.Errorf("%s is running", n.Name)
	}
	if _, port, ok := strings.Cut(n.Addr, ":"); ok && n.Addr != "" {
		if strings.HasPrefix(n.Name, "namesrv") {
			n.Args = replaceArg(n.Args, "-listen", "127.0.0.1:"+port)
		} else {
			n.Args = replaceArg(n.Args, "-listenPort", port)
		}
	}
	if _, port, ok := strings.Cut(n.HAAddr, ":"); ok {
		n.Args = replaceArg(n.Args, "-haListenPort", port) // slaves know the old one
	}
	if _, port, ok := strings.Cut(n.MetricsAddr, ":"); ok { // the scraper keeps the old one
		if strings.HasPrefix(n.Name, "namesrv") {
			n.Args = replaceArg(n.Args, "-metrics", "127.0.0.1:"+port)
		} else {
			n.Args = replaceArg(n.Args, "-metricsPromExporterPort", port)
		}
	}
	service := "broker"
	if strings.HasPrefix(n.Name, "namesrv") {
		service = "namesrv"
	}
	return n.start(ctx, service)
}

func replaceArg(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == flag {
			out[i+1] = value
			return out
		}
	}
	return append(out, flag, value)
}

// Running reports whether the process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// startCount is how many times the node's process was started.
func (n *Node) startCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

// Pid returns the process id, or 0.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 10*time.Second) }

// Pause and Resume stop and continue the process (SIGSTOP / SIGCONT).
func (n *Node) Pause() error  { return n.signalNoWait(syscall.SIGSTOP) }
func (n *Node) Resume() error { return n.signalNoWait(syscall.SIGCONT) }

// Stop sends SIGTERM, waits up to grace, then kills.
func (n *Node) Stop(grace time.Duration) error {
	if err := n.signal(syscall.SIGTERM, grace); err != nil {
		return n.Kill()
	}
	return nil
}

func (n *Node) signalNoWait(sig syscall.Signal) error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || !n.Running() {
		return fmt.Errorf("%s is not running", n.Name)
	}
	return cmd.Process.Signal(sig)
}

func (n *Node) signal(sig syscall.Signal, wait time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || !n.Running() {
		return nil
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: signal %v: %w", n.Name, sig, err)
	}
	select {
	case <-exited:
		n.log.Info("node stopped", "node", n.Name, "signal", sig.String())
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit within %v of %v", n.Name, wait, sig)
	}
}

// logValue returns key=value's value in a slog text line.
func logValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"`)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// parseCPUs parses "0", "0-1", "0,2-3"; empty means no pinning (nil).
func parseCPUs(s string) (*unix.CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var set unix.CPUSet
	set.Zero()
	ncpu := runtime.NumCPU()
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a CPU number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%q: %q is not a CPU number", s, hi)
			}
		}
		if a < 0 || b < a || b >= ncpu {
			return nil, fmt.Errorf("%q: CPUs must be within 0..%d", s, ncpu-1)
		}
		for i := a; i <= b; i++ {
			set.Set(i)
		}
	}
	return &set, nil
}

// PinSelf pins every thread of this process to cpus ("" = leave alone).
func PinSelf(cpus string) error {
	set, err := parseCPUs(cpus)
	if err != nil || set == nil {
		return err
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	return nil
}

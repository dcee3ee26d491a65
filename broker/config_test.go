package broker_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rocketgo/rocketgo/broker"
)

// TestBadConfigStopsStart runs bin/broker with bad settings and checks it
// exits at once with a message naming each bad key.
func TestBadConfigStopsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the broker binary")
	}
	file := filepath.Join(t.TempDir(), "broker.properties")
	os.WriteFile(file, []byte("brokerName=b\nlistenPort=eleven\nsomeJavaOnlyKey=1\n"), 0o644)
	enumFile := filepath.Join(t.TempDir(), "enum.properties")
	os.WriteFile(enumFile, []byte("brokerRole=FOO\nbrokerName=b\n"), 0o644)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-brokerRole", "LEADER", "-flushDiskType", "NEVER"}, []string{"flags: brokerRole=", "flags: flushDiskType="}},
		{[]string{"-c", enumFile}, []string{enumFile + `: brokerRole="FOO": want ASYNC_MASTER, SYNC_MASTER or SLAVE`}},
		{[]string{"-c", enumFile, "-brokerRole", "BAR"}, []string{`flags: brokerRole="BAR"`}},
		{[]string{"-brokerId", "x"}, []string{"brokerId"}},
		{[]string{"-c", file}, []string{file + `: listenPort="eleven"`}},
		{[]string{"-brokerRole", "SLAVE"}, []string{"brokerId"}},
		{[]string{"-namesrvAddr", "localhost"}, []string{"namesrvAddr"}},
		{[]string{"-noSuchFlag", "1"}, []string{"noSuchFlag"}},
		{[]string{"-tls.server.mode", "enforcing"}, []string{"tls.server.certPath", "tls.server.keyPath"}},
		{[]string{"-tls.server.mode", "strict", "-tls.server.need.client.auth", "always"}, []string{"tls.server.mode", "tls.server.need.client.auth"}},
		{[]string{"-tls.server.mode", "permissive", "-tls.server.certPath", "/nonexistent/cert.pem", "-tls.server.keyPath", "/nonexistent/key.pem"},
			[]string{"tls.server.certPath=/nonexistent/cert.pem"}},
		{[]string{"-tls.enable", "true", "-tls.client.certPath", "/c.pem"}, []string{"tls.client.keyPath"}},
		{[]string{"-writeBufferHighWaterMark", "100", "-serverWorkerQueueMaxBytes", "1"}, []string{"writeBufferHighWaterMark", "serverWorkerQueueMaxBytes"}},
		{[]string{"-enableControllerMode", "true"}, []string{"controllerAddr"}},
		{[]string{"-enableControllerMode", "true", "-controllerAddr", "127.0.0.1:9876;ns2", "-minInSyncReplicas", "0", "-haMasterAddress", "127.0.0.1:10912"},
			[]string{`controllerAddr: "ns2" is not ip:port`, "minInSyncReplicas=0", "haMasterAddress"}},
		{[]string{"-enableControllerMode", "true", "-controllerAddr", "127.0.0.1:9876", "-brokerHeartbeatInterval", "5000", "-controllerHeartBeatTimeoutMills", "3000"},
			[]string{"controllerHeartBeatTimeoutMills=3s must exceed brokerHeartbeatInterval=5s"}},
	}
	for _, tc := range cases {
		cmd := exec.Command(filepath.Join(binDir, "broker"), append(tc.args, "-storePathRootDir", t.TempDir())...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: want exit status 2, got %v\n%s", tc.args, err, out)
			continue
		}
		for _, key := range tc.want {
			if !strings.Contains(string(out), key) {
				t.Errorf("%v: output does not name %s:\n%s", tc.args, key, out)
			}
		}
	}
}

// TestPortInUseStopsStart runs bin/namesrv and bin/broker on ports a
// listener of the test holds: each exits with a message naming the address
// (and, for the broker, the key).
func TestPortInUseStopsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the namesrv and broker binaries")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	inUse := "listen " + addr + ": address already in use"
	cases := []struct {
		bin  string
		args []string
		want []string
	}{
		{"namesrv", []string{"-listen", addr}, []string{inUse}},
		{"broker", []string{"-listenPort", port, "-haListenPort", "0", "-storePathRootDir", t.TempDir()}, []string{"listenPort=" + port, inUse}},
		{"broker", []string{"-listenPort", "0", "-haListenPort", port, "-storePathRootDir", t.TempDir()}, []string{"haListenPort=" + port, addr, "address already in use"}},
	}
	for _, tc := range cases {
		out, err := exec.Command(filepath.Join(binDir, tc.bin), tc.args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s %v: want exit status 1, got %v\n%s", tc.bin, tc.args, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s %v: output does not say %q:\n%s", tc.bin, tc.args, w, out)
			}
		}
	}
}

// TestBrokerHelp runs bin/broker -h: every key is listed with its kind,
// its meaning and the default of the default config.
func TestBrokerHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the broker binary")
	}
	out, err := exec.Command(filepath.Join(binDir, "broker"), "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("broker -h: %v\n%s", err, out)
	}
	help := string(out)
	for _, s := range broker.Settings {
		if !strings.Contains(help, "\n  -"+s.Key+" ") {
			t.Errorf("broker -h does not list -%s", s.Key)
		}
	}
	for _, want := range []string{
		"  -listenPort int\n    \tclient port (producers, consumers, mqadmin); 0 picks a free port\n    \tdefault 10911; allowed: 0..65535\n",
		"  -brokerRole string\n",
		"default ASYNC_MASTER; allowed: ASYNC_MASTER, SYNC_MASTER, SLAVE\n",
		"  -flushIntervalCommitLog ms\n",
		"default 500; allowed: > 0\n",
		"  -diskSpaceWarningLevelRatio float\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("broker -h does not say %q:\n%s", want, help)
		}
	}
}

// TestResolved checks the settings whose default is another's value: the
// startup log shows what the broker uses.
func TestResolved(t *testing.T) {
	c := broker.DefaultConfig()
	c.StorePathRootDir = "/data/b"
	r := c.Resolved()
	if r.HAListenPort != 10912 || r.BrokerIP2 != "127.0.0.1" || r.AclFile != "/data/b/config/plain_acl.yml" || r.Limits.LowWater != r.Limits.HighWater/2 {
		t.Errorf("resolved haListenPort=%d brokerIP2=%q rocketmq.acl.plain.file=%q writeBufferLowWaterMark=%d",
			r.HAListenPort, r.BrokerIP2, r.AclFile, r.Limits.LowWater)
	}
	if again := r.Resolved(); again != r {
		t.Errorf("Resolved twice differs: %+v", again)
	}
	c.ListenPort = 0 // a free port, and a free HA port
	if r := c.Resolved(); r.HAListenPort != 0 {
		t.Errorf("listenPort=0: haListenPort=%d, want 0", r.HAListenPort)
	}
	c.ListenPort, c.HAListenPort, c.BrokerIP2, c.AclFile, c.Limits.LowWater = 9000, 9100, "10.0.0.2", "/acl.yml", 1000
	if r := c.Resolved(); r.HAListenPort != 9100 || r.BrokerIP2 != "10.0.0.2" || r.AclFile != "/acl.yml" || r.Limits.LowWater != 1000 {
		t.Errorf("set values changed: %+v", r)
	}
}

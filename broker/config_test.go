package broker_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigStopsStart runs bin/broker with bad settings and checks it
// exits at once with a message naming each bad key.
func TestBadConfigStopsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the broker binary")
	}
	file := filepath.Join(t.TempDir(), "broker.properties")
	os.WriteFile(file, []byte("brokerName=b\nlistenPort=eleven\nsomeJavaOnlyKey=1\n"), 0o644)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-brokerRole", "LEADER", "-flushDiskType", "NEVER"}, []string{"brokerRole", "flushDiskType"}},
		{[]string{"-brokerId", "x"}, []string{"brokerId"}},
		{[]string{"-c", file}, []string{"listenPort"}},
		{[]string{"-brokerRole", "SLAVE"}, []string{"brokerId"}},
		{[]string{"-namesrvAddr", "localhost"}, []string{"namesrvAddr"}},
		{[]string{"-noSuchFlag", "1"}, []string{"noSuchFlag"}},
		{[]string{"-tls.server.mode", "enforcing"}, []string{"tls.server.certPath", "tls.server.keyPath"}},
		{[]string{"-tls.server.mode", "strict", "-tls.server.need.client.auth", "always"}, []string{"tls.server.mode", "tls.server.need.client.auth"}},
		{[]string{"-tls.server.mode", "permissive", "-tls.server.certPath", "/nonexistent/cert.pem", "-tls.server.keyPath", "/nonexistent/key.pem"},
			[]string{"tls.server.certPath=/nonexistent/cert.pem"}},
		{[]string{"-tls.enable", "true", "-tls.client.certPath", "/c.pem"}, []string{"tls.client.keyPath"}},
		{[]string{"-writeBufferHighWaterMark", "100", "-serverWorkerQueueMaxBytes", "1"}, []string{"writeBufferHighWaterMark", "serverWorkerQueueMaxBytes"}},
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

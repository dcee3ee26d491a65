package proctest

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// ErrNoModule is returned by Build when no go.mod is found above the working
// directory.
var ErrNoModule = errors.New("proctest: no go.mod above the working directory")

// Build compiles the given main packages (module-relative patterns such as
// "./cmd/namesrv") into a new temporary directory and returns it. The
// binaries are named after their package directories (bin/namesrv). The
// caller removes the directory when done.
func Build(pkgs ...string) (binDir string, err error) {
	if len(pkgs) == 0 {
		return "", errors.New("proctest: Build needs at least one package")
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "proctest-bin-")
	if err != nil {
		return "", fmt.Errorf("create binary directory: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	// PROCTEST_BUILDFLAGS (e.g. -race) adds go build flags.
	args = append(append(args, strings.Fields(os.Getenv("PROCTEST_BUILDFLAGS"))...), pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build %v in %s: %w\n%s", pkgs, root, err, out)
	}
	return dir, nil
}

// moduleRoot walks up from the working directory to the first directory
// holding a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoModule
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Prefer
// starting servers on port 0 and reading their listening line; use FreePort
// only where an address must be known before the process starts (a broker's
// HA port named in another broker's config, for instance). It returns 0 if no
// port could be reserved.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// DeadPort returns a port on 127.0.0.1 that refuses connections until the
// test ends: a socket bound to it but not listening holds it, so no server
// started meanwhile can take it (a port merely closed again can be handed
// straight to the next listener).
func DeadPort(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// Main is a TestMain for packages whose tests start the real binaries:
// unless -short, it builds pkgs (default ./cmd/namesrv and ./cmd/broker)
// into *binDir, runs the tests, removes the binaries and exits.
func Main(m interface{ Run() int }, binDir *string, pkgs ...string) {
	flag.Parse()
	if len(pkgs) == 0 {
		pkgs = []string{"./cmd/namesrv", "./cmd/broker"}
	}
	if !testing.Short() {
		dir, err := Build(pkgs...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "build binaries:", err)
			os.Exit(1)
		}
		*binDir = dir
	}
	code := m.Run()
	if *binDir != "" {
		os.RemoveAll(*binDir)
	}
	os.Exit(code)
}

// Package proctest builds the project's binaries and runs them as child
// processes for integration tests.
//
// A test package builds what it needs once, in TestMain, and removes the
// directory when the tests are done:
//
//	var binDir string
//
//	func TestMain(m *testing.M) {
//		flag.Parse()
//		if testing.Short() {
//			os.Exit(m.Run())
//		}
//		dir, err := proctest.Build("./cmd/namesrv", "./cmd/broker")
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		binDir = dir
//		code := m.Run()
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
//
// Each test then starts processes with Start, which returns once the process
// has logged that it listens. Every server logs one slog TextHandler line per
// listening socket, for example
//
//	time=... level=INFO msg=listening service=broker addr=127.0.0.1:40123
//
// and Proc.Addr reads the address from it, so servers are started on port 0.
// The process's stdout and stderr go to one file under t.TempDir(); when the
// test ends the process is killed (SIGKILL) and waited for.
//
// Concurrency: Build and FreePort may be called from any goroutine. A Proc's
// methods are safe for concurrent use, but Start and Addr report failures with
// t.Fatalf and so belong to the test's goroutine.
package proctest

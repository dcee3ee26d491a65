package procs

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestChildOutlivesStartingThread: a child with Pdeathsig, started through
// OnSpawnThread by a goroutine whose thread then exits (a locked goroutine
// that returns), keeps running. Started by cmd.Start on that thread, the
// kernel kills it when the thread goes.
func TestChildOutlivesStartingThread(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var tid int
	for {
		tids := make(chan int, 1)
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			tid := unix.Gettid()
			tids <- tid
			if tid == unix.Getpid() { // Go never ends the main thread: try another
				runtime.UnlockOSThread()
				return
			}
			errc <- OnSpawnThread(cmd.Start)
			// Return still locked: the thread exits with the goroutine.
		}()
		if tid = <-tids; tid != unix.Getpid() {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait until the goroutine's thread has exited.
	for {
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); os.IsNotExist(err) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// A child killed by its parent thread's exit dies within a few
	// milliseconds of it; give it a second.
	for range 100 {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(cmd.Process.Pid, &ws, unix.WNOHANG, nil); err != nil || pid != 0 {
			t.Fatalf("the child exited (%v, err %v) when the thread that asked for it did", ws, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

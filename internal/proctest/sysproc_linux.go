package proctest

import "syscall"

// sysProcAttr asks the kernel to kill the child if the test binary dies
// without running its cleanups (a test timeout panic, for instance).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package procs

import (
	"runtime"
	"sync"
)

// A child started with Pdeathsig is killed when the thread that forked it
// exits, not when the process does (prctl(2): the "parent" is the thread).
// Go ends a thread when a goroutine locked to it returns without unlocking,
// which a load generator's timer-slack threads do on purpose; a broker
// forked from such a thread's earlier life died with it at the end of a
// run. Children are forked from one thread that is locked for the life of
// the process instead.
var spawner struct {
	once sync.Once
	reqs chan func()
}

// OnSpawnThread runs start (an exec.Cmd's Start, perhaps between changes to
// the thread's CPU affinity, which the child inherits) on the one thread
// that never exits, and returns its error.
func OnSpawnThread(start func() error) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawner.reqs <- func() { errc <- start() }
	return <-errc
}

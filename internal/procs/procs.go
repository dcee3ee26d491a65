// Package procs is about the threads of processes that start or pace
// others: it keeps goroutines from starving behind threads that sleep in
// blocking system calls, and starts child processes from a thread that
// outlives them (OnSpawnThread).
//
// A goroutine that blocks in a raw system call (epoll_wait in a gnet event
// loop, clock_nanosleep in a pacer) keeps its P until the runtime's monitor
// takes it back, and the monitor, when the process looks idle, looks only
// every 10 ms. With GOMAXPROCS equal to the CPU count of a small machine,
// threads asleep in clock_nanosleep or epoll_wait can hold every P, and
// each other goroutine waits up to 10 ms to run: on 2 vCPUs a load
// generator's pacer and timer threads turned a 1 ms p99 into 9 ms
// (results/2026-11-26T0830Z-gomaxprocs). Such threads use no CPU while they
// sleep, so each gets a P of its own on top of the CPU count.
package procs

import (
	"runtime"
	"sync"
)

var mu sync.Mutex

// Reserve adds n to GOMAXPROCS for threads that spend their time blocked
// in system calls, and returns the function that gives them back.
func Reserve(n int) (release func()) {
	if n <= 0 {
		return func() {}
	}
	mu.Lock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)-n, 1))
			mu.Unlock()
		})
	}
}

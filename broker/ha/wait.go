package ha

import (
	"container/heap"
	"sync"
	"time"
)

// waiter is a send waiting for a slave to acknowledge offset end.
type waiter struct {
	end      int64
	deadline time.Time
	done     func(ok bool)
}

// waiterHeap orders waiters by end offset.
type waiterHeap []waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h waiterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiterHeap) Push(x any)        { *h = append(*h, x.(waiter)) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = waiter{}
	*h = old[:len(old)-1]
	return w
}

// waiters holds sends waiting for replication without a goroutine each:
// an ack releases, in offset order, every waiter at or below it; a sweep
// fails those past their deadline.
type waiters struct {
	mu    sync.Mutex
	h     waiterHeap
	acked int64
}

// add registers done to run with true once acked reaches end, or with
// false at deadline. If end is already acknowledged done runs at once.
func (ws *waiters) add(end int64, deadline time.Time, done func(bool)) {
	ws.mu.Lock()
	if end <= ws.acked {
		ws.mu.Unlock()
		done(true)
		return
	}
	heap.Push(&ws.h, waiter{end: end, deadline: deadline, done: done})
	ws.mu.Unlock()
}

// ack raises the acknowledged offset and releases the waiters it covers.
func (ws *waiters) ack(off int64) { ws.move(off, false) }

// set makes off the acknowledged offset, even below the current one (the
// SyncStateSet changed), and releases the waiters it covers.
func (ws *waiters) set(off int64) { ws.move(off, true) }

func (ws *waiters) move(off int64, down bool) {
	var ready []waiter
	ws.mu.Lock()
	if off > ws.acked || down {
		ws.acked = off
	}
	for len(ws.h) > 0 && ws.h[0].end <= ws.acked {
		ready = append(ready, heap.Pop(&ws.h).(waiter))
	}
	ws.mu.Unlock()
	for _, w := range ready {
		w.done(true)
	}
}

// expire fails the waiters whose deadline is not after now.
func (ws *waiters) expire(now time.Time) {
	var late []waiter
	ws.mu.Lock()
	keep := ws.h[:0]
	for _, w := range ws.h {
		if !now.Before(w.deadline) {
			late = append(late, w)
		} else {
			keep = append(keep, w)
		}
	}
	if len(late) > 0 {
		clear(ws.h[len(keep):])
		ws.h = keep
		heap.Init(&ws.h)
	}
	ws.mu.Unlock()
	for _, w := range late {
		w.done(false)
	}
}

// failAll fails every waiter (at shutdown).
func (ws *waiters) failAll() {
	ws.mu.Lock()
	all := ws.h
	ws.h = nil
	ws.mu.Unlock()
	for _, w := range all {
		w.done(false)
	}
}

func (ws *waiters) len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.h)
}

func (ws *waiters) ackedOffset() int64 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.acked
}

package commitlog

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit: concurrent SYNC_FLUSH senders share syncs.
func TestGroupCommit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 1 << 20
	cfg.Flush = SyncFlush
	l := openLog(t, cfg)
	const senders = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := l.Append(testMessage("G", int32(i%4), i))
			if err != nil {
				errs <- err
				return
			}
			done := make(chan error, 1)
			l.WaitDurable(r.EndOffset(), func(err error) { done <- err })
			if err := <-done; err != nil {
				errs <- err
				return
			}
			if l.FlushedOffset() < r.EndOffset() {
				errs <- errors.New("released before flushed")
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := l.Stats()
	t.Logf("%d senders, %d syncs, %d waits", senders, s.Syncs, s.SyncWaits)
	if s.Syncs > senders/4 {
		t.Errorf("%d syncs for %d concurrent senders: no group commit", s.Syncs, senders)
	}
	if l.FlushedOffset() != l.MaxOffset() {
		t.Errorf("flushed %d of %d", l.FlushedOffset(), l.MaxOffset())
	}
}

// TestWaitDurableTimeout: a waiter whose bytes never come times out, on
// the flusher's clock (a fake one here: no wall-clock bound), while one the
// sync covers is released.
func TestWaitDurableTimeout(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Flush = SyncFlush
	cfg.SyncFlushTimeout = 30 * time.Millisecond
	clock := newFakeClock()
	cfg.now = clock.Now
	l := openLog(t, cfg)
	r := mustAppend(t, l, testMessage("W", 0, 0))
	uncovered, covered := make(chan error, 1), make(chan error, 1)
	l.WaitDurable(r.EndOffset()+1000, func(err error) { uncovered <- err }) // bytes that never come
	l.WaitDurable(r.EndOffset(), func(err error) { covered <- err })
	if err := <-covered; err != nil {
		t.Fatalf("covered waiter: %v", err)
	}
	// The flusher looked at the uncovered waiter first, in the same round:
	// its deadline had not come.
	select {
	case err := <-uncovered:
		t.Fatalf("uncovered waiter answered %v before its deadline", err)
	default:
	}
	clock.Advance(cfg.SyncFlushTimeout + time.Millisecond)
	l.wakeFlusher()
	if err := <-uncovered; !errors.Is(err, ErrFlushTimeout) {
		t.Fatalf("uncovered waiter: %v, want ErrFlushTimeout", err)
	}
	if l.Stats().SyncTimeouts != 1 {
		t.Errorf("SyncTimeouts %d", l.Stats().SyncTimeouts)
	}
	// Already flushed: answered at once, on this goroutine.
	called := false
	l.WaitDurable(r.EndOffset(), func(err error) { called = err == nil })
	if !called {
		t.Errorf("flushed bytes not answered at once")
	}
}

func TestWaitDurableClose(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Flush = SyncFlush
	l := openLog(t, cfg)
	r := mustAppend(t, l, testMessage("W", 0, 0))
	done := make(chan error, 2)
	l.WaitDurable(r.EndOffset()+1000, func(err error) { done <- err })
	mustClose(t, l)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("pending waiter at Close: %v", err)
	}
	l.WaitDurable(r.EndOffset()+2000, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("waiter after Close: %v", err)
	}
}

func TestAsyncFlush(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushInterval = 5 * time.Millisecond
	l := openLog(t, cfg)
	var r AppendResult
	for i := range 100 {
		r = mustAppend(t, l, testMessage("A", 0, i))
	}
	called := false
	l.WaitDurable(r.EndOffset(), func(err error) { called = err == nil })
	if !called {
		t.Fatal("AsyncFlush WaitDurable did not answer at once")
	}
	poll(t, "background flush", func() bool { return l.FlushedOffset() == l.MaxOffset() })
	poll(t, "queue flush", func() bool { return l.Stats().QueueSyncs > 0 })
	if l.Stats().Syncs == 0 {
		t.Error("no syncs counted")
	}
}

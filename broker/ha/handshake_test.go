package ha

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandshakeReconcilesAndAllAck: in controller mode a slave introduces
// itself, is told the master's epochs and log end before any byte, and
// cuts its log there (Reconcile); a master that is not master, or older
// than the slave expects, is refused; with AllAck a wait needs every slave
// of the SyncStateSet, and an empty set releases the waits at once.
func TestHandshakeReconcilesAndAllAck(t *testing.T) {
	data := make([]byte, 50_000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	src := newFileSource(t, data)
	var epoch atomic.Int32
	entries := []EpochEntry{{1, 0}, {3, 20_000}}
	m := NewMaster(MasterConfig{Listen: "127.0.0.1:0", Source: src, BatchSize: 4096, AllAck: true,
		HeartbeatInterval: 100 * time.Millisecond,
		Epochs:            func() (int32, []EpochEntry) { return epoch.Load(), entries }})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	sink := &memSink{data: bytes.Repeat([]byte{0xEE}, 30_000)} // a divergent tail past 20 000
	var reconciled atomic.Int32
	var want atomic.Int32
	want.Store(3)
	s := NewSlave(SlaveConfig{
		MasterAddr: m.Addr, Sink: sink, HeartbeatInterval: 50 * time.Millisecond, IdleTimeout: time.Second,
		MaxBackoff: 100 * time.Millisecond,
		Hello:      func() (int64, int32) { return 7, want.Load() },
		Reconcile: func(e int32, got []EpochEntry, end int64) error {
			if e != 3 || len(got) != 2 || got[1] != entries[1] || end != int64(len(data)) {
				t.Errorf("reconcile: epoch %d entries %v end %d", e, got, end)
			}
			sink.mu.Lock()
			copy(sink.data, data[:20_000]) // the shared part, as the real log holds it
			sink.data = sink.data[:20_000]
			sink.mu.Unlock()
			reconciled.Add(1)
			return nil
		},
	})
	s.Start()
	defer s.Close()

	// Not master yet (epoch 0): refused, nothing reconciled or appended.
	time.Sleep(300 * time.Millisecond)
	if reconciled.Load() != 0 || sink.MaxOffset() != 30_000 {
		t.Fatalf("a master at epoch 0 was followed: reconciled %d, log end %d", reconciled.Load(), sink.MaxOffset())
	}
	// Older than the controller said: refused too.
	epoch.Store(2)
	time.Sleep(300 * time.Millisecond)
	if reconciled.Load() != 0 {
		t.Fatal("a master older than the announced epoch was followed")
	}
	epoch.Store(3)
	eventually(t, "the slave to replicate the master's log", func() bool { return sink.MaxOffset() == int64(len(data)) })
	sink.mu.Lock()
	same := bytes.Equal(sink.data, data)
	sink.mu.Unlock()
	if !same || reconciled.Load() < 1 {
		t.Fatalf("after the handshake the slave's log differs from the master's (reconciled %d)", reconciled.Load())
	}
	eventually(t, "the slave's id", func() bool { sl := m.Slaves(); return len(sl) == 1 && sl[0].ID == 7 })

	// AllAck: the set {7} holds a wait until slave 7 has the bytes; a set
	// with a slave that is not connected holds it until it times out; the
	// empty set releases at once.
	done := make(chan error, 1)
	m.SetInSync([]int64{7})
	m.Wait(int64(len(data)), 2*time.Second, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("wait covered by slave 7: %v", err)
	}
	m.SetInSync([]int64{7, 9})
	m.Wait(int64(len(data)), 200*time.Millisecond, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("wait needing absent slave 9: %v", err)
	}
	m.Wait(int64(len(data)), 5*time.Second, func(err error) { done <- err })
	select {
	case err := <-done:
		t.Fatalf("wait answered before slave 9 left the set: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	m.SetInSync([]int64{7}) // the controller dropped 9: the pending wait is covered
	if err := <-done; err != nil {
		t.Fatalf("wait after the set shrank: %v", err)
	}
	m.SetInSync(nil)
	m.Wait(1<<40, time.Second, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("wait with the master alone in the set: %v", err)
	}

	// Demotion drops the slave; it is refused until the broker is master again.
	epoch.Store(0)
	m.DropSlaves()
	eventually(t, "the slave dropped", func() bool { return len(m.Slaves()) == 0 })
	time.Sleep(300 * time.Millisecond)
	if len(m.Slaves()) != 0 {
		t.Fatal("a demoted master took a slave back")
	}
}

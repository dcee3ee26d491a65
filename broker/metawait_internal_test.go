package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestMetaWaiters steps the held metadata requests: a bound on how many,
// release on a version change or at the deadline, and dropping a closed
// connection's requests.
func TestMetaWaiters(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v1 := metaVersions{"0.1.1", "0.1.1"}
	ca, cb := &remoting.Conn{}, &remoting.Conn{}
	w := newMetaWaiters(2)
	h1 := &heldMeta{c: ca, have: v1, deadline: t0.Add(2 * time.Second)}
	h2 := &heldMeta{c: cb, have: v1, deadline: t0.Add(time.Second)}
	if !w.add(h1) || !w.add(h2) {
		t.Fatal("add within the bound refused")
	}
	if w.add(&heldMeta{c: cb, have: v1, deadline: t0.Add(time.Second)}) {
		t.Fatal("a third request held with metadataLongPollMaxHeld=2")
	}
	w.kick() // never blocks, even with a wake-up pending
	w.kick()

	ready, next := w.due(t0, v1)
	if len(ready) != 0 || !next.Equal(h2.deadline) {
		t.Fatalf("nothing changed: ready %d, next %v; want 0, %v", len(ready), next, h2.deadline)
	}
	ready, next = w.due(t0.Add(time.Second), v1)
	if len(ready) != 1 || ready[0] != h2 || !next.Equal(h1.deadline) {
		t.Fatalf("at h2's deadline: ready %v, next %v", ready, next)
	}
	ready, next = w.due(t0.Add(time.Second), metaVersions{"0.1.1", "0.2.2"})
	if len(ready) != 1 || ready[0] != h1 || !next.IsZero() || w.count() != 0 {
		t.Fatalf("groups changed: ready %v, next %v, left %d", ready, next, w.count())
	}

	w.add(h1)
	w.add(h2)
	w.dropConn(ca)
	if ready, _ := w.due(t0.Add(time.Hour), v1); len(ready) != 1 || ready[0] != h2 {
		t.Fatalf("after dropping a's connection: %v", ready)
	}
}

func TestMetadataConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MetadataSyncInterval = 0
	cfg.MetadataLongPollTime = time.Duration(cfg.ServerChannelMaxIdleTimeSeconds) * time.Second
	cfg.MetadataLongPollMaxHeld = 0
	err := cfg.Validate()
	for _, key := range []string{"metadataSyncInterval", "metadataLongPollTime", "metadataLongPollMaxHeld"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

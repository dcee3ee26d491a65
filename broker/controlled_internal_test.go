package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/broker/ha"
)

// TestNextInSync steps the master's SyncStateSet review through a slave
// that catches up, one that falls behind in bytes, one that stops
// reporting, and one that reconnects within haMaxTimeSlaveNotCatchup.
func TestNextInSync(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const maxGap = 1000
	const maxLag = 3 * time.Second
	seen := map[int64]time.Time{}
	review := func(at time.Duration, set []int64, prevEnd, end int64, slaves ...ha.SlaveStat) string {
		return fmt.Sprint(nextInSync(inSyncReview{self: 1, set: set, slaves: slaves, seen: seen, prevEnd: prevEnd, end: end,
			now: t0.Add(at), maxGap: maxGap, maxLag: maxLag}))
	}
	slave := func(id, acked int64) ha.SlaveStat { return ha.SlaveStat{ID: id, AckedOffset: acked} }

	// Slave 2 holds the log as it was at the previous review: it joins;
	// slave 3 does not yet.
	if got := review(0, []int64{1}, 500, 600, slave(2, 500), slave(3, 100)); got != "[1 2]" {
		t.Fatalf("first review: %s", got)
	}
	// Slave 3 catches up; slave 2 lags a little but was in sync lately.
	if got := review(time.Second, []int64{1, 2}, 600, 900, slave(2, 550), slave(3, 600)); got != "[1 2 3]" {
		t.Fatalf("second review: %s", got)
	}
	// Slave 2 falls more than haMaxGapNotInSync behind: out at once.
	if got := review(2*time.Second, []int64{1, 2, 3}, 900, 1800, slave(2, 600), slave(3, 900)); got != "[1 3]" {
		t.Fatalf("gap review: %s", got)
	}
	// Slave 3 disconnects: it stays for haMaxTimeSlaveNotCatchup, then leaves.
	if got := review(3*time.Second, []int64{1, 3}, 5000, 5000); got != "[1 3]" {
		t.Fatalf("just disconnected: %s", got)
	}
	if got := review(6*time.Second, []int64{1, 3}, 5000, 5000); got != "[1]" {
		t.Fatalf("disconnected past haMaxTimeSlaveNotCatchup: %s", got)
	}
	if _, ok := seen[3]; ok {
		t.Fatal("a slave gone past haMaxTimeSlaveNotCatchup is still remembered")
	}
	// A slave that reports but never catches up stays out, and a
	// member connected but stuck leaves after haMaxTimeSlaveNotCatchup.
	if got := review(7*time.Second, []int64{1}, 5000, 5100, slave(4, 4999)); got != "[1]" {
		t.Fatalf("never caught up: %s", got)
	}
	seen[5] = t0.Add(7 * time.Second)
	if got := review(11*time.Second, []int64{1, 5}, 5100, 5200, slave(5, 5000)); got != "[1]" {
		t.Fatalf("member stuck: %s", got)
	}
	// The master's own connection, if it appeared, never counts twice.
	if got := review(12*time.Second, []int64{1}, 5200, 5200, slave(1, 5200)); got != "[1]" {
		t.Fatalf("self: %s", got)
	}
}

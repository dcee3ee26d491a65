package loadgen

import (
	"testing"
	"time"
)

// TestPacerKeepsRate paces 20 000 sends a second for 10 s and checks the
// count and that no send is handed out before its intended time.
func TestPacerKeepsRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	const rate = 20000
	const window = 10 * time.Second
	start := time.Now()
	p := newPacer(start, rate)
	stop := make(chan struct{})
	time.AfterFunc(window, func() { close(stop) })
	done := make(chan [2]int64)
	go func() {
		p.lock()
		var n, early int64
		var worstLate time.Duration
		for {
			due, ok := p.next(stop)
			if !ok {
				break
			}
			now := time.Now()
			if now.Before(due) {
				early++
			}
			worstLate = max(worstLate, now.Sub(due))
			n++
		}
		t.Logf("sent %d, worst lateness %v", n, worstLate)
		done <- [2]int64{n, early}
	}()
	r := <-done
	elapsed := time.Since(start)
	got := float64(r[0]) / elapsed.Seconds()
	if got < rate*0.98 || got > rate*1.02 {
		t.Fatalf("paced %.0f msg/s over %v, want %d ± 2%%", got, elapsed, rate)
	}
	if r[1] != 0 {
		t.Fatalf("%d sends handed out before their intended time", r[1])
	}
}

func TestPacerUnpacedAndStop(t *testing.T) {
	p := newPacer(time.Now(), 0)
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		if _, ok := p.next(stop); !ok {
			t.Fatal("unpaced pacer refused a send")
		}
	}
	close(stop)
	if _, ok := p.next(stop); ok {
		t.Fatal("pacer handed out a send after stop")
	}
	slow := newPacer(time.Now().Add(time.Hour), 1)
	stop2 := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(stop2) })
	start := time.Now()
	if _, ok := slow.next(stop2); ok || time.Since(start) > 2*time.Second {
		t.Fatalf("a pacer waiting for a far send did not stop promptly (ok=%v, %v)", ok, time.Since(start))
	}
}

// TestPacerSpinsOnlyWhenSlow: a pacer spins only when its interval is
// long enough for the spin to cost little; a fast one sleeps to the due
// time.
func TestPacerSpinsOnlyWhenSlow(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		early time.Duration
	}{{1000, pacerEarly}, {5000, pacerEarly}, {5001, 0}, {20000, 0}, {0, 0}} {
		if p := newPacer(time.Now(), tc.rate); p.early != tc.early {
			t.Errorf("rate %v: early %v, want %v", tc.rate, p.early, tc.early)
		}
	}
}

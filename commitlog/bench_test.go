package commitlog

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchLog is a store with real-sized (1 GiB) segments.
func benchLog(b *testing.B, mode FlushMode) *Log {
	b.Helper()
	return openLog(b, Config{Dir: b.TempDir(), Flush: mode})
}

func benchMessage(size int) *Message {
	return &Message{
		Topic:         "BenchTopic",
		Body:          make([]byte, size),
		Properties:    "TAGS\x01TagA\x02UNIQ_KEY\x017F00000100002A9F0000000000000001\x02",
		BornTimestamp: 1700000000000,
		BornHost:      testBorn,
		StoreHost:     testStore,
	}
}

// BenchmarkAppend appends with AsyncFlush and 1 GiB segments. Besides
// records/s (wall clock, the allocator and the flusher running on the other
// CPU) it reports cpu-ns/op, the appending thread's own CPU time per record
// (user and system: the page faults it takes count), which is what one core
// spends per record.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l, m := benchLog(b, AsyncFlush), benchMessage(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, faults0 := threadCPU(b), threadFaults(b)
			for b.Loop() {
				if _, err := l.Append(m); err != nil {
					b.Fatal(err)
				}
			}
			cpu, faults := threadCPU(b)-cpu0, threadFaults(b)-faults0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(faults)/float64(b.N), "faults/op")
			b.ReportMetric(float64(l.Stats().Syncs)/float64(b.N), "syncs/op")
		})
	}
}

// BenchmarkAppendResident appends into pages that are already in the page
// cache and mapped writable: the state the allocator's pre-faulting keeps
// the log in when the page supply keeps up, and the steady state of a
// long-running broker whose page cache holds reclaimable pages. It measures
// the appender's own cost, without the machine's price for fresh pages
// (BenchmarkPageSupply). The segment is sized for the whole run and faulted
// in residentRound bytes at a time with the timer stopped, after the
// flusher has caught up: faulted-in pages are dirty, and more than the
// kernel's dirty_background share of them would start a writeback that
// write-protects pages ahead of the appender.
func BenchmarkAppendResident(b *testing.B) {
	const residentRound = 512 << 20
	for _, size := range []int{128, 1 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			m := benchMessage(size)
			p, err := prepare(m, 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			seg := (int64(b.N+1)*int64(p.size) + blankLen + 2<<20) &^ (1<<20 - 1)
			l := openLog(b, Config{Dir: b.TempDir(), Flush: AsyncFlush, SegmentSize: seg, FlushInterval: 50 * time.Millisecond})
			if _, err := l.Append(m); err != nil { // creates the segment
				b.Fatal(err)
			}
			data := l.active.data
			b.SetBytes(int64(size))
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			var cpu time.Duration
			var faults int64
			for done := 0; done < b.N; {
				b.StopTimer()
				for l.FlushedOffset() < l.MaxOffset() {
					time.Sleep(time.Millisecond)
				}
				from := l.MaxOffset()
				n := min(b.N-done, int(residentRound/int64(p.size)))
				if !populate(data, from, min(from+int64(n+1)*int64(p.size), seg), nil) {
					b.Skip("the kernel lacks MADV_POPULATE_WRITE")
				}
				b.StartTimer()
				cpu0, faults0 := threadCPU(b), threadFaults(b)
				for range n {
					if _, err := l.Append(m); err != nil {
						b.Fatal(err)
					}
				}
				cpu += threadCPU(b) - cpu0
				faults += threadFaults(b) - faults0
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(faults)/float64(b.N), "faults/op")
		})
	}
}

// BenchmarkPageSupply measures how fast the machine hands out fresh
// page-cache pages for a new segment: one MADV_POPULATE_WRITE pass over a
// new, preallocated 256 MiB file, as the allocator does ahead of the
// appender. On a VM whose host reclaims idle guest memory this, not the
// append path, bounds BenchmarkAppend.
func BenchmarkPageSupply(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	b.SetBytes(size)
	for i := range b.N {
		s, err := createSegment(OS{}, dir, int64(i)*size, size)
		if err != nil {
			b.Fatal(err)
		}
		if !populate(s.data, 0, size, nil) {
			b.Skip("the kernel lacks MADV_POPULATE_WRITE")
		}
		b.StopTimer()
		if err := s.remove(OS{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// threadCPU is the calling thread's CPU time.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// threadFaults is the number of page faults the calling thread has taken.
func threadFaults(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt + ru.Majflt
}

// BenchmarkAppendSyncFlush: concurrent SYNC_FLUSH senders, each waiting
// for its record to be durable (group commit). senders=N runs exactly N
// goroutines, whatever GOMAXPROCS is (RunParallel would run N×GOMAXPROCS).
func BenchmarkAppendSyncFlush(b *testing.B) {
	for _, senders := range []int{1, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			l, m := benchLog(b, SyncFlush), benchMessage(1<<10)
			b.SetBytes(1 << 10)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					durable := make(chan error, 1)
					for next.Add(1) <= int64(b.N) {
						r, err := l.Append(m)
						if err != nil {
							b.Error(err)
							return
						}
						l.WaitDurable(r.EndOffset(), func(err error) { durable <- err })
						if err := <-durable; err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(l.Stats().Syncs)/float64(b.N), "syncs/op")
		})
	}
}

func BenchmarkQueueEntries(b *testing.B) {
	l := openLog(b, testConfig(b.TempDir()))
	for i := range 1000 {
		mustAppend(b, l, testMessage("Q", 0, i))
	}
	dst := make([]Entry, 0, 32)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		dst, _ = l.QueueEntries("Q", 0, i%968, 32, dst)
		i++
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	p, _ := prepare(benchMessage(1<<10), 1<<20)
	buf := make([]byte, p.size)
	p.encode(buf, 1, 2, 3)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeRecord(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullPrefault measures what a pull of 32 1-KiB records pays for
// Prefault on the worker: reading the records (ReadPinned) and releasing
// the pin, with and without Prefault. "hot" records are near the head
// (Prefault returns without a system call), "resident" ones are further
// back than coldDistance but in the page cache (one madvise), and "cold"
// ones were evicted from it first (the disk read the event loop would
// otherwise wait for inside writev; "touch" is that wait).
func BenchmarkPullPrefault(b *testing.B) {
	const size, batch = 1 << 10, 32
	l := openLog(b, Config{Dir: b.TempDir(), SegmentSize: 32 << 20, FlushInterval: 10 * time.Millisecond})
	m := benchMessage(size)
	var rs []AppendResult
	for l.MaxOffset() < coldDistance+(16<<20) {
		r, err := l.Append(m)
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	for l.FlushedOffset() < l.MaxOffset() {
		time.Sleep(time.Millisecond)
	}
	read := func(b *testing.B, rs []AppendResult, pin *Pin, parts [][]byte) [][]byte {
		parts = parts[:0]
		for _, r := range rs {
			p, err := l.ReadPinned(pin, r.PhysOffset, r.WroteBytes)
			if err != nil {
				b.Fatal(err)
			}
			parts = append(parts, p)
		}
		return parts
	}
	// evict drops the records' pages from the mapping and the page cache.
	evict := func(b *testing.B, recs []AppendResult) {
		for _, r := range recs {
			s := findSegment(*l.segs.Load(), r.PhysOffset, l.cfg.SegmentSize)
			lo := (r.PhysOffset - s.start) &^ (pageSize - 1)
			hi := min((r.PhysOffset-s.start+int64(r.WroteBytes)+pageSize-1)&^(pageSize-1), s.size)
			if err := unix.Madvise(s.data[lo:hi], unix.MADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fadvise(int(s.f.Fd()), lo, hi-lo, unix.FADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
		}
	}
	var sink byte
	touch := func(parts [][]byte) {
		for _, p := range parts {
			for i := 0; i < len(p); i += 512 {
				sink += p[i]
			}
		}
	}
	hot := rs[len(rs)-batch:]
	b.Run("hot-decision", func(b *testing.B) { // Prefault alone, on a hot pull
		var pin Pin
		parts := read(b, hot, &pin, nil)
		for b.Loop() {
			if l.Prefault(hot[0].PhysOffset, parts) {
				b.Fatal("a hot pull prefaulted")
			}
		}
		pin.Release()
	})
	far := 0 // records [0, far) are more than coldDistance behind the head
	for far < len(rs) && l.MaxOffset()-rs[far].PhysOffset > coldDistance {
		far++
	}
	for _, c := range []struct {
		name              string
		recs              []AppendResult
		cold, prefault, t bool
	}{
		{"hot", hot, false, false, false},
		{"hot+prefault", hot, false, true, false},
		{"resident", rs[:batch], false, false, false},
		{"resident+prefault", rs[:batch], false, true, false},
		{"cold+touch", nil, true, false, true},
		{"cold+prefault", nil, true, true, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			var pin Pin
			var parts [][]byte
			prefaults := l.Stats().Prefaults
			i := 0
			for b.Loop() {
				recs := c.recs
				if c.cold { // a different stretch each time: read-ahead must not help
					b.StopTimer()
					k := (i * 4 * batch) % (far - batch)
					i++
					recs = rs[k : k+batch]
					evict(b, recs)
					b.StartTimer()
				}
				parts = read(b, recs, &pin, parts)
				if c.prefault {
					l.Prefault(recs[0].PhysOffset, parts)
				}
				if c.t {
					touch(parts)
				}
				pin.Release()
			}
			b.ReportMetric(float64(l.Stats().Prefaults-prefaults)/float64(b.N), "prefaults/op")
		})
	}
	_ = sink
}

// BenchmarkAppendEncode is the appender's own work per record without the
// log: prepare (checks, size, CRC, tags code) and encode into a buffer.
func BenchmarkAppendEncode(b *testing.B) {
	for _, size := range []int{128, 1 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			m, buf := benchMessage(size), make([]byte, 64<<10)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				p, err := prepare(m, 1<<30)
				if err != nil {
					b.Fatal(err)
				}
				p.encode(buf, 1, 2, 3)
			}
		})
	}
}

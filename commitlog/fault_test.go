package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/faultfs"
)

// openFaulty opens a store through a fault-injecting file system.
func openFaulty(t *testing.T, cfg Config) (*Log, *faultfs.FS) {
	t.Helper()
	ffs, err := faultfs.New(OS{}, cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.FS = ffs
	return openLog(t, cfg), ffs
}

// acked is a record whose send was answered: appended, and in SyncFlush
// mode flushed.
type acked struct {
	topic string
	qid   int32
	qoff  int64
	body  []byte
}

func ackOf(m *Message, r AppendResult) acked {
	return acked{m.Topic, m.QueueID, r.QueueOffset, bytes.Clone(m.Body)}
}

// sendSync appends m and waits until it is durable, as a SYNC_FLUSH send
// does; it returns the first error.
func sendSync(l *Log, m *Message) (AppendResult, error) {
	r, err := l.Append(m)
	if err != nil {
		return r, err
	}
	done := make(chan error, 1)
	l.WaitDurable(r.EndOffset(), func(err error) { done <- err })
	return r, <-done
}

// checkRecovered opens the store in dir and checks the durability
// contract: every acknowledged record is in its queue at its offset,
// intact, and every queue entry leads to an intact record of its queue.
func checkRecovered(t *testing.T, dir string, acks []acked) {
	t.Helper()
	cfg := testConfig(dir)
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("recover %s: %v", dir, err)
	}
	defer l.Close()
	for _, a := range acks {
		es, err := l.QueueEntries(a.topic, a.qid, a.qoff, 1, nil)
		if err != nil || len(es) != 1 {
			t.Fatalf("acknowledged %s/%d@%d lost: %v (queue [%d,%d))", a.topic, a.qid, a.qoff, err,
				l.QueueMinOffset(a.topic, a.qid), l.QueueMaxOffset(a.topic, a.qid))
		}
		rec := readRecord(t, l, es[0].PhysOffset, es[0].Size)
		if rec.Topic != a.topic || rec.QueueOffset != a.qoff || !bytes.Equal(rec.Body, a.body) {
			t.Fatalf("acknowledged %s/%d@%d reads back as %s@%d", a.topic, a.qid, a.qoff, rec.Topic, rec.QueueOffset)
		}
	}
	for k, es := range snapshotQueues(t, l) {
		for i, e := range es {
			if e.blank() {
				continue
			}
			rec := readRecord(t, l, e.PhysOffset, e.Size) // fails the test on a bad CRC
			if !strings.HasPrefix(k, fmt.Sprintf("%s/%d@", rec.Topic, rec.QueueID)) {
				t.Fatalf("queue %s entry %d holds a record of %s/%d", k, i, rec.Topic, rec.QueueID)
			}
		}
	}
}

// TestFaults injects ENOSPC and EIO (and ENOMEM for mmap) into each step
// that writes: creating a segment or a consume-queue file, msync of the log
// and of the queues, the checkpoint's fdatasync, directory syncs. Each
// time the send that meets the fault gets an error that names the step,
// SYNC_FLUSH waiters get an error instead of a success, an event-loop
// append gets ErrWouldBlock instead of meeting the fault, and once the
// fault clears the store works again. A power-loss image taken during the
// fault and one taken after keep every acknowledged record, and recover to
// a clean store; so does a process-crash image (the page cache) for every
// appended record.
func TestFaults(t *testing.T) {
	type trigger int
	const (
		roll       trigger = iota // a send that must start a new segment
		newQueue                  // a send to a queue without files
		flush                     // a SYNC_FLUSH send's group commit
		queueFlush                // the consume queues' flush and checkpoint
	)
	for _, tc := range []struct {
		name  string
		op    faultfs.Op
		path  string // under the store directory
		errno syscall.Errno
		step  string // in the send's error
		when  trigger
	}{
		{"segment create ENOSPC", faultfs.OpCreate, "commitlog/", syscall.ENOSPC, "create segment", roll},
		{"segment fallocate ENOSPC", faultfs.OpAllocate, "commitlog/", syscall.ENOSPC, "preallocate", roll},
		{"segment fallocate EIO", faultfs.OpAllocate, "commitlog/", syscall.EIO, "preallocate", roll},
		{"segment dir sync EIO", faultfs.OpSyncDir, "commitlog", syscall.EIO, "sync dir", roll},
		{"segment mmap ENOMEM", faultfs.OpMap, "commitlog/", syscall.ENOMEM, "mmap", roll},
		{"queue dir ENOSPC", faultfs.OpMkdir, "consumequeue/", syscall.ENOSPC, "create consume queue", newQueue},
		{"queue file create ENOSPC", faultfs.OpCreate, "consumequeue/", syscall.ENOSPC, "create consume queue file", newQueue},
		{"queue file size EIO", faultfs.OpTruncate, "consumequeue/", syscall.EIO, "size consume queue file", newQueue},
		{"queue file mmap ENOMEM", faultfs.OpMap, "consumequeue/", syscall.ENOMEM, "mmap", newQueue},
		{"log msync EIO", faultfs.OpMsync, "commitlog/", syscall.EIO, "msync", flush},
		{"log msync ENOSPC", faultfs.OpMsync, "commitlog/", syscall.ENOSPC, "msync", flush},
		{"queue msync EIO", faultfs.OpMsync, "consumequeue/", syscall.EIO, "", queueFlush},
		{"queue dir sync EIO", faultfs.OpSyncDir, "consumequeue", syscall.EIO, "", queueFlush},
		{"checkpoint sync EIO", faultfs.OpSync, "checkpoint", syscall.EIO, "", queueFlush},
		{"checkpoint sync ENOSPC", faultfs.OpSync, "checkpoint", syscall.ENOSPC, "", queueFlush},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.Flush = SyncFlush
			l, ffs := openFaulty(t, cfg)
			var acks []acked
			var appended []acked // acknowledged or not
			i := 0
			send := func(topic string) (AppendResult, error) {
				i++
				m := testMessage(topic, 0, i)
				r, err := sendSync(l, m)
				if err == nil {
					acks = append(acks, ackOf(m, r))
				}
				if r.Count == 1 {
					appended = append(appended, ackOf(m, r))
				}
				return r, err
			}
			for range 20 {
				if _, err := send("A"); err != nil {
					t.Fatal(err)
				}
			}
			// The allocator has the next segment ready: the fault meets
			// the one after.
			poll(t, "next segment", func() bool {
				_, err := os.Stat(segmentPath(dir, cfg.SegmentSize))
				return err == nil
			})

			ffs.Inject(tc.op, filepath.Join(dir, tc.path), tc.errno, -1)
			var failed error
			switch tc.when {
			case roll, newQueue:
				topic := "A"
				if tc.when == newQueue {
					topic = "N"
				}
				for range 2000 {
					before := l.MaxOffset()
					if _, failed = send(topic); failed != nil {
						if l.MaxOffset() != before {
							t.Fatalf("the failed send moved the log end from %d to %d", before, l.MaxOffset())
						}
						break
					}
				}
				// On an event loop the same send does not meet the fault:
				// it would block on the file, so it is handed back.
				m := testMessage(topic, 0, 0)
				m.NoBlock = true
				if _, err := l.Append(m); !errors.Is(err, ErrWouldBlock) {
					t.Errorf("NoBlock append during the fault: %v, want ErrWouldBlock", err)
				}
				if tc.when == newQueue {
					if _, err := send("A"); err != nil {
						t.Errorf("a queue with files stops working: %v", err)
					}
				}
			case flush:
				_, failed = send("A")
				if errors.Is(failed, ErrFlushTimeout) {
					t.Fatalf("waiter got %v, want the msync's error at once", failed)
				}
			case queueFlush:
				if _, err := send("N"); err != nil { // new files: directories to sync
					t.Fatal(err)
				}
				l.forceCQ.Store(true)
				l.wakeFlusher()
				poll(t, "the fault", func() bool { return ffs.Fired() > 0 })
			}
			if tc.when != queueFlush {
				if !errors.Is(failed, tc.errno) || !strings.Contains(failed.Error(), tc.step) {
					t.Fatalf("send during the fault: %v; want %v naming %q", failed, tc.errno, tc.step)
				}
			}
			t.Logf("during the fault: %v (%d calls failed)", failed, ffs.Fired())
			if ffs.Fired() == 0 {
				t.Fatal("the fault never fired")
			}
			during := filepath.Join(t.TempDir(), "during")
			if err := ffs.Image(during); err != nil {
				t.Fatal(err)
			}
			ackedDuring := len(acks)

			// The fault clears: the next sends go through, and what was
			// stored meanwhile becomes durable.
			ffs.Clear()
			for range 5 {
				if _, err := send("A"); err != nil {
					t.Fatalf("after the fault cleared: %v", err)
				}
				if _, err := send("N"); err != nil {
					t.Fatalf("after the fault cleared: %v", err)
				}
			}
			if l.FlushedOffset() != l.MaxOffset() {
				t.Errorf("flushed %d of %d after the fault cleared", l.FlushedOffset(), l.MaxOffset())
			}
			if tc.when == queueFlush {
				l.forceCQ.Store(true)
				l.wakeFlusher()
			}
			after := filepath.Join(t.TempDir(), "after")
			if err := ffs.Image(after); err != nil {
				t.Fatal(err)
			}
			crashed := filepath.Join(t.TempDir(), "crashed")
			copyStore(t, dir, crashed)
			mustClose(t, l)

			checkRecovered(t, during, acks[:ackedDuring])
			checkRecovered(t, after, acks)
			checkRecovered(t, crashed, appended)
			checkRecovered(t, dir, appended)
		})
	}
}

// TestFileCreationOutsideTheLock: while a file is being created (stalled
// here), appends that need no file go on, and an event loop's append that
// needs the file gets ErrWouldBlock at once instead of waiting.
func TestFileCreationOutsideTheLock(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   faultfs.Op
		path string
	}{
		{"queue file", faultfs.OpCreate, "consumequeue/N"},
		{"segment", faultfs.OpAllocate, "commitlog/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			l, ffs := openFaulty(t, cfg)
			mustAppend(t, l, testMessage("A", 0, 0))
			poll(t, "next segment", func() bool {
				_, err := os.Stat(segmentPath(dir, cfg.SegmentSize))
				return err == nil
			})
			arrived, release := ffs.Stall(tc.op, filepath.Join(dir, tc.path))
			defer release()
			blocked := make(chan error, 1)
			go func() {
				if tc.op == faultfs.OpCreate { // a new queue's first file
					_, err := l.Append(testMessage("N", 0, 0))
					blocked <- err
					return
				}
				// Fill the prepared segment: the allocator then creates
				// the one after, and the append that needs it waits.
				var err error
				for i := 0; err == nil && l.Stats().Rolls < 3; i++ {
					_, err = l.Append(testMessage("A", 0, i))
				}
				blocked <- err
			}()
			<-arrived // the creation has begun, and waits
			m := testMessage("N", 0, 1)
			if tc.op == faultfs.OpAllocate {
				// Only an empty segment holds it, and the active one has a
				// record (written with the roll that asked for the next).
				m = testMessage("A", 0, 1)
				m.Body = make([]byte, cfg.SegmentSize-1024)
			}
			m.NoBlock = true
			if _, err := l.Append(m); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("NoBlock append that needs the file being made: %v, want ErrWouldBlock", err)
			}
			if tc.op == faultfs.OpCreate {
				done := make(chan error, 1)
				go func() { _, err := l.Append(testMessage("A", 0, 2)); done <- err }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("an append to another queue waited for the file being created")
				}
			}
			release()
			if err := <-blocked; err != nil {
				t.Fatalf("the append that made the file: %v", err)
			}
			m.NoBlock = false
			if _, err := l.Append(m); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPowerLossUnderRandomFaults runs SYNC_FLUSH sends and batches while
// random write steps fail now and then, and takes power-loss images along
// the way: each recovers to a clean store that holds every record
// acknowledged before it was taken.
func TestPowerLossUnderRandomFaults(t *testing.T) {
	ops := []faultfs.Op{faultfs.OpCreate, faultfs.OpMkdir, faultfs.OpAllocate, faultfs.OpTruncate,
		faultfs.OpMap, faultfs.OpMsync, faultfs.OpSync, faultfs.OpSyncDir}
	errnos := []syscall.Errno{syscall.ENOSPC, syscall.EIO}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.Flush = SyncFlush
			l, ffs := openFaulty(t, cfg)
			var acks []acked
			failures, images := 0, 0
			for step := range 200 {
				if rng.IntN(8) == 0 {
					ffs.Inject(ops[rng.IntN(len(ops))], dir, errnos[rng.IntN(len(errnos))], 1+rng.IntN(3))
				}
				topic := fmt.Sprintf("T%d", rng.IntN(6))
				qid := int32(rng.IntN(2))
				if rng.IntN(4) == 0 {
					ms := make([]Message, 1+rng.IntN(5))
					for i := range ms {
						ms[i] = *testMessage(topic, qid, step*10+i)
					}
					r, _, err := l.AppendBatch(ms)
					if err == nil {
						done := make(chan error, 1)
						l.WaitDurable(r.EndOffset(), func(err error) { done <- err })
						err = <-done
					}
					if err != nil {
						failures++
						continue
					}
					for i := range ms {
						acks = append(acks, acked{topic, qid, r.QueueOffset + int64(i), bytes.Clone(ms[i].Body)})
					}
				} else {
					m := testMessage(topic, qid, step)
					r, err := sendSync(l, m)
					if err != nil {
						failures++
						continue
					}
					acks = append(acks, ackOf(m, r))
				}
				if rng.IntN(10) == 0 {
					l.forceCQ.Store(true)
					l.wakeFlusher()
				}
				if rng.IntN(5) == 0 { // a power loss right after an acknowledgement
					img := filepath.Join(t.TempDir(), fmt.Sprint(step))
					if err := ffs.Image(img); err != nil {
						t.Fatal(err)
					}
					checkRecovered(t, img, acks)
					images++
				}
			}
			ffs.Clear()
			t.Logf("%d acknowledged, %d sends failed, %d images", len(acks), failures, images)
			if failures == 0 || len(acks) == 0 {
				t.Fatalf("%d failures, %d acknowledged: the faults did not bite or nothing worked", failures, len(acks))
			}
			mustClose(t, l)
			checkRecovered(t, dir, acks)
		})
	}
}

// TestRollWhenTheAllocatorFailed: when the allocator could not prepare the
// next segment, the append that needs it creates it, whatever its record
// (a transaction's PREPARED record has no consume-queue entry).
func TestRollWhenTheAllocatorFailed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l, ffs := openFaulty(t, cfg)
	mustAppend(t, l, testMessage("A", 0, 0))
	poll(t, "next segment", func() bool {
		_, err := os.Stat(segmentPath(dir, cfg.SegmentSize))
		return err == nil
	})
	ffs.Inject(faultfs.OpAllocate, filepath.Join(dir, "commitlog"), syscall.ENOSPC, 1)
	for i := 0; l.Stats().Rolls < 2; i++ {
		mustAppend(t, l, testMessage("A", 0, i))
	}
	poll(t, "the allocator's failure", func() bool { return ffs.Fired() == 1 })
	for i := 0; l.Stats().Rolls < 3; i++ {
		m := testMessage("A", 0, i)
		m.SysFlag = 0x4 // PREPARED
		m.Body = make([]byte, 4000)
		mustAppend(t, l, m)
	}
}

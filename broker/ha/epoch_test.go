package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/faultfs"
)

type epochs = []EpochEntry

// openEpochs opens the epoch file at path, failing the test on an error.
func openEpochs(t *testing.T, path string) *EpochFile {
	t.Helper()
	f, err := OpenEpochFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// wantEpochFile reopens path and checks that it holds want.
func wantEpochFile(t *testing.T, path string, want epochs) {
	t.Helper()
	if got := openEpochs(t, path).Entries(); !slices.Equal(got, want) {
		t.Fatalf("%s reopened: %v, want %v", path, got, want)
	}
}

func TestEpochConsistentPoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		local     epochs
		localEnd  int64
		remote    epochs
		remoteEnd int64
		want      int64
		wantOK    bool
	}{
		{"identical", epochs{{1, 0}, {2, 800}}, 1500, epochs{{1, 0}, {2, 800}}, 1500, 1500, true},
		{"local ahead in the same epoch", epochs{{1, 0}, {2, 800}}, 1600, epochs{{1, 0}, {2, 800}}, 1500, 1500, true},
		{"local behind in the same epoch", epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {2, 800}}, 1500, 1200, true},
		{"local behind in an older epoch", epochs{{1, 0}}, 600, epochs{{1, 0}, {2, 800}}, 1500, 600, true},
		{"old master wrote past the new master's start", epochs{{1, 0}}, 1000, epochs{{1, 0}, {2, 800}}, 1500, 800, true},
		{"new master has written nothing yet", epochs{{1, 0}}, 1000, epochs{{1, 0}, {2, 800}}, 800, 800, true},
		{"divergent old master: an epoch the master never had",
			epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {3, 700}}, 2000, 700, true},
		{"divergent old master whose epoch began where the master's did",
			epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {3, 800}}, 2000, 800, true},
		{"elected, wrote nothing, replaced", epochs{{1, 0}, {2, 1000}}, 1000, epochs{{1, 0}, {3, 800}}, 1500, 800, true},
		{"same epoch number, different start: not shared",
			epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {2, 900}}, 1500, 800, true},
		{"same epoch number, different start, nothing older", epochs{{2, 800}}, 1200, epochs{{2, 900}}, 1500, 0, false},
		{"shared epoch in the middle", epochs{{1, 0}, {2, 100}, {3, 200}, {5, 300}}, 400,
			epochs{{1, 0}, {2, 100}, {3, 200}, {4, 250}}, 500, 250, true},
		{"log that does not start at 0", epochs{{3, 5000}}, 6000, epochs{{3, 5000}, {4, 5500}}, 7000, 5500, true},
		{"no epoch in common", epochs{{1, 0}}, 500, epochs{{2, 0}}, 500, 0, false},
		{"both lists empty", nil, 0, nil, 0, 0, false},
		{"local list empty, log empty", nil, 0, epochs{{1, 0}}, 500, 0, false},
		{"local list empty, log not", nil, 500, epochs{{1, 0}}, 500, 0, false},
		{"remote list empty", epochs{{1, 0}}, 500, nil, 0, 0, false},
		{"local log empty", epochs{{1, 0}}, 0, epochs{{1, 0}}, 500, 0, false},
		{"remote log empty", epochs{{1, 0}}, 500, epochs{{1, 0}}, 0, 0, false},
		// A slave adopts its master's entries before it has their bytes.
		{"local entry past the local end", epochs{{1, 0}, {2, 800}}, 700, epochs{{1, 0}, {2, 800}}, 1500, 700, true},
		{"local entry at the local end", epochs{{1, 0}, {2, 800}}, 800, epochs{{1, 0}, {2, 800}}, 1500, 800, true},
		{"local entries past the end, the newest unshared",
			epochs{{1, 0}, {2, 800}, {3, 1500}}, 1000, epochs{{1, 0}, {2, 800}, {4, 1200}}, 1600, 1000, true},
		{"local entry past the end, the only one", epochs{{2, 800}}, 700, epochs{{1, 0}, {2, 800}}, 1500, 0, false},
		{"remote entry at the remote end", epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {2, 800}}, 800, 800, true},
		{"remote entry past the remote end", epochs{{1, 0}, {2, 800}}, 1200, epochs{{1, 0}, {2, 800}}, 700, 700, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ConsistentPoint(tc.local, tc.localEnd, tc.remote, tc.remoteEnd)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("ConsistentPoint(%v, %d, %v, %d) = %d, %v; want %d, %v",
					tc.local, tc.localEnd, tc.remote, tc.remoteEnd, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestEpochEnd(t *testing.T) {
	es := epochs{{1, 0}, {2, 800}, {3, 800}, {4, 1200}}
	for _, tc := range []struct {
		i      int
		logEnd int64
		want   int64
	}{
		{0, 1500, 800},
		{1, 1500, 800}, // epoch 2 holds no bytes: epoch 3 began where it did
		{2, 1500, 1200},
		{3, 1500, 1500},
		{0, 500, 500}, // never past the log's end
		{3, 1000, 1000},
	} {
		if got := EpochEnd(es, tc.i, tc.logEnd); got != tc.want {
			t.Errorf("EpochEnd(%v, %d, %d) = %d, want %d", es, tc.i, tc.logEnd, got, tc.want)
		}
	}
}

// simBroker is a replica in the epoch scenarios: its epoch file and its log,
// kept as the epoch that wrote each byte (one unit = one byte).
type simBroker struct {
	name string
	f    *EpochFile
	log  []int32
}

func newSimBroker(t *testing.T, name string) *simBroker {
	t.Helper()
	return &simBroker{name: name, f: openEpochs(t, filepath.Join(t.TempDir(), "epochs"))}
}

func (b *simBroker) end() int64 { return int64(len(b.log)) }

// elect makes b master of epoch: its log's end starts the epoch.
func (b *simBroker) elect(t *testing.T, epoch int32) {
	t.Helper()
	if err := b.f.Truncate(b.end()); err != nil {
		t.Fatal(err)
	}
	if err := b.f.Append(EpochEntry{epoch, b.end()}); err != nil {
		t.Fatalf("%s becomes master of epoch %d: %v", b.name, epoch, err)
	}
}

// write appends n bytes as master.
func (b *simBroker) write(t *testing.T, n int) {
	t.Helper()
	last, ok := b.f.Last()
	if !ok {
		t.Fatalf("%s writes without an epoch", b.name)
	}
	for range n {
		b.log = append(b.log, last.Epoch)
	}
}

// connect cuts b's log where ConsistentPoint says, adopts the master's
// entries and replicates up to n bytes; it returns the cut.
func (b *simBroker) connect(t *testing.T, m *simBroker, n int64) (int64, bool) {
	t.Helper()
	cut, ok := ConsistentPoint(b.f.Entries(), b.end(), m.f.Entries(), m.end())
	var err error
	if ok {
		err = b.f.Truncate(cut)
	} else {
		err = b.f.Reset(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.log = b.log[:cut]
	for _, e := range m.f.Entries() {
		if last, ok := b.f.Last(); ok && e.Epoch < last.Epoch {
			continue
		}
		if err := b.f.Append(e); err != nil {
			t.Fatalf("%s adopts %v from %s: %v", b.name, e, m.name, err)
		}
	}
	upTo := min(m.end(), cut+n)
	b.log = append(b.log, m.log[cut:upTo]...)
	return cut, ok
}

// TestEpochScenario walks through a failover and the old master's return.
func TestEpochScenario(t *testing.T) {
	a, b := newSimBroker(t, "A"), newSimBroker(t, "B")
	a.elect(t, 1)
	a.write(t, 1000)
	if cut, ok := b.connect(t, a, 800); cut != 0 || ok {
		t.Fatalf("empty B joining A: cut %d, %v; want 0, false", cut, ok)
	}
	// A dies with 200 bytes B never got; B takes over at 800.
	b.elect(t, 2)
	if got, want := b.f.Entries(), (epochs{{1, 0}, {2, 800}}); !slices.Equal(got, want) {
		t.Fatalf("B's epochs %v, want %v", got, want)
	}
	b.write(t, 700)
	cut, ok := a.connect(t, b, 1<<20)
	if cut != 800 || !ok {
		t.Fatalf("A returns: cut %d, %v; want 800, true", cut, ok)
	}
	if !slices.Equal(a.log, b.log) || !slices.Equal(a.f.Entries(), b.f.Entries()) {
		t.Fatalf("A after catching up: log end %d, epochs %v; B: %d, %v", a.end(), a.f.Entries(), b.end(), b.f.Entries())
	}
	if cut, ok := a.connect(t, b, 0); cut != 1500 || !ok {
		t.Fatalf("A in step with B: cut %d, %v; want 1500, true", cut, ok)
	}
	// B dies, A takes over at 1500 with nothing lost; B comes back.
	a.elect(t, 3)
	a.write(t, 100)
	if cut, ok := b.connect(t, a, 1<<20); cut != 1500 || !ok {
		t.Fatalf("B returns: cut %d, %v; want 1500, true", cut, ok)
	}
	wantEpochFile(t, b.f.Path(), epochs{{1, 0}, {2, 800}, {3, 1500}})
}

// TestEpochConsistentPointRandomHistories runs random elections (clean or
// not), writes and partial replication among three brokers and checks, for
// every ordered pair after every step, that ConsistentPoint is exactly the
// length of the prefix the two logs share, and ok exactly when it is not
// empty.
func TestEpochConsistentPointRandomHistories(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			bs := []*simBroker{newSimBroker(t, "A"), newSimBroker(t, "B"), newSimBroker(t, "C")}
			var master *simBroker
			var epoch int32
			for step := range 120 {
				switch r := rng.IntN(10); {
				case master == nil || r == 0:
					master = bs[rng.IntN(len(bs))]
					epoch++
					master.elect(t, epoch)
				case r < 5:
					master.write(t, rng.IntN(50))
				default:
					if s := bs[rng.IntN(len(bs))]; s != master {
						s.connect(t, master, int64(rng.IntN(80)))
					}
				}
				for _, x := range bs {
					for _, y := range bs {
						shared := int64(0)
						for shared < min(x.end(), y.end()) && x.log[shared] == y.log[shared] {
							shared++
						}
						cut, ok := ConsistentPoint(x.f.Entries(), x.end(), y.f.Entries(), y.end())
						if cut != shared || ok != (shared > 0) {
							t.Fatalf("step %d: ConsistentPoint(%s %v end %d, %s %v end %d) = %d, %v; the logs share %d",
								step, x.name, x.f.Entries(), x.end(), y.name, y.f.Entries(), y.end(), cut, ok, shared)
						}
					}
				}
			}
		})
	}
}

func TestEpochFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochs")
	f := openEpochs(t, path)
	if f.Path() != path {
		t.Errorf("Path() = %q, want %q", f.Path(), path)
	}
	if es := f.Entries(); len(es) != 0 {
		t.Fatalf("missing file: entries %v, want none", es)
	}
	if _, ok := f.Last(); ok {
		t.Fatal("Last of an empty list: ok")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening created the file: %v", err)
	}
	want := epochs{{1, 0}, {2, 800}, {3, 800}, {7, 1 << 40}}
	for _, e := range want {
		if err := f.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Append(want[len(want)-1]); err != nil {
		t.Fatalf("appending the newest entry again: %v", err)
	}
	if got := f.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if last, ok := f.Last(); !ok || last != want[len(want)-1] {
		t.Fatalf("Last() = %v, %v", last, ok)
	}
	got := f.Entries()
	got[0].Epoch = 99
	if f.Entries()[0].Epoch != 1 {
		t.Fatal("Entries returned the list itself, not a copy")
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if !strings.HasPrefix(lines[0], "# ") || !slices.Equal(lines[1:], []string{"1 0", "2 800", "3 800", "7 1099511627776", ""}) {
		t.Fatalf("file content:\n%s", data)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	wantEpochFile(t, path, want)

	// What an operator might write by hand reads the same.
	hand := "# mine\n\n1\t0\n  2   800  \n# a note\n3 800\r\n7 1099511627776"
	if err := os.WriteFile(path, []byte(hand), 0o644); err != nil {
		t.Fatal(err)
	}
	wantEpochFile(t, path, want)

	b, err := json.Marshal(want[:2])
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"epoch":1,"startOffset":0},{"epoch":2,"startOffset":800}]` {
		t.Errorf("JSON: %s", b)
	}
}

func TestEpochFileAppendRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochs")
	f := openEpochs(t, path)
	if err := f.Append(EpochEntry{-1, 0}); !errors.Is(err, ErrBadEpochEntry) || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative epoch: %v", err)
	}
	if err := f.Append(EpochEntry{1, -5}); !errors.Is(err, ErrBadEpochEntry) || !strings.Contains(err.Error(), "negative offset") {
		t.Fatalf("negative start: %v", err)
	}
	if err := f.Reset(epochs{{2, 100}, {3, 500}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e    EpochEntry
		rule string
	}{
		{EpochEntry{3, 600}, "epochs must increase"},
		{EpochEntry{3, 400}, "epochs must increase"},
		{EpochEntry{2, 900}, "epochs must increase"},
		{EpochEntry{4, 499}, "start offsets must not decrease"},
		{EpochEntry{4, 0}, "start offsets must not decrease"},
	} {
		err := f.Append(tc.e)
		if !errors.Is(err, ErrBadEpochEntry) || !strings.Contains(err.Error(), tc.rule) || !strings.Contains(err.Error(), path) {
			t.Errorf("Append(%v) = %v; want an error naming %s and %q", tc.e, err, path, tc.rule)
		}
	}
	if got, want := f.Entries(), (epochs{{2, 100}, {3, 500}}); !slices.Equal(got, want) {
		t.Fatalf("after refused appends: %v, want %v", got, want)
	}
	wantEpochFile(t, path, epochs{{2, 100}, {3, 500}})
	if err := f.Append(EpochEntry{4, 500}); err != nil {
		t.Fatalf("an epoch that begins where the last one did: %v", err)
	}
}

func TestEpochFileTruncate(t *testing.T) {
	all := epochs{{1, 0}, {2, 800}, {3, 800}, {5, 1200}}
	for _, tc := range []struct {
		offset int64
		want   epochs
	}{
		{2000, all},
		{1201, all},
		{1200, all[:3]}, // epoch 5 starts at the cut: it holds none of the bytes left
		{1199, all[:3]},
		{801, all[:3]},
		{800, all[:1]},
		{1, all[:1]},
		{0, nil},
		{-1, nil},
	} {
		t.Run(fmt.Sprint(tc.offset), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "epochs")
			f := openEpochs(t, path)
			if err := f.Reset(all); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(tc.offset); err != nil {
				t.Fatal(err)
			}
			if got := f.Entries(); !slices.Equal(got, tc.want) {
				t.Fatalf("Truncate(%d): %v, want %v", tc.offset, got, tc.want)
			}
			wantEpochFile(t, path, tc.want)
		})
	}
}

func TestEpochFileReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochs")
	f := openEpochs(t, path)
	good := epochs{{1, 0}, {4, 300}}
	if err := f.Reset(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		es   epochs
		want string
	}{
		{epochs{{1, 0}, {1, 0}}, "entry 1: ha: bad epoch entry: epoch 1 after epoch 1: epochs must increase"},
		{epochs{{2, 0}, {1, 100}}, "entry 1: ha: bad epoch entry: epoch 1 after epoch 2: epochs must increase"},
		{epochs{{1, 0}, {2, 500}, {3, 400}}, "entry 2: ha: bad epoch entry: epoch 3 starts at 400, before epoch 2's start 500"},
		{epochs{{-2, 0}}, "entry 0: ha: bad epoch entry: epoch -2 is negative"},
		{epochs{{1, 0}, {2, -1}}, "entry 1: ha: bad epoch entry: epoch 2 starts at negative offset -1"},
	} {
		err := f.Reset(tc.es)
		if !errors.Is(err, ErrBadEpochEntry) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("Reset(%v) = %v; want an error naming %s with %q", tc.es, err, path, tc.want)
		}
	}
	if got := f.Entries(); !slices.Equal(got, good) {
		t.Fatalf("after refused resets: %v, want %v", got, good)
	}
	in := epochs{{2, 10}, {3, 10}}
	if err := f.Reset(in); err != nil {
		t.Fatal(err)
	}
	in[0].Epoch = 1 // the file keeps its own copy
	if got, want := f.Entries(), (epochs{{2, 10}, {3, 10}}); !slices.Equal(got, want) {
		t.Fatalf("after Reset: %v, want %v", got, want)
	}
	if err := f.Reset(nil); err != nil {
		t.Fatal(err)
	}
	wantEpochFile(t, path, nil)
	if err := ValidateEpochEntries(nil); err != nil {
		t.Fatalf("ValidateEpochEntries(nil) = %v", err)
	}
}

func TestEpochFileMalformed(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    string
	}{
		{"# h\n1 0\n2\n", "line 3: \"2\": want \"<epoch> <startOffset>\""},
		{"1 0 5\n", "line 1: \"1 0 5\""},
		{"# h\nx 0\n", "line 2: epoch \"x\""},
		{"# h\n1 0\n2 8OO\n", "line 3: start offset \"8OO\""},
		{"2147483648 0\n", "line 1: epoch \"2147483648\""},
		{"1 99999999999999999999\n", "line 1: start offset \"99999999999999999999\""},
		{"# h\n\n1 0\n3 10\n2 20\n", "line 5: ha: bad epoch entry: epoch 2 after epoch 3: epochs must increase"},
		{"1 0\n2 50\n3 40\n", "line 3: ha: bad epoch entry: epoch 3 starts at 40, before epoch 2's start 50"},
		{"1 -3\n", "line 1: ha: bad epoch entry: epoch 1 starts at negative offset -3"},
	} {
		path := filepath.Join(t.TempDir(), "epochs")
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenEpochFile(path)
		if err == nil || !strings.Contains(err.Error(), "epoch file "+path+" "+tc.want) {
			t.Errorf("OpenEpochFile of %q = %v, %v; want an error with %q", tc.content, f, err, path+" "+tc.want)
		}
	}

	dir := t.TempDir()
	if _, err := OpenEpochFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory as the epoch file: %v", err)
	}
	missing := filepath.Join(dir, "nodir", "epochs")
	if _, err := OpenEpochFile(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("a file in a missing directory: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenEpochFile(empty); err != nil || len(f.Entries()) != 0 {
		t.Errorf("an empty file: %v", err)
	}
}

// TestEpochFileWriteFaults: when a step of saving fails, the change is
// refused with the file system's error, the list in memory stays as it was,
// the file keeps the old list across a power loss, and the next change
// writes everything.
func TestEpochFileWriteFaults(t *testing.T) {
	for _, tc := range []struct {
		op    faultfs.Op
		errno syscall.Errno
	}{
		{faultfs.OpCreate, syscall.ENOSPC},
		{faultfs.OpSync, syscall.EIO},
		{faultfs.OpRename, syscall.EIO},
		{faultfs.OpSyncDir, syscall.EIO},
	} {
		t.Run(tc.op.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "epochs")
			ffs, err := faultfs.New(commitlog.OS{}, dir)
			if err != nil {
				t.Fatal(err)
			}
			f, err := openEpochFile(ffs, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Append(EpochEntry{1, 0}); err != nil {
				t.Fatal(err)
			}
			ffs.Inject(tc.op, dir, tc.errno, 1)
			if err := f.Append(EpochEntry{2, 100}); !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Append with a failing %s: %v", tc.op, err)
			}
			if got, want := f.Entries(), (epochs{{1, 0}}); !slices.Equal(got, want) {
				t.Fatalf("after the failure: %v, want %v", got, want)
			}
			img := filepath.Join(t.TempDir(), "img")
			if err := ffs.Image(img); err != nil {
				t.Fatal(err)
			}
			wantEpochFile(t, filepath.Join(img, "epochs"), epochs{{1, 0}}) // what a power loss leaves
			if err := f.Append(EpochEntry{3, 200}); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			wantEpochFile(t, path, epochs{{1, 0}, {3, 200}})
		})
	}
}

// TestEpochFileConcurrent: writers race to append, truncate and reset while
// readers read; every list a reader sees is valid, and the file on disk ends
// as the list in memory.
func TestEpochFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochs")
	f := openEpochs(t, path)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := range 40 {
				var err error
				switch i % 8 {
				case 7:
					err = f.Truncate(int64(i * 10))
				case 3:
					if w == 0 {
						err = f.Reset(epochs{{int32(i), int64(i)}})
					}
				default:
					last, _ := f.Last()
					err = f.Append(EpochEntry{last.Epoch + 1 + int32(w), last.StartOffset + int64(w)})
					if errors.Is(err, ErrBadEpochEntry) {
						err = nil // another writer got there first
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				es := f.Entries()
				if err := ValidateEpochEntries(es); err != nil {
					t.Errorf("a reader saw %v: %v", es, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	wantEpochFile(t, path, f.Entries())
}

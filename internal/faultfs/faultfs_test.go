package faultfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/faultfs"
)

func newFS(t *testing.T) (*faultfs.FS, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "old"), []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := faultfs.New(commitlog.OS{}, root)
	if err != nil {
		t.Fatal(err)
	}
	return f, root
}

// image returns the files of a power-loss image: name → content.
func image(t *testing.T, f *faultfs.FS) map[string]string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "img")
	if err := f.Image(dst); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dst, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func TestPowerLossModel(t *testing.T) {
	f, root := newFS(t)
	path := filepath.Join(root, "a")
	file, err := f.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	file.WriteAt([]byte("hello"), 0)
	if img := image(t, f); len(img) != 1 || img["old"] != "before" {
		t.Fatalf("before any sync: %q, want only the old file", img)
	}
	if err := f.SyncDir(root); err != nil {
		t.Fatal(err)
	}
	if img := image(t, f); img["a"] != "\x00\x00\x00\x00\x00" {
		t.Fatalf("name synced, data not: %q, want zeros of the size", img["a"])
	}
	if err := f.Sync(file); err != nil {
		t.Fatal(err)
	}
	file.WriteAt([]byte("HE"), 0) // not synced
	if img := image(t, f); img["a"] != "hello" {
		t.Fatalf("after Sync: %q", img["a"])
	}

	// Through a mapping: only the msynced range counts.
	file.Truncate(2 * 4096)
	m, err := f.Map(file, 2*4096)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	copy(m[4096:], "page two")
	copy(m[:], "page one")
	if err := f.Msync(file, m, 4096, 4096+8); err != nil {
		t.Fatal(err)
	}
	img := image(t, f)["a"]
	if len(img) != 2*4096 || img[:5] != "hello" || img[4096:4096+8] != "page two" {
		t.Fatalf("after msync of page two: %q…, %d bytes", img[:8], len(img))
	}

	// A removal counts once the directory is synced; the inode number the
	// OS may hand out again does not carry the old content over.
	os.Remove(filepath.Join(root, "old"))
	if img := image(t, f); img["old"] != "before" {
		t.Fatalf("unsynced removal: %q", img["old"])
	}
	g, err := f.OpenFile(filepath.Join(root, "b"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	f.SyncDir(root)
	if img := image(t, f); img["old"] != "" || img["b"] != "" || len(img) != 2 {
		t.Fatalf("after the removal is synced: %q", img)
	}
}

func TestRenameNeedsTheDirectorySync(t *testing.T) {
	f, root := newFS(t)
	tmp := filepath.Join(root, "old.tmp")
	file, _ := f.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	file.Write([]byte("after"))
	if err := f.Sync(file); err != nil {
		t.Fatal(err)
	}
	file.Close()
	if err := f.Rename(tmp, filepath.Join(root, "old")); err != nil {
		t.Fatal(err)
	}
	if img := image(t, f); img["old"] != "before" {
		t.Fatalf("rename not synced: %q", img)
	}
	f.SyncDir(root)
	if img := image(t, f); img["old"] != "after" || len(img) != 1 {
		t.Fatalf("rename synced: %q", img)
	}
}

func TestInject(t *testing.T) {
	f, root := newFS(t)
	f.Inject(faultfs.OpCreate, "x", syscall.ENOSPC, 1)
	if _, err := f.OpenFile(filepath.Join(root, "y"), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		t.Fatalf("other path: %v", err)
	}
	_, err := f.OpenFile(filepath.Join(root, "x"), os.O_RDWR|os.O_CREATE, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("injected: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); !os.IsNotExist(err) {
		t.Fatal("a failed call reached the file system")
	}
	if f.Fired() != 1 || f.Calls(faultfs.OpCreate) != 2 {
		t.Fatalf("fired %d, calls %d", f.Fired(), f.Calls(faultfs.OpCreate))
	}
	if _, err := f.OpenFile(filepath.Join(root, "x"), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		t.Fatalf("after the one failure: %v", err)
	}
	arrived, release := f.Stall(faultfs.OpSyncDir, "")
	done := make(chan error)
	go func() { done <- f.SyncDir(root) }()
	<-arrived
	select {
	case err := <-done:
		t.Fatalf("stalled call returned %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package commitlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rocketgo/rocketgo/internal/faultfs"
)

// TestReplaceFileFaults: whichever step of an atomic replacement fails,
// the caller hears which, the file keeps its old content (on disk and in a
// power-loss image), no temporary file is left, and the next try works.
func TestReplaceFileFaults(t *testing.T) {
	for _, tc := range []struct {
		op    faultfs.Op
		errno syscall.Errno
		step  string
		now   string // the file's content after the failure
	}{
		{faultfs.OpCreate, syscall.ENOSPC, "write", "old"},
		{faultfs.OpSync, syscall.EIO, "sync", "old"},
		{faultfs.OpSync, syscall.ENOSPC, "sync", "old"},
		{faultfs.OpRename, syscall.EIO, "replace", "old"},
		{faultfs.OpSyncDir, syscall.EIO, "sync dir", "new"}, // renamed, not yet durable
	} {
		t.Run(tc.op.String()+" "+tc.errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "topics.json")
			if err := WriteFileAtomic(path, []byte("old")); err != nil {
				t.Fatal(err)
			}
			ffs, err := faultfs.New(OS{}, dir)
			if err != nil {
				t.Fatal(err)
			}
			ffs.Inject(tc.op, dir, tc.errno, 1)
			err = ReplaceFile(ffs, path, []byte("new"))
			if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.step) {
				t.Fatalf("ReplaceFile = %v, want %v naming %q", err, tc.errno, tc.step)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.now {
				t.Errorf("content after the failure: %q, want %q", b, tc.now)
			}
			if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left behind: %v", err)
			}
			img := filepath.Join(t.TempDir(), "img")
			if err := ffs.Image(img); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(img, "topics.json")); string(b) != "old" {
				t.Errorf("power-loss image after the failure: %q, want the old content", b)
			}
			if err := ReplaceFile(ffs, path, []byte("new")); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			img = filepath.Join(t.TempDir(), "img")
			if err := ffs.Image(img); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(img, "topics.json")); string(b) != "new" {
				t.Errorf("power-loss image after the replacement: %q", b)
			}
		})
	}
}

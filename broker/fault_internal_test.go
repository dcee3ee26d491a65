package broker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/internal/faultfs"
	"github.com/rocketgo/rocketgo/remoting"
)

// startFaulty starts a broker in this process whose store and metadata
// files go through a fault-injecting file system.
func startFaulty(t *testing.T, edit func(*Config)) (*Broker, *faultfs.FS) {
	t.Helper()
	var ffs *faultfs.FS
	b := startLocal(t, edit, func(b *Broker) {
		var err error
		if ffs, err = faultfs.New(commitlog.OS{}, b.cfg.StorePathRootDir); err != nil {
			t.Fatal(err)
		}
		b.fs = ffs
	})
	return b, ffs
}

// startLocal starts a broker in this process on 127.0.0.1, port 0, with a
// small commit log, after edit changed its config and prepare the broker
// New returned (either may be nil); it closes in cleanup.
func startLocal(t *testing.T, edit func(*Config), prepare func(*Broker)) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StorePathRootDir = t.TempDir()
	cfg.BrokerIP1 = "127.0.0.1"
	cfg.ListenPort, cfg.HAListenPort = 0, 0
	cfg.MappedFileSizeCommitLog = 256 << 10
	cfg.MaxMessageSize = 64 << 10
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(b)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestSendsMeetStoreFaults: a send whose segment cannot be created, and a
// SYNC_FLUSH send whose msync fails, are answered with a code and a remark
// that names the step and the error; once the fault clears the broker
// stores again, and a failed metadata write keeps the old file.
func TestSendsMeetStoreFaults(t *testing.T) {
	b, ffs := startFaulty(t, func(c *Config) { c.FlushDiskType = SyncFlush })
	dir := b.cfg.StorePathRootDir
	client := remoting.NewClient(remoting.ClientConfig{})
	t.Cleanup(func() { client.Close() })
	send := func(body []byte) *remoting.Command {
		t.Helper()
		req := remoting.NewRequest(remoting.SendMessageV2, "a", "PG", "b", "Faults", "d", "1", "e", "0",
			"f", "0", "g", strconv.FormatInt(time.Now().UnixMilli(), 10), "h", "0", "i", "", "j", "0", "m", "false")
		req.Body = body
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := client.Invoke(ctx, b.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body := bytes.Repeat([]byte("x"), 32<<10)
	if resp := send(body); resp.Code != remoting.Success {
		t.Fatalf("first send: %d %s", resp.Code, resp.Remark)
	}
	seg := b.cfg.MappedFileSizeCommitLog
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "commitlog", fmt.Sprintf("%020d", seg))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the next segment was never prepared")
		}
		time.Sleep(time.Millisecond)
	}

	// No space for the segment after the prepared one.
	ffs.Inject(faultfs.OpAllocate, filepath.Join(dir, "commitlog"), syscall.ENOSPC, -1)
	stored := int64(1)
	var resp *remoting.Command
	for range 100 {
		if resp = send(body); resp.Code != remoting.Success {
			break
		}
		stored++
	}
	if resp.Code != remoting.SystemError || !strings.Contains(resp.Remark, "preallocate") || !strings.Contains(resp.Remark, "no space left on device") {
		t.Fatalf("send without space for a segment: %d %q; want SYSTEM_ERROR naming fallocate and ENOSPC", resp.Code, resp.Remark)
	}
	ffs.Clear()
	if resp := send(body); resp.Code != remoting.Success {
		t.Fatalf("send after the fault cleared: %d %s", resp.Code, resp.Remark)
	}
	stored++

	// The group commit's msync fails: the waiting send hears it.
	ffs.Inject(faultfs.OpMsync, filepath.Join(dir, "commitlog"), syscall.EIO, -1)
	resp = send(body)
	if resp.Code != remoting.FlushDiskTimeout || !strings.Contains(resp.Remark, "msync") || !strings.Contains(resp.Remark, "input/output error") {
		t.Fatalf("send whose flush fails: %d %q; want FLUSH_DISK_TIMEOUT naming msync and EIO", resp.Code, resp.Remark)
	}
	stored++ // stored, not flushed
	ffs.Clear()
	if resp := send(body); resp.Code != remoting.Success {
		t.Fatalf("send after the msync fault cleared: %d %s", resp.Code, resp.Remark)
	}
	stored++
	if got := b.store.QueueMaxOffset("Faults", 0); got != stored {
		t.Errorf("queue holds %d messages, want %d", got, stored)
	}
	if b.store.FlushedOffset() != b.store.MaxOffset() {
		t.Errorf("flushed %d of %d after the faults cleared", b.store.FlushedOffset(), b.store.MaxOffset())
	}

	// A metadata file whose replacement cannot be renamed keeps its old
	// content.
	path := filepath.Join(configDir(dir), "consumerOffset.json")
	b.offsets.commit("G", "Faults", 0, 1)
	if err := b.offsets.persist(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	b.offsets.commit("G", "Faults", 0, 2)
	ffs.Inject(faultfs.OpRename, path, syscall.EIO, 1)
	if err := b.offsets.persist(); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("persist with a failing rename: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Fatalf("a failed persist changed %s", path)
	}
	if err := b.offsets.persist(); err != nil { // still dirty: written now
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); bytes.Equal(now, old) {
		t.Fatal("the offsets were not written once the fault cleared")
	}
}

// TestPullsReleaseTheirPins: the zero-copy pull answers pin the segments
// they read, and release them once written, so retention's deleted
// segments are unmapped right after (the grace, a nanosecond here, does
// not protect them).
func TestPullsReleaseTheirPins(t *testing.T) {
	b, _ := startFaulty(t, func(c *Config) { c.DestroyMapedFileIntervalForcibly = time.Nanosecond })
	client := remoting.NewClient(remoting.ClientConfig{})
	t.Cleanup(func() { client.Close() })
	invoke := func(req *remoting.Command) *remoting.Command {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := client.Invoke(ctx, b.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body := bytes.Repeat([]byte("p"), 16<<10)
	for b.store.Stats().Rolls < 4 {
		req := remoting.NewRequest(remoting.SendMessage, "producerGroup", "PG", "topic", "Pins", "queueId", "0")
		req.Body = body
		if resp := invoke(req); resp.Code != remoting.Success {
			t.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
	}
	n := b.store.QueueMaxOffset("Pins", 0)
	for off := int64(0); off < n; {
		resp := invoke(remoting.NewRequest(remoting.PullMessage, "consumerGroup", "G", "topic", "Pins", "queueId", "0",
			"queueOffset", strconv.FormatInt(off, 10), "maxMsgNums", "8", "sysFlag", "0"))
		if resp.Code != remoting.Success || len(resp.Body) == 0 {
			t.Fatalf("pull at %d: %d %s", off, resp.Code, resp.Remark)
		}
		off, _ = strconv.ParseInt(resp.ExtValue("nextBeginOffset"), 10, 64)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.store.FlushedOffset() < b.store.MaxOffset() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	deleted, err := b.store.DeleteSegments(10, func(commitlog.SegmentInfo) bool { return true })
	if err != nil || deleted < 2 {
		t.Fatalf("DeleteSegments = %d, %v", deleted, err)
	}
	for b.store.Stats().Unmapped != int64(deleted) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deleted segments unmapped: a pull kept its pin", b.store.Stats().Unmapped, deleted)
		}
		time.Sleep(time.Millisecond)
	}
}

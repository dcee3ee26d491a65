package loadgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Floors are what this machine can do at best, measured before the runs, so
// that a report can say how far a broker's latency is from the hardware's:
// a SYNC_FLUSH send cannot beat one fdatasync of the disk the brokers write
// to, and no send beats a loopback round trip.
type Floors struct {
	FsyncP50 int64 `json:"fsyncP50Us"` // 4 KiB write + fdatasync on the brokers' disk, µs
	FsyncP99 int64 `json:"fsyncP99Us"`
	RTTP50   int64 `json:"loopbackRttP50Us"` // 1 KiB ping-pong over 127.0.0.1 TCP, µs
	RTTP99   int64 `json:"loopbackRttP99Us"`
}

const (
	floorFsyncs = 200
	floorPings  = 2000
)

// MeasureFloors measures the floors, writing its scratch file in dir (the
// brokers' data directory, so the disk is theirs).
func MeasureFloors(dir string) (Floors, error) {
	var f Floors
	fs, err := fsyncLatencies(dir, floorFsyncs)
	if err != nil {
		return f, err
	}
	rtt, err := loopbackRTTs(floorPings)
	if err != nil {
		return f, err
	}
	f.FsyncP50, f.FsyncP99 = quantileUs(fs, 0.50), quantileUs(fs, 0.99)
	f.RTTP50, f.RTTP99 = quantileUs(rtt, 0.50), quantileUs(rtt, 0.99)
	return f, nil
}

func quantileUs(d []time.Duration, q float64) int64 {
	slices.Sort(d)
	return max(d[int(q*float64(len(d)-1))].Microseconds(), 1)
}

// fsyncLatencies times n appends of 4 KiB each followed by fdatasync, as a
// group commit does.
func fsyncLatencies(dir string, n int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "floor-fsync-*")
	if err != nil {
		return nil, fmt.Errorf("fsync floor: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	out := make([]time.Duration, 0, n)
	for i := range n {
		binary.BigEndian.PutUint64(buf, uint64(i))
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, fmt.Errorf("fsync floor: %w", err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return nil, fmt.Errorf("fsync floor: fdatasync %s: %w", filepath.Base(f.Name()), err)
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// loopbackRTTs times n 1 KiB request/response round trips over one TCP
// connection on 127.0.0.1.
func loopbackRTTs(n int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback floor: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		buf := make([]byte, 1024)
		for {
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("loopback floor: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			return nil, fmt.Errorf("loopback floor: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil, fmt.Errorf("loopback floor: %w", err)
		}
		out = append(out, time.Since(t0))
	}
	if len(out) == 0 {
		return nil, errors.New("loopback floor: no round trip")
	}
	return out, nil
}

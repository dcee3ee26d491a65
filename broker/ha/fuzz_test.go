package ha

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// fuzzLog is the master's log in the fuzz targets: small, so that a
// master streams all of it quickly.
func fuzzLog() []byte {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data
}

// masterStream records what a real master sends a slave that reports
// offset from: the frames of the log from there on.
func masterStream(tb testing.TB, src *fileSource, from int64, frames int) []byte {
	tb.Helper()
	m := NewMaster(MasterConfig{Listen: "127.0.0.1:0", Source: src, BatchSize: 4096, Log: quietLog()})
	if err := m.Start(); err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(binary.BigEndian.AppendUint64(nil, uint64(from))); err != nil {
		tb.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	for range frames {
		var hdr [12]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			tb.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[8:]))
		if _, err := io.ReadFull(c, body); err != nil {
			tb.Fatal(err)
		}
		out = append(append(out, hdr[:]...), body...)
	}
	return out
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// chunkConn is a connection whose reads return the bytes of b at most max
// at a time, then io.EOF. Only Read is used.
type chunkConn struct {
	net.Conn
	b   []byte
	max int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.max)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// windowSink is a memSink that also offers the slave a window to receive
// into, as the commit log does (the production path).
type windowSink struct {
	memSink
	win []byte
}

func (s *windowSink) AppendWindow() (int64, []byte, error) { return s.MaxOffset(), s.win, nil }

func (s *windowSink) CommitWindow(off int64, n int) error {
	if n > len(s.win) {
		return fmt.Errorf("commit %d bytes of a %d-byte window", n, len(s.win))
	}
	return s.AppendAt(off, s.win[:n])
}

// FuzzSlaveFrames feeds a master's byte stream, in reads of random sizes,
// through the slave's frameReader and appendFrame, into a sink with or
// without a receive window. The frames read must be the stream's, the sink
// must hold exactly the bodies of the frames that chained, and a frame at
// any other offset must be refused.
func FuzzSlaveFrames(f *testing.F) {
	src := newFileSource(f, fuzzLog())
	f.Add(masterStream(f, src, 0, 3), uint16(4096), false)
	f.Add(masterStream(f, src, 5000, 2), uint16(7), true)
	f.Add(append(frame(0, []byte("hello ")), frame(6, nil)...), uint16(1), true) // a heartbeat
	f.Add(append(frame(0, []byte("hello ")), frame(100, []byte("gap"))...), uint16(13), false)
	f.Add(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, 0), 64<<20+1), uint16(12), false)
	f.Add(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, 0), 0xFFFFFFFF), uint16(12), false)
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint16, window bool) {
		var sink Sink = &memSink{}
		mem := sink.(*memSink)
		var win WindowSink
		if window {
			ws := &windowSink{win: make([]byte, 1024)}
			sink, mem, win = ws, &ws.memSink, ws
		}
		s := &Slave{cfg: SlaveConfig{Sink: sink}, log: quietLog()}
		r := &frameReader{c: &chunkConn{b: stream, max: int(chunk)%8192 + 1}, buf: make([]byte, 64<<10)}
		var spare, want []byte
		var base int64
		started := false // a frame was appended; base is where the log starts
		for pos := 0; ; {
			off, n, err := r.header()
			if len(stream)-pos < 12 {
				if err == nil {
					t.Fatalf("a header from %d bytes", len(stream)-pos)
				}
				break
			}
			wantOff := int64(binary.BigEndian.Uint64(stream[pos:]))
			wantN := int(int32(binary.BigEndian.Uint32(stream[pos+8:])))
			if wantN < 0 || wantN > 64<<20 {
				if err == nil {
					t.Fatalf("frame size %d accepted", wantN)
				}
				break
			}
			if err != nil || off != wantOff || n != wantN {
				t.Fatalf("header at %d: %d, %d, %v; the stream says %d, %d", pos, off, n, err, wantOff, wantN)
			}
			pos += 12
			if n > len(stream)-pos {
				// The body is cut short: reading it fails. (Not through
				// appendFrame, which would first take n bytes for it.)
				if err := r.readBody(make([]byte, len(stream)-pos+1)); err == nil {
					t.Fatalf("a %d-byte body read from %d bytes", n, len(stream)-pos)
				}
				break
			}
			if n == 0 {
				continue // a heartbeat
			}
			end := mem.MaxOffset()
			err = s.appendFrame(r, win, off, n, &spare)
			chains := !started || off == end
			if chains != (err == nil) {
				t.Fatalf("frame at %d after the log's end %d: %v", off, end, err)
			}
			if err != nil {
				break // the session ends and the slave reconnects
			}
			if !started {
				base, started = off, true
			}
			want = append(want, stream[pos:pos+n]...)
			pos += n
		}
		if !bytes.Equal(mem.data, want) || started && mem.base != base {
			t.Fatalf("sink holds %d bytes from %d, want %d from %d", len(mem.data), mem.base, len(want), base)
		}
	})
}

// FuzzMasterReports sends a slave's reports (8-byte offsets, any bytes) to
// a real master and half-closes. The master must close the connection and
// let its goroutines go, stream only frames of its log from the first
// report on, and count as acknowledged only an offset some complete report
// gave.
func FuzzMasterReports(f *testing.F) {
	data := fuzzLog()
	src := newFileSource(f, data)
	u64 := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	f.Add(u64(0, 4096, 10_000))
	f.Add(u64(5000, 20_000)) // ahead of the master
	f.Add(u64(-1))
	f.Add(u64(1 << 40))
	f.Add([]byte{0, 0, 0}) // gone before a whole report
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, reports []byte) {
		m := NewMaster(MasterConfig{Listen: "127.0.0.1:0", Source: src, BatchSize: 4096, Log: quietLog()})
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		base := runtime.NumGoroutine()
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(reports); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		stream, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) { // reset: the master closed with reports unread
			t.Fatalf("the master did not close the connection: %v", err)
		}

		// The frames are the log's, in order, from an offset a report gave
		// (the last whole report of the first read); the last one may be
		// cut short by the close.
		isReport := func(off int64) bool {
			for p := 0; p+8 <= len(reports); p += 8 {
				if int64(binary.BigEndian.Uint64(reports[p:])) == off {
					return true
				}
			}
			return false
		}
		next := int64(-1)
		for p := 0; p+12 <= len(stream); {
			off := int64(binary.BigEndian.Uint64(stream[p:]))
			n := int(binary.BigEndian.Uint32(stream[p+8:]))
			if next < 0 && !isReport(off) {
				t.Fatalf("first frame at %d, which no report of %x asked for", off, reports)
			}
			if next >= 0 && off != next || n > 4096 || off < 0 || off+int64(n) > int64(len(data)) {
				t.Fatalf("frame at %d of %d bytes after %d", off, n, next)
			}
			body := stream[p+12 : min(p+12+n, len(stream))]
			if !bytes.Equal(body, data[off:off+int64(len(body))]) {
				t.Fatalf("frame at %d differs from the log", off)
			}
			next = off + int64(n)
			p += 12 + n
		}

		acked := m.Stats().AckedOffset
		if acked != 0 && !isReport(acked) || acked < 0 {
			t.Fatalf("acknowledged offset %d is no report of %x", acked, reports)
		}

		deadline := time.Now().Add(20 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines, %d before the slave connected:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}

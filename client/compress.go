package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// compressLevel is the official client's default zlib level.
const compressLevel = 5

// maxInflated bounds a decompressed body, against zlib bombs.
const maxInflated = 256 << 20

// deflater is a pooled level-5 zlib writer with its output.
type deflater struct {
	zw *zlib.Writer
	sw sliceWriter
}

var zlibWriters = sync.Pool{New: func() any {
	d := &deflater{}
	d.zw, _ = zlib.NewWriterLevel(&d.sw, compressLevel) // level 5 is valid
	return d
}}

// zlibReaders pools zlib readers (zlib.Resetter) with their input.
type inflater struct {
	src bytes.Reader
	r   io.ReadCloser
}

var zlibReaders sync.Pool

// bufPool holds byte buffers for compressed bodies and request assembly.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuf keeps huge buffers out of bufPool.
const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compress appends the zlib stream of src to dst.
func compress(dst, src []byte) ([]byte, error) {
	d := zlibWriters.Get().(*deflater)
	d.sw.b = dst
	d.zw.Reset(&d.sw)
	_, err := d.zw.Write(src)
	if err == nil {
		err = d.zw.Close()
	}
	out := d.sw.b
	d.sw.b = nil
	zlibWriters.Put(d)
	if err != nil {
		return dst, fmt.Errorf("zlib-compress %d bytes: %w", len(src), err)
	}
	return out, nil
}

// inflate decompresses a zlib stream into a new slice.
func inflate(src []byte) ([]byte, error) {
	f, _ := zlibReaders.Get().(*inflater)
	if f == nil {
		f = &inflater{}
	}
	f.src.Reset(src)
	var err error
	if f.r == nil {
		f.r, err = zlib.NewReader(&f.src)
	} else {
		err = f.r.(zlib.Resetter).Reset(&f.src, nil)
	}
	if err != nil {
		f.r = nil
		zlibReaders.Put(f)
		return nil, fmt.Errorf("zlib header: %w", err)
	}
	out := make([]byte, 0, min(4*len(src)+512, maxInflated))
	for {
		if len(out) == cap(out) {
			if len(out) >= maxInflated {
				err = fmt.Errorf("inflates past %d bytes", maxInflated)
				break
			}
			out = append(out, 0)[:len(out)]
		}
		var n int
		n, err = f.r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			break
		}
	}
	f.src.Reset(nil)
	zlibReaders.Put(f)
	if err != nil {
		return nil, fmt.Errorf("zlib-decompress %d bytes: %w", len(src), err)
	}
	return out, nil
}

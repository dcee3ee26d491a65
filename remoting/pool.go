package remoting

import (
	"encoding/binary"
	"sync"
)

// Pooled requests.
//
// A server decodes every request into a Command and buffer taken from a
// pool. Requests served by a handler registered with HandleScoped go back
// to the pool when the handler returns (after its response, if any, has
// been encoded), unless the handler called Keep; all others are left to the
// garbage collector, as are those kept. At hundreds of thousands of requests
// per second this removes most of the garbage the broker makes per message.
//
// In binaries built with the race detector, released requests are not
// reused: their bytes are overwritten with 0xA5 instead, so that a string a
// handler wrongly kept reads as garbage in tests (and the overwrite races
// with any concurrent reader, which the detector reports).

// maxPooledRequest is the largest request buffer kept for reuse. Bigger
// frames (large bodies, batches) get a buffer of their own.
const maxPooledRequest = 64 << 10

// minRequestBuf is the smallest buffer allocated for a pooled request, so
// that a recycled buffer fits the common sizes.
const minRequestBuf = 2 << 10

var reqPool = sync.Pool{New: func() any { return new(Command) }}

// decodeRequest is DecodeCommand into pooled memory, for the server's
// event loops. frame has been validated by the caller's checkFrame.
func decodeRequest(frame []byte) (*Command, error) {
	if len(frame) < frameHeadLen || uint64(binary.BigEndian.Uint32(frame)) != uint64(len(frame)-4) {
		return DecodeCommand(frame) // reports the error
	}
	typ, hdrLen := splitTypeWord(binary.BigEndian.Uint32(frame[4:]))
	if err := checkFrame(len(frame)-4, typ, hdrLen); err != nil {
		return nil, err
	}
	n := len(frame) - frameHeadLen
	c := reqPool.Get().(*Command)
	buf := c.own
	if cap(buf) < n {
		buf = make([]byte, max(n, minRequestBuf))
	}
	buf = buf[:n]
	copy(buf, frame[frameHeadLen:])
	c.reset(buf)
	if err := c.decode(buf, typ, hdrLen); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// decodeOwnedRequest decodes a request from buf, the frame without its
// 8-byte prefix, into a pooled Command that keeps buf: a big frame read
// into a buffer of its own (readBig), which release leaves to the garbage
// collector.
func decodeOwnedRequest(buf []byte, typ byte, hdrLen int) (*Command, error) {
	if err := checkFrame(len(buf)+4, typ, hdrLen); err != nil {
		return nil, err
	}
	c := reqPool.Get().(*Command)
	c.reset(buf)
	if err := c.decode(buf, typ, hdrLen); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// reset clears c for reuse with buffer own. The inline field array is not
// cleared: stale entries alias own, which c keeps anyway.
func (c *Command) reset(own []byte) {
	c.Code, c.Language, c.Version, c.Opaque, c.Flag = 0, "", 0, 0, 0
	c.Remark, c.Body, c.SerializeType = "", nil, 0
	c.ext = nil
	c.own, c.pooled, c.kept, c.onLoop, c.held, c.decoded = own, true, false, false, 0, 0
	c.later.Store(laterNone)
}

// Keep tells the server that the handler keeps req (or strings or bytes
// taken from it) after it returns: the server then never reuses its
// memory. Later implies it. Only handlers registered with HandleScoped need
// to call it; it is harmless elsewhere.
func (c *Command) Keep() { c.kept = true }

// release returns a pooled, unkept request to the pool. The caller must be
// its last user.
func (c *Command) release() {
	if !c.pooled || c.kept {
		return
	}
	c.pooled = false
	if poisonReleased {
		for i := range c.own {
			c.own[i] = 0xA5
		}
		return
	}
	if cap(c.own) > maxPooledRequest {
		c.own = nil
		clear(c.inline[:]) // its stale strings would keep the buffer alive
	}
	c.reset(c.own)
	c.pooled = false
	reqPool.Put(c)
}

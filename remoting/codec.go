package remoting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// ErrBadFrame is wrapped by every decoding error: the bytes are not a
// remoting frame this package can read.
var ErrBadFrame = errors.New("remoting: bad frame")

// frameHeadLen is the frame length word plus the type/header-length word.
const frameHeadLen = 8

// maxHeaderLen is the largest header the 24-bit header length can describe.
const maxHeaderLen = 1<<24 - 1

// languages maps the ROCKETMQ header's language byte to its name (§3.3).
var languages = [...]string{
	"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER",
	"HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS",
}

const languageOther = 7

func languageName(b byte) string {
	if int(b) < len(languages) {
		return languages[b]
	}
	return languages[languageOther]
}

func languageByte(s string) byte {
	switch s {
	case "GO": // the common case first
		return 9
	case "JAVA":
		return 0
	}
	for i, name := range languages {
		if name == s {
			return byte(i)
		}
	}
	return languageOther
}

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadFrame}, args...)...)
}

// DecodeCommand decodes one whole frame, length prefix included. The result
// does not alias frame: header strings and body are copied into one new
// buffer that the Command's strings and Body share.
func DecodeCommand(frame []byte) (*Command, error) {
	if len(frame) < frameHeadLen {
		return nil, badFrame("frame of %d bytes is shorter than its %d-byte prefix", len(frame), frameHeadLen)
	}
	length := binary.BigEndian.Uint32(frame)
	if uint64(length) != uint64(len(frame)-4) {
		return nil, badFrame("length prefix %d does not match the %d bytes that follow it", length, len(frame)-4)
	}
	typ, hdrLen := splitTypeWord(binary.BigEndian.Uint32(frame[4:]))
	if err := checkFrame(int(length), typ, hdrLen); err != nil {
		return nil, err
	}
	src := frame[frameHeadLen:]
	buf := make([]byte, len(src)) // with the copy below: no zeroing
	copy(buf, src)
	return decodeOwned(buf, typ, hdrLen)
}

func splitTypeWord(w uint32) (typ byte, hdrLen int) {
	return byte(w >> 24), int(w & maxHeaderLen)
}

// checkFrame validates the two prefix words of a frame whose length word
// says length.
func checkFrame(length int, typ byte, hdrLen int) error {
	if typ != SerializeJSON && typ != SerializeRocketMQ {
		return badFrame("unknown header serialize type %d", typ)
	}
	if hdrLen > length-4 {
		return badFrame("header length %d runs past the frame end (%d bytes after the prefix)", hdrLen, length-4)
	}
	return nil
}

// decodeOwned decodes the header and body in buf (the frame without its
// 8-byte prefix) and keeps buf: the Command's strings alias it.
func decodeOwned(buf []byte, typ byte, hdrLen int) (*Command, error) {
	c := new(Command)
	if err := c.decode(buf, typ, hdrLen); err != nil {
		return nil, err
	}
	return c, nil
}

// decode fills the zero Command c from buf, which it keeps.
func (c *Command) decode(buf []byte, typ byte, hdrLen int) error {
	c.SerializeType = typ
	c.ext = c.inline[:0]
	hdr := buf[:hdrLen]
	var err error
	if typ == SerializeRocketMQ {
		err = c.decodeBinaryHeader(hdr)
	} else {
		err = c.decodeJSONHeader(hdr)
	}
	if err != nil {
		return err
	}
	if len(buf) > hdrLen {
		c.Body = buf[hdrLen:len(buf):len(buf)]
	}
	return nil
}

// bytesString returns a string aliasing b. The caller guarantees b is never
// written again.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Encode appends the whole frame, length prefix included, to dst. The
// header is written in c.SerializeType (JSON unless it is SerializeRocketMQ).
func (c *Command) Encode(dst []byte) []byte {
	// Grow as append does: a connection's batch takes many frames, and
	// growing it to the exact size each time copies it whole per frame.
	dst = slices.Grow(dst, c.headerSizeHint()+len(c.Body))
	dst = c.EncodeHeader(dst, len(c.Body))
	return append(dst, c.Body...)
}

// EncodeHeader appends the frame prefix and header for a body of bodyLen
// bytes that the caller writes after it; c.Body is not written.
func (c *Command) EncodeHeader(dst []byte, bodyLen int) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	typ := SerializeJSON
	if c.SerializeType == SerializeRocketMQ {
		typ = SerializeRocketMQ
		dst = c.appendBinaryHeader(dst)
	} else {
		dst = c.appendJSONHeader(dst)
	}
	hdrLen := len(dst) - start - frameHeadLen
	binary.BigEndian.PutUint32(dst[start:], uint32(4+hdrLen+bodyLen))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(typ)<<24|uint32(hdrLen)&maxHeaderLen)
	return dst
}

// headerSizeHint is a cheap upper-bound guess of the encoded header size.
func (c *Command) headerSizeHint() int {
	n := frameHeadLen + 128 + len(c.Language) + 2*len(c.Remark)
	for i := range c.ext {
		n += 8 + len(c.ext[i].Key) + len(c.ext[i].Value) + len(c.ext[i].Value)>>2
	}
	return n
}

// ROCKETMQ binary header (§3.3).

const binaryFixedLen = 21

func (c *Command) decodeBinaryHeader(h []byte) error {
	if len(h) < binaryFixedLen {
		return badFrame("binary header of %d bytes is shorter than its %d fixed bytes", len(h), binaryFixedLen)
	}
	c.Code = int32(int16(binary.BigEndian.Uint16(h)))
	c.Language = languageName(h[2])
	c.Version = int32(int16(binary.BigEndian.Uint16(h[3:])))
	c.Opaque = int32(binary.BigEndian.Uint32(h[5:]))
	c.Flag = int32(binary.BigEndian.Uint32(h[9:]))
	p := 13
	remarkLen := int32(binary.BigEndian.Uint32(h[p:]))
	p += 4
	if remarkLen < 0 || int(remarkLen) > len(h)-p {
		return badFrame("binary header remark length %d at offset %d runs past the %d-byte header", remarkLen, p-4, len(h))
	}
	c.Remark = bytesString(h[p : p+int(remarkLen)])
	p += int(remarkLen)
	if len(h)-p < 4 {
		return badFrame("binary header ends at offset %d before its ext length", p)
	}
	extLen := int32(binary.BigEndian.Uint32(h[p:]))
	p += 4
	if extLen < 0 || int(extLen) > len(h)-p {
		return badFrame("binary header ext length %d at offset %d runs past the %d-byte header", extLen, p-4, len(h))
	}
	ext := h[p : p+int(extLen)]
	if p+int(extLen) != len(h) {
		return badFrame("binary header has %d trailing bytes after its ext section", len(h)-p-int(extLen))
	}
	for q := 0; q < len(ext); {
		if len(ext)-q < 2 {
			return badFrame("binary ext entry at offset %d is cut short before its key length", p+q)
		}
		kl := int(int16(binary.BigEndian.Uint16(ext[q:])))
		q += 2
		if kl < 0 || kl > len(ext)-q {
			return badFrame("binary ext key length %d at offset %d runs past the ext section", kl, p+q-2)
		}
		key := ext[q : q+kl]
		q += kl
		if len(ext)-q < 4 {
			return badFrame("binary ext entry at offset %d is cut short before its value length", p+q)
		}
		vl := int32(binary.BigEndian.Uint32(ext[q:]))
		q += 4
		if vl < 0 || int(vl) > len(ext)-q {
			return badFrame("binary ext value length %d at offset %d runs past the ext section", vl, p+q-4)
		}
		c.ext = append(c.ext, Field{Key: bytesString(key), Value: bytesString(ext[q : q+int(vl)])})
		q += int(vl)
	}
	return nil
}

func (c *Command) appendBinaryHeader(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Code)))
	dst = append(dst, languageByte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Version)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for i := range c.ext {
		k, v := c.ext[i].Key, c.ext[i].Value
		if len(k) > math.MaxInt16 {
			k = k[:math.MaxInt16] // the key length is an int16 on the wire
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst
}

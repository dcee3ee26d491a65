package remoting

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// JSON header (§3.2). The parser works in place on the header bytes, which
// belong to the decoded Command: strings are unescaped where they lie (an
// escape is never shorter than what it stands for) and aliased.

// maxJSONDepth bounds the nesting of skipped unknown values.
const maxJSONDepth = 128

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return badFrame("JSON header at offset %d: "+format, append([]any{p.i}, args...)...)
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (p *jsonParser) next() byte {
	if p.i < len(p.b) && p.b[p.i] > ' ' { // compact JSON: no space to skip
		return p.b[p.i]
	}
	p.skipSpace()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// expect consumes ch, after white space.
func (p *jsonParser) expect(ch byte) error {
	if p.i < len(p.b) && p.b[p.i] == ch {
		p.i++
		return nil
	}
	return p.expectSlow(ch)
}

func (p *jsonParser) expectSlow(ch byte) error {
	if p.next() != ch {
		if p.i >= len(p.b) {
			return p.errorf("unexpected end, want %q", ch)
		}
		return p.errorf("unexpected %q, want %q", p.b[p.i], ch)
	}
	p.i++
	return nil
}

func (c *Command) decodeJSONHeader(h []byte) error {
	p := jsonParser{b: h}
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.next() == '}' {
		p.i++
		return p.end()
	}
	for {
		if p.next() != '"' {
			return p.errorf("want an object key")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		p.skipSpace()
		switch string(key) {
		case "code":
			c.Code, err = p.int32Field("code")
		case "language":
			c.Language, err = p.stringField("language")
		case "version":
			c.Version, err = p.int32Field("version")
		case "opaque":
			c.Opaque, err = p.int32Field("opaque")
		case "flag":
			c.Flag, err = p.int32Field("flag")
		case "remark":
			c.Remark, err = p.stringField("remark")
		case "extFields":
			err = p.extFields(c)
		default:
			err = p.skipValue(0)
		}
		if err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return p.end()
		default:
			return p.errorf("want ',' or '}' after the value of %q", key)
		}
	}
}

// end checks that only white space follows the header object.
func (p *jsonParser) end() error {
	p.skipSpace()
	if p.i != len(p.b) {
		return p.errorf("%d bytes of trailing data after the header object", len(p.b)-p.i)
	}
	return nil
}

// literal consumes word (true, false, null) at the current position.
func (p *jsonParser) literal(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *jsonParser) int32Field(name string) (int32, error) {
	if p.i < len(p.b) && p.b[p.i] == 'n' {
		if p.literal("null") {
			return 0, nil
		}
	}
	start := p.i
	lit, err := p.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(bytesString(lit), 10, 32)
	if err != nil {
		p.i = start
		return 0, p.errorf("%s %q is not a 32-bit integer", name, lit)
	}
	return int32(n), nil
}

func (p *jsonParser) stringField(name string) (string, error) {
	switch {
	case p.i < len(p.b) && p.b[p.i] == '"':
		s, err := p.str()
		return bytesString(s), err
	case p.literal("null"):
		return "", nil
	}
	return "", p.errorf("%s is not a string", name)
}

func (p *jsonParser) extFields(c *Command) error {
	if p.literal("null") {
		return nil
	}
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.next() == '}' {
		p.i++
		return nil
	}
	// The hot loop of the decoder: compact JSON takes the fast branches
	// with the position in a local; anything else falls back to the
	// general methods.
	b := p.b
	i := p.i
	for {
		if i >= len(b) || b[i] != '"' {
			p.i = i
			if p.next() != '"' {
				return p.errorf("want an extFields key")
			}
			i = p.i
		}
		key, next, ok := quickString(b, i)
		if !ok {
			var err error
			if key, next, err = p.slowString(i, next); err != nil {
				return err
			}
		}
		i = next
		if i < len(b) && b[i] == ':' {
			i++
		} else {
			p.i = i
			if err := p.expect(':'); err != nil {
				return err
			}
			i = p.i
		}
		if i < len(b) && b[i] == '"' {
			val, next, ok := quickString(b, i)
			if !ok {
				var err error
				if val, next, err = p.slowString(i, next); err != nil {
					return err
				}
			}
			i = next
			c.ext = append(c.ext, Field{Key: bytesString(key), Value: bytesString(val)})
		} else {
			p.i = i
			if err := p.otherExtValue(c, key); err != nil {
				return err
			}
			i = p.i
		}
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		p.i = i
		switch p.next() {
		case ',':
			i = p.i + 1
		case '}':
			p.i++
			return nil
		default:
			return p.errorf("want ',' or '}' in extFields")
		}
	}
}

// quickString returns the string whose opening quote is at b[i] if it has
// no escapes, and the position after its closing quote; otherwise ok is
// false and next is where the first backslash (or the end) is.
func quickString(b []byte, i int) (s []byte, next int, ok bool) {
	start := i + 1
	var end int
	if len(b)-start >= 8 { // most keys and many values end within a word
		v := binary.LittleEndian.Uint64(b[start:])
		if m := zeroLanes(v^('"'*lanes01)) | zeroLanes(v^('\\'*lanes01)); m != 0 {
			end = start + bits.TrailingZeros64(m)>>3
		} else {
			end = start + 8 + scanQuoteOrBackslash(b[start+8:])
		}
	} else {
		end = start + scanQuoteOrBackslash(b[start:])
	}
	if end < len(b) && b[end] == '"' {
		return b[start:end], end + 1, true
	}
	return nil, end, false
}

// slowString finishes the string at b[i] that quickString gave up on at
// stop (a backslash or the end).
func (p *jsonParser) slowString(i, stop int) ([]byte, int, error) {
	s, err := p.unescape(i+1, stop)
	return s, p.i, err
}

// otherExtValue reads an ext value that is not a string (or has white
// space before it): numbers and booleans keep their text, null is dropped.
func (p *jsonParser) otherExtValue(c *Command, key []byte) error {
	var val []byte
	var err error
	switch p.next() {
	case '"':
		val, err = p.str()
	case 't':
		val, err = p.keep("true")
	case 'f':
		val, err = p.keep("false")
	case 'n':
		if !p.literal("null") {
			return p.errorf("bad literal in the value of ext field %q", key)
		}
		return nil // Java omits null fields; so do we
	default:
		if p.i >= len(p.b) {
			return p.errorf("unexpected end in the value of ext field %q", key)
		}
		if ch := p.b[p.i]; ch != '-' && (ch < '0' || ch > '9') {
			return p.errorf("the value of ext field %q is not a string, number or boolean", key)
		}
		val, err = p.number()
	}
	if err != nil {
		return err
	}
	c.ext = append(c.ext, Field{Key: bytesString(key), Value: bytesString(val)})
	return nil
}

func (p *jsonParser) keep(word string) ([]byte, error) {
	start := p.i
	if !p.literal(word) {
		return nil, p.errorf("bad literal")
	}
	return p.b[start:p.i], nil
}

// number consumes a JSON number and returns its text.
func (p *jsonParser) number() ([]byte, error) {
	b, start := p.b, p.i
	i := p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		p.i = i
		return nil, p.errorf("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			p.i = i
			return nil, p.errorf("bad number fraction")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.i = i
			return nil, p.errorf("bad number exponent")
		}
	}
	p.i = i
	return b[start:i], nil
}

// str consumes a string starting at its opening quote and returns its
// unescaped contents, which overwrite the escaped text in place.
func (p *jsonParser) str() ([]byte, error) {
	b := p.b
	start := p.i + 1
	r := start + scanQuoteOrBackslash(b[start:])
	if r < len(b) && b[r] == '"' {
		p.i = r + 1
		return b[start:r], nil
	}
	return p.unescape(start, r)
}

// unescape finishes a string that starts at start and has its first
// backslash (or its premature end) at r. It moves the runs between escapes
// down over the bytes the escapes freed.
func (p *jsonParser) unescape(start, r int) ([]byte, error) {
	b := p.b
	w := r
	for {
		if r >= len(b) {
			p.i = r
			return nil, p.errorf("unterminated string")
		}
		if b[r] == '"' {
			p.i = r + 1
			return b[start:w], nil
		}
		// b[r] is a backslash.
		if r+1 >= len(b) {
			p.i = r
			return nil, p.errorf("unterminated escape")
		}
		esc := b[r+1]
		r += 2
		switch esc {
		case '"', '\\', '/':
			b[w] = esc
		case 'b':
			b[w] = '\b'
		case 'f':
			b[w] = '\f'
		case 'n':
			b[w] = '\n'
		case 'r':
			b[w] = '\r'
		case 't':
			b[w] = '\t'
		case 'u':
			ru, ok := hex4(b, r)
			if !ok {
				p.i = r
				return nil, p.errorf(`bad \u escape`)
			}
			r += 4
			if utf16IsHigh(ru) {
				if lo, ok := hex4(b, r+2); ok && b[r] == '\\' && b[r+1] == 'u' && utf16IsLow(lo) {
					ru = 0x10000 + (ru-0xD800)<<10 + (lo - 0xDC00)
					r += 6
				} else {
					ru = utf8.RuneError
				}
			} else if utf16IsLow(ru) {
				ru = utf8.RuneError
			}
			if ru < utf8.RuneSelf {
				b[w] = byte(ru)
				w++
			} else {
				w += utf8.EncodeRune(b[w:], ru)
			}
			w--
		default:
			p.i = r - 1
			return nil, p.errorf("bad escape %q", esc)
		}
		w++
		n := scanQuoteOrBackslash(b[r:])
		copy(b[w:], b[r:r+n])
		w += n
		r += n
	}
}

// SWAR constants: a byte repeated in every lane of a uint64.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// zeroLanes has the high bit set in (at least) the lowest lane of v that is
// zero; lanes above it may be false positives, so only the lowest set bit
// may be used.
func zeroLanes(v uint64) uint64 { return (v - lanes01) &^ v & lanes80 }

// scanQuoteOrBackslash returns the index of the first '"' or '\\' in b, or
// len(b).
func scanQuoteOrBackslash(b []byte) int {
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if m := zeroLanes(v^('"'*lanes01)) | zeroLanes(v^('\\'*lanes01)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return i
}

// scanEscapable returns the index of the first byte of s that a JSON string
// cannot hold verbatim (control, '"', '\\'), or len(s).
func scanEscapable(s string) int {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// (v - 0x20 in every lane) &^ v flags lanes below 0x20, lowest first.
		m := (v-0x20*lanes01)&^v&lanes80 | zeroLanes(v^('"'*lanes01)) | zeroLanes(v^('\\'*lanes01))
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s); i++ {
		if needsEscape[s[i]] {
			return i
		}
	}
	return i
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func utf16IsLow(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }

func hex4(b []byte, at int) (rune, bool) {
	if at < 0 || len(b)-at < 4 {
		return 0, false
	}
	var r rune
	for _, ch := range b[at : at+4] {
		switch {
		case ch >= '0' && ch <= '9':
			ch -= '0'
		case ch >= 'a' && ch <= 'f':
			ch -= 'a' - 10
		case ch >= 'A' && ch <= 'F':
			ch -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(ch)
	}
	return r, true
}

// skipValue consumes any JSON value, checking its syntax.
func (p *jsonParser) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return p.errorf("values nested deeper than %d", maxJSONDepth)
	}
	switch p.next() {
	case '"':
		_, err := p.skipString()
		return err
	case '{':
		p.i++
		if p.next() == '}' {
			p.i++
			return nil
		}
		for {
			if p.next() != '"' {
				return p.errorf("want an object key")
			}
			if _, err := p.skipString(); err != nil {
				return err
			}
			if err := p.expect(':'); err != nil {
				return err
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			switch p.next() {
			case ',':
				p.i++
			case '}':
				p.i++
				return nil
			default:
				return p.errorf("want ',' or '}'")
			}
		}
	case '[':
		p.i++
		if p.next() == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			switch p.next() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.errorf("want ',' or ']'")
			}
		}
	case 't':
		if p.literal("true") {
			return nil
		}
	case 'f':
		if p.literal("false") {
			return nil
		}
	case 'n':
		if p.literal("null") {
			return nil
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, err := p.number()
		return err
	case 0:
		return p.errorf("unexpected end, want a value")
	}
	return p.errorf("unexpected %q, want a value", p.b[p.i])
}

// skipString consumes a string without unescaping it (unknown keys keep
// their bytes untouched).
func (p *jsonParser) skipString() (int, error) {
	for i := p.i + 1; i < len(p.b); i++ {
		switch p.b[i] {
		case '"':
			p.i = i + 1
			return i, nil
		case '\\':
			i++
		}
	}
	p.i = len(p.b)
	return 0, p.errorf("unterminated string")
}

// Encoding.

// needsEscape marks the bytes that a JSON string cannot hold verbatim.
var needsEscape = func() (t [256]bool) {
	for i := range 0x20 {
		t[i] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	if n := len(dst); len(s) <= 32 && cap(dst)-n >= len(s)+2 {
		// Short strings: check and copy in one pass, in place.
		d := dst[n : n+len(s)+2]
		for i := 0; i < len(s); i++ {
			ch := s[i]
			if needsEscape[ch] {
				return appendJSONStringSlow(dst, s)
			}
			d[i+1] = ch
		}
		d[0], d[len(s)+1] = '"', '"'
		return dst[:n+len(s)+2]
	}
	return appendJSONStringSlow(dst, s)
}

func appendJSONStringSlow(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for {
		i := scanEscapable(s)
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return append(dst, '"')
		}
		switch ch := s[i]; ch {
		case '"', '\\':
			dst = append(dst, '\\', ch)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xF])
		}
		s = s[i+1:]
	}
}

func (c *Command) appendJSONHeader(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	dst = appendJSONString(dst, c.Language)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	for i := range c.ext {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, c.ext[i].Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, c.ext[i].Value)
	}
	return append(dst, '}', '}')
}

package remoting

import (
	"fmt"
	"strconv"
	"sync/atomic"
)

// Header serialization types (the high byte of the frame's second word).
const (
	SerializeJSON     byte = 0
	SerializeRocketMQ byte = 1
)

// Flag bits.
const (
	FlagResponse int32 = 1 << 0
	FlagOneway   int32 = 1 << 1
)

// Version is the protocol version we put in the frames we originate
// (RocketMQ V4_9_4 ordinal). Peers only check that it is not negative.
const Version = 401

// Field is one extFields entry. Keys and values are always strings on the
// wire.
type Field struct {
	Key, Value string
}

// inlineFields is how many ext fields a Command holds without allocating.
// SEND_MESSAGE_V2 from a Java producer carries 15.
const inlineFields = 20

// Command is one remoting frame: a request or a response.
//
// A decoded Command owns its memory: its strings and Body point into one
// buffer copied out of the connection's input, so it stays valid after the
// frame is discarded. Strings taken from a decoded Command must be treated as
// immutable; they alias that buffer.
type Command struct {
	Code     int32
	Language string // "GO", "JAVA", …
	Version  int32
	Opaque   int32
	Flag     int32
	Remark   string
	Body     []byte

	// SerializeType is the header encoding the frame arrived in (or is to
	// be written in). Responses use the type of their request.
	SerializeType byte

	ext    []Field
	inline [inlineFields]Field

	// Requests a server decodes into pooled memory (see HandleScoped).
	own    []byte // the buffer the strings and Body alias
	pooled bool   // own and the Command go back to the pool on release
	kept   bool   // the handler keeps the request past its return
	onLoop bool   // an inline handler is running on the event loop
	held   int64  // bytes counted against the server's request budget (flow.go)
	// decoded is when the server decoded the request (monoNow), for
	// ServerConfig.Observe; 0 when it is not timed.
	decoded int64

	later atomic.Int32 // laterNone, laterPending, laterAnswered: see Later
}

// OnLoop reports whether the handler serving this request runs on the
// server's event loop (HandleInline), where it must not block.
func (c *Command) OnLoop() bool { return c.onLoop }

// NewRequest returns a request with the given code and ext fields (key,
// value pairs).
func NewRequest(code int32, kv ...string) *Command {
	c := &Command{Code: code, Language: "GO", Version: Version}
	for i := 0; i+1 < len(kv); i += 2 {
		c.SetExt(kv[i], kv[i+1])
	}
	return c
}

// NewResponse returns a response to req with the given code and remark:
// same opaque, same header type, the response flag set.
func NewResponse(req *Command, code int32, remark string) *Command {
	return &Command{
		Code:          code,
		Language:      "GO",
		Version:       Version,
		Opaque:        req.Opaque,
		Flag:          FlagResponse,
		Remark:        remark,
		SerializeType: req.SerializeType,
	}
}

// Errorf returns a response to req with the given code and a formatted remark.
func Errorf(req *Command, code int32, format string, args ...any) *Command {
	return NewResponse(req, code, fmt.Sprintf(format, args...))
}

// IsResponse reports whether the response flag is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the sender asked for no answer.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// Fields returns the ext fields in their order. The slice must not be
// modified.
func (c *Command) Fields() []Field { return c.ext }

// Ext returns the value of ext field key and whether it is present. A
// decoded header that repeats a key yields the last value, as JSON decoders
// into a map do.
func (c *Command) Ext(key string) (string, bool) {
	for i := len(c.ext) - 1; i >= 0; i-- {
		if c.ext[i].Key == key {
			return c.ext[i].Value, true
		}
	}
	return "", false
}

// ExtValue returns the value of ext field key, or "" if it is absent.
func (c *Command) ExtValue(key string) string {
	v, _ := c.Ext(key)
	return v
}

// SetExt sets ext field key to value, replacing an existing value.
func (c *Command) SetExt(key, value string) {
	for i := len(c.ext) - 1; i >= 0; i-- {
		if c.ext[i].Key == key {
			c.ext[i].Value = value
			return
		}
	}
	if c.ext == nil {
		c.ext = c.inline[:0]
	}
	c.ext = append(c.ext, Field{key, value})
}

// SetExtInt sets ext field key to the decimal form of v.
func (c *Command) SetExtInt(key string, v int64) {
	c.SetExt(key, strconv.FormatInt(v, 10))
}

// FieldError says which ext field of a request is missing or malformed. The
// broker turns it into a response whose remark is Error().
type FieldError struct {
	Key    string
	Value  string
	Reason string // "missing", "not an integer", …
}

func (e *FieldError) Error() string {
	if e.Reason == "missing" {
		return fmt.Sprintf("the request lacks ext field %q", e.Key)
	}
	return fmt.Sprintf("ext field %s=%q is %s", e.Key, e.Value, e.Reason)
}

// String returns the ext field key, or a *FieldError if it is absent.
func (c *Command) String(key string) (string, error) {
	v, ok := c.Ext(key)
	if !ok {
		return "", &FieldError{Key: key, Reason: "missing"}
	}
	return v, nil
}

// Int64 parses ext field key as a decimal int64.
func (c *Command) Int64(key string) (int64, error) {
	v, ok := c.Ext(key)
	if !ok {
		return 0, &FieldError{Key: key, Reason: "missing"}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &FieldError{Key: key, Value: v, Reason: "not an integer"}
	}
	return n, nil
}

// Int32 parses ext field key as a decimal int32.
func (c *Command) Int32(key string) (int32, error) {
	v, ok := c.Ext(key)
	if !ok {
		return 0, &FieldError{Key: key, Reason: "missing"}
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, &FieldError{Key: key, Value: v, Reason: "not a 32-bit integer"}
	}
	return int32(n), nil
}

// Int64Or parses ext field key, returning def when it is absent or empty.
func (c *Command) Int64Or(key string, def int64) (int64, error) {
	if v, ok := c.Ext(key); !ok || v == "" {
		return def, nil
	}
	return c.Int64(key)
}

// Int32Or parses ext field key, returning def when it is absent or empty.
func (c *Command) Int32Or(key string, def int32) (int32, error) {
	if v, ok := c.Ext(key); !ok || v == "" {
		return def, nil
	}
	return c.Int32(key)
}

// Bool parses ext field key as "true"/"false" (Java's Boolean.parseBoolean:
// anything but a case-insensitive "true" is false). Absent is false.
func (c *Command) Bool(key string) bool {
	v, _ := c.Ext(key)
	return len(v) == 4 && (v[0]|0x20) == 't' && (v[1]|0x20) == 'r' && (v[2]|0x20) == 'u' && (v[3]|0x20) == 'e'
}

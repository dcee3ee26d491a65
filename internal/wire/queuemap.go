package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// MessageQueue is RocketMQ's MessageQueue: the key of the per-queue tables
// of the admin bodies (ConsumeStats, TopicStatsTable, ResetOffsetBody).
type MessageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

// QueueValue is one entry of a Map<MessageQueue, V>: the queue and the
// value's JSON.
type QueueValue struct {
	Queue MessageQueue
	Value json.RawMessage
}

// AppendQueueMap appends a Map<MessageQueue, V> as fastjson writes it, with
// each key an object (not valid JSON, but what Java's decoders and the
// official Go client's reset-offset parser read):
//
//	{{"brokerName":"b","queueId":0,"topic":"T"}:V,…}
//
// Each entry's Value must be valid JSON.
func AppendQueueMap(dst []byte, entries []QueueValue) []byte {
	dst = append(dst, '{')
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"brokerName":`...)
		dst = appendJSONString(dst, e.Queue.BrokerName)
		dst = append(dst, `,"queueId":`...)
		dst = strconv.AppendInt(dst, int64(e.Queue.QueueID), 10)
		dst = append(dst, `,"topic":`...)
		dst = appendJSONString(dst, e.Queue.Topic)
		dst = append(dst, "}:"...)
		dst = append(dst, e.Value...)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// ObjectField returns the JSON of the top-level field name of the object
// in b, which may hold fastjson's object-keyed maps anywhere (see
// ParseQueueMap). It reports false when the object has no such field.
func ObjectField(b []byte, name string) (json.RawMessage, bool, error) {
	s := lenient{b: b}
	if err := s.expect('{'); err != nil {
		return nil, false, err
	}
	var found json.RawMessage
	err := s.members('}', func(key []byte) error {
		start := s.skipSpace()
		if err := s.skip(0); err != nil {
			return err
		}
		var k string
		if err := json.Unmarshal(key, &k); err == nil && k == name && found == nil {
			found = json.RawMessage(b[start:s.i])
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if err := s.end(); err != nil {
		return nil, false, err
	}
	return found, found != nil, nil
}

// ParseQueueMap reads a Map<MessageQueue, V> in either of the forms Java
// writes: fastjson's object with object keys (AppendQueueMap), or gson's
// array of [key, value] pairs. Values are returned as they are; keys must
// be MessageQueue objects.
func ParseQueueMap(b []byte) ([]QueueValue, error) {
	s := lenient{b: b}
	var out []QueueValue
	add := func(key []byte) error {
		var q MessageQueue
		if err := json.Unmarshal(key, &q); err != nil {
			return fmt.Errorf("wire: queue map key %.60q: %w", key, err)
		}
		start := s.skipSpace()
		if err := s.skip(0); err != nil {
			return err
		}
		out = append(out, QueueValue{Queue: q, Value: json.RawMessage(b[start:s.i])})
		return nil
	}
	var err error
	switch s.peek() {
	case '{':
		s.i++
		err = s.members('}', add)
	case '[':
		s.i++
		err = s.list(']', func() error {
			if err := s.expect('['); err != nil {
				return err
			}
			start := s.skipSpace()
			if err := s.skip(0); err != nil {
				return err
			}
			key := b[start:s.i]
			if err := s.expect(','); err != nil {
				return err
			}
			if err := add(key); err != nil {
				return err
			}
			return s.expect(']')
		})
	default:
		return nil, s.errorf("want a queue map ({…} or […])")
	}
	if err != nil {
		return nil, err
	}
	return out, s.end()
}

// lenient scans JSON whose object keys may be any value (fastjson's maps
// with object keys) and whose integer keys may be bare.
type lenient struct {
	b []byte
	i int
}

// maxLenientDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxLenientDepth = 64

func (s *lenient) errorf(format string, args ...any) error {
	return fmt.Errorf("wire: JSON at byte %d: "+format, append([]any{s.i}, args...)...)
}

// skipSpace skips white space and returns the position reached.
func (s *lenient) skipSpace() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

func (s *lenient) peek() byte {
	if s.skipSpace() < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *lenient) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("want %q", c)
	}
	s.i++
	return nil
}

func (s *lenient) end() error {
	if s.skipSpace() != len(s.b) {
		return s.errorf("trailing bytes")
	}
	return nil
}

// members reads object members up to close, after the opening brace: for
// each it reads the key (any value) and the colon, and calls fn, which
// must consume the value.
func (s *lenient) members(close byte, fn func(key []byte) error) error {
	return s.list(close, func() error {
		start := s.skipSpace()
		if err := s.skip(0); err != nil {
			return err
		}
		key := s.b[start:s.i]
		if err := s.expect(':'); err != nil {
			return err
		}
		return fn(key)
	})
}

// list calls item for each comma-separated item up to close.
func (s *lenient) list(close byte, item func() error) error {
	if s.peek() == close {
		s.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case close:
			s.i++
			return nil
		default:
			return s.errorf("want ',' or %q", close)
		}
	}
}

// skip moves past one value.
func (s *lenient) skip(depth int) error {
	if depth > maxLenientDepth {
		return s.errorf("nested deeper than %d", maxLenientDepth)
	}
	switch c := s.peek(); {
	case c == '{':
		s.i++
		return s.members('}', func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		return s.list(']', func() error { return s.skip(depth + 1) })
	case c == '"':
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '\\':
				s.i += 2
				continue
			case '"':
				s.i++
				return nil
			}
			s.i++
		}
		s.i = len(s.b)
		return s.errorf("unterminated string")
	default:
		start := s.i
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				s.i++
				continue
			}
			break
		}
		if s.i == start {
			return s.errorf("want a value")
		}
		return nil
	}
}

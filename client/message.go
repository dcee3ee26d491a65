package client

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// Message is what a producer sends.
type Message struct {
	Topic string // may be left empty for SendTo, SendAsync and SendBatch: the queue names it
	Body  []byte
	Tags  string   // the TAGS property, used for filtering
	Keys  []string // the KEYS property, joined by one space
	// Properties are user properties. Names and values must not contain
	// 0x01 or 0x02. TAGS and KEYS here are overridden by the fields; a
	// UNIQ_KEY here is sent as is instead of a generated one.
	Properties map[string]string
	Flag       int32 // stored verbatim
}

// MessageQueue names one queue of a topic on one broker group.
type MessageQueue struct {
	Topic, BrokerName string
	QueueID           int
}

func (q MessageQueue) String() string {
	return q.Topic + "@" + q.BrokerName + "/" + strconv.Itoa(q.QueueID)
}

// MessageExt is a stored message as a consumer reads it. Properties holds
// every stored property, TAGS, KEYS and UNIQ_KEY included; Tags and Keys are
// filled from them.
type MessageExt struct {
	Message
	MsgID           string // UNIQ_KEY, else OffsetMsgID
	OffsetMsgID     string // store host + commit-log offset, 32 hex digits for IPv4
	QueueID         int32
	QueueOffset     int64
	CommitLogOffset int64
	SysFlag         int32
	BornTimestamp   int64 // ms
	StoreTimestamp  int64 // ms
	BornHost        string
	StoreHost       string
	ReconsumeTimes  int32
	BodyCRC         int32
}

// Property names (REMOTING.md §6.5).
const (
	propTags    = "TAGS"
	propKeys    = "KEYS"
	propUniqKey = "UNIQ_KEY"
)

const (
	maxProps = wire.MaxPropertiesLen
	maxTopic = wire.MaxTopicLenV1
)

// appendProperties appends m's properties in the wire form (name 0x01
// value 0x02, repeated) to dst, with a UNIQ_KEY from ids unless m has one.
// It returns where the UNIQ_KEY value lies in the result.
func appendProperties(dst []byte, m *Message, ids *uniqIDs) (out []byte, idFrom, idTo int, err error) {
	start := len(dst)
	idFrom, idTo = -1, -1
	if m.Tags != "" {
		if err := checkProperty(propTags, m.Tags); err != nil {
			return dst, 0, 0, err
		}
		dst = wire.AppendProperty(dst, propTags, m.Tags)
	}
	if len(m.Keys) > 0 {
		dst = append(dst, propKeys...)
		dst = append(dst, wire.NameSeparator)
		for i, k := range m.Keys {
			if err := checkProperty(propKeys, k); err != nil {
				return dst, 0, 0, err
			}
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, k...)
		}
		dst = append(dst, wire.PairSeparator)
	}
	for k, v := range m.Properties {
		if (k == propTags && m.Tags != "") || (k == propKeys && len(m.Keys) > 0) {
			continue
		}
		if err := checkProperty(k, v); err != nil {
			return dst, 0, 0, err
		}
		if k == propUniqKey {
			idFrom = len(dst) + len(k) + 1
			idTo = idFrom + len(v)
		}
		dst = wire.AppendProperty(dst, k, v)
	}
	if idFrom < 0 && ids != nil {
		dst = append(dst, propUniqKey...)
		dst = append(dst, wire.NameSeparator)
		idFrom = len(dst)
		dst = ids.append(dst)
		idTo = len(dst)
		dst = append(dst, wire.PairSeparator)
	}
	if n := len(dst) - start; n > maxProps {
		return dst, 0, 0, fmt.Errorf("properties of %d bytes, over the %d-byte limit: %w", n, maxProps, ErrInvalidMessage)
	}
	return dst, idFrom, idTo, nil
}

func checkProperty(k, v string) error {
	if k == "" {
		return fmt.Errorf("property with an empty name: %w", ErrInvalidMessage)
	}
	if !wire.ValidProperty(k, v) {
		return fmt.Errorf("property %q holds byte 0x01 or 0x02: %w", k, ErrInvalidMessage)
	}
	return nil
}

func checkTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("empty topic: %w", ErrInvalidMessage)
	}
	if len(topic) > maxTopic {
		return fmt.Errorf("topic of %d bytes, over the %d-byte limit: %w", len(topic), maxTopic, ErrInvalidMessage)
	}
	return nil
}

// uniqIDs makes UNIQ_KEY values: 32 upper-case hex digits of 16 bytes,
//
//	| IPv4 4 | random 4 | counter 8 |
//
// The random part is drawn per generator (per producer); the counter
// starts at the creation time in nanoseconds and counts up, so ids do not
// repeat within a generator, across producers of a process (different
// random parts) or across restarts (later start). Lock-free.
type uniqIDs struct {
	prefix [16]byte // hex of the address and random part
	n      atomic.Uint64
}

func newUniqIDs(ip net.IP) *uniqIDs {
	var raw [8]byte
	copy(raw[:4], ip.To4())
	if _, err := rand.Read(raw[4:]); err != nil {
		// crypto/rand does not fail on supported systems; fall back to the pid
		// and the clock rather than give up.
		binary.BigEndian.PutUint32(raw[4:], uint32(os.Getpid())<<16^uint32(time.Now().UnixNano()))
	}
	g := &uniqIDs{}
	wire.AppendHexUpper(g.prefix[:0], raw[:])
	g.n.Store(uint64(time.Now().UnixNano()))
	return g
}

func (g *uniqIDs) append(dst []byte) []byte {
	n := g.n.Add(1)
	dst = append(dst, g.prefix[:]...)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return wire.AppendHexUpper(dst, b[:])
}

func (g *uniqIDs) next() string { return string(g.append(make([]byte, 0, 32))) }

// localIPv4 returns the first non-loopback IPv4 address of the host, or
// 127.0.0.1.
func localIPv4() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				if ip4 := n.IP.To4(); ip4 != nil {
					return ip4
				}
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

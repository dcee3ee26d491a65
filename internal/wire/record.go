package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"slices"
)

// Errors of ParseRecord. ErrCorrupt is returned wrapped with what was wrong;
// ErrBlank and ErrIncomplete are returned as they are.
var (
	ErrCorrupt    = errors.New("wire: corrupt record")
	ErrBlank      = errors.New("wire: blank end-of-segment record")
	ErrIncomplete = errors.New("wire: incomplete record")
)

// Record magic codes.
const (
	MagicV1    uint32 = 0xDAA320A7 // 1-byte topic length
	MagicV2    uint32 = 0xDAA320AB // 2-byte topic length (RocketMQ 5)
	MagicBlank uint32 = 0xCBD43194 // end-of-segment filler in commit-log files
)

// Record sizes.
const (
	// BlankLen is the length of a blank record's header, the least room a
	// segment can end with.
	BlankLen = 8
	// FixedLen is a V1 record's length with two IPv4 hosts and empty body,
	// topic and properties. An IPv6 host adds V6HostExtra; V2 adds one byte.
	FixedLen    = 91
	V6HostExtra = 12
	// MaxTopicLenV1 is the longest topic a V1 record holds: Java reads its
	// length as a signed byte.
	MaxTopicLenV1 = 127
	// MaxPropertiesLen is the longest properties string (a signed int16).
	MaxPropertiesLen = math.MaxInt16
)

// Bits of a record's sysFlag (REMOTING.md §6.3).
const (
	SysFlagCompressed      int32 = 0x1
	SysFlagTxMask          int32 = 0xC
	SysFlagTxPrepared      int32 = 0x4
	SysFlagTxCommit        int32 = 0x8
	SysFlagTxRollback      int32 = 0xC
	SysFlagBornHostV6      int32 = 0x10
	SysFlagStoreHostV6     int32 = 0x20
	SysFlagCompressionMask int32 = 0x700 // RocketMQ 5: 0x100 LZ4, 0x200 ZSTD, 0x300 zlib; 0 means zlib
	SysFlagCompressionZlib int32 = 0x300
)

// Positions of the fields before the born host, the first that moves.
const (
	PosMagic       = 4
	PosQueueOffset = 20
	PosPhysOffset  = 28
	PosSysFlag     = 36
	PosBornHost    = 48
)

// HostLen is the stored length of a host: address and port.
func HostLen(v6 bool) int {
	if v6 {
		return 20
	}
	return 8
}

// BodyCRC is the body checksum a record stores.
func BodyCRC(body []byte) uint32 { return crc32.ChecksumIEEE(body) & 0x7FFFFFFF }

// RecordView is a parsed record whose variable fields alias the parsed
// buffer. Parsing into a view does not allocate.
type RecordView struct {
	Size                      int // totalSize
	Magic                     uint32
	BodyCRC                   uint32
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysOffset                int64
	SysFlag                   int32
	BornTimestamp             int64
	StoreTimestamp            int64
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	BornHost, StoreHost       []byte // as stored: address (4 or 16 bytes), then port (4)
	Body, Topic, Properties   []byte
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ParseRecord parses the record at b[0:] (bytes after it are not looked at);
// see RecordView.Parse.
func ParseRecord(b []byte) (RecordView, error) {
	var v RecordView
	err := v.Parse(b)
	return v, err
}

// Parse parses the record at b[0:] into v (bytes after it are not looked at).
// It checks the magic, that the lengths add up to totalSize, and that both
// ports fit 16 bits; it does not check the body CRC (BodyCRC). It returns
// ErrIncomplete when b holds fewer than 8 bytes, or a plausible totalSize
// larger than len(b) (v.Size and v.Magic are set); ErrBlank for a blank
// record (v.Size is its length); an error wrapping ErrCorrupt otherwise.
// The other fields of v are meaningful only without an error. Parse does not
// allocate, and a hot loop may keep v on its stack rather than copy a
// returned view.
func (v *RecordView) Parse(b []byte) error {
	if len(b) < BlankLen {
		v.Size, v.Magic = 0, 0
		return ErrIncomplete
	}
	size := int32(binary.BigEndian.Uint32(b))
	v.Magic = binary.BigEndian.Uint32(b[PosMagic:])
	topicLenSize := 1
	switch v.Magic {
	case MagicV1:
	case MagicV2:
		topicLenSize = 2
	case MagicBlank:
		if size < BlankLen {
			return corrupt("blank record of %d bytes", size)
		}
		v.Size = int(size)
		return ErrBlank
	default:
		return corrupt("magic %#08x", v.Magic)
	}
	if int(size) < FixedLen+topicLenSize-1 {
		return corrupt("total size %d", size)
	}
	v.Size = int(size)
	if v.Size > len(b) {
		return ErrIncomplete
	}
	r := b[:size]
	v.SysFlag = int32(binary.BigEndian.Uint32(r[PosSysFlag:]))
	bornLen := HostLen(v.SysFlag&SysFlagBornHostV6 != 0)
	storeLen := HostLen(v.SysFlag&SysFlagStoreHostV6 != 0)
	fixed := FixedLen - 16 + bornLen + storeLen + topicLenSize - 1
	if v.Size < fixed {
		return corrupt("total size %d below %d", size, fixed)
	}
	v.BodyCRC = binary.BigEndian.Uint32(r[8:])
	v.QueueID = int32(binary.BigEndian.Uint32(r[12:]))
	v.Flag = int32(binary.BigEndian.Uint32(r[16:]))
	v.QueueOffset = int64(binary.BigEndian.Uint64(r[PosQueueOffset:]))
	v.PhysOffset = int64(binary.BigEndian.Uint64(r[PosPhysOffset:]))
	v.BornTimestamp = int64(binary.BigEndian.Uint64(r[40:]))
	p := PosBornHost
	v.BornHost = r[p : p+bornLen : p+bornLen]
	p += bornLen
	v.StoreTimestamp = int64(binary.BigEndian.Uint64(r[p:]))
	p += 8
	v.StoreHost = r[p : p+storeLen : p+storeLen]
	p += storeLen
	if !validPort(v.BornHost) || !validPort(v.StoreHost) {
		return corrupt("port %d or %d", be32(v.BornHost[bornLen-4:]), be32(v.StoreHost[storeLen-4:]))
	}
	v.ReconsumeTimes = int32(binary.BigEndian.Uint32(r[p:]))
	v.PreparedTransactionOffset = int64(binary.BigEndian.Uint64(r[p+4:]))
	p += 12
	// The variable part: every length is checked against what is left.
	left := v.Size - fixed
	bodyLen := int(be32(r[p:]))
	p += 4
	if bodyLen < 0 || bodyLen > left {
		return corrupt("body length %d", bodyLen)
	}
	v.Body = r[p : p+bodyLen : p+bodyLen]
	p += bodyLen
	left -= bodyLen
	var topicLen int
	if topicLenSize == 1 {
		topicLen = int(r[p])
		if topicLen > MaxTopicLenV1 {
			return corrupt("topic length %d", topicLen)
		}
	} else {
		topicLen = int(int16(binary.BigEndian.Uint16(r[p:])))
	}
	p += topicLenSize
	if topicLen < 0 || topicLen > left {
		return corrupt("topic length %d", topicLen)
	}
	v.Topic = r[p : p+topicLen : p+topicLen]
	p += topicLen
	left -= topicLen
	propsLen := int(int16(binary.BigEndian.Uint16(r[p:])))
	p += 2
	if propsLen < 0 || propsLen != left {
		return corrupt("properties length %d, %d bytes left", propsLen, left)
	}
	v.Properties = r[p : p+propsLen : p+propsLen]
	return nil
}

func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }

func validPort(host []byte) bool {
	port := be32(host[len(host)-4:])
	return port >= 0 && port <= math.MaxUint16
}

// HostAddrPort returns a stored host (see RecordView) as an address and
// port. A 16-byte address stays a 16-byte one, IPv4-mapped or not.
func HostAddrPort(host []byte) netip.AddrPort {
	var a netip.Addr
	if len(host) == 20 {
		a = netip.AddrFrom16([16]byte(host[:16]))
	} else {
		a = netip.AddrFrom4([4]byte(host[:4]))
	}
	return netip.AddrPortFrom(a, uint16(binary.BigEndian.Uint32(host[len(host)-4:])))
}

// Record is one decoded record, in Go types.
type Record struct {
	TotalSize                 int32 // set when decoded; Encode computes it
	BodyCRC                   uint32
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysOffset                int64
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Topic                     string
	Properties                string
}

// Record returns v in Go types. Body aliases the parsed buffer; Topic and
// Properties are copies.
func (v *RecordView) Record() Record {
	return Record{
		TotalSize:                 int32(v.Size),
		BodyCRC:                   v.BodyCRC,
		QueueID:                   v.QueueID,
		Flag:                      v.Flag,
		QueueOffset:               v.QueueOffset,
		PhysOffset:                v.PhysOffset,
		SysFlag:                   v.SysFlag,
		BornTimestamp:             v.BornTimestamp,
		BornHost:                  HostAddrPort(v.BornHost),
		StoreTimestamp:            v.StoreTimestamp,
		StoreHost:                 HostAddrPort(v.StoreHost),
		ReconsumeTimes:            v.ReconsumeTimes,
		PreparedTransactionOffset: v.PreparedTransactionOffset,
		Body:                      v.Body,
		Topic:                     string(v.Topic),
		Properties:                string(v.Properties),
	}
}

// needsV6 reports whether a host needs the 16-byte address form. The zero
// AddrPort is written as 0.0.0.0:0.
func needsV6(ap netip.AddrPort) bool {
	a := ap.Addr()
	return a.Is6() && !a.Is4In6()
}

// HostFlags returns sysFlag with the IPv6 host bits set for exactly the
// hosts that need a 16-byte address.
func HostFlags(sysFlag int32, born, store netip.AddrPort) int32 {
	sysFlag &^= SysFlagBornHostV6 | SysFlagStoreHostV6
	if needsV6(born) {
		sysFlag |= SysFlagBornHostV6
	}
	if needsV6(store) {
		sysFlag |= SysFlagStoreHostV6
	}
	return sysFlag
}

// hostFlags returns r.SysFlag with the IPv6 host bits Put writes: set for
// hosts whose bit is set (so that a decoded record encodes back to the same
// bytes) or that need 16 bytes.
func (r *Record) hostFlags() int32 {
	sysFlag := r.SysFlag
	if needsV6(r.BornHost) {
		sysFlag |= SysFlagBornHostV6
	}
	if needsV6(r.StoreHost) {
		sysFlag |= SysFlagStoreHostV6
	}
	return sysFlag
}

// Len returns the length of r's encoding.
func (r *Record) Len() int {
	return RecordLen(r.hostFlags(), len(r.Body), len(r.Topic), len(r.Properties))
}

// RecordLen is the length of a V1 record whose sysFlag has these host bits
// and whose body, topic and properties have these lengths.
func RecordLen(sysFlag int32, bodyLen, topicLen, propertiesLen int) int {
	n := FixedLen + bodyLen + topicLen + propertiesLen
	if sysFlag&SysFlagBornHostV6 != 0 {
		n += V6HostExtra
	}
	if sysFlag&SysFlagStoreHostV6 != 0 {
		n += V6HostExtra
	}
	return n
}

// Put writes r into b[:r.Len()] in the V1 layout. TotalSize and the host
// bits of sysFlag are computed; BodyCRC is written as it is. Put neither
// checks nor truncates: a topic over MaxTopicLenV1 bytes, properties over
// MaxPropertiesLen or a record over 2 GiB do not fit, and the caller must
// refuse them (records are only read in the V2 layout).
func (r *Record) Put(b []byte) {
	sysFlag := r.hostFlags()
	size := RecordLen(sysFlag, len(r.Body), len(r.Topic), len(r.Properties))
	b = b[:size]
	PutHeader(b, size, r.BodyCRC, r.QueueID, r.Flag, r.QueueOffset, r.PhysOffset, sysFlag, r.BornTimestamp)
	p := PutHosts(b, sysFlag, r.BornHost, r.StoreTimestamp, r.StoreHost)
	PutTail(b, p, r.ReconsumeTimes, r.PreparedTransactionOffset, r.Body, r.Topic, r.Properties)
}

// PutHeader, PutHosts and PutTail are the pieces of Put, in layout order,
// for a caller that holds the fields elsewhere: the commit log's appender
// writes records straight from its messages. b holds the record's
// RecordLen(sysFlag, …) bytes and sysFlag carries the host bits
// (HostFlags). PutHeader and PutTail inline.

// PutHeader writes the fields before the born host.
func PutHeader(b []byte, size int, bodyCRC uint32, queueID, flag int32, queueOffset, physOffset int64, sysFlag int32, bornTimestamp int64) {
	_ = b[PosBornHost-1]
	binary.BigEndian.PutUint32(b[0:], uint32(size))
	binary.BigEndian.PutUint32(b[4:], MagicV1)
	binary.BigEndian.PutUint32(b[8:], bodyCRC)
	binary.BigEndian.PutUint32(b[12:], uint32(queueID))
	binary.BigEndian.PutUint32(b[16:], uint32(flag))
	binary.BigEndian.PutUint64(b[20:], uint64(queueOffset))
	binary.BigEndian.PutUint64(b[28:], uint64(physOffset))
	binary.BigEndian.PutUint32(b[36:], uint32(sysFlag))
	binary.BigEndian.PutUint64(b[40:], uint64(bornTimestamp))
}

// PutHosts writes the born host, the store timestamp and the store host,
// and returns the position after them.
func PutHosts(b []byte, sysFlag int32, bornHost netip.AddrPort, storeTimestamp int64, storeHost netip.AddrPort) int {
	p := putHost(b, PosBornHost, bornHost, sysFlag&SysFlagBornHostV6 != 0)
	binary.BigEndian.PutUint64(b[p:], uint64(storeTimestamp))
	return putHost(b, p+8, storeHost, sysFlag&SysFlagStoreHostV6 != 0)
}

// PutTail writes the fields from reconsumeTimes on at b[p:].
func PutTail(b []byte, p int, reconsumeTimes int32, preparedTransactionOffset int64, body []byte, topic, properties string) {
	binary.BigEndian.PutUint32(b[p:], uint32(reconsumeTimes))
	binary.BigEndian.PutUint64(b[p+4:], uint64(preparedTransactionOffset))
	p += 12
	binary.BigEndian.PutUint32(b[p:], uint32(len(body)))
	p += 4
	p += copy(b[p:], body)
	b[p] = byte(len(topic))
	p++
	p += copy(b[p:], topic)
	binary.BigEndian.PutUint16(b[p:], uint16(len(properties)))
	copy(b[p+2:], properties)
}

// Encode appends r's encoding (see Put) to dst and returns the result.
func (r *Record) Encode(dst []byte) []byte {
	n := r.Len()
	dst = slices.Grow(dst, n)
	r.Put(dst[len(dst) : len(dst)+n])
	return dst[:len(dst)+n]
}

func putHost(b []byte, p int, ap netip.AddrPort, v6 bool) int {
	a := ap.Addr()
	if v6 {
		a16 := a.As16()
		p += copy(b[p:p+16], a16[:])
	} else {
		var a4 [4]byte
		if a.Is4() || a.Is4In6() {
			a4 = a.Unmap().As4()
		}
		p += copy(b[p:p+4], a4[:])
	}
	binary.BigEndian.PutUint32(b[p:], uint32(ap.Port()))
	return p + 4
}

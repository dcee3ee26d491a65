package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Errors. Match them with errors.Is; most are returned wrapped with detail.
var (
	ErrCorrupt         = errors.New("commitlog: corrupt record")
	ErrBlank           = errors.New("commitlog: blank end-of-segment record")
	ErrNoQueue         = errors.New("commitlog: no such consume queue")
	ErrFlushTimeout    = errors.New("commitlog: flush timeout")
	ErrOffsetMismatch  = errors.New("commitlog: offset mismatch")
	ErrMessageTooLarge = errors.New("commitlog: message too large")
	ErrInvalidMessage  = errors.New("commitlog: invalid message")
	ErrOutOfRange      = errors.New("commitlog: offset out of range")
	ErrClosed          = errors.New("commitlog: closed")
	ErrLocked          = errors.New("commitlog: store directory in use")
)

const (
	magicMessage uint32 = 0xDAA320A7
	magicBlank   uint32 = 0xCBD43194

	// blankLen is the room a blank record needs; a record is only written
	// when at least this much stays free after it.
	blankLen = 8

	// fixedLen is a record's length without body, topic and properties,
	// with both hosts IPv4. Each IPv6 host adds v6Extra.
	fixedLen = 91
	v6Extra  = 12

	maxTopicLen = 127
	maxPropsLen = math.MaxInt16

	sysFlagBornHostV6  int32 = 0x10
	sysFlagStoreHostV6 int32 = 0x20
	sysFlagTxMask      int32 = 0xC
	sysFlagTxPrepared  int32 = 0x4
	sysFlagTxRollback  int32 = 0xC

	// Positions of fields that precede the variable-width born host.
	posMagic       = 4
	posQueueOffset = 20
	posPhysOffset  = 28
	posSysFlag     = 36
	posBornHost    = 48
)

// indexed reports whether records with this sysFlag get a queue offset and a
// consume-queue entry (all but PREPARED and ROLLBACK transaction records).
func indexed(sysFlag int32) bool {
	t := sysFlag & sysFlagTxMask
	return t != sysFlagTxPrepared && t != sysFlagTxRollback
}

// Record is one decoded log record. Body aliases the decoded buffer.
type Record struct {
	TotalSize                 int32
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

// view is a parsed record whose variable fields are positions in the buffer
// it was parsed from. Parsing into a view does not allocate.
type view struct {
	size        int
	queueID     int32
	queueOffset int64
	physOffset  int64
	sysFlag     int32
	storeTS     int64
	bodyCRC     uint32
	body        []byte
	topic       []byte
	props       []byte
}

// errIncomplete reports a record whose header is fine but whose bytes are not
// all in the buffer yet.
var errIncomplete = errors.New("commitlog: incomplete record")

// parse parses the record at b[0:]. It returns ErrBlank (with v.size set to
// the blank's length) for a blank record, errIncomplete when totalSize is
// plausible but exceeds len(b), and an error wrapping ErrCorrupt otherwise.
func parse(b []byte, checkCRC bool) (v view, err error) {
	if len(b) < 8 {
		return v, errIncomplete
	}
	size := int32(binary.BigEndian.Uint32(b))
	switch magic := binary.BigEndian.Uint32(b[posMagic:]); magic {
	case magicMessage:
	case magicBlank:
		if size < blankLen {
			return v, fmt.Errorf("%w: blank record of %d bytes", ErrCorrupt, size)
		}
		v.size = int(size)
		return v, ErrBlank
	default:
		return v, fmt.Errorf("%w: magic %#08x", ErrCorrupt, magic)
	}
	if size < fixedLen {
		return v, fmt.Errorf("%w: total size %d", ErrCorrupt, size)
	}
	if int(size) > len(b) {
		return v, errIncomplete
	}
	r := b[:size]
	v.size = int(size)
	v.sysFlag = int32(binary.BigEndian.Uint32(r[posSysFlag:]))
	fixed := recordFixedLen(v.sysFlag)
	if int(size) < fixed {
		return v, fmt.Errorf("%w: total size %d below %d", ErrCorrupt, size, fixed)
	}
	v.bodyCRC = binary.BigEndian.Uint32(r[8:])
	v.queueID = int32(binary.BigEndian.Uint32(r[12:]))
	v.queueOffset = int64(binary.BigEndian.Uint64(r[posQueueOffset:]))
	v.physOffset = int64(binary.BigEndian.Uint64(r[posPhysOffset:]))
	p := posBornHost + hostLen(v.sysFlag&sysFlagBornHostV6 != 0)
	v.storeTS = int64(binary.BigEndian.Uint64(r[p:]))
	p += 8 + hostLen(v.sysFlag&sysFlagStoreHostV6 != 0) + 4 + 8
	// The variable part: every length is checked against what is left.
	left := int(size) - fixed
	bodyLen := int32(binary.BigEndian.Uint32(r[p:]))
	p += 4
	if bodyLen < 0 || int(bodyLen) > left {
		return v, fmt.Errorf("%w: body length %d", ErrCorrupt, bodyLen)
	}
	v.body = r[p : p+int(bodyLen) : p+int(bodyLen)]
	p += int(bodyLen)
	left -= int(bodyLen)
	topicLen := int(r[p])
	p++
	if topicLen > maxTopicLen || topicLen > left {
		return v, fmt.Errorf("%w: topic length %d", ErrCorrupt, topicLen)
	}
	// The CRC covers only the body. What makes a record whose tail was
	// lost (zeroed) fail here is that a stored topic is never empty and
	// never ends in NUL, nor do non-empty properties: with the length and
	// CRC checks, any zeroed suffix that changes a record is caught.
	if topicLen == 0 || r[p+topicLen-1] == 0 {
		return v, fmt.Errorf("%w: empty or torn topic", ErrCorrupt)
	}
	v.topic = r[p : p+topicLen : p+topicLen]
	p += topicLen
	left -= topicLen
	propsLen := int16(binary.BigEndian.Uint16(r[p:]))
	p += 2
	if propsLen < 0 || int(propsLen) != left {
		return v, fmt.Errorf("%w: properties length %d, %d bytes left", ErrCorrupt, propsLen, left)
	}
	v.props = r[p : p+int(propsLen) : p+int(propsLen)]
	if propsLen > 0 && v.props[propsLen-1] == 0 {
		return v, fmt.Errorf("%w: torn properties", ErrCorrupt)
	}
	if checkCRC {
		if crc := crc32.ChecksumIEEE(v.body) & 0x7FFFFFFF; crc != v.bodyCRC {
			return v, fmt.Errorf("%w: body crc %#x, stored %#x", ErrCorrupt, crc, v.bodyCRC)
		}
	}
	return v, nil
}

// DecodeRecord parses the record at b[0:], checking its magic, its sizes and
// its body CRC, and returns it with n, its total size. For a blank
// end-of-segment record it returns ErrBlank and n = the blank's size; for
// anything short or invalid an error wrapping ErrCorrupt. Body aliases b.
func DecodeRecord(b []byte) (Record, int, error) {
	v, err := parse(b, true)
	switch {
	case errors.Is(err, ErrBlank):
		return Record{}, v.size, err
	case errors.Is(err, errIncomplete):
		return Record{}, 0, fmt.Errorf("%w: short record (%d bytes)", ErrCorrupt, len(b))
	case err != nil:
		return Record{}, 0, err
	}
	r := Record{
		TotalSize:      int32(v.size),
		BodyCRC:        v.bodyCRC,
		QueueID:        v.queueID,
		Flag:           int32(binary.BigEndian.Uint32(b[16:])),
		QueueOffset:    v.queueOffset,
		PhysOffset:     v.physOffset,
		SysFlag:        v.sysFlag,
		BornTimestamp:  int64(binary.BigEndian.Uint64(b[40:])),
		StoreTimestamp: v.storeTS,
		Body:           v.body,
		Topic:          string(v.topic),
		Properties:     string(v.props),
	}
	p := posBornHost
	if r.BornHost, p, err = readHost(b, p, v.sysFlag&sysFlagBornHostV6 != 0); err != nil {
		return Record{}, 0, err
	}
	p += 8 // store timestamp, already read
	if r.StoreHost, p, err = readHost(b, p, v.sysFlag&sysFlagStoreHostV6 != 0); err != nil {
		return Record{}, 0, err
	}
	r.ReconsumeTimes = int32(binary.BigEndian.Uint32(b[p:]))
	r.PreparedTransactionOffset = int64(binary.BigEndian.Uint64(b[p+4:]))
	return r, v.size, nil
}

func readHost(b []byte, p int, v6 bool) (netip.AddrPort, int, error) {
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16([16]byte(b[p : p+16]))
		p += 16
	} else {
		a = netip.AddrFrom4([4]byte(b[p : p+4]))
		p += 4
	}
	port := int32(binary.BigEndian.Uint32(b[p:]))
	if port < 0 || port > math.MaxUint16 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: port %d", ErrCorrupt, port)
	}
	return netip.AddrPortFrom(a, uint16(port)), p + 4, nil
}

// Encode appends r in the stored layout to dst and returns the result. The
// host widths follow the SysFlag bits, which are set as well for hosts that
// need 16 bytes; TotalSize is computed; BodyCRC is written as it is.
func (r *Record) Encode(dst []byte) []byte {
	sysFlag := r.SysFlag
	bornV6 := sysFlag&sysFlagBornHostV6 != 0 || needsV6(r.BornHost)
	storeV6 := sysFlag&sysFlagStoreHostV6 != 0 || needsV6(r.StoreHost)
	sysFlag = withHostFlags(sysFlag, bornV6, storeV6)
	size := recordFixedLen(sysFlag) + len(r.Body) + len(r.Topic) + len(r.Properties)
	n := len(dst)
	dst = append(dst, make([]byte, size)...)
	b := dst[n:]
	p := putHeader(b, size, r.BodyCRC, r.QueueID, r.Flag, r.QueueOffset, r.PhysOffset, sysFlag, r.BornTimestamp)
	p = putHost(b, p, r.BornHost, bornV6)
	binary.BigEndian.PutUint64(b[p:], uint64(r.StoreTimestamp))
	p = putHost(b, p+8, r.StoreHost, storeV6)
	putTail(b, p, r.ReconsumeTimes, r.PreparedTransactionOffset, r.Body, r.Topic, r.Properties)
	return dst
}

// recordFixedLen is the length of a record with empty body, topic and
// properties.
func recordFixedLen(sysFlag int32) int {
	n := fixedLen
	if sysFlag&sysFlagBornHostV6 != 0 {
		n += v6Extra
	}
	if sysFlag&sysFlagStoreHostV6 != 0 {
		n += v6Extra
	}
	return n
}

func hostLen(v6 bool) int {
	if v6 {
		return 20
	}
	return 8
}

// needsV6 reports whether a host needs the 16-byte address form. The zero
// AddrPort is written as 0.0.0.0:0.
func needsV6(ap netip.AddrPort) bool {
	a := ap.Addr()
	return a.Is6() && !a.Is4In6()
}

func withHostFlags(sysFlag int32, bornV6, storeV6 bool) int32 {
	sysFlag &^= sysFlagBornHostV6 | sysFlagStoreHostV6
	if bornV6 {
		sysFlag |= sysFlagBornHostV6
	}
	if storeV6 {
		sysFlag |= sysFlagStoreHostV6
	}
	return sysFlag
}

func putHeader(b []byte, size int, crc uint32, queueID, flag int32, queueOffset, physOffset int64, sysFlag int32, bornTS int64) int {
	_ = b[47]
	binary.BigEndian.PutUint32(b[0:], uint32(size))
	binary.BigEndian.PutUint32(b[4:], magicMessage)
	binary.BigEndian.PutUint32(b[8:], crc)
	binary.BigEndian.PutUint32(b[12:], uint32(queueID))
	binary.BigEndian.PutUint32(b[16:], uint32(flag))
	binary.BigEndian.PutUint64(b[20:], uint64(queueOffset))
	binary.BigEndian.PutUint64(b[28:], uint64(physOffset))
	binary.BigEndian.PutUint32(b[36:], uint32(sysFlag))
	binary.BigEndian.PutUint64(b[40:], uint64(bornTS))
	return posBornHost
}

func putHost(b []byte, p int, ap netip.AddrPort, v6 bool) int {
	a := ap.Addr()
	if v6 {
		a16 := a.As16()
		copy(b[p:p+16], a16[:])
		p += 16
	} else {
		var a4 [4]byte
		if a.Is4() || a.Is4In6() {
			a4 = a.Unmap().As4()
		}
		copy(b[p:p+4], a4[:])
		p += 4
	}
	binary.BigEndian.PutUint32(b[p:], uint32(ap.Port()))
	return p + 4
}

func putTail(b []byte, p int, reconsume int32, preparedOffset int64, body []byte, topic, props string) {
	binary.BigEndian.PutUint32(b[p:], uint32(reconsume))
	binary.BigEndian.PutUint64(b[p+4:], uint64(preparedOffset))
	p += 12
	binary.BigEndian.PutUint32(b[p:], uint32(len(body)))
	p += 4
	p += copy(b[p:], body)
	b[p] = byte(len(topic))
	p++
	p += copy(b[p:], topic)
	binary.BigEndian.PutUint16(b[p:], uint16(len(props)))
	copy(b[p+2:], props)
}

// EncodeRecord returns m in the store layout, as the log would hold it at
// physOffset with the given queue offset and store time: what a broker
// sends when a client asks for a message in that layout
// (CHECK_TRANSACTION_STATE bodies).
func EncodeRecord(m *Message, queueOffset, physOffset, storeTimestamp int64) ([]byte, error) {
	p, err := prepare(m, math.MaxInt32+blankLen+1)
	if err != nil {
		return nil, err
	}
	b := make([]byte, p.size)
	p.encode(b, queueOffset, physOffset, storeTimestamp)
	return b, nil
}

// prepared is a message checked and measured outside the append lock.
type prepared struct {
	m        *Message
	size     int
	sysFlag  int32
	crc      uint32
	tagsCode int64
	bornV6   bool
	storeV6  bool
}

// prepare validates m and computes everything that does not depend on the
// record's position: size, sysFlag host bits, body CRC and tags code.
func prepare(m *Message, segmentSize int64) (prepared, error) {
	if err := storableTopic(m.Topic); err != nil {
		return prepared{}, err
	}
	if m.QueueID < 0 {
		return prepared{}, fmt.Errorf("%w: queue id %d", ErrInvalidMessage, m.QueueID)
	}
	if len(m.Properties) > maxPropsLen {
		return prepared{}, fmt.Errorf("%w: properties of %d bytes (max %d)", ErrMessageTooLarge, len(m.Properties), maxPropsLen)
	}
	if n := len(m.Properties); n > 0 && m.Properties[n-1] == 0 {
		return prepared{}, fmt.Errorf("%w: properties end in NUL", ErrInvalidMessage)
	}
	p := prepared{m: m, bornV6: needsV6(m.BornHost), storeV6: needsV6(m.StoreHost)}
	p.sysFlag = withHostFlags(m.SysFlag, p.bornV6, p.storeV6)
	size := int64(recordFixedLen(p.sysFlag)) + int64(len(m.Body)) + int64(len(m.Topic)) + int64(len(m.Properties))
	if size+blankLen > segmentSize || size > math.MaxInt32 {
		return prepared{}, fmt.Errorf("%w: record of %d bytes does not fit a %d-byte segment", ErrMessageTooLarge, size, segmentSize)
	}
	p.size = int(size)
	p.crc = crc32.ChecksumIEEE(m.Body) & 0x7FFFFFFF
	if tags, ok := Property(m.Properties, "TAGS"); ok {
		p.tagsCode = TagsCode(tags)
	}
	return p, nil
}

// encode writes the record into b, which holds at least p.size bytes.
func (p *prepared) encode(b []byte, queueOffset, physOffset, storeTS int64) {
	m := p.m
	b = b[:p.size]
	q := putHeader(b, p.size, p.crc, m.QueueID, m.Flag, queueOffset, physOffset, p.sysFlag, m.BornTimestamp)
	q = putHost(b, q, m.BornHost, p.bornV6)
	binary.BigEndian.PutUint64(b[q:], uint64(storeTS))
	q = putHost(b, q+8, m.StoreHost, p.storeV6)
	putTail(b, q, m.ReconsumeTimes, m.PreparedTransactionOffset, m.Body, m.Topic, m.Properties)
}

// storableTopic accepts what fits a record: 1..127 bytes, the last not NUL
// (see parse). A consume queue's topic must also pass validTopic.
func storableTopic(t string) error {
	switch {
	case t == "" || t[len(t)-1] == 0:
		return fmt.Errorf("%w: topic %q", ErrInvalidMessage, t)
	case len(t) > maxTopicLen:
		return fmt.Errorf("%w: topic of %d bytes (max %d)", ErrMessageTooLarge, len(t), maxTopicLen)
	}
	return nil
}

// validTopic accepts what fits the record (1..127 bytes) and can name a
// consume-queue directory.
func validTopic(t string) error {
	switch {
	case t == "", t == ".", t == "..":
		return fmt.Errorf("%w: topic %q", ErrInvalidMessage, t)
	case len(t) > maxTopicLen:
		return fmt.Errorf("%w: topic of %d bytes (max %d)", ErrMessageTooLarge, len(t), maxTopicLen)
	case strings.IndexByte(t, '/') >= 0 || strings.IndexByte(t, 0) >= 0:
		return fmt.Errorf("%w: topic %q", ErrInvalidMessage, t)
	}
	return nil
}

// TagsCode is the consume-queue tags hash of a TAGS value: Java's
// String.hashCode over UTF-16 code units with int32 wrap-around,
// sign-extended; 0 for "". Invalid UTF-8 counts as U+FFFD per bad byte.
func TagsCode(tags string) int64 {
	var h int32
	for i := 0; i < len(tags); {
		if c := tags[i]; c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(tags[i:])
		i += n
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
		} else {
			h = 31*h + int32(r)
		}
	}
	return int64(h)
}

// Property returns the value of name in a RocketMQ properties string
// (name 0x01 value 0x02 …) without allocating. As in the clients, a pair that
// does not split into exactly two parts is ignored, and the last of repeated
// names wins.
func Property(props, name string) (string, bool) {
	var val string
	var found bool
	for len(props) > 0 {
		pair := props
		if i := strings.IndexByte(props, 2); i >= 0 {
			pair, props = props[:i], props[i+1:]
		} else {
			props = ""
		}
		k := strings.IndexByte(pair, 1)
		if k != len(name) || pair[:k] != name {
			continue
		}
		if strings.IndexByte(pair[k+1:], 1) >= 0 {
			continue
		}
		val, found = pair[k+1:], true
	}
	return val, found
}

// bstr views b as a string for a lookup that does not keep it.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

package commitlog

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// Errors. Match them with errors.Is; most are returned wrapped with detail.
var (
	ErrCorrupt         = wire.ErrCorrupt // the record codec's: records are parsed by internal/wire
	ErrBlank           = wire.ErrBlank
	ErrNoQueue         = errors.New("commitlog: no such consume queue")
	ErrFlushTimeout    = errors.New("commitlog: flush timeout")
	ErrOffsetMismatch  = errors.New("commitlog: offset mismatch")
	ErrMessageTooLarge = errors.New("commitlog: message too large")
	ErrInvalidMessage  = errors.New("commitlog: invalid message")
	ErrOutOfRange      = errors.New("commitlog: offset out of range")
	ErrClosed          = errors.New("commitlog: closed")
	ErrLocked          = errors.New("commitlog: store directory in use")
	ErrTruncated       = errors.New("commitlog: log truncated") // what WaitDurable waited for was cut
)

// The record layout is the wire's (internal/wire, whose doc.go has it);
// these are the names the store's files use.
const (
	magicBlank = wire.MagicBlank
	blankLen   = wire.BlankLen
	fixedLen   = wire.FixedLen

	// maxTopicLen is the longest topic the store writes: a V1 record's.
	maxTopicLen = wire.MaxTopicLenV1
	maxPropsLen = wire.MaxPropertiesLen

	sysFlagBornHostV6 = wire.SysFlagBornHostV6

	posSysFlag  = wire.PosSysFlag
	posBornHost = wire.PosBornHost
)

func hostLen(v6 bool) int { return wire.HostLen(v6) }

// indexed reports whether records with this sysFlag get a queue offset and a
// consume-queue entry (all but PREPARED and ROLLBACK transaction records).
func indexed(sysFlag int32) bool {
	t := sysFlag & wire.SysFlagTxMask
	return t != wire.SysFlagTxPrepared && t != wire.SysFlagTxRollback
}

// Record is one decoded log record. Body aliases the decoded buffer.
type Record = wire.Record

// view is what the store reads of a parsed record; variable fields are
// positions in the buffer it was parsed from. Parsing into a view does not
// allocate.
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
var errIncomplete = wire.ErrIncomplete

// parse is parseRecord into a view.
func parse(b []byte, checkCRC bool) (view, error) {
	var w wire.RecordView
	err := parseRecord(&w, b, checkCRC)
	return view{
		size:        w.Size,
		queueID:     w.QueueID,
		queueOffset: w.QueueOffset,
		physOffset:  w.PhysOffset,
		sysFlag:     w.SysFlag,
		storeTS:     w.StoreTimestamp,
		bodyCRC:     w.BodyCRC,
		body:        w.Body,
		topic:       w.Topic,
		props:       w.Properties,
	}, err
}

// parseRecord parses the record at b[0:] into v with wire's Parse and the
// checks the store adds: a V1 record (what it writes) whose topic is not
// empty and does not end in NUL, whose properties do not end in NUL, and,
// with checkCRC, whose body matches its CRC. It returns ErrBlank (with
// v.Size set to the blank's length) for a blank record, errIncomplete when
// totalSize is plausible but exceeds len(b), and an error wrapping
// ErrCorrupt otherwise.
func parseRecord(v *wire.RecordView, b []byte, checkCRC bool) error {
	err := v.Parse(b)
	if v.Magic == wire.MagicV2 {
		return fmt.Errorf("%w: V2 magic %#08x", ErrCorrupt, v.Magic)
	}
	if err != nil {
		return err
	}
	// The CRC covers only the body. What makes a record whose tail was
	// lost (zeroed) fail here is that a stored topic is never empty and
	// never ends in NUL, nor do non-empty properties: with the length and
	// CRC checks, any zeroed suffix that changes a record is caught.
	if n := len(v.Topic); n == 0 || v.Topic[n-1] == 0 {
		return fmt.Errorf("%w: empty or torn topic", ErrCorrupt)
	}
	if n := len(v.Properties); n > 0 && v.Properties[n-1] == 0 {
		return fmt.Errorf("%w: torn properties", ErrCorrupt)
	}
	if checkCRC {
		if crc := wire.BodyCRC(v.Body); crc != v.BodyCRC {
			return fmt.Errorf("%w: body crc %#x, stored %#x", ErrCorrupt, crc, v.BodyCRC)
		}
	}
	return nil
}

// DecodeRecord parses the record at b[0:], checking its magic, its sizes and
// its body CRC, and returns it with n, its total size. For a blank
// end-of-segment record it returns ErrBlank and n = the blank's size; for
// anything short or invalid an error wrapping ErrCorrupt. Body aliases b.
func DecodeRecord(b []byte) (Record, int, error) {
	var v wire.RecordView
	err := parseRecord(&v, b, true)
	switch {
	case errors.Is(err, ErrBlank):
		return Record{}, v.Size, err
	case errors.Is(err, errIncomplete):
		return Record{}, 0, fmt.Errorf("%w: short record (%d bytes)", ErrCorrupt, len(b))
	case err != nil:
		return Record{}, 0, err
	}
	return v.Record(), v.Size, nil
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
	p := prepared{m: m, sysFlag: wire.HostFlags(m.SysFlag, m.BornHost, m.StoreHost)}
	size := int64(wire.RecordLen(p.sysFlag, len(m.Body), len(m.Topic), len(m.Properties)))
	if size+blankLen > segmentSize || size > math.MaxInt32 {
		return prepared{}, fmt.Errorf("%w: record of %d bytes does not fit a %d-byte segment", ErrMessageTooLarge, size, segmentSize)
	}
	p.size = int(size)
	p.crc = wire.BodyCRC(m.Body)
	if tags, ok := wire.Property(m.Properties, "TAGS"); ok {
		p.tagsCode = wire.TagsCode(tags)
	}
	return p, nil
}

// encode writes the record into b, which holds at least p.size bytes.
func (p *prepared) encode(b []byte, queueOffset, physOffset, storeTS int64) {
	m := p.m
	b = b[:p.size]
	wire.PutHeader(b, p.size, p.crc, m.QueueID, m.Flag, queueOffset, physOffset, p.sysFlag, m.BornTimestamp)
	q := wire.PutHosts(b, p.sysFlag, m.BornHost, storeTS, m.StoreHost)
	wire.PutTail(b, q, m.ReconsumeTimes, m.PreparedTransactionOffset, m.Body, m.Topic, m.Properties)
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

// TagsCode is the consume-queue tags hash of a TAGS value (wire.TagsCode).
func TagsCode(tags string) int64 { return wire.TagsCode(tags) }

// Property returns the value of name in a RocketMQ properties string
// without allocating (wire.Property).
func Property(props, name string) (string, bool) { return wire.Property(props, name) }

// bstr views b as a string for a lookup that does not keep it.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

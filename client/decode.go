package client

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Stored-record constants (REMOTING.md §9.7).
const (
	magicV1 = 0xDAA320A7 // 1-byte topic length
	magicV2 = 0xDAA320AB // 2-byte topic length (Java 5)

	sysFlagCompressed  = 0x1
	sysFlagBornHostV6  = 0x10
	sysFlagStoreHostV6 = 0x20
	// Java 5 names the compression in bits 8–10: 0x100 LZ4, 0x200 ZSTD,
	// 0x300 zlib; 0 (older clients) means zlib.
	sysFlagCompressionType = 0x700
	compressionZlib        = 0x300

	posBornHost = 48
	// minRecord is the smallest record: IPv4 hosts, empty body, topic and
	// properties.
	minRecord = 91
)

// DecodeMessages decodes a pull body: stored records laid end to end
// (REMOTING.md §9.7), IPv4 or IPv6 hosts, V1 or V2 magic. Bodies with
// sysFlag bit 0 are zlib-decompressed, except those a Java 5 client
// compressed with LZ4 or ZSTD (sysFlag bits 8–10), which stay compressed;
// other bodies alias body, so body must not be modified while they are in
// use. On malformed input, a corrupt zlib stream included, it returns the
// messages before the bad record and an error wrapping ErrCorrupt.
func DecodeMessages(body []byte) ([]*MessageExt, error) {
	n := countRecords(body)
	if n == 0 && len(body) == 0 {
		return nil, nil
	}
	slab := make([]MessageExt, n)
	out := make([]*MessageExt, 0, n)
	d := decoder{scratch: make([]byte, 0, 256)}
	for off := 0; off < len(body); {
		if len(out) == len(slab) {
			slab = append(slab, MessageExt{})
		}
		m := &slab[len(out)]
		size, err := d.record(body[off:], m)
		if err != nil {
			return out, fmt.Errorf("message %d at byte %d: %w", len(out), off, err)
		}
		out = append(out, m)
		off += size
	}
	return out, nil
}

// countRecords counts the records the size fields chain through.
func countRecords(b []byte) int {
	n := 0
	for off := 0; len(b)-off >= 4; n++ {
		size := int(int32(binary.BigEndian.Uint32(b[off:])))
		if size < minRecord || size > len(b)-off {
			return n + 1 // the bad one still gets a slot; decoding stops there
		}
		off += size
	}
	return n
}

// decoder keeps what consecutive records of one pull tend to share.
type decoder struct {
	scratch   []byte
	topic     string
	bornRaw   [20]byte
	bornLen   int
	born      string
	storeRaw  [20]byte
	storeLen  int
	storeHost string
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// record decodes the record at the start of b into m and returns its size.
func (d *decoder) record(b []byte, m *MessageExt) (int, error) {
	if len(b) < 4 {
		return 0, corrupt("%d trailing bytes", len(b))
	}
	size := int(int32(binary.BigEndian.Uint32(b)))
	if size < minRecord || size > len(b) {
		return 0, corrupt("record size %d with %d bytes left", size, len(b))
	}
	r := b[:size]
	magic := binary.BigEndian.Uint32(r[4:])
	if magic != magicV1 && magic != magicV2 {
		return 0, corrupt("magic code %#x", magic)
	}
	m.BodyCRC = int32(binary.BigEndian.Uint32(r[8:]))
	m.QueueID = int32(binary.BigEndian.Uint32(r[12:]))
	m.Flag = int32(binary.BigEndian.Uint32(r[16:]))
	m.QueueOffset = int64(binary.BigEndian.Uint64(r[20:]))
	m.CommitLogOffset = int64(binary.BigEndian.Uint64(r[28:]))
	m.SysFlag = int32(binary.BigEndian.Uint32(r[36:]))
	m.BornTimestamp = int64(binary.BigEndian.Uint64(r[40:]))
	bornLen, storeLen := 8, 8
	if m.SysFlag&sysFlagBornHostV6 != 0 {
		bornLen = 20
	}
	if m.SysFlag&sysFlagStoreHostV6 != 0 {
		storeLen = 20
	}
	topicLenSize := 1
	if magic == magicV2 {
		topicLenSize = 2
	}
	// Fixed part up to the body, then at least the topic and properties lengths.
	p := posBornHost
	if fixed := p + bornLen + 8 + storeLen + 16; fixed+topicLenSize+2 > size {
		return 0, corrupt("record size %d is below its fixed part %d", size, fixed+topicLenSize+2)
	}
	bornRaw := r[p : p+bornLen]
	p += bornLen
	m.StoreTimestamp = int64(binary.BigEndian.Uint64(r[p:]))
	p += 8
	storeRaw := r[p : p+storeLen]
	p += storeLen
	m.ReconsumeTimes = int32(binary.BigEndian.Uint32(r[p:]))
	p += 4 + 8 // reconsumeTimes, preparedTransactionOffset
	bodyLen := int(int32(binary.BigEndian.Uint32(r[p:])))
	p += 4
	if bodyLen < 0 || bodyLen > size-p-topicLenSize-2 {
		return 0, corrupt("body length %d runs past the record", bodyLen)
	}
	body := r[p : p+bodyLen : p+bodyLen]
	p += bodyLen
	var topicLen int
	if topicLenSize == 1 {
		topicLen = int(r[p])
	} else {
		topicLen = int(binary.BigEndian.Uint16(r[p:]))
	}
	p += topicLenSize
	if topicLen > size-p-2 {
		return 0, corrupt("topic length %d runs past the record", topicLen)
	}
	topic := r[p : p+topicLen]
	p += topicLen
	propsLen := int(int16(binary.BigEndian.Uint16(r[p:])))
	p += 2
	if propsLen < 0 || p+propsLen != size {
		return 0, corrupt("properties length %d does not end the %d-byte record at %d", propsLen, size, p)
	}
	props := r[p : p+propsLen]

	if m.SysFlag&sysFlagCompressed != 0 && (m.SysFlag&sysFlagCompressionType == 0 || m.SysFlag&sysFlagCompressionType == compressionZlib) {
		inflated, err := inflate(body)
		if err != nil {
			return 0, corrupt("compressed body: %v", err)
		}
		body = inflated
	}
	m.Body = body
	if string(topic) != d.topic {
		d.topic = string(topic)
	}
	m.Topic = d.topic
	m.BornHost = d.bornHost(bornRaw)
	m.StoreHost = d.storeHostString(storeRaw)

	// One string holds the properties and the offset message id.
	buf := append(d.scratch[:0], props...)
	buf = appendHexUpper(buf, storeRaw[:len(storeRaw)-4]) // address
	buf = appendHexUpper(buf, storeRaw[len(storeRaw)-4:]) // port
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], uint64(m.CommitLogOffset))
	buf = appendHexUpper(buf, off[:])
	d.scratch = buf
	s := string(buf)
	m.OffsetMsgID = s[len(props):]
	m.Properties = parseProperties(s[:len(props)])
	m.Tags = m.Properties[propTags]
	if keys := m.Properties[propKeys]; keys != "" {
		m.Keys = strings.Split(keys, " ")
	}
	m.MsgID = m.Properties[propUniqKey]
	if m.MsgID == "" {
		m.MsgID = m.OffsetMsgID
	}
	return size, nil
}

func (d *decoder) bornHost(raw []byte) string {
	if d.bornLen == len(raw) && string(d.bornRaw[:d.bornLen]) == string(raw) {
		return d.born
	}
	d.bornLen = copy(d.bornRaw[:], raw)
	d.born = hostString(raw)
	return d.born
}

func (d *decoder) storeHostString(raw []byte) string {
	if d.storeLen == len(raw) && string(d.storeRaw[:d.storeLen]) == string(raw) {
		return d.storeHost
	}
	d.storeLen = copy(d.storeRaw[:], raw)
	d.storeHost = hostString(raw)
	return d.storeHost
}

// hostString formats a stored host: a 4- or 16-byte address and an int32
// port.
func hostString(raw []byte) string {
	a := raw[:len(raw)-4]
	port := binary.BigEndian.Uint32(raw[len(raw)-4:])
	var addr netip.Addr
	if len(a) == 4 {
		addr = netip.AddrFrom4([4]byte(a))
	} else {
		addr = netip.AddrFrom16([16]byte(a))
	}
	return netip.AddrPortFrom(addr, uint16(port)).String()
}

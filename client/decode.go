package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// DecodeMessages decodes a pull body: stored records laid end to end
// (REMOTING.md §9.7, internal/wire), IPv4 or IPv6 hosts, V1 or V2 magic.
// Bodies with sysFlag bit 0 are zlib-decompressed, except those a Java 5 client
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
		if size < wire.FixedLen || size > len(b)-off {
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
	bornAP    netip.AddrPort
	born      string
	storeAP   netip.AddrPort
	storeHost string
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// record decodes the record at the start of b into m and returns its size.
func (d *decoder) record(b []byte, m *MessageExt) (int, error) {
	var v wire.RecordView
	err := v.Parse(b)
	switch {
	case errors.Is(err, wire.ErrIncomplete) && v.Size == 0:
		return 0, corrupt("%d trailing bytes", len(b))
	case errors.Is(err, wire.ErrIncomplete):
		return 0, corrupt("record size %d with %d bytes left", v.Size, len(b))
	case errors.Is(err, wire.ErrBlank):
		return 0, corrupt("blank record of %d bytes", v.Size)
	case err != nil:
		return 0, corrupt("%w", err)
	}
	m.BodyCRC = int32(v.BodyCRC)
	m.QueueID = v.QueueID
	m.Flag = v.Flag
	m.QueueOffset = v.QueueOffset
	m.CommitLogOffset = v.PhysOffset
	m.SysFlag = v.SysFlag
	m.BornTimestamp = v.BornTimestamp
	m.StoreTimestamp = v.StoreTimestamp
	m.ReconsumeTimes = v.ReconsumeTimes
	body := v.Body
	if m.SysFlag&wire.SysFlagCompressed != 0 {
		if t := m.SysFlag & wire.SysFlagCompressionMask; t == 0 || t == wire.SysFlagCompressionZlib {
			inflated, err := inflate(body)
			if err != nil {
				return 0, corrupt("compressed body: %v", err)
			}
			body = inflated
		}
	}
	m.Body = body
	if string(v.Topic) != d.topic {
		d.topic = string(v.Topic)
	}
	m.Topic = d.topic
	if ap := wire.HostAddrPort(v.BornHost); ap != d.bornAP {
		d.bornAP, d.born = ap, ap.String()
	}
	m.BornHost = d.born
	store := wire.HostAddrPort(v.StoreHost)
	if store != d.storeAP {
		d.storeAP, d.storeHost = store, store.String()
	}
	m.StoreHost = d.storeHost

	// One string holds the properties and the offset message id.
	buf := append(d.scratch[:0], v.Properties...)
	buf = wire.AppendOffsetMsgID(buf, store, m.CommitLogOffset)
	d.scratch = buf
	s := string(buf)
	props := len(v.Properties)
	m.OffsetMsgID = s[props:]
	m.Properties = wire.ParseProperties(s[:props])
	m.Tags = m.Properties[propTags]
	if keys := m.Properties[propKeys]; keys != "" {
		m.Keys = strings.Split(keys, " ")
	}
	m.MsgID = m.Properties[propUniqKey]
	if m.MsgID == "" {
		m.MsgID = m.OffsetMsgID
	}
	return v.Size, nil
}

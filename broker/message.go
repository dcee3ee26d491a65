package broker

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/rocketgo/rocketgo/commitlog"
)

// Message property names (REMOTING.md §6.5).
const (
	propTags            = "TAGS"
	propKeys            = "KEYS"
	propUniqKey         = "UNIQ_KEY"
	propDelay           = "DELAY"
	propWait            = "WAIT"
	propRealTopic       = "REAL_TOPIC"
	propRealQueueID     = "REAL_QID"
	propRetryTopic      = "RETRY_TOPIC"
	propOriginMessageID = "ORIGIN_MESSAGE_ID"
	propMaxReconsume    = "MAX_RECONSUME_TIMES"
	propCluster         = "CLUSTER"
	propTranMsg         = "TRAN_MSG"
)

const (
	nameValueSep = '\x01'
	propertySep  = '\x02'
)

// property returns the value of name in a properties string.
var property = commitlog.Property

// withoutProperty returns props without the pair named name.
func withoutProperty(props, name string) string {
	if _, ok := property(props, name); !ok {
		return props
	}
	var b strings.Builder
	for _, pair := range strings.Split(props, string(propertySep)) {
		if pair == "" {
			continue
		}
		if i := strings.IndexByte(pair, nameValueSep); i >= 0 && pair[:i] == name {
			continue
		}
		b.WriteString(pair)
		b.WriteByte(propertySep)
	}
	return b.String()
}

// withProperty returns props with name set to value.
func withProperty(props, name, value string) string {
	props = withoutProperty(props, name)
	if props != "" && props[len(props)-1] != propertySep {
		props += string(propertySep)
	}
	return props + name + string(nameValueSep) + value + string(propertySep)
}

// offsetMsgID is the broker's message id: store host address, port and
// commit-log offset, upper-case hex (REMOTING.md §6.6).
func offsetMsgID(store netip.AddrPort, phys int64) string {
	var raw [28]byte
	n := 0
	if a := store.Addr(); a.Is4() {
		b := a.As4()
		n = copy(raw[:], b[:])
	} else {
		b := a.As16()
		n = copy(raw[:], b[:])
	}
	binary.BigEndian.PutUint32(raw[n:], uint32(store.Port()))
	binary.BigEndian.PutUint64(raw[n+4:], uint64(phys))
	const digits = "0123456789ABCDEF"
	var out [56]byte
	for i, b := range raw[:n+12] {
		out[2*i], out[2*i+1] = digits[b>>4], digits[b&0xF]
	}
	return string(out[:2*(n+12)])
}

package wire

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
)

const hexUpper = "0123456789ABCDEF"

// AppendHexUpper appends the upper-case hex digits of b to dst.
func AppendHexUpper(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&0xF])
	}
	return dst
}

// AppendOffsetMsgID appends the offset message id of the record stored at
// phys by store: 32 hex digits for an IPv4 address, 56 for any other
// (IPv4-mapped ones included, as a 16-byte stored host gives).
func AppendOffsetMsgID(dst []byte, store netip.AddrPort, phys int64) []byte {
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
	return AppendHexUpper(dst, raw[:n+12])
}

// OffsetMsgID is the broker's id of the record stored at phys by store.
func OffsetMsgID(store netip.AddrPort, phys int64) string {
	return string(AppendOffsetMsgID(make([]byte, 0, 56), store, phys))
}

// ParseOffsetMsgID returns the store host and commit-log offset an offset
// message id names. Hex digits may be of either case.
func ParseOffsetMsgID(id string) (netip.AddrPort, int64, error) {
	if len(id) != 32 && len(id) != 56 {
		return netip.AddrPort{}, 0, fmt.Errorf("wire: offset message id %q: %d hex digits, want 32 or 56", id, len(id))
	}
	var raw [28]byte
	n, err := hex.Decode(raw[:], []byte(id))
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("wire: offset message id %q: %w", id, err)
	}
	var a netip.Addr
	if n == 16 {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		a = netip.AddrFrom16([16]byte(raw[:16]))
	}
	p := n - 12
	port := binary.BigEndian.Uint32(raw[p:])
	if port > 0xFFFF {
		return netip.AddrPort{}, 0, fmt.Errorf("wire: offset message id %q: port %d", id, port)
	}
	return netip.AddrPortFrom(a, uint16(port)), int64(binary.BigEndian.Uint64(raw[p+4:])), nil
}

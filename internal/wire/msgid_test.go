package wire

import (
	"net/netip"
	"strings"
	"testing"
)

func TestOffsetMsgID(t *testing.T) {
	for _, c := range []struct {
		store netip.AddrPort
		phys  int64
		want  string
	}{
		{netip.MustParseAddrPort("127.0.0.1:20911"), 1000, "7F000001000051AF00000000000003E8"}, // REMOTING.md §6.6
		{netip.MustParseAddrPort("127.0.0.1:10911"), 1000, "7F00000100002A9F00000000000003E8"},
		{netip.MustParseAddrPort("[::1]:1"), 1, "00000000000000000000000000000001" + "00000001" + "0000000000000001"},
		{netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("10.0.0.1").As16()), 2), -1,
			"00000000000000000000FFFF0A000001" + "00000002" + "FFFFFFFFFFFFFFFF"}, // a 16-byte stored host stays 16 bytes
	} {
		id := OffsetMsgID(c.store, c.phys)
		if id != c.want {
			t.Errorf("OffsetMsgID(%v, %d) = %s, want %s", c.store, c.phys, id, c.want)
		}
		store, phys, err := ParseOffsetMsgID(strings.ToLower(id))
		if err != nil || store != c.store || phys != c.phys {
			t.Errorf("ParseOffsetMsgID(%s) = %v, %d, %v", id, store, phys, err)
		}
	}
	for _, bad := range []string{"", "7F000001000051AF00000000000003E", "7F000001000051AF00000000000003EG", "7F00000100FF51AF00000000000003E8"} {
		if _, _, err := ParseOffsetMsgID(bad); err == nil {
			t.Errorf("ParseOffsetMsgID(%q) succeeded", bad)
		}
	}
	if n := testing.AllocsPerRun(100, func() { AppendOffsetMsgID(make([]byte, 0, 64)[:0], netip.MustParseAddrPort("[::1]:1"), 5) }); n > 1 {
		t.Errorf("AppendOffsetMsgID allocates %v times", n)
	}
}

// FuzzParseOffsetMsgID: an id that parses is 32 or 56 hex digits and
// formats back to itself (in upper case).
func FuzzParseOffsetMsgID(f *testing.F) {
	f.Add("7F000001000051AF00000000000003E8")
	f.Add("00000000000000000000FFFF0A00000100000002FFFFFFFFFFFFFFFF")
	f.Fuzz(func(t *testing.T, id string) {
		store, phys, err := ParseOffsetMsgID(id)
		if err != nil {
			return
		}
		if back := OffsetMsgID(store, phys); back != strings.ToUpper(id) {
			t.Fatalf("%q parses to %v, %d, which formats as %q", id, store, phys, back)
		}
	})
}

package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenFiles reads the files that match pattern: frames other packages keep
// in their testdata/ (written by their golden tests with -update).
func goldenFiles(tb testing.TB, pattern string) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no golden files match %s (%v)", pattern, err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// Golden records: single stored records (commitlog) and pull bodies of
// several records laid end to end (client).
const (
	storedRecords = "../../commitlog/testdata/record_ipv*.bin"
	blankRecord   = "../../commitlog/testdata/blank.bin"
	pullBodies    = "../../client/testdata/record*.bin"
)

// parseAll parses the records of a pull body.
func parseAll(t testing.TB, body []byte) []RecordView {
	t.Helper()
	var out []RecordView
	for off := 0; off < len(body); {
		v, err := ParseRecord(body[off:])
		if err != nil {
			t.Fatalf("record %d at byte %d: %v", len(out), off, err)
		}
		out = append(out, v)
		off += v.Size
	}
	return out
}

func TestParseRecordGolden(t *testing.T) {
	files := goldenFiles(t, storedRecords)
	for name, b := range goldenFiles(t, pullBodies) {
		files[name] = b
	}
	for name, body := range files {
		var enc []byte
		for _, v := range parseAll(t, body) {
			r := v.Record()
			enc = r.Encode(enc)
		}
		if !bytes.Equal(enc, body) {
			t.Errorf("%s: Encode(Parse(b)) differs:\n got %x\nwant %x", name, enc, body)
		}
	}

	// The commit log's golden record, field by field (commitlog's goldenMessage).
	for name, b := range goldenFiles(t, storedRecords) {
		v := parseAll(t, b)[0]
		v6 := strings.Contains(name, "ipv6")
		born, store := "10.0.0.1:50000", "127.0.0.1:10911"
		if v6 {
			born, store = "[2001:db8::1]:50000", "[::1]:10911"
		}
		r := v.Record()
		if r.Topic != "TopicTest" || r.QueueID != 3 || r.Flag != 7 || string(r.Body) != "Hello RocketMQ" || r.QueueOffset != 42 ||
			r.PhysOffset != 1024 || r.StoreTimestamp != 1700000000123 || r.BornTimestamp != 1700000000000 || r.ReconsumeTimes != 1 ||
			r.PreparedTransactionOffset != 99 || r.SysFlag&SysFlagTxMask != SysFlagTxCommit || r.BodyCRC != BodyCRC(r.Body) ||
			r.BornHost.String() != born || r.StoreHost.String() != store {
			t.Errorf("%s: %+v", name, r)
		}
		if tags, _ := Property(r.Properties, "TAGS"); tags != "TagA" {
			t.Errorf("%s: properties %q", name, r.Properties)
		}
	}

	for _, b := range goldenFiles(t, blankRecord) {
		if v, err := ParseRecord(b); !errors.Is(err, ErrBlank) || v.Size < BlankLen {
			t.Errorf("blank record: %d, %v", v.Size, err)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.168.1.20:6000")
	v6 := netip.MustParseAddrPort("[fe80::1]:1")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 7)
	for _, r := range []Record{
		{QueueID: 1, QueueOffset: 5, PhysOffset: 100, BornHost: v4, StoreHost: v4, Topic: "t", Body: []byte("x"), Properties: "a\x01b\x02"},
		{QueueID: 0, BornHost: v6, StoreHost: v4, Topic: "topic-v6-born", Body: bytes.Repeat([]byte{0xff}, 1000)},
		{QueueID: 7, BornHost: v4, StoreHost: v6, Topic: strings.Repeat("t", 127), Properties: strings.Repeat("p", 500)},
		{SysFlag: 0x4 | 0x1, BornHost: v6, StoreHost: v6, Topic: "tx", Body: nil, ReconsumeTimes: 16, PreparedTransactionOffset: -1, BornTimestamp: -5, StoreTimestamp: math.MaxInt64},
		{SysFlag: SysFlagBornHostV6, BornHost: mapped, StoreHost: v4, Topic: "v4-mapped born host kept in 16 bytes"},
		{Topic: "zero-hosts"},
	} {
		r.BodyCRC = BodyCRC(r.Body)
		b := r.Encode([]byte("prefix"))[6:]
		if len(b) != r.Len() {
			t.Fatalf("%.20s: encoded %d bytes, Len %d", r.Topic, len(b), r.Len())
		}
		v, err := ParseRecord(append(b, 0, 0, 0)) // trailing bytes are not part of it
		if err != nil || v.Size != len(b) {
			t.Fatalf("%.20s: ParseRecord size=%d (want %d) err=%v", r.Topic, v.Size, len(b), err)
		}
		if v.Magic != MagicV1 {
			t.Errorf("%.20s: magic %#x", r.Topic, v.Magic)
		}
		got := v.Record()
		if e := got.Encode(nil); !bytes.Equal(e, b) {
			t.Errorf("%.20s: re-encoding differs", r.Topic)
		}
		want := r
		want.TotalSize = int32(len(b))
		if !want.BornHost.IsValid() {
			want.BornHost = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			want.StoreHost = want.BornHost
		}
		want.SysFlag = got.SysFlag // the host bits are computed
		if !sameRecord(got, want) {
			t.Errorf("%.20s: decoded\n%+v\nwant\n%+v", r.Topic, got, want)
		}
		if v6 := needsV6(r.BornHost) || r.SysFlag&SysFlagBornHostV6 != 0; (got.SysFlag&SysFlagBornHostV6 != 0) != v6 {
			t.Errorf("%.20s: sysFlag %#x, born v6 %v", r.Topic, got.SysFlag, v6)
		}
	}
}

// encodeV2 is r in the V2 layout (RocketMQ 5 brokers send it; we only read
// it): the V1 layout with a 2-byte topic length.
func encodeV2(r Record) []byte {
	topic := r.Topic
	r.Topic = ""
	v1 := r.Encode(nil)
	p := len(v1) - 2 - len(r.Properties) - 1 // the V1 topic length byte
	b := append(bytes.Clone(v1[:p]), byte(len(topic)>>8), byte(len(topic)))
	b = append(append(b, topic...), v1[p+1:]...)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	binary.BigEndian.PutUint32(b[PosMagic:], MagicV2)
	return b
}

func TestParseRecordV2(t *testing.T) {
	for _, r := range []Record{
		{QueueID: 1, BornHost: netip.MustParseAddrPort("10.0.0.1:1"), StoreHost: netip.MustParseAddrPort("[::1]:2"), Topic: strings.Repeat("long", 50), Body: []byte("b"), Properties: "TAGS\x01x\x02"},
		{Topic: "short", QueueOffset: 9},
		{Topic: ""},
	} {
		b := encodeV2(r)
		v, err := ParseRecord(b)
		if err != nil || v.Magic != MagicV2 || v.Size != len(b) {
			t.Fatalf("%.10s: size %d of %d, magic %#x, %v", r.Topic, v.Size, len(b), v.Magic, err)
		}
		got := v.Record()
		r.TotalSize, r.SysFlag = int32(len(b)), got.SysFlag
		if !r.BornHost.IsValid() {
			r.BornHost = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			r.StoreHost = r.BornHost
		}
		if !sameRecord(got, r) {
			t.Errorf("V2 record decoded as %+v, want %+v", got, r)
		}
		if !bytes.Equal(encodeV2(got), b) {
			t.Errorf("%.10s: V2 round trip differs", r.Topic)
		}
	}
	neg := encodeV2(Record{Topic: "abc"})
	binary.BigEndian.PutUint16(neg[len(neg)-2-3-2:], 0x8003)
	if _, err := ParseRecord(neg); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative V2 topic length: %v", err)
	}
}

// sameRecord compares records; an empty body equals a nil one.
func sameRecord(a, b Record) bool {
	if !bytes.Equal(a.Body, b.Body) {
		return false
	}
	a.Body, b.Body = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestHostFlags(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.0.0.1:1")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:1")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 1)
	for _, c := range []struct {
		in          int32
		born, store netip.AddrPort
		want        int32
	}{
		{0, v4, v4, 0},
		{SysFlagBornHostV6 | SysFlagStoreHostV6 | 1, v4, mapped, 1}, // bits the hosts do not need are cleared
		{0, v6, v4, SysFlagBornHostV6},
		{8, v4, v6, 8 | SysFlagStoreHostV6},
		{0, netip.AddrPort{}, v6, SysFlagStoreHostV6},
	} {
		if got := HostFlags(c.in, c.born, c.store); got != c.want {
			t.Errorf("HostFlags(%#x, %v, %v) = %#x, want %#x", c.in, c.born, c.store, got, c.want)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	good := (&Record{Topic: "TopicTest", Body: []byte("Hello RocketMQ"), Properties: "TAGS\x01TagA\x02",
		BornHost: netip.MustParseAddrPort("10.0.0.1:50000"), StoreHost: netip.MustParseAddrPort("127.0.0.1:10911")}).Encode(nil)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	const bodyLenAt, topicLenAt = 84, 84 + 4 + 14
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrIncomplete},
		{"short header", good[:7], ErrIncomplete},
		{"truncated", good[:len(good)-1], ErrIncomplete},
		{"zeros", make([]byte, 200), ErrCorrupt},
		{"bad magic", mut(func(b []byte) []byte { b[4] ^= 1; return b }), ErrCorrupt},
		{"v2 magic on a v1 record", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], MagicV2); return b }), ErrCorrupt},
		{"size too small", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, 90); return b }), ErrCorrupt},
		{"negative size", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, 0x80000000); return b }), ErrCorrupt},
		{"size larger than fields", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, uint32(len(b)-1)); return b[:len(b)-1] }), ErrCorrupt},
		{"size smaller than fields", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, uint32(len(b)+1)); return append(b, 0) }), ErrCorrupt},
		{"negative body length", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[bodyLenAt:], 0xFFFFFFFF); return b }), ErrCorrupt},
		{"body length too big", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[bodyLenAt:], 1000); return b }), ErrCorrupt},
		{"topic length 200", mut(func(b []byte) []byte { b[topicLenAt] = 200; return b }), ErrCorrupt},
		{"topic length past the end", mut(func(b []byte) []byte { b[topicLenAt] = 100; return b }), ErrCorrupt},
		{"properties length off", mut(func(b []byte) []byte {
			p := topicLenAt + 1 + 9
			binary.BigEndian.PutUint16(b[p:], uint16(len("TAGS\x01TagA\x02")-1))
			return b
		}), ErrCorrupt},
		{"v6 flag on a v4 record", mut(func(b []byte) []byte { b[39] |= 0x10; return b }), ErrCorrupt},
		{"born port out of range", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[52:], 70000); return b }), ErrCorrupt},
		{"store port negative", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[68:], 0xFFFFFFFF); return b }), ErrCorrupt},
		{"blank too small", []byte{0, 0, 0, 4, 0xCB, 0xD4, 0x31, 0x94}, ErrCorrupt},
		{"blank", []byte{0, 0, 1, 0, 0xCB, 0xD4, 0x31, 0x94}, ErrBlank},
		{"huge size, few bytes", []byte{0x7f, 0xff, 0xff, 0xff, 0xDA, 0xA3, 0x20, 0xA7, 0}, ErrIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRecord(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("ParseRecord = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseRecordEveryCut: no prefix of a record parses, and none panics.
func TestParseRecordEveryCut(t *testing.T) {
	for name, body := range goldenFiles(t, pullBodies) {
		first := parseAll(t, body)[0].Size
		for n := range first {
			if _, err := ParseRecord(body[:n]); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("%s cut at %d of %d: %v, want ErrIncomplete", name, n, first, err)
			}
		}
	}
}

func TestParseRecordDoesNotAllocate(t *testing.T) {
	for _, b := range goldenFiles(t, storedRecords) {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseRecord(b) }); n != 0 {
			t.Errorf("ParseRecord allocates %v times", n)
		}
	}
}

// FuzzParseRecord: a record that parses encodes back to the same bytes
// (V2 ones by the test's encodeV2), and rejected input gets one of the
// three errors.
func FuzzParseRecord(f *testing.F) {
	for _, pattern := range []string{storedRecords, blankRecord, pullBodies} {
		for _, b := range goldenFiles(f, pattern) {
			f.Add(b)
		}
	}
	f.Add(encodeV2(Record{Topic: strings.Repeat("v2", 100), Body: []byte("b")}))
	f.Add(make([]byte, FixedLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseRecord(b)
		switch {
		case errors.Is(err, ErrIncomplete):
			if len(b) >= BlankLen && v.Size <= len(b) {
				t.Fatalf("incomplete with size %d of %d bytes", v.Size, len(b))
			}
			return
		case errors.Is(err, ErrBlank):
			if v.Size < BlankLen {
				t.Fatalf("blank of %d bytes", v.Size)
			}
			return
		case errors.Is(err, ErrCorrupt):
			return
		case err != nil:
			t.Fatalf("error %v is none of ErrCorrupt, ErrBlank, ErrIncomplete", err)
		}
		if v.Size < FixedLen || v.Size > len(b) {
			t.Fatalf("size %d for %d bytes", v.Size, len(b))
		}
		r := v.Record()
		enc := r.Encode(nil)
		if v.Magic == MagicV2 {
			enc = encodeV2(r)
		}
		if !bytes.Equal(enc, b[:v.Size]) {
			t.Fatalf("round trip of %x gave %x", b[:v.Size], enc)
		}
	})
}

package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const goldenProps = "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x017F00000100002A9F0000000000000001\x02"

func goldenMessage(v6 bool) *Message {
	m := &Message{
		Topic:                     "TopicTest",
		QueueID:                   3,
		Flag:                      7,
		Body:                      []byte("Hello RocketMQ"),
		Properties:                goldenProps,
		SysFlag:                   0x8, // COMMIT
		BornTimestamp:             1700000000000,
		BornHost:                  netip.MustParseAddrPort("10.0.0.1:50000"),
		StoreHost:                 netip.MustParseAddrPort("127.0.0.1:10911"),
		ReconsumeTimes:            1,
		PreparedTransactionOffset: 99,
	}
	if v6 {
		m.BornHost = netip.MustParseAddrPort("[2001:db8::1]:50000")
		m.StoreHost = netip.MustParseAddrPort("[::1]:10911")
	}
	return m
}

const (
	goldenQueueOffset = 42
	goldenPhysOffset  = 1024
	goldenStoreTS     = 1700000000123
)

func encodeGolden(t *testing.T, v6 bool) []byte {
	t.Helper()
	p, err := prepare(goldenMessage(v6), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, p.size)
	p.encode(b, goldenQueueOffset, goldenPhysOffset, goldenStoreTS)
	return b
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %x\nwant %x", name, got, want)
	}
}

func TestRecordLayoutGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		size int
		// field offsets that move with the host widths
		storeTS, storeHost, reconsume, bodyLen int
		sysFlag                                uint32
		storeAddr                              []byte
	}{
		{"record_ipv4.bin", false, 91 + 14 + 9 + len(goldenProps), 56, 64, 72, 84, 0x8, []byte{127, 0, 0, 1}},
		{"record_ipv6.bin", true, 115 + 14 + 9 + len(goldenProps), 68, 76, 96, 108, 0x38, netip.MustParseAddr("::1").AsSlice()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeGolden(t, tc.v6)
			checkGolden(t, tc.name, b)
			if len(b) != tc.size {
				t.Fatalf("size %d, want %d", len(b), tc.size)
			}
			u32 := func(p int) uint32 { return binary.BigEndian.Uint32(b[p:]) }
			u64 := func(p int) uint64 { return binary.BigEndian.Uint64(b[p:]) }
			for _, f := range []struct {
				name      string
				got, want uint64
			}{
				{"TOTALSIZE", uint64(u32(0)), uint64(tc.size)},
				{"MAGICCODE", uint64(u32(4)), 0xDAA320A7},
				{"BODYCRC", uint64(u32(8)), 0x69c865ed}, // zlib.crc32(b"Hello RocketMQ") & 0x7fffffff
				{"QUEUEID", uint64(u32(12)), 3},
				{"FLAG", uint64(u32(16)), 7},
				{"QUEUEOFFSET", u64(20), goldenQueueOffset},
				{"PHYSICALOFFSET", u64(28), goldenPhysOffset},
				{"SYSFLAG", uint64(u32(36)), uint64(tc.sysFlag)},
				{"BORNTIMESTAMP", u64(40), 1700000000000},
				{"STORETIMESTAMP", u64(tc.storeTS), goldenStoreTS},
				{"STOREHOST port", uint64(u32(tc.storeHost + len(tc.storeAddr))), 10911},
				{"RECONSUMETIMES", uint64(u32(tc.reconsume)), 1},
				{"PREPAREDTRANSACTIONOFFSET", u64(tc.reconsume + 4), 99},
				{"BODYLENGTH", uint64(u32(tc.bodyLen)), 14},
				{"TOPICLENGTH", uint64(b[tc.bodyLen+4+14]), 9},
				{"PROPERTIESLENGTH", uint64(binary.BigEndian.Uint16(b[tc.bodyLen+4+14+1+9:])), uint64(len(goldenProps))},
			} {
				if f.got != f.want {
					t.Errorf("%s = %#x, want %#x", f.name, f.got, f.want)
				}
			}
			if !bytes.Equal(b[tc.storeHost:tc.storeHost+len(tc.storeAddr)], tc.storeAddr) {
				t.Errorf("STOREHOST address % x", b[tc.storeHost:tc.storeHost+len(tc.storeAddr)])
			}
			if got := string(b[tc.bodyLen+4 : tc.bodyLen+4+14]); got != "Hello RocketMQ" {
				t.Errorf("BODY %q", got)
			}
			if got := string(b[len(b)-len(goldenProps):]); got != goldenProps {
				t.Errorf("PROPERTIES %q", got)
			}
			// Record.Encode of the decoded record gives the same bytes.
			r, n, err := DecodeRecord(b)
			if err != nil || n != len(b) {
				t.Fatalf("DecodeRecord: n=%d err=%v", n, err)
			}
			if enc := r.Encode(nil); !bytes.Equal(enc, b) {
				t.Errorf("Encode(DecodeRecord(b)) differs:\n got %x\nwant %x", enc, b)
			}
		})
	}
}

func TestBlankRecordGolden(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	m := testMessage("T", 0, 0)
	m.Body = make([]byte, 40000)
	mustAppend(t, l, m)
	r2 := mustAppend(t, l, m) // does not fit: blank, then the next segment
	if r2.PhysOffset != l.cfg.SegmentSize {
		t.Fatalf("second record at %d, want %d", r2.PhysOffset, l.cfg.SegmentSize)
	}
	first := int64(91 + 40000 + 1 + len(m.Properties))
	b, err := l.Read(first, 8)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "blank.bin", b)
	if got, want := int64(binary.BigEndian.Uint32(b)), l.cfg.SegmentSize-first; got != want {
		t.Errorf("blank size %d, want %d", got, want)
	}
	if got := binary.BigEndian.Uint32(b[4:]); got != 0xCBD43194 {
		t.Errorf("blank magic %#x", got)
	}
	whole, err := l.Read(first, int32(l.cfg.SegmentSize-first))
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := DecodeRecord(whole); !errors.Is(err, ErrBlank) || n != len(whole) {
		t.Errorf("DecodeRecord(blank) = %d, %v; want %d, ErrBlank", n, err, len(whole))
	}
}

func TestDecodeRecordRoundTrip(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.168.1.20:6000")
	v6 := netip.MustParseAddrPort("[fe80::1]:1")
	for _, r := range []Record{
		{QueueID: 1, QueueOffset: 5, PhysOffset: 100, BornHost: v4, StoreHost: v4, Topic: "t", Body: []byte("x"), Properties: "a\x01b\x02"},
		{QueueID: 0, BornHost: v6, StoreHost: v4, Topic: "topic-v6-born", Body: bytes.Repeat([]byte{0xff}, 1000)},
		{QueueID: 7, BornHost: v4, StoreHost: v6, Topic: strings.Repeat("t", 127), Properties: strings.Repeat("p", 500)},
		{SysFlag: 0x4 | 0x1, BornHost: v6, StoreHost: v6, Topic: "tx", Body: nil, ReconsumeTimes: 16, PreparedTransactionOffset: -1, BornTimestamp: -5, StoreTimestamp: math.MaxInt64},
		{Topic: "zero-hosts"},
	} {
		r.BodyCRC = bodyCRC(r.Body)
		b := r.Encode([]byte("prefix"))[6:]
		got, n, err := DecodeRecord(append(b, 0, 0, 0)) // trailing bytes are not part of it
		if err != nil || n != len(b) {
			t.Fatalf("%s: DecodeRecord n=%d (want %d) err=%v", r.Topic, n, len(b), err)
		}
		if int(got.TotalSize) != len(b) {
			t.Errorf("%s: TotalSize %d, want %d", r.Topic, got.TotalSize, len(b))
		}
		if !bytes.Equal(got.Encode(nil), b) {
			t.Errorf("%s: re-encoding differs", r.Topic)
		}
		if got.Topic != r.Topic || got.Properties != r.Properties || !bytes.Equal(got.Body, r.Body) ||
			got.QueueID != r.QueueID || got.QueueOffset != r.QueueOffset || got.PhysOffset != r.PhysOffset ||
			got.ReconsumeTimes != r.ReconsumeTimes || got.PreparedTransactionOffset != r.PreparedTransactionOffset ||
			got.BornTimestamp != r.BornTimestamp || got.StoreTimestamp != r.StoreTimestamp {
			t.Errorf("%s: decoded %+v", r.Topic, got)
		}
		wantBorn, wantStore := r.BornHost, r.StoreHost
		if !wantBorn.IsValid() {
			wantBorn = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			wantStore = wantBorn
		}
		if got.BornHost != wantBorn || got.StoreHost != wantStore {
			t.Errorf("%s: hosts %v %v, want %v %v", r.Topic, got.BornHost, got.StoreHost, wantBorn, wantStore)
		}
		if v6 := needsV6(r.BornHost); (got.SysFlag&0x10 != 0) != v6 {
			t.Errorf("%s: sysFlag %#x, born v6 %v", r.Topic, got.SysFlag, v6)
		}
	}
}

func bodyCRC(b []byte) uint32 {
	p, _ := prepare(&Message{Topic: "x", Body: b}, 1<<30)
	return p.crc
}

func TestDecodeRecordErrors(t *testing.T) {
	good := encodeGolden(t, false)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:7]},
		{"truncated", good[:len(good)-1]},
		{"zeros", make([]byte, 200)},
		{"bad magic", mut(func(b []byte) []byte { b[4] ^= 1; return b })},
		{"v2 magic", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 0xDAA320AB); return b })},
		{"bad crc", mut(func(b []byte) []byte { b[90] ^= 0x40; return b })},
		{"crc high bit", mut(func(b []byte) []byte { b[8] |= 0x80; return b })},
		{"size too small", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, 90); return b })},
		{"size larger than fields", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b, uint32(len(b)-1)); return b[:len(b)-1] })},
		{"negative body length", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[84:], 0xFFFFFFFF); return b })},
		{"body length too big", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[84:], 1000); return b })},
		{"topic length 200", mut(func(b []byte) []byte { b[84+4+14] = 200; return b })},
		{"properties length off", mut(func(b []byte) []byte {
			p := 84 + 4 + 14 + 1 + 9
			binary.BigEndian.PutUint16(b[p:], uint16(len(goldenProps)-1))
			return b
		})},
		{"v6 flag on a v4 record", mut(func(b []byte) []byte { b[39] |= 0x10; return b })},
		{"port out of range", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[52:], 70000); return b })},
		{"blank too small", []byte{0, 0, 0, 4, 0xCB, 0xD4, 0x31, 0x94}},
		{"torn properties", mut(func(b []byte) []byte { b[len(b)-1] = 0; return b })},
		{"torn topic", (&Record{Topic: "ab\x00"}).Encode(nil)},
		{"empty topic", (&Record{}).Encode(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeRecord(tc.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestTagsCode(t *testing.T) {
	// Values from Java's String.hashCode (UTF-16 code units).
	for _, tc := range []struct {
		tags string
		want int64
	}{
		{"", 0},
		{"a", 97},
		{"*", 42},
		{"TagA", 2598919},
		{"TagB", 2598920},
		{"TagA||TagB", 1789476431},
		{"abcdefghijklmnop", -2093879032},
		{"polygenelubricants", math.MinInt32},
		{"中文标签", 622041809},
		{"😀x", 54959989}, // a surrogate pair
	} {
		if got := TagsCode(tc.tags); got != tc.want {
			t.Errorf("TagsCode(%q) = %d, want %d", tc.tags, got, tc.want)
		}
	}
}

func TestProperty(t *testing.T) {
	for _, tc := range []struct {
		props, name, want string
		ok                bool
	}{
		{goldenProps, "TAGS", "TagA", true},
		{goldenProps, "KEYS", "k1 k2", true},
		{goldenProps, "UNIQ_KEY", "7F00000100002A9F0000000000000001", true},
		{goldenProps, "TAG", "", false},
		{goldenProps, "AGS", "", false},
		{"", "TAGS", "", false},
		{"TAGS\x01a", "TAGS", "a", true},                  // no trailing separator
		{"TAGS\x01\x02", "TAGS", "", true},                // empty value
		{"TAGS\x01a\x01b\x02", "TAGS", "", false},         // three parts: ignored
		{"TAGS\x01a\x02TAGS\x01b\x02", "TAGS", "b", true}, // last wins
		{"XTAGS\x01a\x02", "TAGS", "", false},
		{"junk\x02TAGS\x01v\x02", "TAGS", "v", true},
	} {
		got, ok := Property(tc.props, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Property(%q, %q) = %q, %v; want %q, %v", tc.props, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Property(goldenProps, "UNIQ_KEY") }); n != 0 {
		t.Errorf("Property allocates %v times", n)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, name := range []string{"record_ipv4.bin", "record_ipv6.bin", "blank.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(make([]byte, 91))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBlank) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrBlank", err)
			}
			return
		}
		if n < fixedLen || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		if enc := r.Encode(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("round trip of %x gave %x", b[:n], enc)
		}
	})
}

func TestEncodeRecordRoundTrip(t *testing.T) {
	m := testMessage("T", 3, 7)
	b, err := EncodeRecord(m, 42, 1<<20, 1700000000123)
	if err != nil {
		t.Fatal(err)
	}
	r, n, err := DecodeRecord(b)
	if err != nil || n != len(b) {
		t.Fatalf("DecodeRecord: %v (%d of %d bytes)", err, n, len(b))
	}
	if r.Topic != "T" || r.QueueID != 3 || r.QueueOffset != 42 || r.PhysOffset != 1<<20 || r.StoreTimestamp != 1700000000123 ||
		string(r.Body) != string(m.Body) || r.Properties != m.Properties || r.BornHost != m.BornHost {
		t.Fatalf("round trip: %+v", r)
	}
	if _, err := EncodeRecord(&Message{Topic: ""}, 0, 0, 0); err == nil {
		t.Fatal("encoded a message without a topic")
	}
}

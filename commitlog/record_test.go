package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
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

// TestDecodeRecordErrors: what the wire accepts but the store does not, and
// that the wire's rejections reach DecodeRecord as ErrCorrupt (the wire's
// own cases are in internal/wire).
func TestDecodeRecordErrors(t *testing.T) {
	good := encodeGolden(t, false)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"bad magic", mut(func(b []byte) []byte { b[4] ^= 1; return b })},
		{"v2 magic", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 0xDAA320AB); return b })},
		{"v2 record", (&Record{Topic: strings.Repeat("t", 200)}).Encode(nil)},
		{"bad crc", mut(func(b []byte) []byte { b[90] ^= 0x40; return b })},
		{"crc high bit", mut(func(b []byte) []byte { b[8] |= 0x80; return b })},
		{"port out of range", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[52:], 70000); return b })},
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

package client

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenRecords are the stored records behind testdata/*.bin.
func goldenRecords(t testing.TB) map[string][]wire.Record {
	t.Helper()
	v4 := netip.MustParseAddrPort("10.0.0.7:52001")
	store4 := netip.MustParseAddrPort("127.0.0.1:10911")
	v6 := netip.MustParseAddrPort("[fd00::17]:52002")
	store6 := netip.MustParseAddrPort("[2001:db8::1]:10911")
	big := bytes.Repeat([]byte("rocketgo compresses this body "), 340) // 10200 bytes
	z, err := compress(nil, big)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]wire.Record{
		"records_ipv4.bin": {
			{QueueID: 2, Flag: 7, QueueOffset: 41, PhysOffset: 1000, BornTimestamp: 1700000000123, BornHost: v4,
				StoreTimestamp: 1700000000125, StoreHost: store4, ReconsumeTimes: 1, BodyCRC: 0x1234,
				Body: []byte("hello"), Topic: "TopicTest",
				Properties: "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x017F0000010000000000000000000000AA\x02color\x01blue\x02"},
			{QueueID: 2, QueueOffset: 42, PhysOffset: 1200, BornTimestamp: 1700000000200, BornHost: v4,
				StoreTimestamp: 1700000000201, StoreHost: store4, Body: nil, Topic: "TopicTest"},
			{QueueID: 2, QueueOffset: 43, PhysOffset: 1400, BornTimestamp: 1700000000300, BornHost: v4,
				StoreTimestamp: 1700000000301, StoreHost: store4, Body: []byte{0, 1, 2, 0xff}, Topic: "OtherTopic",
				Properties: "a\x01\x02"},
		},
		"records_ipv6.bin": {
			{QueueID: 0, QueueOffset: 5, PhysOffset: 77, BornTimestamp: 1700000001000, BornHost: v6,
				StoreTimestamp: 1700000001001, StoreHost: store6, Body: []byte("six"), Topic: "T6",
				Properties: "TAGS\x01x\x02"},
			{QueueID: 0, QueueOffset: 6, PhysOffset: 200, BornTimestamp: 1700000001002, BornHost: v4,
				StoreTimestamp: 1700000001003, StoreHost: store6, Body: []byte("mixed"), Topic: "T6"},
		},
		"record_compressed.bin": {
			{QueueID: 1, QueueOffset: 9, PhysOffset: 4096, SysFlag: wire.SysFlagCompressed, BornTimestamp: 1700000002000, BornHost: v4,
				StoreTimestamp: 1700000002001, StoreHost: store4, Body: z, Topic: "Zipped", Properties: "TAGS\x01z\x02"},
		},
	}
}

func readGolden(t testing.TB, name string, recs []wire.Record) []byte {
	t.Helper()
	var enc []byte
	for i := range recs {
		enc = recs[i].Encode(enc)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !strings.Contains(name, "compressed") && !bytes.Equal(b, enc) {
		t.Errorf("%s differs from wire.Record.Encode's output: the stored layout changed?", path)
	}
	return b
}

func TestDecodeMessagesGolden(t *testing.T) {
	for name, recs := range goldenRecords(t) {
		t.Run(name, func(t *testing.T) {
			body := readGolden(t, name, recs)
			msgs, err := DecodeMessages(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != len(recs) {
				t.Fatalf("decoded %d messages, want %d", len(msgs), len(recs))
			}
			for i, m := range msgs {
				r := recs[i]
				wantBody := r.Body
				if r.SysFlag&wire.SysFlagCompressed != 0 {
					wantBody = bytes.Repeat([]byte("rocketgo compresses this body "), 340)
				}
				if !bytes.Equal(m.Body, wantBody) {
					t.Errorf("message %d body %q, want %q", i, m.Body, wantBody)
				}
				if m.Topic != r.Topic || m.QueueID != r.QueueID || m.Flag != r.Flag || m.QueueOffset != r.QueueOffset ||
					m.CommitLogOffset != r.PhysOffset || m.BornTimestamp != r.BornTimestamp || m.StoreTimestamp != r.StoreTimestamp ||
					m.ReconsumeTimes != r.ReconsumeTimes || m.BodyCRC != int32(r.BodyCRC) {
					t.Errorf("message %d = %+v, want fields of %+v", i, m, r)
				}
				if m.BornHost != r.BornHost.String() || m.StoreHost != r.StoreHost.String() {
					t.Errorf("message %d hosts %s %s, want %s %s", i, m.BornHost, m.StoreHost, r.BornHost, r.StoreHost)
				}
				if want := wire.ParseProperties(r.Properties); len(want) > 0 && !equalMaps(m.Properties, want) {
					t.Errorf("message %d properties %v, want %v", i, m.Properties, want)
				}
				if m.Tags != m.Properties["TAGS"] {
					t.Errorf("message %d tags %q", i, m.Tags)
				}
				wantID := offsetID(r.StoreHost, r.PhysOffset)
				if m.OffsetMsgID != wantID {
					t.Errorf("message %d offset id %s, want %s", i, m.OffsetMsgID, wantID)
				}
				if uniq := m.Properties["UNIQ_KEY"]; (uniq != "" && m.MsgID != uniq) || (uniq == "" && m.MsgID != wantID) {
					t.Errorf("message %d MsgID %s (UNIQ_KEY %q)", i, m.MsgID, uniq)
				}
			}
			if name == "records_ipv4.bin" {
				if !slices.Equal(msgs[0].Keys, []string{"k1", "k2"}) || msgs[1].Keys != nil {
					t.Errorf("keys %q, %q", msgs[0].Keys, msgs[1].Keys)
				}
				if msgs[0].OffsetMsgID != "7F00000100002A9F00000000000003E8" {
					t.Errorf("offset id %s", msgs[0].OffsetMsgID)
				}
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func offsetID(host netip.AddrPort, off int64) string {
	a := host.Addr().AsSlice()
	var b []byte
	b = append(b, a...)
	p := host.Port()
	b = append(b, 0, 0, byte(p>>8), byte(p))
	for s := 56; s >= 0; s -= 8 {
		b = append(b, byte(off>>s))
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// TestDecodeMessagesLikeOfficial decodes the IPv4 golden records with
// the official client as well and compares.
func TestDecodeMessagesLikeOfficial(t *testing.T) {
	for _, name := range []string{"records_ipv4.bin", "record_compressed.bin"} {
		body := readGolden(t, name, goldenRecords(t)[name])
		ours, err := DecodeMessages(body)
		if err != nil {
			t.Fatal(err)
		}
		theirs := primitive.DecodeMessage(body)
		if len(theirs) != len(ours) {
			t.Fatalf("%s: official decoder found %d messages, we %d", name, len(theirs), len(ours))
		}
		for i, o := range theirs {
			m := ours[i]
			if o.Topic != m.Topic || !bytes.Equal(o.Body, m.Body) || o.MsgId != m.MsgID || o.OffsetMsgId != m.OffsetMsgID ||
				o.QueueOffset != m.QueueOffset || o.CommitLogOffset != m.CommitLogOffset || o.BornHost != m.BornHost ||
				o.StoreHost != m.StoreHost || o.GetTags() != m.Tags || !equalMaps(o.GetProperties(), m.Properties) {
				t.Errorf("%s message %d: official %v, ours %+v", name, i, o, m)
			}
		}
	}
}

func TestDecodeMessagesTruncated(t *testing.T) {
	recs := goldenRecords(t)
	for _, name := range []string{"records_ipv4.bin", "records_ipv6.bin", "record_compressed.bin"} {
		body := readGolden(t, name, recs[name])
		whole, _ := DecodeMessages(body)
		for n := 0; n < len(body); n++ {
			msgs, err := DecodeMessages(body[:n])
			if n == 0 {
				if err != nil || msgs != nil {
					t.Fatalf("empty body: %v, %d messages", err, len(msgs))
				}
				continue
			}
			complete := 0
			for off := 0; complete < len(whole); complete++ {
				off += len(recs[name][complete].Encode(nil))
				if off > n {
					break
				}
			}
			if err == nil {
				// Only a cut exactly at a record boundary decodes cleanly.
				if len(msgs) != complete {
					t.Fatalf("%s cut at %d: %d messages without error, want %d", name, n, len(msgs), complete)
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) || len(msgs) != complete {
				t.Fatalf("%s cut at %d: %d messages, err %v; want %d and ErrCorrupt", name, n, len(msgs), err, complete)
			}
		}
	}
}

func TestDecodeMessagesCorrupt(t *testing.T) {
	body := readGolden(t, "records_ipv4.bin", goldenRecords(t)["records_ipv4.bin"])
	for _, c := range []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[4] = 0 }},
		{"small size", func(b []byte) { b[3] = 10 }},
		{"body length", func(b []byte) { b[84], b[85] = 0x7f, 0xff }},
		{"negative body length", func(b []byte) { b[84] = 0x80 }},
		{"compressed flag on plain body", func(b []byte) { b[39] |= byte(wire.SysFlagCompressed) }},
		{"zlib type on plain body", func(b []byte) { b[39] |= byte(wire.SysFlagCompressed); b[38] |= 0x03 }},
		{"ipv6 flag on ipv4 hosts", func(b []byte) { b[39] |= byte(wire.SysFlagStoreHostV6) }},
	} {
		b := bytes.Clone(body)
		c.edit(b)
		if _, err := DecodeMessages(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", c.name, err)
		}
	}
}

func TestDecodeMessagesOtherCompression(t *testing.T) {
	body := readGolden(t, "records_ipv4.bin", goldenRecords(t)["records_ipv4.bin"])
	b := bytes.Clone(body)
	b[38] |= 0x02 // ZSTD (Java 5): not ours to inflate
	b[39] |= byte(wire.SysFlagCompressed)
	msgs, err := DecodeMessages(b)
	if err != nil || len(msgs) != 3 || string(msgs[0].Body) != "hello" {
		t.Fatalf("ZSTD-flagged record: %v, %d messages", err, len(msgs))
	}
}

// FuzzDecodeMessages decodes pull bodies (the records are wire's, fuzzed
// one by one in internal/wire): no panic, errors wrap ErrCorrupt, at most
// one message per 91 bytes, and every message's ids name its store host and
// offset.
func FuzzDecodeMessages(f *testing.F) {
	for name, recs := range goldenRecords(f) {
		f.Add(readGolden(f, name, recs))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := DecodeMessages(body)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if len(msgs) > len(body)/wire.FixedLen {
			t.Fatalf("%d messages from %d bytes", len(msgs), len(body))
		}
		for _, m := range msgs {
			if m == nil || m.Properties == nil && m.Tags != "" {
				t.Fatalf("bad message %+v", m)
			}
			store, phys, err := wire.ParseOffsetMsgID(m.OffsetMsgID)
			if err != nil || store.String() != m.StoreHost || phys != m.CommitLogOffset {
				t.Fatalf("offset id %s of %s at %d: %v, %d, %v", m.OffsetMsgID, m.StoreHost, m.CommitLogOffset, store, phys, err)
			}
			if uniq := m.Properties[propUniqKey]; m.MsgID != uniq && (uniq != "" || m.MsgID != m.OffsetMsgID) {
				t.Fatalf("MsgID %q with UNIQ_KEY %q and offset id %s", m.MsgID, uniq, m.OffsetMsgID)
			}
		}
	})
}

// BenchmarkDecodeMessages decodes a pull body of 32 stored 1 KiB records
// with typical properties (TAGS, KEYS, UNIQ_KEY), the shape a consumer
// meets on every pull.
func BenchmarkDecodeMessages(b *testing.B) {
	var body []byte
	for i := range 32 {
		r := wire.Record{QueueID: 1, QueueOffset: int64(i), PhysOffset: int64(i) * 1200,
			BornTimestamp: 1700000000000, BornHost: netip.MustParseAddrPort("10.0.0.7:52001"),
			StoreTimestamp: 1700000000001, StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
			Body: make([]byte, 1<<10), Topic: "BenchTopic",
			Properties: "TAGS\x01TagA\x02KEYS\x01order-1\x02UNIQ_KEY\x017F00000100002A9F00000000000000" + fmt.Sprintf("%02X", i) + "\x02"}
		body = r.Encode(body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := DecodeMessages(body)
		if err != nil || len(msgs) != 32 {
			b.Fatal(len(msgs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/32, "ns/record")
}

package remoting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/")

// sendV2Request is a SEND_MESSAGE_V2 request as a Java producer sends it.
func sendV2Request() *Command {
	req := NewRequest(SendMessageV2,
		"a", "PID_order_service",
		"b", "TopicOrderEvents",
		"c", "TBW102",
		"d", "4",
		"e", "3",
		"f", "0",
		"g", "1795665577613",
		"h", "0",
		"i", "TAGS\x01TagA\x02KEYS\x01order-1842 customer-77\x02UNIQ_KEY\x01C0A8010A3F2C18B4AAC21C5E8F0D0001\x02WAIT\x01true\x02",
		"j", "0",
		"k", "false",
		"l", "16",
		"m", "false",
		"n", "broker-a",
		"bname", "broker-a",
	)
	req.Opaque = 184467
	req.Body = bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	return req
}

func sendV2Response() *Command {
	resp := &Command{Code: Success, Language: "JAVA", Version: 453, Opaque: 184467, Flag: FlagResponse}
	resp.SetExt("msgId", "7F000001000051AF00000000000003E8")
	resp.SetExt("queueId", "3")
	resp.SetExt("queueOffset", "1000")
	resp.SetExt("MSG_REGION", "DefaultRegion")
	resp.SetExt("TRACE_ON", "true")
	return resp
}

// goldenCases are the frames kept in testdata/.
func goldenCases() []struct {
	file string
	cmd  *Command
} {
	route := NewRequest(GetRouteinfoByTopic, "topic", "TopicTest")
	route.Version, route.Opaque = 317, 3

	notFound := &Command{Code: TopicNotExist, Language: "JAVA", Version: 453, Opaque: 3, Flag: FlagResponse,
		Remark: "No topic route info in name server for the topic: TopicTest\nSee http://rocketmq.apache.org/docs/faq/ \"quoted\" \\ tab\t ctl\x01 é 😀"}

	bin := sendV2Request()
	bin.SerializeType = SerializeRocketMQ
	bin.Body = []byte("hello, binary header")

	binResp := sendV2Response()
	binResp.SerializeType = SerializeRocketMQ
	binResp.Remark = "ok"

	notify := NewRequest(NotifyConsumerIdsChanged, "consumerGroup", "CG_orders")
	notify.Language, notify.Opaque, notify.Flag = "JAVA", 42, FlagOneway
	notify.SerializeType = SerializeRocketMQ

	return []struct {
		file string
		cmd  *Command
	}{
		{"route_query.bin", route},
		{"send_v2_request.bin", sendV2Request()},
		{"send_response.bin", sendV2Response()},
		{"topic_not_exist_response.bin", notFound},
		{"binary_send_v2_request.bin", bin},
		{"binary_send_response.bin", binResp},
		{"binary_notify_oneway.bin", notify},
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameCommand compares the wire-visible parts of two commands.
func sameCommand(t *testing.T, got, want *Command) {
	t.Helper()
	type view struct {
		Code, Version, Opaque, Flag int32
		Language, Remark            string
		Body                        []byte
		Type                        byte
		Ext                         []Field
	}
	v := func(c *Command) view {
		return view{c.Code, c.Version, c.Opaque, c.Flag, c.Language, c.Remark, c.Body, c.SerializeType, c.Fields()}
	}
	g, w := v(got), v(want)
	if len(g.Body) == 0 {
		g.Body = nil
	}
	if len(w.Body) == 0 {
		w.Body = nil
	}
	if len(g.Ext) == 0 {
		g.Ext = nil
	}
	if len(w.Ext) == 0 {
		w.Ext = nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("command mismatch\n got %+v\nwant %+v", g, w)
	}
}

func TestGoldenFrames(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.file, func(t *testing.T) {
			enc := tc.cmd.Encode(nil)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, enc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readTestdata(t, tc.file)
			if !bytes.Equal(enc, want) {
				t.Fatalf("encoding differs from %s\n got %q\nwant %q", path, enc, want)
			}
			got, err := DecodeCommand(want)
			if err != nil {
				t.Fatal(err)
			}
			wantCmd := tc.cmd
			if wantCmd.SerializeType == SerializeRocketMQ && wantCmd.Version == 0 {
				t.Fatal("test case needs a version")
			}
			sameCommand(t, got, wantCmd)
		})
	}
}

// TestRouteQueryWorkedExample checks REMOTING.md §2 byte for byte.
func TestRouteQueryWorkedExample(t *testing.T) {
	frame := readTestdata(t, "route_query.bin")
	if got := frame[:8]; !bytes.Equal(got, []byte{0, 0, 0, 0x70, 0, 0, 0, 0x6C}) {
		t.Fatalf("prefix = % x, want 00 00 00 70 00 00 00 6c", got)
	}
	const hdr = `{"code":105,"language":"GO","version":317,"opaque":3,"flag":0,"remark":"","extFields":{"topic":"TopicTest"}}`
	if got := string(frame[8:]); got != hdr {
		t.Fatalf("header = %s\nwant     %s", got, hdr)
	}
}

func TestRoundTrip(t *testing.T) {
	many := NewRequest(HeartBeat)
	for i := range 3 * inlineFields {
		many.SetExtInt(strings.Repeat("k", i+1), int64(i))
	}
	unicode := NewRequest(SendMessage, "properties", "TAGS\x01Tag\x02KEYS\x01ключ 键 🔑\x02", "ctl", "\x00\x1f\x7f\"\\/")
	unicode.Remark = "\u2028\u2029 <>&"
	empty := &Command{}
	negative := &Command{Code: -1, Version: -2, Opaque: -3, Flag: -4, Language: "RUST"}
	for _, typ := range []byte{SerializeJSON, SerializeRocketMQ} {
		for i, c := range []*Command{sendV2Request(), sendV2Response(), many, unicode, empty, negative} {
			c.SerializeType = typ
			got, err := DecodeCommand(c.Encode(nil))
			if err != nil {
				t.Fatalf("type %d case %d: %v", typ, i, err)
			}
			if typ == SerializeRocketMQ && languageByte(c.Language) == languageOther {
				c.Language = "OTHER" // what the binary header can say
			}
			sameCommand(t, got, c)
		}
	}
}

func TestEncodeHeaderMatchesEncode(t *testing.T) {
	for _, typ := range []byte{SerializeJSON, SerializeRocketMQ} {
		c := sendV2Request()
		c.SerializeType = typ
		whole := c.Encode([]byte("prefix"))
		split := append(c.EncodeHeader([]byte("prefix"), len(c.Body)), c.Body...)
		if !bytes.Equal(whole, split) {
			t.Fatalf("type %d: EncodeHeader+body differs from Encode", typ)
		}
	}
}

func TestBinaryLanguages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GO", "GO"}, {"JAVA", "JAVA"}, {"NODE_JS", "NODE_JS"}, {"CPP", "CPP"},
		{"COBOL", "OTHER"}, {"", "OTHER"}, {"OTHER", "OTHER"},
	} {
		c := &Command{Language: tc.in, SerializeType: SerializeRocketMQ}
		got, err := DecodeCommand(c.Encode(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.Language != tc.want {
			t.Errorf("language %q decoded as %q, want %q", tc.in, got.Language, tc.want)
		}
	}
	frame := (&Command{SerializeType: SerializeRocketMQ}).Encode(nil)
	frame[8+2] = 200
	if got, err := DecodeCommand(frame); err != nil || got.Language != "OTHER" {
		t.Errorf("language byte 200: %v, %v; want OTHER", got, err)
	}
}

// jsonFrame wraps a JSON header (and body) in a frame.
func jsonFrame(hdr string, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(hdr)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(hdr)))
	return append(append(b, hdr...), body...)
}

func TestDecodeJSONLeniency(t *testing.T) {
	check := func(hdr string, want *Command) {
		t.Helper()
		got, err := DecodeCommand(jsonFrame(hdr, ""))
		if err != nil {
			t.Fatalf("%s: %v", hdr, err)
		}
		sameCommand(t, got, want)
	}
	withExt := func(c *Command, kv ...string) *Command {
		for i := 0; i < len(kv); i += 2 {
			c.ext = append(c.ext, Field{kv[i], kv[i+1]})
		}
		return c
	}
	// Java: extra key, null remark and extFields omitted or null.
	check(`{"code":0,"extFields":null,"flag":1,"language":"JAVA","opaque":7,"remark":null,"serializeTypeCurrentRPC":"JSON","version":453}`,
		&Command{Code: 0, Flag: 1, Language: "JAVA", Opaque: 7, Version: 453})
	// White space, unknown nested values, escapes, surrogate pairs.
	check(" {\n \"x\" : {\"a\":[1,2.5e3,{\"b\":null}],\"c\":\"\\\"}\"} ,\"code\" : 10 , \"extFields\" : {\"properties\":\"TAGS\\u0001A\\u0002K\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\"} } \r\n",
		withExt(&Command{Code: 10}, "properties", "TAGS\x01A\x02Ké😀\n\t\"\\/"))
	// Numbers and booleans as ext values keep their text; null values are dropped.
	check(`{"extFields":{"queueId":1,"neg":-2.5e1,"batch":true,"unit":false,"gone":null,"s":""}}`,
		withExt(&Command{}, "queueId", "1", "neg", "-2.5e1", "batch", "true", "unit", "false", "s", ""))
	// White space everywhere inside extFields, escapes in keys.
	check("{\"extFields\":{ \"a\" : \"x\" ,\n\"b\"\t:\t1 , \"k\\u0065y\":\"v\\\"\" , \"e\": \"\" }}",
		withExt(&Command{}, "a", "x", "b", "1", "key", "v\"", "e", ""))
	// Lone surrogates become U+FFFD.
	check(`{"remark":"\ud800x\udc00"}`, &Command{Remark: "\uFFFDx\uFFFD"})
	// Duplicate keys: last wins in Ext.
	got, err := DecodeCommand(jsonFrame(`{"extFields":{"k":"1","k":"2"}}`, ""))
	if err != nil || got.ExtValue("k") != "2" {
		t.Fatalf("duplicate key: %v %q", err, got.ExtValue("k"))
	}
	// The body is kept; the header's escapes do not disturb it.
	got, err = DecodeCommand(jsonFrame(`{"remark":"a\nb"}`, "BODY"))
	if err != nil || string(got.Body) != "BODY" || got.Remark != "a\nb" {
		t.Fatalf("body: %v %q %q", err, got.Body, got.Remark)
	}
}

func TestDecodeCopies(t *testing.T) {
	frame := sendV2Request().Encode(nil)
	got, err := DecodeCommand(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := sendV2Request()
	for i := range frame {
		frame[i] = 0xAA
	}
	sameCommand(t, got, want)
}

func TestDecodeBadFrames(t *testing.T) {
	binHdr := func(h []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(h)))
		b = binary.BigEndian.AppendUint32(b, 1<<24|uint32(len(h)))
		return append(b, h...)
	}
	fixed := func(remarkLen int32) []byte {
		h := make([]byte, 13)
		return binary.BigEndian.AppendUint32(h, uint32(remarkLen))
	}
	good := (&Command{SerializeType: SerializeRocketMQ}).Encode(nil)
	badType := bytes.Clone(good)
	badType[4] = 2
	hdrPast := bytes.Clone(good)
	binary.BigEndian.PutUint32(hdrPast[4:], 1<<24|0xFFFF)

	cases := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short prefix", []byte{0, 0, 0, 4, 0}},
		{"length mismatch", append(bytes.Clone(good), 0)},
		{"length too small", []byte{0, 0, 0, 2, 0, 0, 0, 0}},
		{"bad serialize type", badType},
		{"header length past frame end", hdrPast},
		{"json not an object", jsonFrame(`[]`, "")},
		{"json empty", jsonFrame(``, "")},
		{"json unterminated", jsonFrame(`{"code":1`, "")},
		{"json trailing garbage", jsonFrame(`{"code":1}x`, "")},
		{"json bad number", jsonFrame(`{"code":1x}`, "")},
		{"json fractional code", jsonFrame(`{"code":1.5}`, "")},
		{"json code overflow", jsonFrame(`{"code":99999999999}`, "")},
		{"json code string", jsonFrame(`{"code":"1"}`, "")},
		{"json unterminated string", jsonFrame(`{"remark":"abc`, "")},
		{"json bad escape", jsonFrame(`{"remark":"\x"}`, "")},
		{"json bad unicode escape", jsonFrame(`{"remark":"\u12G4"}`, "")},
		{"json short unicode escape", jsonFrame(`{"remark":"\u12"}`, "")},
		{"json ext object value", jsonFrame(`{"extFields":{"a":{}}}`, "")},
		{"json ext array", jsonFrame(`{"extFields":[]}`, "")},
		{"json ext missing colon", jsonFrame(`{"extFields":{"a" "b"}}`, "")},
		{"json ext cut", jsonFrame(`{"extFields":{"a":`, "")},
		{"json missing comma", jsonFrame(`{"code":1 "flag":2}`, "")},
		{"json key not string", jsonFrame(`{code:1}`, "")},
		{"json bad literal", jsonFrame(`{"x":nul}`, "")},
		{"json mismatched brackets", jsonFrame(`{"x":[1}`, "")},
		{"json too deep", jsonFrame(`{"x":`+strings.Repeat("[", 1000)+strings.Repeat("]", 1000)+`}`, "")},
		{"json language number", jsonFrame(`{"language":9}`, "")},
		{"binary short fixed", binHdr(make([]byte, 20))},
		{"binary negative remark", binHdr(fixed(-1))},
		{"binary remark past header", binHdr(fixed(100))},
		{"binary missing ext length", binHdr(fixed(0))},
		{"binary negative ext length", binHdr(binary.BigEndian.AppendUint32(fixed(0), 0xFFFFFFFF))},
		{"binary ext past header", binHdr(binary.BigEndian.AppendUint32(fixed(0), 10))},
		{"binary trailing", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 0), 1))},
		{"binary ext key cut", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 1), 0))},
		{"binary negative key length", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 2), 0xFF, 0xFF))},
		{"binary key past ext", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 3), 0, 5, 'a'))},
		{"binary value length cut", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 5), 0, 1, 'a', 0, 0))},
		{"binary negative value length", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 7), 0, 1, 'a', 0xFF, 0xFF, 0xFF, 0xFF))},
		{"binary value past ext", binHdr(append(binary.BigEndian.AppendUint32(fixed(0), 7), 0, 1, 'a', 0, 0, 0, 9))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand(tc.frame)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", c)
			}
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range goldenCases() {
		f.Add(readTestdata(f, tc.file))
	}
	f.Add(jsonFrame(`{"x":{"a":[1,{"b":"\u00e9"}]},"extFields":{"q":1,"b":true,"n":null}}`, "body"))
	f.Add(jsonFrame(`{"remark":"\ud83d\ude00\ud800"}`, ""))
	f.Fuzz(func(t *testing.T, frame []byte) {
		cmd, err := DecodeCommand(frame)
		if err != nil {
			return // rejecting input is fine; panics and hangs are not
		}
		enc := cmd.Encode(nil)
		back, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		sameCommand(t, back, cmd)
		if again := back.Encode(nil); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable:\n%q\n%q", enc, again)
		}
	})
}

// BenchmarkCodec decodes and re-encodes a SEND_MESSAGE_V2 request with a
// 1 KiB body the way the server does: the frame is copied into a pooled
// buffer, decoded into a pooled Command, the Command is encoded, and the
// request is released (what HandleScoped handlers get). The -unpooled
// variants are DecodeCommand, which allocates the Command and its buffer
// each time (what clients use for responses they hand to callers).
func BenchmarkCodec(b *testing.B) {
	for _, tc := range []struct {
		name string
		typ  byte
	}{{"json", SerializeJSON}, {"binary", SerializeRocketMQ}} {
		req := sendV2Request()
		req.SerializeType = tc.typ
		frame := req.Encode(nil)
		b.Run(tc.name, func(b *testing.B) {
			dst := make([]byte, 0, 2*len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := decodeRequest(frame)
				if err != nil {
					b.Fatal(err)
				}
				dst = c.Encode(dst[:0])
				c.release()
			}
		})
		b.Run(tc.name+"-unpooled", func(b *testing.B) {
			dst := make([]byte, 0, 2*len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := DecodeCommand(frame)
				if err != nil {
					b.Fatal(err)
				}
				dst = c.Encode(dst[:0])
			}
		})
	}
}

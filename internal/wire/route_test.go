package wire

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// JSON bodies kept by other packages: what our namesrv writes (standard
// JSON), what a Java namesrv writes (fastjson, bare integer keys), and
// REGISTER_BROKER bodies in both forms.
const (
	namesrvJSON  = "../../namesrv/testdata/*.json"
	fastjsonJSON = "../../client/testdata/route_fastjson.json"
)

// TestQuoteNumericKeys holds the cases of the three copies this replaced
// (namesrv: register bodies and data versions; broker: offsets and topics
// files; client: route bodies) with the output of the one left. Each
// output must also decode to what the fastjson text meant.
func TestQuoteNumericKeys(t *testing.T) {
	cases := []struct{ in, want string }{
		// namesrv
		{`{0:"a:1",1:"b:2"}`, `{"0":"a:1","1":"b:2"}`},
		{`{ 0 : "a" , -12:{3:[4,{5:6}]}}`, `{ "0" : "a" , "-12":{"3":[4,{"5":6}]}}`},
		{`{"k":[1,2,{3:"{4:5}"}]}`, `{"k":[1,2,{"3":"{4:5}"}]}`},
		{`{"s":"a\"b{0:1}","n":0}`, `{"s":"a\"b{0:1}","n":0}`},
		{`[0,1,{2:3}]`, `[0,1,{"2":3}]`},
		{`{"already":"quoted"}`, `{"already":"quoted"}`},
		{`{1.5e3:true}`, `{"1.5e3":true}`},
		{``, ``},
		{`}}{`, `}}{`},
		// broker (its copy also dropped the white space before a key)
		{`{"offsetTable":{"T@G":{0:12,1:34}}}`, `{"offsetTable":{"T@G":{"0":12,"1":34}}}`},
		{`{ 0 : "a:1", -1:2}`, `{ "0" : "a:1", "-1":2}`},
		{`{"k":"{0:1}"}`, `{"k":"{0:1}"}`},
		{`[1,2,{3:4}]`, `[1,2,{"3":4}]`},
		{"{\n\t0:1,\r\n\t1:2}", "{\n\t\"0\":1,\r\n\t\"1\":2}"},
		// client
		{`{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"}}`, `{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"}}`},
		{`{"brokerAddrs":{0:"a,1:b"},"brokerName":"x{1:2}"}`, `{"brokerAddrs":{"0":"a,1:b"},"brokerName":"x{1:2}"}`},
		{`{"s":"\\",0:1}`, `{"s":"\\","0":1}`}, // an escaped backslash ends the string
		{`{"a":[{-1:"x:1"}],"b":{"0":"y:2"}}`, `{"a":[{"-1":"x:1"}],"b":{"0":"y:2"}}`},
	}
	for _, c := range cases {
		got := quoteNumericKeys([]byte(c.in))
		if string(got) != c.want {
			t.Errorf("quoteNumericKeys(%s) = %s, want %s", c.in, got, c.want)
		}
		if json.Valid([]byte(c.want)) != json.Valid(got) {
			t.Errorf("quoteNumericKeys(%s): validity differs", c.in)
		}
	}
	in := []byte(`{"a":1}`)
	if out := quoteNumericKeys(in); &out[0] != &in[0] {
		t.Error("input without numeric keys was copied")
	}
	if n := testing.AllocsPerRun(100, func() { quoteNumericKeys(in) }); n != 0 {
		t.Errorf("quoteNumericKeys of standard JSON allocates %v times", n)
	}
}

func TestUnmarshalTopicRoute(t *testing.T) {
	type broker struct {
		name  string
		addrs BrokerAddrs
	}
	check := func(name, body string, want []broker) {
		t.Helper()
		var r TopicRoute
		if err := Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.BrokerDatas) != len(want) {
			t.Fatalf("%s: %d brokers, want %d", name, len(r.BrokerDatas), len(want))
		}
		for i, w := range want {
			bd := r.BrokerDatas[i]
			if bd.BrokerName != w.name || !maps.Equal(bd.BrokerAddrs, w.addrs) {
				t.Errorf("%s: broker %d = %s %v, want %s %v", name, i, bd.BrokerName, bd.BrokerAddrs, w.name, w.addrs)
			}
		}
	}
	ab := []broker{{"broker-a", BrokerAddrs{0: "10.0.0.5:10911", 1: "10.0.0.6:10911"}}}
	check("standard", `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[]}`, ab)
	check("fastjson bare ids", `{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[]}`, ab)
	check("white space", "{ \"brokerDatas\" : [ { \"brokerAddrs\" : { 0 : \"10.0.0.5:10911\" ,\n 1 : \" 10.0.0.6:10911\" } , \"brokerName\" : \"broker-a\" } ] }", ab)
	check("quoted ids with spaces", `{"brokerDatas":[{"brokerAddrs":{" 0":"10.0.0.5:10911", "1 ":"10.0.0.6:10911"},"brokerName":"broker-a"}]}`, ab)
	check("bare-id lookalikes inside strings stay", `{"brokerDatas":[{"brokerAddrs":{0:"a,1:b"},"brokerName":"x{1:2}"}]}`,
		[]broker{{"x{1:2}", BrokerAddrs{0: "a,1:b"}}})
	check("no brokerAddrs", `{"brokerDatas":[{"brokerName":"broker-a"}],"queueDatas":[]}`, []broker{{"broker-a", nil}})
	check("null brokerAddrs", `{"brokerDatas":[{"brokerName":"broker-a","brokerAddrs":null}]}`, []broker{{"broker-a", nil}})
	check("empty brokerAddrs", `{"brokerDatas":[{"brokerName":"broker-a","brokerAddrs":{}}]}`, []broker{{"broker-a", BrokerAddrs{}}})
	check("empty address dropped", `{"brokerDatas":[{"brokerName":"a","brokerAddrs":{"0":" ","1":"b:1"}}]}`, []broker{{"a", BrokerAddrs{1: "b:1"}}})
	check("two groups, negative id", `{"brokerDatas":[{"brokerAddrs":{-1:"x:1"},"brokerName":"a"},{"brokerAddrs":{"0":"y:2"},"brokerName":"b"}]}`,
		[]broker{{"a", BrokerAddrs{-1: "x:1"}}, {"b", BrokerAddrs{0: "y:2"}}})

	for _, bad := range []string{``, `{`, `{"brokerDatas":[{"brokerAddrs":{"zero":"a:1"}}]}`, `{"brokerDatas":[{"brokerAddrs":{0:1}}]}`, `[1]`} {
		var r TopicRoute
		if err := Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", bad)
		}
	}

	for _, body := range goldenFiles(t, fastjsonJSON) {
		var r TopicRoute
		if err := Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.BrokerDatas) != 3 || r.BrokerDatas[2].BrokerAddrs[1] != "127.0.0.1:10951" || len(r.QueueDatas) != 3 || r.QueueDatas[1].WriteQueueNums != 2 {
			t.Errorf("fastjson route: %+v", r)
		}
	}
}

func TestBrokerAddrsOrder(t *testing.T) {
	b, err := json.Marshal(BrokerAddrs{10: "c:3", 2: "b:2", 0: "a:1"})
	if err != nil || string(b) != `{"0":"a:1","2":"b:2","10":"c:3"}` {
		t.Fatalf("brokerAddrs = %s, %v", b, err)
	}
	b, err = json.Marshal(BrokerData{})
	if err != nil || string(b) != `{"brokerAddrs":{},"brokerName":"","cluster":""}` {
		t.Fatalf("empty broker data = %s, %v", b, err)
	}
}

// TestRouteJSONGolden: our namesrv's route, cluster and topic-list bodies
// decode and encode back to the same bytes.
func TestRouteJSONGolden(t *testing.T) {
	files := goldenFiles(t, namesrvJSON)
	for name, want := range map[string]any{
		"route_TopicTest.json": &TopicRoute{},
		"route_ReadOnly.json":  &TopicRoute{},
		"cluster_info.json":    &ClusterInfo{},
		"topic_list.json":      &TopicList{},
	} {
		body, ok := files["../../namesrv/testdata/"+name]
		if !ok {
			t.Fatalf("no golden file %s", name)
		}
		if err := Unmarshal(body, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.TrimSpace(body)) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, body)
		}
	}
}

// FuzzQuoteNumericKeys: standard JSON is returned as it is; otherwise the
// output is the input with quotes added and nothing else, and a second pass
// changes nothing.
func FuzzQuoteNumericKeys(f *testing.F) {
	for _, pattern := range []string{namesrvJSON, fastjsonJSON} {
		for _, b := range goldenFiles(f, pattern) {
			f.Add(b)
		}
	}
	f.Add([]byte(`{0:"a:1",1:"b:2"}`))
	f.Add([]byte(`{"s":"x\"{0:1}","a":[{-1:2}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := quoteNumericKeys(in)
		if json.Valid(in) && !bytes.Equal(out, in) {
			t.Fatalf("valid JSON %q was rewritten to %q", in, out)
		}
		i := 0
		for _, c := range out {
			if i < len(in) && c == in[i] {
				i++
			} else if c != '"' {
				t.Fatalf("%q became %q: more than quotes added", in, out)
			}
		}
		if i != len(in) {
			t.Fatalf("%q became %q: bytes lost", in, out)
		}
		if again := quoteNumericKeys(out); !bytes.Equal(again, out) {
			t.Fatalf("second pass over %q gave %q", out, again)
		}
	})
}

// FuzzTopicRoute: a route body that decodes encodes as standard JSON that
// decodes to the same route, and so does its fastjson form (bare ids).
func FuzzTopicRoute(f *testing.F) {
	for _, pattern := range []string{namesrvJSON, fastjsonJSON} {
		for _, b := range goldenFiles(f, pattern) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r TopicRoute
		if Unmarshal(body, &r) != nil {
			return
		}
		enc, err := json.Marshal(&r)
		if err != nil {
			t.Fatalf("%+v does not encode: %v", r, err)
		}
		for _, form := range [][]byte{enc, unquoteIDs(t, r)} {
			var back TopicRoute
			if err := Unmarshal(form, &back); err != nil {
				t.Fatalf("%s (from %q) does not decode: %v", form, body, err)
			}
			if !reflect.DeepEqual(normalRoute(back), normalRoute(r)) {
				t.Fatalf("%q decodes to %+v; as %s to %+v", body, r, form, back)
			}
		}
		var ci ClusterInfo
		_ = Unmarshal(body, &ci) // the same types in another shape: no panic
	})
}

// unquoteIDs is r as fastjson writes it: brokerAddrs ids bare.
func unquoteIDs(t *testing.T, r TopicRoute) []byte {
	var b bytes.Buffer
	b.WriteString(`{"brokerDatas":[`)
	for i, bd := range r.BrokerDatas {
		if i > 0 {
			b.WriteByte(',')
		}
		var addrs []byte
		for j, id := range slices.Sorted(maps.Keys(bd.BrokerAddrs)) {
			if j > 0 {
				addrs = append(addrs, ',')
			}
			v, _ := json.Marshal(bd.BrokerAddrs[id])
			addrs = append(strconv.AppendInt(addrs, id, 10), ':')
			addrs = append(addrs, v...)
		}
		name, _ := json.Marshal(bd.BrokerName)
		cluster, _ := json.Marshal(bd.Cluster)
		b.WriteString(`{"brokerAddrs":{`)
		b.Write(addrs)
		b.WriteByte('}')
		b.WriteString(`,"brokerName":`)
		b.Write(name)
		b.WriteString(`,"cluster":`)
		b.Write(cluster)
		b.WriteByte('}')
	}
	qds, err := json.Marshal(r.QueueDatas)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(`],"queueDatas":`)
	b.Write(qds)
	b.WriteByte('}')
	return b.Bytes()
}

// normalRoute treats nil and empty alike.
func normalRoute(r TopicRoute) TopicRoute {
	if len(r.BrokerDatas) == 0 {
		r.BrokerDatas = nil
	}
	if len(r.QueueDatas) == 0 {
		r.QueueDatas = nil
	}
	r.BrokerDatas = slices.Clone(r.BrokerDatas)
	for i := range r.BrokerDatas {
		if len(r.BrokerDatas[i].BrokerAddrs) == 0 {
			r.BrokerDatas[i].BrokerAddrs = nil
		}
	}
	return r
}

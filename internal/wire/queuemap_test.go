package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestQueueMapRoundTrip(t *testing.T) {
	in := []QueueValue{
		{Queue: MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}, Value: json.RawMessage(`5`)},
		{Queue: MessageQueue{Topic: "%RETRY%g", BrokerName: "b", QueueID: 3}, Value: json.RawMessage(`{"brokerOffset":10,"consumerOffset":4}`)},
	}
	enc := AppendQueueMap(nil, in)
	want := `{{"brokerName":"broker-a","queueId":0,"topic":"T"}:5,{"brokerName":"b","queueId":3,"topic":"%RETRY%g"}:{"brokerOffset":10,"consumerOffset":4}}`
	if string(enc) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", enc, want)
	}
	out, err := ParseQueueMap(enc)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("parse: %v\n%+v", err, out)
	}
	if out, err := ParseQueueMap([]byte(" {} ")); err != nil || len(out) != 0 {
		t.Fatalf("empty map: %v %v", out, err)
	}
}

func TestParseQueueMapGson(t *testing.T) {
	in := `[[{"topic":"T","brokerName":"b","queueId":1},7], [ {"queueId":2,"topic":"T","brokerName":"b"} , 8 ]]`
	out, err := ParseQueueMap([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueValue{
		{Queue: MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}, Value: json.RawMessage(`7`)},
		{Queue: MessageQueue{Topic: "T", BrokerName: "b", QueueID: 2}, Value: json.RawMessage(`8`)},
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %+v", out)
	}
}

func TestObjectField(t *testing.T) {
	body := []byte(`{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":3}},"s":"a\"}"}`)
	v, ok, err := ObjectField(body, "offsetTable")
	if err != nil || !ok || string(v) != `{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":3}}` {
		t.Fatalf("offsetTable: %q %v %v", v, ok, err)
	}
	if v, ok, _ := ObjectField(body, "consumeTps"); !ok || string(v) != "1.5" {
		t.Fatalf("consumeTps: %q %v", v, ok)
	}
	if _, ok, err := ObjectField(body, "missing"); ok || err != nil {
		t.Fatalf("missing: %v %v", ok, err)
	}
}

func TestParseQueueMapRejects(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[[{"topic":"T"}]]`, `{{"topic":"T"}5}`, `{{"topic":"T"}:5`, `{"a":5}`, `{{"queueId":"x"}:1}`,
		`{{"topic":"T"}:"unterminated}`, `{{"topic":"T"}:1} x`, `[1]`, `7`,
		string(make([]byte, 0)) + `{{"t":` + string(deep(100)) + `}:1}`,
	} {
		if _, err := ParseQueueMap([]byte(in)); err == nil {
			t.Errorf("ParseQueueMap(%q): no error", in)
		}
	}
}

func deep(n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = append(b, '[')
	}
	for range n {
		b = append(b, ']')
	}
	return b
}

func FuzzParseQueueMap(f *testing.F) {
	f.Add([]byte(`{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1}}`))
	f.Add([]byte(`[[{"topic":"T","brokerName":"b","queueId":1},7]]`))
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5},"consumeTps":0.0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ObjectField(b, "offsetTable")
		out, err := ParseQueueMap(b)
		if err != nil {
			return
		}
		back, err := ParseQueueMap(AppendQueueMap(nil, out))
		if err != nil || len(back) != len(out) {
			t.Fatalf("re-parse of %q: %v", b, err)
		}
		for i := range out {
			if back[i].Queue != out[i].Queue || string(back[i].Value) != string(out[i].Value) {
				t.Fatalf("entry %d changed: %+v -> %+v", i, out[i], back[i])
			}
		}
	})
}

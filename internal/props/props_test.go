package props

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	in := `# comment
! also a comment
brokerClusterName = DefaultCluster
brokerName:broker-a
brokerId 0
namesrvAddr=127.0.0.1:9876;\
    127.0.0.1:9877
path=C\:\\store\u0041
empty=
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"brokerClusterName": "DefaultCluster",
		"brokerName":        "broker-a",
		"brokerId":          "0",
		"namesrvAddr":       "127.0.0.1:9876;127.0.0.1:9877",
		"path":              `C:\storeA`,
		"empty":             "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

func TestParseBadEscape(t *testing.T) {
	if _, err := Parse(strings.NewReader("k=\\u12")); err == nil {
		t.Fatal("want error for truncated \\u escape")
	}
}

type cfg struct {
	Name     string        `prop:"brokerName"`
	ID       int64         `prop:"brokerId"`
	Auto     bool          `prop:"autoCreateTopicEnable"`
	Timeout  time.Duration `prop:"syncFlushTimeout"`
	Untagged int
	Group    group // its tagged fields are keys too
}

type group struct {
	Mark int `prop:"writeBufferHighWaterMark"`
}

func TestBind(t *testing.T) {
	var c cfg
	unknown, err := Bind(&c, map[string]string{
		"brokerName": "b", "brokerId": " 3 ", "autoCreateTopicEnable": "true",
		"syncFlushTimeout": "1500", "somethingElse": "x", "writeBufferHighWaterMark": "4096",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "b" || c.ID != 3 || !c.Auto || c.Timeout != 1500*time.Millisecond || c.Group.Mark != 4096 {
		t.Fatalf("bound %+v", c)
	}
	if !reflect.DeepEqual(unknown, []string{"somethingElse"}) {
		t.Fatalf("unknown = %v", unknown)
	}
}

func TestBindErrorsNameEveryKey(t *testing.T) {
	var c cfg
	_, err := Bind(&c, map[string]string{"brokerId": "zero", "autoCreateTopicEnable": "maybe"})
	if err == nil {
		t.Fatal("want error")
	}
	for _, key := range []string{"brokerId", "autoCreateTopicEnable"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestKeysAndFormat(t *testing.T) {
	c := cfg{Name: "b"}
	if got := Keys(&c); !reflect.DeepEqual(got, []string{"autoCreateTopicEnable", "brokerId", "brokerName", "syncFlushTimeout", "writeBufferHighWaterMark"}) {
		t.Fatalf("Keys = %v", got)
	}
	if got := Format(&c); got[2] != "brokerName=b" {
		t.Fatalf("Format = %v", got)
	}
}

func TestEach(t *testing.T) {
	c := cfg{Name: "b", Timeout: 2 * time.Second}
	var keys []string
	var values []any
	Each(&c, func(k string, v any) { keys, values = append(keys, k), append(values, v) })
	if !reflect.DeepEqual(keys, []string{"brokerName", "brokerId", "autoCreateTopicEnable", "syncFlushTimeout", "writeBufferHighWaterMark"}) {
		t.Fatalf("keys in field order = %v", keys)
	}
	if values[0] != "b" || values[3] != 2*time.Second {
		t.Fatalf("values = %v", values)
	}
}

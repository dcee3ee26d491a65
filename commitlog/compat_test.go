package commitlog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/internal/wire"
)

// TestGoClientDecodes hands stored records, concatenated as a pull body is,
// to the official Go client's decoder.
func TestGoClientDecodes(t *testing.T) {
	l := openLog(t, testConfig(t.TempDir()))
	var want []*Message
	var res []AppendResult
	for i := range 6 {
		m := testMessage("TopicTest", int32(i%2), i)
		m.Properties += fmt.Sprintf("UNIQ_KEY\x01ID%d\x02", i)
		if i%3 == 2 {
			m.BornHost = mustAddrPort("[2001:db8::7]:40000")
			m.StoreHost = mustAddrPort("[::1]:10911")
		}
		want = append(want, m)
		res = append(res, mustAppend(t, l, m))
	}
	body, err := l.Read(res[0].PhysOffset, int32(res[len(res)-1].EndOffset()-res[0].PhysOffset))
	if err != nil {
		t.Fatal(err)
	}
	got := primitive.DecodeMessage(bytes.Clone(body))
	if len(got) != len(want) {
		t.Fatalf("decoded %d messages, want %d", len(got), len(want))
	}
	for i, g := range got {
		m, r := want[i], res[i]
		check := func(field string, got, want any) {
			if got != want {
				t.Errorf("message %d %s = %v, want %v", i, field, got, want)
			}
		}
		check("Topic", g.Topic, m.Topic)
		check("Body", string(g.Body), string(m.Body))
		check("QueueId", g.Queue.QueueId, int(m.QueueID))
		check("QueueOffset", g.QueueOffset, r.QueueOffset)
		check("CommitLogOffset", g.CommitLogOffset, r.PhysOffset)
		check("StoreSize", g.StoreSize, r.WroteBytes)
		check("StoreTimestamp", g.StoreTimestamp, r.StoreTimestamp)
		check("BornTimestamp", g.BornTimestamp, m.BornTimestamp)
		check("Flag", g.Flag, m.Flag)
		check("BodyCRC", uint32(g.BodyCRC), wire.BodyCRC(m.Body))
		check("BornHost", g.BornHost, fmt.Sprintf("%s:%d", m.BornHost.Addr(), m.BornHost.Port()))
		check("StoreHost", g.StoreHost, fmt.Sprintf("%s:%d", m.StoreHost.Addr(), m.StoreHost.Port()))
		check("TAGS", g.GetTags(), fmt.Sprintf("tag%d", i%3))
		check("MsgId", g.MsgId, fmt.Sprintf("ID%d", i))
	}
}

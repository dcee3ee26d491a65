package broker

import (
	"bytes"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// FuzzDecodeBatch: a SEND_BATCH_MESSAGE body that decodes is its messages
// laid end to end, each encoding back to the same bytes (magic and body CRC,
// which the broker ignores, aside), and at least one; the seeds are what the
// official Go client sends.
func FuzzDecodeBatch(f *testing.F) {
	m1 := primitive.NewMessage("TopicTest", []byte("hello"))
	m1.WithTag("TagA")
	m1.WithKeys([]string{"k1", "k2"})
	m1.Flag = 7
	m2 := primitive.NewMessage("TopicTest", nil)
	m2.WithProperty("UNIQ_KEY", "7F00000100002A9F0000000000000001")
	f.Add(producer.MarshalMessageBatch(m1, m2))
	f.Add(producer.MarshalMessageBatch(m2))
	f.Add(batchEntryBytes(0, bytes.Repeat([]byte{0xff}, 300), ""))
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, err := decodeBatch(body)
		if err != nil {
			if entries != nil {
				t.Fatalf("error %v with %d entries", err, len(entries))
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("an empty batch accepted")
		}
		var enc []byte
		for _, e := range entries {
			p := len(enc)
			enc = append(enc, batchEntryBytes(e.flag, e.body, e.properties)...)
			copy(enc[p+4:p+12], body[p+4:p+12]) // magic and body CRC
		}
		if !bytes.Equal(enc, body) {
			t.Fatalf("batch %x re-encodes as %x", body, enc)
		}
	})
}

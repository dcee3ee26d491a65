package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/rocketgo/rocketgo/remoting"
)

// TestBadFramesCloseOnlyThatConnection writes broken frames on raw sockets
// and checks each socket is closed while the broker keeps serving others.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	c := startCluster(t, 1)
	frame := func(typ byte, header, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
		b = binary.BigEndian.AppendUint32(b, uint32(typ)<<24|uint32(len(header)))
		return append(append(b, header...), body...)
	}
	cases := map[string][]byte{
		"over 16 MiB":             binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 17<<20), 20),
		"header past frame":       binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 100),
		"malformed JSON":          frame(0, []byte(`{"code":10,"opaque":`), nil),
		"unknown serialize type":  frame(7, []byte(`{}`), nil),
		"binary header truncated": frame(1, []byte{0, 10, 9}, nil),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", c.brokerAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(data); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := io.Copy(io.Discard, conn); err != nil || n != 0 {
				t.Fatalf("want the connection closed without an answer; read %d bytes, err %v", n, err)
			}
			// Others carry on.
			if got := c.maxOffset("TBW102", 0); got != 0 {
				t.Fatalf("TBW102 max offset %d", got)
			}
		})
	}
}

// TestBadRequestsGetClearAnswers sends well-framed requests with bad
// content and checks each answer's code and remark.
func TestBadRequestsGetClearAnswers(t *testing.T) {
	c := startCluster(t, 1)
	c.createTopic("Good", 1)
	send := func(kv ...string) *remoting.Command {
		req := remoting.NewRequest(remoting.SendMessage, append([]string{"producerGroup", "PG", "topic", "Good", "queueId", "0", "sysFlag", "0", "bornTimestamp", "1", "flag", "0", "properties", ""}, kv...)...)
		req.Body = []byte("x")
		return req
	}
	withBody := func(req *remoting.Command, body []byte) *remoting.Command { req.Body = body; return req }
	noQueue := remoting.NewRequest(remoting.SendMessage)
	for _, f := range send().Fields() {
		if f.Key != "queueId" {
			noQueue.SetExt(f.Key, f.Value)
		}
	}
	noQueue.Body = []byte("x")
	cases := []struct {
		name   string
		req    *remoting.Command
		code   int32
		remark string
	}{
		{"unknown code", remoting.NewRequest(9999), remoting.RequestCodeNotSupported, "9999"},
		{"missing queueId", noQueue, remoting.InvalidParameter, "queueId"},
		{"ill-typed queueId", send("queueId", "one"), remoting.InvalidParameter, "queueId"},
		{"illegal topic", send("topic", "bad topic!"), remoting.MessageIllegal, "illegal characters"},
		{"topic too long", send("topic", strings.Repeat("t", 128)), remoting.MessageIllegal, "127"},
		{"body over maxMessageSize", withBody(send(), make([]byte, 4<<20+1)), remoting.MessageIllegal, "maxMessageSize"},
		{"queue out of range", send("queueId", "7"), remoting.SystemError, "queueId 7"},
		{"bad batch body", withBody(remoting.NewRequest(remoting.SendBatchMessage, "a", "PG", "b", "Good", "e", "0", "m", "true"), []byte{0, 0, 0, 50, 1, 2}), remoting.MessageIllegal, "batch"},
		{"pull with bad offset", remoting.NewRequest(remoting.PullMessage, "consumerGroup", "G", "topic", "Good", "queueId", "0", "queueOffset", "x"), remoting.InvalidParameter, "queueOffset"},
		{"pull of unknown topic", remoting.NewRequest(remoting.PullMessage, "consumerGroup", "G", "topic", "Nope", "queueId", "0", "queueOffset", "0"), remoting.TopicNotExist, "Nope"},
		{"heartbeat with bad JSON", withBody(remoting.NewRequest(remoting.HeartBeat), []byte("{")), remoting.SystemError, "JSON"},
		{"create topic with 0 queues", remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", "Z", "readQueueNums", "0", "writeQueueNums", "1"), remoting.InvalidParameter, "readQueueNums"},
		{"offset of unknown queue", remoting.NewRequest(remoting.GetMaxOffset, "topic", "Good", "queueId", "5"), remoting.InvalidParameter, "queueId 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := c.invoke(tc.req)
			if resp.Code != tc.code || !strings.Contains(resp.Remark, tc.remark) {
				t.Fatalf("got code %d remark %q; want code %d with remark mentioning %q", resp.Code, resp.Remark, tc.code, tc.remark)
			}
		})
	}
	// Nothing bad reached the store: the good topic holds exactly what a
	// good client sends.
	p := c.producer()
	if _, err := p.SendSync(context.Background(), primitive.NewMessage("Good", []byte("fine"))); err != nil {
		t.Fatal(err)
	}
	msgs := c.pullAll("Good", 1)[0]
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Body, []byte("fine")) {
		t.Fatalf("store holds %d messages after bad input", len(msgs))
	}
}

package namesrv

import (
	"fmt"
	"testing"

	"github.com/rocketgo/rocketgo/remoting"
)

// benchServer has 16 groups (master + slave) serving 100 topics each; every
// topic is on 4 groups.
func benchServer(b *testing.B) *Server {
	s := New(Config{Listen: "127.0.0.1:0"})
	b.Cleanup(func() { s.Close() })
	for g := range 16 {
		var topics []topic
		for i := range 100 {
			topics = append(topics, topic{fmt.Sprintf("Topic%03d", (g/4)*100+i), 8, 8, 6})
		}
		for id := range int64(2) {
			r := brokerReg{name: fmt.Sprintf("broker-%02d", g), addr: fmt.Sprintf("10.0.%d.%d:10911", g, id),
				id: id, counter: 1, topics: topics}
			if resp := s.dispatch(newConn(), r.request()); resp.Code != remoting.Success {
				b.Fatalf("register: %d %q", resp.Code, resp.Remark)
			}
		}
	}
	return s
}

func BenchmarkRouteByTopic(b *testing.B) {
	s := benchServer(b)
	req := remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "Topic042")
	c := newConn()
	b.ReportAllocs()
	for b.Loop() {
		if resp := s.dispatch(c, req); resp.Code != remoting.Success {
			b.Fatal(resp.Remark)
		}
	}
}

func BenchmarkRouteByTopicParallel(b *testing.B) {
	s := benchServer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "Topic042")
		c := newConn()
		for pb.Next() {
			if resp := s.dispatch(c, req); resp.Code != remoting.Success {
				b.Fatal(resp.Remark)
			}
		}
	})
}

// BenchmarkRegister is a periodic re-registration with an unchanged data
// version (the common case every 30 s), 100 topics in the body.
func BenchmarkRegister(b *testing.B) {
	s := benchServer(b)
	var topics []topic
	for i := range 100 {
		topics = append(topics, topic{fmt.Sprintf("Topic%03d", i), 8, 8, 6})
	}
	req := brokerReg{name: "broker-00", addr: "10.0.0.0:10911", counter: 1, topics: topics}.request()
	c := newConn()
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if resp := s.dispatch(c, req); resp.Code != remoting.Success {
			b.Fatal(resp.Remark)
		}
	}
}

package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Permission bits of a queueData (REMOTING.md §6.2).
const (
	permWrite = 0x2
	permRead  = 0x4
)

// routeData is GET_ROUTEINFO_BY_TOPIC's body (REMOTING.md §7.1).
type routeData struct {
	QueueDatas  []queueData  `json:"queueDatas"`
	BrokerDatas []brokerData `json:"brokerDatas"`
}

type queueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int    `json:"readQueueNums"`
	WriteQueueNums int    `json:"writeQueueNums"`
	Perm           int    `json:"perm"`
}

type brokerData struct {
	Cluster     string          `json:"cluster"`
	BrokerName  string          `json:"brokerName"`
	BrokerAddrs json.RawMessage `json:"brokerAddrs"`

	addrs map[int64]string // parsed BrokerAddrs
}

// parseRoute decodes a route body. It accepts standard JSON and Java
// fastjson's form with unquoted numeric object keys ({0:"host:port"}), and
// white space anywhere; brokerAddrs keys are broker ids.
func parseRoute(body []byte) (*routeData, error) {
	var rd routeData
	err := json.Unmarshal(body, &rd)
	if err != nil {
		fixed, ok := quoteNumericKeys(body)
		if !ok {
			return nil, fmt.Errorf("route JSON: %w", err)
		}
		rd = routeData{}
		if err := json.Unmarshal(fixed, &rd); err != nil {
			return nil, fmt.Errorf("route JSON: %w", err)
		}
	}
	for i := range rd.BrokerDatas {
		bd := &rd.BrokerDatas[i]
		bd.addrs = map[int64]string{}
		raw := bytes.TrimSpace(bd.BrokerAddrs)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("route JSON: brokerAddrs of %s: %w", bd.BrokerName, err)
		}
		for k, v := range m {
			id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("route JSON: brokerAddrs of %s: key %q is not a broker id", bd.BrokerName, k)
			}
			if v = strings.TrimSpace(v); v != "" {
				bd.addrs[id] = v
			}
		}
	}
	return &rd, nil
}

// quoteNumericKeys rewrites object keys written as bare numbers ({0:"a"})
// into strings ({"0":"a"}). It reports whether it changed anything.
func quoteNumericKeys(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)+16)
	changed := false
	inString := false
	expectKey := false // after '{' or ',' inside an object
	var stack []byte   // '{' or '['
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch c {
			case '\\':
				if i+1 < len(b) {
					i++
					out = append(out, b[i])
				}
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
			expectKey = false
		case c == '{' || c == '[':
			stack = append(stack, c)
			expectKey = c == '{'
		case c == '}' || c == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case c == ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case expectKey && (c == '-' || c >= '0' && c <= '9'):
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			out = append(out, '"')
			out = append(out, b[i:j]...)
			out = append(out, '"')
			changed = true
			expectKey = false
			i = j - 1
			continue
		default:
			expectKey = false
		}
		out = append(out, c)
	}
	return out, changed
}

// route is one topic's parsed route. It is immutable once published.
type route struct {
	topic    string
	fallback bool // built from the auto-create topic's route
	brokers  map[string]*brokerInfo
	pub      []MessageQueue // WRITE perm, master present; sorted by broker name
	sub      []MessageQueue // READ perm
}

// brokerInfo is one broker group as a route lists it.
type brokerInfo struct {
	name    string
	cluster string
	addrs   map[int64]string
	master  string  // brokerAddrs[0], "" when absent
	win     *window // the master connection's send window; nil without master
}

// addr picks the address for a pull that the broker suggested sending to
// id (REMOTING.md §12.8): that id, else id+1 for a slave id, else the
// master, else the lowest id. ok is false when the group has no address.
func (b *brokerInfo) addr(id int64) (addr string, chosen int64, ok bool) {
	if a, ok := b.addrs[id]; ok {
		return a, id, true
	}
	if id != 0 {
		if a, ok := b.addrs[id+1]; ok {
			return a, id + 1, true
		}
	}
	if b.master != "" {
		return b.master, 0, true
	}
	first := int64(-1)
	for i := range b.addrs {
		if first < 0 || i < first {
			first = i
		}
	}
	if first < 0 {
		return "", 0, false
	}
	return b.addrs[first], first, true
}

// buildRoute turns route data into a route for topic. maxQueues > 0 caps
// each broker's queue counts (the auto-create fallback). window returns
// the send window of a master address (nil for consumers).
func buildRoute(topic string, rd *routeData, maxQueues int, window func(addr string) *window) *route {
	r := &route{topic: topic, brokers: make(map[string]*brokerInfo, len(rd.BrokerDatas))}
	for i := range rd.BrokerDatas {
		bd := &rd.BrokerDatas[i]
		b := &brokerInfo{name: bd.BrokerName, cluster: bd.Cluster, addrs: bd.addrs, master: bd.addrs[0]}
		if b.master != "" && window != nil {
			b.win = window(b.master)
		}
		r.brokers[bd.BrokerName] = b
	}
	qds := slices.Clone(rd.QueueDatas)
	slices.SortStableFunc(qds, func(a, b queueData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	for _, qd := range qds {
		w, rn := qd.WriteQueueNums, qd.ReadQueueNums
		if maxQueues > 0 {
			w, rn = min(w, maxQueues), min(rn, maxQueues)
		}
		if qd.Perm&permWrite != 0 {
			if b := r.brokers[qd.BrokerName]; b != nil && b.master != "" {
				for i := 0; i < w; i++ {
					r.pub = append(r.pub, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
				}
			}
		}
		if qd.Perm&permRead != 0 {
			for i := 0; i < rn; i++ {
				r.sub = append(r.sub, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
			}
		}
	}
	return r
}

// sameRoute reports whether two routes would send and pull alike.
func sameRoute(a, b *route) bool {
	if a == nil || b == nil || a.fallback != b.fallback || !slices.Equal(a.pub, b.pub) || !slices.Equal(a.sub, b.sub) || len(a.brokers) != len(b.brokers) {
		return false
	}
	for name, x := range a.brokers {
		y := b.brokers[name]
		if y == nil || x.cluster != y.cluster || len(x.addrs) != len(y.addrs) {
			return false
		}
		for id, addr := range x.addrs {
			if y.addrs[id] != addr {
				return false
			}
		}
	}
	return true
}

package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Permission bits of a queue (REMOTING.md §6.2).
const (
	PermWrite = 0x2
	PermRead  = 0x4
)

// TopicRoute is the body of a GET_ROUTEINFO_BY_TOPIC response.
type TopicRoute struct {
	BrokerDatas []BrokerData `json:"brokerDatas"`
	QueueDatas  []QueueData  `json:"queueDatas"`
}

// QueueData is one broker group's share of a topic. The field order is the
// one fastjson writes (alphabetical).
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int32  `json:"perm"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
	WriteQueueNums int32  `json:"writeQueueNums"`
}

// BrokerData is a broker group: its cluster and the address of each member.
type BrokerData struct {
	BrokerAddrs BrokerAddrs `json:"brokerAddrs"`
	BrokerName  string      `json:"brokerName"`
	Cluster     string      `json:"cluster"`
}

// BrokerAddrs maps broker ids to "host:port"; id 0 is the master.
type BrokerAddrs map[int64]string

// MarshalJSON writes the ids in numeric order and no white space.
func (a BrokerAddrs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, id := range slices.Sorted(maps.Keys(a)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteString(`":`)
		v, err := json.Marshal(a[id])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object of quoted ids (Unmarshal quotes fastjson's bare
// ones). White space around ids and addresses is dropped, and so are empty
// addresses.
func (a *BrokerAddrs) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil { // null
		return nil
	}
	out := make(BrokerAddrs, len(m))
	for k, v := range m {
		id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil {
			return fmt.Errorf("wire: brokerAddrs key %q is not a broker id", k)
		}
		if v = strings.TrimSpace(v); v != "" {
			out[id] = v
		}
	}
	*a = out
	return nil
}

// ClusterInfo is the body of a GET_BROKER_CLUSTER_INFO response: every
// group by name, and every cluster's group names.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the body of a GET_ALL_TOPIC_LIST_FROM_NAMESERVER response.
type TopicList struct {
	TopicList []string `json:"topicList"`
}

// Unmarshal is json.Unmarshal for JSON as Java's fastjson writes it: object
// keys may be bare integers ({0:"a"}).
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(quoteNumericKeys(data), v)
}

// quoteNumericKeys rewrites object keys written as bare numbers ({0:"a"}), as
// fastjson writes integer-keyed maps, into JSON strings ({"0":"a"}), so that
// encoding/json accepts the document. Everything else, strings and white
// space included, is copied unchanged; input that is not JSON stays invalid
// for the decoder to reject. When there is nothing to rewrite it returns b
// itself.
func quoteNumericKeys(b []byte) []byte {
	var (
		out       []byte      // nil until the first rewrite
		copied    int         // b[:copied] has been appended to out
		depth     [16]bool    // room for inObject on the stack
		inObject  = depth[:0] // per open container: true for '{', false for '['
		expectKey bool        // the next token is an object key
	)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			expectKey = false
		case '{':
			inObject = append(inObject, true)
			expectKey = true
		case '[':
			inObject = append(inObject, false)
			expectKey = false
		case '}', ']':
			if len(inObject) > 0 {
				inObject = inObject[:len(inObject)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
		case ' ', '\t', '\r', '\n':
			// white space keeps the current expectation
		default:
			if expectKey && (c == '-' || c >= '0' && c <= '9') {
				end := i + 1
				for end < len(b) && isNumberByte(b[end]) {
					end++
				}
				if out == nil {
					out = make([]byte, 0, len(b)+16)
				}
				out = append(out, b[copied:i]...)
				out = append(out, '"')
				out = append(out, b[i:end]...)
				out = append(out, '"')
				copied = end
				i = end - 1
			}
			expectKey = false
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[copied:]...)
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

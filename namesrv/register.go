package namesrv

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// maxInflatedBody bounds what a compressed REGISTER_BROKER body may inflate
// to (about 500k topics), so a small frame cannot exhaust memory.
const maxInflatedBody = 64 << 20

// registerBroker handles REGISTER_BROKER (103).
func (s *Server) registerBroker(p peer, req *remoting.Command) (*remoting.Command, error) {
	id, err := brokerIdentity(req)
	if err != nil {
		return nil, err
	}
	crc, err := req.Int64Or("bodyCrc32", 0)
	if err != nil {
		return nil, err
	}
	if crc != 0 && int64(crc32.ChecksumIEEE(req.Body)&0x7FFFFFFF) != crc {
		return nil, fmt.Errorf("register %s: %w", id.addr, ErrCRCMismatch)
	}
	timeoutMs, err := req.Int64Or("heartbeatTimeoutMillis", 0)
	if err != nil {
		return nil, err
	}
	version, topics, err := decodeRegisterBody(req.Body, req.Bool("compressed"))
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", id.addr, err)
	}
	res := s.table.register(&registration{
		cluster:      id.cluster,
		name:         id.name,
		addr:         id.addr,
		id:           id.id,
		haServerAddr: req.ExtValue("haServerAddr"),
		timeout:      time.Duration(timeoutMs) * time.Millisecond,
		version:      version,
		topics:       topics,
		conn:         p,
		actingMaster: req.Bool("enableActingMaster"),
	}, s.now())

	level := slog.LevelDebug
	if res.newAddr {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "broker registered", "cluster", id.cluster, "brokerName", id.name,
		"brokerId", id.id, "addr", id.addr, "topics", len(topics), "topicsUpdated", res.topicsUpdated)

	resp := remoting.NewResponse(req, remoting.Success, "")
	if res.masterAddr != "" {
		resp.SetExt("masterAddr", res.masterAddr)
		if res.masterHAAddr != "" {
			resp.SetExt("haServerAddr", res.masterHAAddr)
		}
	}
	return resp, nil
}

// unregisterBroker handles UNREGISTER_BROKER (104).
func (s *Server) unregisterBroker(_ peer, req *remoting.Command) (*remoting.Command, error) {
	id, err := brokerIdentity(req)
	if err != nil {
		return nil, err
	}
	if s.table.unregister(id.name, id.addr, id.id) {
		s.log.Info("broker removed", "reason", "unregistered", "cluster", id.cluster,
			"brokerName", id.name, "brokerId", id.id, "addr", id.addr)
	}
	return remoting.NewResponse(req, remoting.Success, ""), nil
}

// queryDataVersion handles QUERY_DATA_VERSION (322): ext `changed` says
// whether the broker must register again; an unchanged version counts as a
// sign of life.
func (s *Server) queryDataVersion(_ peer, req *remoting.Command) (*remoting.Command, error) {
	addr, err := brokerAddr(req)
	if err != nil {
		return nil, err
	}
	var v dataVersion
	if len(req.Body) > 0 {
		if err := wire.Unmarshal(req.Body, &v); err != nil {
			return nil, fmt.Errorf("data version of %s: %w: %w", addr, ErrMalformedBody, err)
		}
	}
	changed, stored := s.table.queryDataVersion(addr, v, s.now())
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("changed", strconv.FormatBool(changed))
	if stored != nil {
		resp.Body, _ = json.Marshal(stored) // a struct of int64s always encodes
	}
	return resp, nil
}

// identity is the broker identity every broker→namesrv request carries.
type identity struct {
	cluster, name, addr string
	id                  int64
}

func brokerIdentity(req *remoting.Command) (identity, error) {
	var id identity
	var err error
	if id.cluster, err = nonEmpty(req, "clusterName"); err != nil {
		return id, err
	}
	if id.name, err = nonEmpty(req, "brokerName"); err != nil {
		return id, err
	}
	if id.addr, err = brokerAddr(req); err != nil {
		return id, err
	}
	if id.id, err = req.Int64("brokerId"); err != nil {
		return id, err
	}
	if id.id < 0 {
		return id, &remoting.FieldError{Key: "brokerId", Value: strconv.FormatInt(id.id, 10), Reason: "negative"}
	}
	return id, nil
}

// brokerAddr returns ext brokerAddr, which must be host:port and free of the
// characters that would break the Go client's parsing of brokerAddrs.
func brokerAddr(req *remoting.Command) (string, error) {
	addr, err := nonEmpty(req, "brokerAddr")
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(addr, ",\"{} \t\r\n") || !strings.Contains(addr, ":") {
		return "", &remoting.FieldError{Key: "brokerAddr", Value: addr, Reason: "not a host:port address"}
	}
	return addr, nil
}

func nonEmpty(req *remoting.Command, key string) (string, error) {
	v, err := req.String(key)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", &remoting.FieldError{Key: key, Reason: "empty"}
	}
	return v, nil
}

// registerBody is the JSON form of a REGISTER_BROKER body. Fields we do not
// use (filterServerList, Java 5's topicQueueMappingInfoMap, …) are ignored.
type registerBody struct {
	TopicConfigSerializeWrapper struct {
		TopicConfigTable map[string]topicConfig `json:"topicConfigTable"`
		DataVersion      dataVersion            `json:"dataVersion"`
	} `json:"topicConfigSerializeWrapper"`
}

// topicConfig is the part of a broker's TopicConfig the namesrv keeps.
type topicConfig struct {
	ReadQueueNums  int32 `json:"readQueueNums"`
	WriteQueueNums int32 `json:"writeQueueNums"`
	Perm           int32 `json:"perm"`
	TopicSysFlag   int32 `json:"topicSysFlag"`
}

// decodeRegisterBody returns the data version and the topics of a
// REGISTER_BROKER body. An empty body is version zero with no topics.
func decodeRegisterBody(body []byte, compressed bool) (dataVersion, map[string]wire.QueueData, error) {
	if len(body) == 0 {
		return dataVersion{}, map[string]wire.QueueData{}, nil
	}
	if compressed {
		return decodeCompressedBody(body)
	}
	var rb registerBody
	if err := wire.Unmarshal(body, &rb); err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	w := rb.TopicConfigSerializeWrapper
	topics := make(map[string]wire.QueueData, len(w.TopicConfigTable))
	for name, tc := range w.TopicConfigTable {
		if err := addTopic(topics, name, tc); err != nil {
			return dataVersion{}, nil, err
		}
	}
	return w.DataVersion, topics, nil
}

func addTopic(topics map[string]wire.QueueData, name string, tc topicConfig) error {
	if name == "" {
		return fmt.Errorf("%w: a topic has an empty name", ErrMalformedBody)
	}
	if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 {
		return fmt.Errorf("%w: topic %s has negative queue numbers (read %d, write %d)",
			ErrMalformedBody, name, tc.ReadQueueNums, tc.WriteQueueNums)
	}
	topics[name] = wire.QueueData{
		ReadQueueNums:  tc.ReadQueueNums,
		WriteQueueNums: tc.WriteQueueNums,
		Perm:           tc.Perm,
		TopicSysFlag:   tc.TopicSysFlag,
	}
	return nil
}

// decodeCompressedBody decodes the compressed=true form: a zlib stream of
//
//	int32 len | DataVersion JSON
//	int32 topicCount, then per topic: int32 len | "name readQ writeQ perm filterType[ attributesJSON]"
//	int32 len | filter-server list JSON            (ignored)
//	int32 count | per entry int32 len | JSON      (Java 5 queue mappings, ignored)
func decodeCompressedBody(body []byte) (dataVersion, map[string]wire.QueueData, error) {
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: inflate: %w", ErrMalformedBody, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxInflatedBody+1))
	if err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: inflate: %w", ErrMalformedBody, err)
	}
	if len(raw) > maxInflatedBody {
		return dataVersion{}, nil, fmt.Errorf("%w: inflates to more than %d bytes", ErrMalformedBody, maxInflatedBody)
	}
	r := chunkReader{b: raw}
	var v dataVersion
	vb, err := r.chunk()
	if err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: data version: %w", ErrMalformedBody, err)
	}
	if err := wire.Unmarshal(vb, &v); err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: data version: %w", ErrMalformedBody, err)
	}
	n, err := r.int32()
	if err != nil {
		return dataVersion{}, nil, fmt.Errorf("%w: topic count: %w", ErrMalformedBody, err)
	}
	if n < 0 || int(n) > r.remaining()/4 {
		return dataVersion{}, nil, fmt.Errorf("%w: topic count %d does not fit the body", ErrMalformedBody, n)
	}
	topics := make(map[string]wire.QueueData, n)
	for i := range int(n) {
		tb, err := r.chunk()
		if err != nil {
			return dataVersion{}, nil, fmt.Errorf("%w: topic %d of %d: %w", ErrMalformedBody, i, n, err)
		}
		name, tc, err := parseTopicText(string(tb))
		if err != nil {
			return dataVersion{}, nil, fmt.Errorf("%w: topic %d of %d: %w", ErrMalformedBody, i, n, err)
		}
		if err := addTopic(topics, name, tc); err != nil {
			return dataVersion{}, nil, err
		}
	}
	return v, topics, nil
}

// parseTopicText parses TopicConfig's text form
// "name readQueueNums writeQueueNums perm topicFilterType[ attributes]".
func parseTopicText(s string) (string, topicConfig, error) {
	f := strings.SplitN(s, " ", 6)
	if len(f) < 5 {
		return "", topicConfig{}, fmt.Errorf("topic config %q has %d fields, want at least 5", s, len(f))
	}
	var nums [3]int32
	for i, field := range f[1:4] {
		n, err := strconv.ParseInt(field, 10, 32)
		if err != nil {
			return "", topicConfig{}, fmt.Errorf("topic config %q: %w", s, err)
		}
		nums[i] = int32(n)
	}
	return f[0], topicConfig{ReadQueueNums: nums[0], WriteQueueNums: nums[1], Perm: nums[2]}, nil
}

// chunkReader reads big-endian int32s and int32-length-prefixed chunks.
type chunkReader struct {
	b   []byte
	off int
}

func (r *chunkReader) remaining() int { return len(r.b) - r.off }

func (r *chunkReader) int32() (int32, error) {
	if r.remaining() < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v, nil
}

func (r *chunkReader) chunk() ([]byte, error) {
	n, err := r.int32()
	if err != nil {
		return nil, err
	}
	if n < 0 || int(n) > r.remaining() {
		return nil, fmt.Errorf("chunk length %d with %d bytes left: %w", n, r.remaining(), io.ErrUnexpectedEOF)
	}
	c := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return c, nil
}

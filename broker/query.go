package broker

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rocketgo/rocketgo/commitlog"
	"github.com/rocketgo/rocketgo/commitlog/index"
	"github.com/rocketgo/rocketgo/internal/wire"
	"github.com/rocketgo/rocketgo/remoting"
)

// The operator's lookups of stored messages: by key and unique key through
// the message index (commitlog/index), and by offset message id.

// uniqueKeyQuery is the ext field a client sets on QUERY_MESSAGE to look
// up a unique key (Java's MixAll.UNIQUE_MSG_QUERY_FLAG).
const uniqueKeyQuery = "_UNIQUE_KEY_QUERY"

// openIndex opens the message index under <storePathRootDir>/index, unless
// messageIndexEnable=false. Its builder starts with startIndex.
func (b *Broker) openIndex() error {
	if !b.cfg.MessageIndexEnable {
		return nil
	}
	x, err := index.Open(index.Config{
		Dir:        filepath.Join(b.cfg.StorePathRootDir, "index"),
		HashSlots:  b.cfg.MaxHashSlotNum,
		MaxEntries: b.cfg.MaxIndexNum,
		FS:         b.fs,
		Log:        b.log,
	}, b.store)
	if err != nil {
		return fmt.Errorf("open message index: %w", err)
	}
	b.index = x
	return nil
}

// recordAt reads the record stored at phy, pinned, and checks that one
// starts there (size, layout, offset and body CRC).
func (b *Broker) recordAt(pin *commitlog.Pin, phy int64) ([]byte, wire.RecordView, error) {
	var v wire.RecordView
	head, err := b.store.Read(phy, wire.BlankLen)
	if err != nil {
		return nil, v, err
	}
	size := int32(binary.BigEndian.Uint32(head))
	if size < wire.FixedLen {
		return nil, v, fmt.Errorf("no message starts at commit-log offset %d", phy)
	}
	rec, err := b.store.ReadPinned(pin, phy, size)
	if err != nil {
		return nil, v, err
	}
	if err := v.Parse(rec); err != nil || v.PhysOffset != phy || wire.BodyCRC(v.Body) != v.BodyCRC {
		return nil, v, fmt.Errorf("no message starts at commit-log offset %d", phy)
	}
	return rec, v, nil
}

// hasKey reports whether a record's properties carry key as its UNIQ_KEY
// or as one of its space-separated KEYS.
func hasKey(props []byte, key string) bool {
	p := string(props)
	if u, ok := property(p, "UNIQ_KEY"); ok && u == key {
		return true
	}
	keys, _ := property(p, "KEYS")
	return slices.Contains(strings.Split(keys, " "), key)
}

// queryMessage handles QUERY_MESSAGE (12): the messages of topic stored
// under key (a KEYS value or, with _UNIQUE_KEY_QUERY, the UNIQ_KEY), newest
// first, at most maxNum (maxMsgsNumBatch at most; defaultQueryMaxNum for
// a unique key, as Java), and no more than one frame holds.
func (b *Broker) queryMessage(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.String("topic")
	if err != nil {
		return fieldErr(req, err)
	}
	key, err := req.String("key")
	if err != nil {
		return fieldErr(req, err)
	}
	maxNum, err := req.Int32Or("maxNum", int32(b.cfg.DefaultQueryMaxNum))
	if err != nil {
		return fieldErr(req, err)
	}
	begin, err := req.Int64Or("beginTimestamp", 0)
	if err != nil {
		return fieldErr(req, err)
	}
	end, err := req.Int64Or("endTimestamp", math.MaxInt64)
	if err != nil {
		return fieldErr(req, err)
	}
	if req.Bool(uniqueKeyQuery) {
		maxNum = int32(b.cfg.DefaultQueryMaxNum)
	}
	switch {
	case topic == "" || key == "":
		return remoting.Errorf(req, remoting.InvalidParameter, "topic %q and key %q must not be empty", topic, key)
	case maxNum < 1:
		return remoting.Errorf(req, remoting.InvalidParameter, "maxNum=%d: want at least 1", maxNum)
	case begin > end:
		return remoting.Errorf(req, remoting.InvalidParameter, "beginTimestamp %d is after endTimestamp %d", begin, end)
	case b.index == nil:
		return remoting.Errorf(req, remoting.QueryNotFound, "messageIndexEnable=false on broker %s: messages cannot be found by key", b.cfg.BrokerName)
	}
	limit := min(int(maxNum), b.cfg.MaxMsgsNumBatch)
	room := b.cfg.MaxFrameSize - 64<<10 // for the header
	pin := new(commitlog.Pin)
	var parts [][]byte
	var seen []int64 // a record indexed twice (after a crash) is answered once
	bytes := 0
	b.index.Lookup(topic, key, begin, end, func(phy int64) bool {
		if slices.Contains(seen, phy) {
			return true
		}
		rec, v, err := b.recordAt(pin, phy)
		if err != nil || string(v.Topic) != topic || !hasKey(v.Properties, key) {
			return true // another key with the same hash, or an entry its record outlived
		}
		if len(parts) > 0 && bytes+len(rec) > room {
			return false
		}
		seen = append(seen, phy)
		parts = append(parts, rec)
		bytes += len(rec)
		return len(parts) < limit
	})
	if len(parts) == 0 {
		pin.Release()
		return remoting.Errorf(req, remoting.QueryNotFound, "can not find message, maybe time range not correct: no message of topic %s has key %q", topic, key)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	ts, phy := b.index.LastUpdate()
	resp.SetExtInt("indexLastUpdateTimestamp", ts)
	resp.SetExtInt("indexLastUpdatePhyoffset", phy)
	if err := c.AnswerBody(req, resp, parts, pin.Release); err != nil {
		b.log.Debug("answer query", "addr", c.RemoteAddr(), "err", err)
	}
	return req.Answered()
}

// viewMessageByID handles VIEW_MESSAGE_BY_ID (33): the record stored at a
// commit-log offset (the one an offset message id names).
func (b *Broker) viewMessageByID(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	off, err := req.Int64("offset")
	if err != nil {
		return fieldErr(req, err)
	}
	pin := new(commitlog.Pin)
	rec, _, err := b.recordAt(pin, off)
	if err != nil {
		pin.Release()
		return remoting.Errorf(req, remoting.SystemError, "can not find message by the offset, %d: %v (this broker's log holds [%d, %d))",
			off, err, b.store.MinOffset(), b.store.MaxOffset())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	if err := c.AnswerBody(req, resp, [][]byte{rec}, pin.Release); err != nil {
		b.log.Debug("answer view message", "addr", c.RemoteAddr(), "err", err)
	}
	return req.Answered()
}

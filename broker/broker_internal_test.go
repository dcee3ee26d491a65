package broker

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesEveryBadKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BrokerRole = "LEADER"
	cfg.FlushDiskType = "SOMETIMES"
	cfg.BrokerIP1 = "localhost"
	cfg.NamesrvAddr = "127.0.0.1:9876;nohost"
	cfg.DefaultTopicQueueNums = 0
	cfg.MappedFileSizeConsumeQueue = 21
	cfg.DeleteWhen = "04;25"
	cfg.DiskSpaceWarningLevelRatio = 90
	cfg.FileReservedTime = -1
	cfg.Limits.HighWater = 1000
	cfg.Limits.LowWater = -1
	cfg.Limits.SlowConsumerTimeout = 0
	cfg.Limits.MaxInflight = 0
	cfg.Limits.QueueBytes = 1 << 20
	cfg.MaxPullSuspendTimeout = 0
	cfg.HASendTimeout = -time.Second
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"brokerRole", "flushDiskType", "brokerIP1", "namesrvAddr", "defaultTopicQueueNums", "mappedFileSizeConsumeQueue",
		"deleteWhen", "diskSpaceWarningLevelRatio", "fileReservedTime", "writeBufferHighWaterMark", "writeBufferLowWaterMark",
		"serverSlowConsumerTimeout", "serverChannelMaxInflightRequests", "serverWorkerQueueMaxBytes", "maxPullSuspendTimeout",
		"haSendTimeout"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	slave := DefaultConfig()
	slave.BrokerRole = Slave
	if err := slave.Validate(); err == nil || !strings.Contains(err.Error(), "brokerId") {
		t.Fatalf("SLAVE with brokerId 0: %v", err)
	}
}

func batchEntryBytes(flag int32, body []byte, props string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(22+len(body)+len(props)))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(flag))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(props)))
	return append(b, props...)
}

func TestDecodeBatch(t *testing.T) {
	body := append(batchEntryBytes(7, []byte("one"), "TAGS\x01A\x02"), batchEntryBytes(0, []byte("two!"), "")...)
	entries, err := decodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || string(entries[0].body) != "one" || entries[0].flag != 7 || entries[0].properties != "TAGS\x01A\x02" || string(entries[1].body) != "two!" {
		t.Fatalf("decoded %+v", entries)
	}
	for _, bad := range [][]byte{
		nil,
		body[:len(body)-1],
		append(append([]byte(nil), body...), 0, 0, 0),
		func() []byte { b := append([]byte(nil), body...); b[3] = 99; return b }(),    // total size mismatch
		func() []byte { b := append([]byte(nil), body...); b[16] = 0x7f; return b }(), // body length past end
	} {
		if _, err := decodeBatch(bad); err == nil {
			t.Errorf("decodeBatch(%x) accepted a malformed batch", bad)
		}
	}
}

func TestSubscriptionMatches(t *testing.T) {
	s := parseSubscription("T", "TagA || TagB ||  ", "TAG")
	if s.all || len(s.tags) != 2 {
		t.Fatalf("parsed %+v", s)
	}
	if !s.matches(s.codes[0]) || !s.matches(s.codes[1]) || s.matches(s.codes[0]+100) {
		t.Fatal("tag codes do not match as expected")
	}
	for _, expr := range []string{"*", "", " * "} {
		if !parseSubscription("T", expr, "TAG").all {
			t.Errorf("%q should match everything", expr)
		}
	}
	if !parseSubscription("T", "a > 1", "SQL92").all {
		t.Error("SQL92 is not filtered by the broker")
	}
	var none *subscription
	if !none.matches(5) {
		t.Error("no subscription must match everything")
	}
}

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"T", "%RETRY%g", "a-b_c|d", strings.Repeat("x", 127)} {
		if err := validateTopic(ok); err != nil {
			t.Errorf("validateTopic(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", strings.Repeat("x", 128), "tópico"} {
		if err := validateTopic(bad); err == nil {
			t.Errorf("validateTopic(%q) accepted", bad)
		}
	}
}

func TestParseDelayLevels(t *testing.T) {
	got, err := parseDelayLevels(defaultDelayLevels)
	if err != nil || len(got) != 18 || got[0] != time.Second || got[4] != time.Minute || got[17] != 2*time.Hour {
		t.Fatalf("default levels: %v %v", got, err)
	}
	if got, err := parseDelayLevels("100ms 1d"); err != nil || got[0] != 100*time.Millisecond || got[1] != 24*time.Hour {
		t.Fatalf("100ms 1d: %v %v", got, err)
	}
	for _, bad := range []string{"", "5x", "-1s", "0s", "s"} {
		if _, err := parseDelayLevels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

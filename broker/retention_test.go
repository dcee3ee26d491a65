package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/remoting"
)

// allHours is a deleteWhen that is always due.
func allHours() string {
	h := make([]string, 24)
	for i := range h {
		h[i] = fmt.Sprintf("%02d", i)
	}
	return strings.Join(h, ";")
}

// eagerRetention are broker flags for 1 MiB segments that retention
// deletes as soon as they are full, checking every 100 ms, and extra.
func eagerRetention(extra ...string) []string {
	return append([]string{
		"-mappedFileSizeCommitLog", strconv.Itoa(1 << 20),
		"-maxMessageSize", strconv.Itoa(64 << 10),
		"-fileReservedTime", "0",
		"-deleteWhen", allHours(),
		"-cleanResourceInterval", "100",
		"-deleteCommitLogFilesInterval", "10",
	}, extra...)
}

// TestRetentionDeletesExpiredSegments: with fileReservedTime=0 every segment
// but the last is expired; the broker deletes them, consumers behind the new
// minimum are moved forward, and what remains is served intact.
func TestRetentionDeletesExpiredSegments(t *testing.T) {
	c := startCluster(t, 1, eagerRetention("-destroyMapedFileIntervalForcibly", "500", "-flushIntervalCommitLog", "20")...)
	const topic, n = "Retained", 1500
	c.createTopic(topic, 1)
	p := c.producer()
	body := func(i int) []byte { return append([]byte(fmt.Sprintf("%05d:", i)), bytes.Repeat([]byte{'r'}, 3000)...) }
	for i := 0; i < n; i++ {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, body(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Every segment but the one being written goes (the allocator's next
	// segment, created ahead, may sit beside it).
	var rt map[string]string
	var names []string
	lastStart := func() int64 {
		max, _ := strconv.ParseInt(rt["commitLogMaxOffset"], 10, 64)
		return max - max%(1<<20)
	}
	eventually(t, 20*time.Second, "retention deletes every segment but the last", func() bool {
		rt = c.runtime(c.brokerAddr)
		files, _ := os.ReadDir(filepath.Join(c.storeDir, "commitlog"))
		names = names[:0]
		for _, f := range files {
			names = append(names, f.Name())
		}
		return rt["commitLogMinOffset"] == strconv.FormatInt(lastStart(), 10) && names[0] == fmt.Sprintf("%020d", lastStart())
	})
	if rt["segmentsDeleted"] == "0" || lastStart() < 3<<20 {
		t.Fatalf("segmentsDeleted = %s with the log at %s: want several", rt["segmentsDeleted"], rt["commitLogMaxOffset"])
	}

	// A consumer at offset 0 is moved to the first message still stored,
	// and reads on from there to the end, bodies intact.
	pc := c.pullConsumer(topic)
	mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}
	res, err := pc.PullFrom(context.Background(), mq, 0, 32)
	if err != nil || res.Status != primitive.PullOffsetIllegal || res.NextBeginOffset <= 0 || res.MinOffset != res.NextBeginOffset {
		t.Fatalf("pull at 0 after retention: %v %+v; want OFFSET_MOVED to the new minimum", err, res)
	}
	next := res.NextBeginOffset
	for next < n {
		res, err := pc.PullFrom(context.Background(), mq, next, 32)
		if err != nil || res.Status != primitive.PullFound {
			t.Fatalf("pull at %d: %v %+v", next, err, res)
		}
		for i, m := range res.GetMessageExts() {
			if want := body(int(next) + i); !bytes.Equal(m.Body, want) {
				t.Fatalf("message at offset %d is %.12q…, want %.12q…", int(next)+i, m.Body, want)
			}
		}
		next = res.NextBeginOffset
	}
	// The broker keeps taking messages.
	if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("after"))); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFullRefusesSends: above diskSpaceWarningLevelRatio the broker
// answers sends with SERVICE_NOT_AVAILABLE and a remark that says why.
func TestDiskFullRefusesSends(t *testing.T) {
	c := startCluster(t, 1, "-diskSpaceWarningLevelRatio", "0.00001", "-cleanResourceInterval", "100")
	c.createTopic("Full", 1)
	var resp *remoting.Command
	eventually(t, 10*time.Second, "sends refused", func() bool {
		req := remoting.NewRequest(remoting.SendMessage, "producerGroup", "PG", "topic", "Full", "queueId", "0")
		req.Body = []byte("x")
		resp = c.invoke(req)
		return resp.Code != remoting.Success
	})
	if resp.Code != remoting.ServiceNotAvailable || !strings.Contains(resp.Remark, "disk") || !strings.Contains(resp.Remark, "diskSpaceWarningLevelRatio") {
		t.Fatalf("send on a full disk: code %d %q", resp.Code, resp.Remark)
	}
	if rt := c.runtime(c.brokerAddr); rt["diskFull"] != "true" {
		t.Fatalf("runtime diskFull = %q", rt["diskFull"])
	}
}

// TestDiskRatioBeforeFirstRun: GET_BROKER_RUNTIME_INFO reports the store's
// disk usage at once, not -1 until the first retention run.
func TestDiskRatioBeforeFirstRun(t *testing.T) {
	c := startCluster(t, 1, "-cleanResourceInterval", "3600000")
	got, err := strconv.ParseFloat(c.runtime(c.brokerAddr)["commitLogDiskRatio"], 64)
	if err != nil || got <= 0 || got > 1 {
		t.Fatalf("commitLogDiskRatio = %v (%v) before the first retention run, want a used fraction", got, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.storeDir, &st); err != nil {
		t.Fatal(err)
	}
	used := float64(st.Blocks - st.Bfree)
	if want := used / (used + float64(st.Bavail)); math.Abs(got-want) > 0.01 {
		t.Fatalf("commitLogDiskRatio = %v, statfs says %v", got, want)
	}
}

package client

import (
	"errors"
	"maps"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rocketgo/rocketgo/internal/wire"
)

func TestProperties(t *testing.T) {
	ids := newUniqIDs(net.IPv4(10, 1, 2, 3))
	check := func(name string, m *Message, want map[string]string, wantErr bool) {
		t.Helper()
		b, from, to, err := appendProperties(nil, m, ids)
		if wantErr {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%s: err = %v, want ErrInvalidMessage", name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 || b[len(b)-1] != wire.PairSeparator {
			t.Errorf("%s: %q does not end in 0x02", name, b)
		}
		got := wire.ParseProperties(string(b))
		uniq := got[propUniqKey]
		if string(b[from:to]) != uniq {
			t.Errorf("%s: UNIQ_KEY position gives %q, map has %q", name, b[from:to], uniq)
		}
		if _, ok := want[propUniqKey]; !ok {
			if !regexp.MustCompile(`^[0-9A-F]{32}$`).MatchString(uniq) {
				t.Errorf("%s: generated UNIQ_KEY %q is not 32 upper-case hex digits", name, uniq)
			}
			delete(got, propUniqKey)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: properties %q parse to %v, want %v", name, b, got, want)
		}
	}
	check("empty", &Message{}, map[string]string{}, false)
	check("tags and keys", &Message{Tags: "TagA", Keys: []string{"k1", "k2"}},
		map[string]string{"TAGS": "TagA", "KEYS": "k1 k2"}, false)
	check("user properties", &Message{Properties: map[string]string{"a": "1", "b": "", "ü": "ß"}},
		map[string]string{"a": "1", "b": "", "ü": "ß"}, false)
	check("fields override properties", &Message{Tags: "T", Keys: []string{"k"}, Properties: map[string]string{"TAGS": "x", "KEYS": "y", "z": "1"}},
		map[string]string{"TAGS": "T", "KEYS": "k", "z": "1"}, false)
	check("properties when fields empty", &Message{Properties: map[string]string{"TAGS": "x", "KEYS": "y"}},
		map[string]string{"TAGS": "x", "KEYS": "y"}, false)
	check("own UNIQ_KEY", &Message{Properties: map[string]string{"UNIQ_KEY": "mine"}},
		map[string]string{"UNIQ_KEY": "mine"}, false)
	check("0x01 in a value", &Message{Properties: map[string]string{"a": "x\x01y"}}, nil, true)
	check("0x02 in a name", &Message{Properties: map[string]string{"a\x02": "x"}}, nil, true)
	check("empty name", &Message{Properties: map[string]string{"": "x"}}, nil, true)
	check("0x02 in a tag", &Message{Tags: "a\x02"}, nil, true)
	check("0x01 in a key", &Message{Keys: []string{"a\x01"}}, nil, true)
	check("too long", &Message{Properties: map[string]string{"big": strings.Repeat("x", maxProps)}}, nil, true)
}

func TestUniqIDsUnique(t *testing.T) {
	const producers, goroutines, each = 4, 4, 5000
	var mu sync.Mutex
	seen := make(map[string]bool, producers*goroutines*each)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		g := newUniqIDs(net.IPv4(127, 0, 0, 1)) // same host and clock: only the random part and counter differ
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]string, 0, each)
				for range each {
					local = append(local, g.next())
				}
				mu.Lock()
				defer mu.Unlock()
				for _, id := range local {
					if seen[id] {
						t.Errorf("duplicate id %s", id)
					}
					seen[id] = true
				}
			}()
		}
	}
	wg.Wait()
	if len(seen) != producers*goroutines*each {
		t.Fatalf("%d distinct ids, want %d", len(seen), producers*goroutines*each)
	}
	re := regexp.MustCompile(`^7F000001[0-9A-F]{24}$`)
	for id := range seen {
		if !re.MatchString(id) {
			t.Fatalf("id %q is not the address then 24 upper-case hex digits", id)
		}
		break
	}
}

func TestJavaHashCode(t *testing.T) {
	for s, want := range map[string]int32{"": 0, "TagA": 2598919, "TagB": 2598920, "日本": 835047, "a\U0001F600": 1866116} {
		if got := javaHashCode(s); got != want {
			t.Errorf("javaHashCode(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestStatusStrings(t *testing.T) {
	for s, want := range map[SendStatus]string{SendOK: "SEND_OK", FlushDiskTimeout: "FLUSH_DISK_TIMEOUT",
		FlushSlaveTimeout: "FLUSH_SLAVE_TIMEOUT", SlaveNotAvailable: "SLAVE_NOT_AVAILABLE", 9: "SendStatus(9)"} {
		if s.String() != want {
			t.Errorf("SendStatus %d = %q, want %q", int(s), s.String(), want)
		}
	}
	for s, want := range map[PullStatus]string{Found: "FOUND", NoNewMsg: "NO_NEW_MSG", NoMatchedMsg: "NO_MATCHED_MSG", OffsetIllegal: "OFFSET_ILLEGAL"} {
		if s.String() != want {
			t.Errorf("PullStatus %d = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestOptions(t *testing.T) {
	o := defaultOptions()
	err := o.apply([]Option{Group(""), SendTimeout(0), Retries(-1), InFlight(0), CompressOver(-1), RouteRefresh(-1)})
	for _, want := range []string{"Group", "SendTimeout", "Retries", "InFlight", "CompressOver", "RouteRefresh"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := NewProducer(nil); err == nil {
		t.Error("NewProducer without namesrvs succeeded")
	}
	if _, err := NewPullConsumer([]string{"127.0.0.1:1"}, ""); err == nil {
		t.Error("NewPullConsumer without a group succeeded")
	}
}

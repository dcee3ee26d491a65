package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// checkListener leaves every transaction open at send time and answers
// checks with a fixed state, counting them.
type checkListener struct {
	answer primitive.LocalTransactionState
	mu     sync.Mutex
	checks int
	bodies []string
}

func (l *checkListener) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return primitive.UnkonwnState
}

func (l *checkListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks++
	l.bodies = append(l.bodies, string(m.Body))
	return l.answer
}

func (l *checkListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checks
}

// TestTransactionCheckBack: transactions the producer leaves unknown are
// checked with CHECK_TRANSACTION_STATE and end as the check answers —
// commit makes the message visible, rollback never does, and a producer
// that keeps answering unknown is asked transactionCheckMax times.
func TestTransactionCheckBack(t *testing.T) {
	// The first check waits transactionTimeOut: long enough for the
	// producers' first heartbeat to reach the broker (a round with no
	// producer to ask counts as a check, as in Java).
	c := startCluster(t, 1,
		"-transactionCheckInterval", "200",
		"-transactionTimeOut", "3000",
		"-transactionCheckMax", "3",
	)
	const topic = "TxCheck"
	c.createTopic(topic, 1)
	cases := []struct {
		name   string
		answer primitive.LocalTransactionState
	}{
		{"commit", primitive.CommitMessageState},
		{"rollback", primitive.RollbackMessageState},
		{"unknown", primitive.UnkonwnState},
	}
	listeners := map[string]*checkListener{}
	for _, tc := range cases {
		l := &checkListener{answer: tc.answer}
		listeners[tc.name] = l
		// Each transaction producer needs a client object of its own: the
		// Go client hands checks to the first one created in the process.
		tp, err := rocketmq.NewTransactionProducer(l,
			producer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
			producer.WithGroupName("PG_check_"+tc.name),
			producer.WithInstanceName("txcheck-"+tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tp.Shutdown() })
		res, err := tp.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(tc.name)))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	eventually(t, 15*time.Second, "the committed message becomes visible", func() bool { return c.maxOffset(topic, 0) == 1 })
	eventually(t, 15*time.Second, "the unknown transaction is checked transactionCheckMax times", func() bool {
		return listeners["unknown"].count() >= 3
	})
	time.Sleep(time.Second) // five more check rounds
	if n := listeners["unknown"].count(); n != 3 {
		t.Errorf("unknown transaction checked %d times, want transactionCheckMax=3", n)
	}
	if n := listeners["commit"].count(); n != 1 {
		t.Errorf("committed transaction checked %d times, want 1", n)
	}
	if n := listeners["rollback"].count(); n != 1 {
		t.Errorf("rolled-back transaction checked %d times, want 1", n)
	}
	for name, l := range listeners {
		for _, b := range l.bodies {
			if b != name {
				t.Errorf("%s: the check carried body %q", name, b)
			}
		}
	}
	msgs := c.pullAll(topic, 1)[0]
	if len(msgs) != 1 || string(msgs[0].Body) != "commit" || c.maxOffset(topic, 0) != 1 {
		t.Fatalf("visible: %d messages (max offset %d), want only the committed one", len(msgs), c.maxOffset(topic, 0))
	}
	if got := msgs[0].GetProperty("TRAN_MSG"); got != "" {
		t.Errorf("committed message still has TRAN_MSG=%q", got)
	}
}

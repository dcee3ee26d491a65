package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A job run in a child process reports its failure as the child's last
// line of standard error, and an unknown job is refused by name.
func TestChildReportsItsError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := inChild(ctx, childJob{Kind: "churn", Master: "127.0.0.1:1", Topics: []string{"churn-x"}, Queues: 4})
	if err == nil || !strings.Contains(err.Error(), "create topic churn-x on 127.0.0.1:1") {
		t.Fatalf("churn against a closed port: %v", err)
	}
	err = inChild(ctx, childJob{Kind: "dance"})
	if err == nil || !strings.Contains(err.Error(), `unknown job kind "dance"`) {
		t.Fatalf("unknown job: %v", err)
	}
}

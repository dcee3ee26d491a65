package remoting

import (
	"errors"
	"testing"
)

func TestCommandAccessors(t *testing.T) {
	c := NewRequest(PullMessage, "queueId", "3", "big", "9223372036854775807", "neg", "-1",
		"empty", "", "bad", "x1", "t", "TRUE", "f", "yes")
	c.SetExt("queueId", "4") // replaces
	if got := len(c.Fields()); got != 7 {
		t.Fatalf("%d fields, want 7", got)
	}
	fieldErr := func(err error, key, reason string) {
		t.Helper()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != key || fe.Reason != reason {
			t.Fatalf("error %v, want FieldError{%s, %s}", err, key, reason)
		}
	}
	if v, err := c.String("queueId"); err != nil || v != "4" {
		t.Fatalf("String = %q, %v", v, err)
	}
	_, err := c.String("absent")
	fieldErr(err, "absent", "missing")
	if err.Error() != `the request lacks ext field "absent"` {
		t.Fatalf("message %q", err)
	}
	if v, err := c.Int64("big"); err != nil || v != 1<<63-1 {
		t.Fatalf("Int64 = %d, %v", v, err)
	}
	_, err = c.Int64("bad")
	fieldErr(err, "bad", "not an integer")
	if err.Error() != `ext field bad="x1" is not an integer` {
		t.Fatalf("message %q", err)
	}
	_, err = c.Int32("big")
	fieldErr(err, "big", "not a 32-bit integer")
	_, err = c.Int32("absent")
	fieldErr(err, "absent", "missing")
	if v, err := c.Int32("neg"); err != nil || v != -1 {
		t.Fatalf("Int32 = %d, %v", v, err)
	}
	for _, tc := range []struct {
		key  string
		want int64
	}{{"absent", 7}, {"empty", 7}, {"queueId", 4}} {
		if v, err := c.Int64Or(tc.key, 7); err != nil || v != tc.want {
			t.Errorf("Int64Or(%s) = %d, %v", tc.key, v, err)
		}
		if v, err := c.Int32Or(tc.key, 7); err != nil || int64(v) != tc.want {
			t.Errorf("Int32Or(%s) = %d, %v", tc.key, v, err)
		}
	}
	if _, err := c.Int32Or("bad", 7); err == nil {
		t.Error("Int32Or of a bad value succeeded")
	}
	for key, want := range map[string]bool{"t": true, "f": false, "absent": false, "empty": false} {
		if got := c.Bool(key); got != want {
			t.Errorf("Bool(%s) = %v", key, got)
		}
	}
	resp := Errorf(c, TopicNotExist, "topic %s not exist", "T")
	if resp.Opaque != c.Opaque || !resp.IsResponse() || resp.Remark != "topic T not exist" || resp.IsOneway() {
		t.Fatalf("Errorf = %+v", resp)
	}
}

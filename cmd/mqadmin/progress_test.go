package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseResetTime(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.Local)
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{"now", now.UnixMilli(), ""},
		{"1700000000123", 1700000000123, ""},
		{"-1", -1, ""},
		{"2026-03-04#05:06:07:008", now.UnixMilli(), ""},
		{"2026-03-04#05:06:07", 0, "yyyy-MM-dd#HH:mm:ss:SSS"},
		{"2026-13-04#05:06:07:008", 0, "yyyy-MM-dd#HH:mm:ss:SSS"},
		{"yesterday", 0, "want ms since the epoch"},
		{"-7", 0, "negative"},
	} {
		got, err := parseResetTime(c.in, now)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseResetTime(%q) = %d, %v; want %d, %q", c.in, got, err, c.want, c.err)
		}
	}
}

func TestReadable(t *testing.T) {
	for in, want := range map[string]string{
		"order 1 paid": "order 1 paid",
		"héllo":        "héllo",
		"a\nb":         `"a\nb"`,
		"\x00\xff":     `"\x00\xff"`,
		"":             "",
	} {
		if got := readable([]byte(in)); got != want {
			t.Errorf("readable(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSortRows(t *testing.T) {
	rows := [][]string{{"b", "10"}, {"a", "9"}, {"b", "9"}, {"a", "10"}}
	sortRows(rows)
	if got := [][]string{{"a", "9"}, {"a", "10"}, {"b", "9"}, {"b", "10"}}; strings.Join(flat(rows), ",") != strings.Join(flat(got), ",") {
		t.Errorf("sorted %v", rows)
	}
}

func flat(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

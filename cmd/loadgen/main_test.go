package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks that bad input stops loadgen with a message naming
// the problem, before it starts anything.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownKey := write("w1.yaml", "name: x\ntopics: 1\nbogusKey: 3\n")
	broken := write("w2.yaml", "topics: [\n")
	badValue := write("w3.yaml", "messageSize: 10\n")
	badTopo := write("t1.yaml", "namesrvs: 1\ngroups:\n  - {name: g, role: LEADER}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-workload", unknownKey}, "bogusKey"},
		{[]string{"run", "-workload", broken}, "w2.yaml"},
		{[]string{"run", "-workload", badValue}, "messageSize=10"},
		{[]string{"run", "-workload", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"run", "-topology", badTopo}, "LEADER"},
		{[]string{"run", "-bin", filepath.Join(dir, "nobin"), "-results", dir}, "binary missing"},
		{[]string{"run", "-namesrv", "127.0.0.1:1", "-group", "g", "-results", dir, "-quiet", "-duration", "1s"}, "no namesrv reachable"},
		{[]string{"run", "-namesrv", "127.0.0.1:1"}, "-group"},
		{[]string{"run", "-faults", "5s:explode:g/master"}, "explode"},
		{[]string{"run", "-rates", "1000,fast"}, "fast"},
		{[]string{"scenario", "nosuch"}, "nosuch"},
		{[]string{"report"}, "one result folder"},
		{[]string{"report", filepath.Join(dir, "nosuchdir")}, "nosuchdir"},
		{[]string{"scenario", "-profile", "huge", "sync-vs-async"}, "huge"},
		{[]string{"compare", dir}, "two result folders"},
		{[]string{"frobnicate"}, "frobnicate"},
		{[]string{"calibrate", "-rates", "1000,-5"}, "-5"},
		{[]string{"calibrate", "-size", "8"}, "messageSize=8"},
		{[]string{"scenario", "-rates", "1000", "capacity"}, "-rates does not apply"},
		{[]string{"scenario", "-rates", "1000,x", "sync-vs-async"}, `"x"`},
		{[]string{"scenario", "-reps", "-1", "sync-vs-async"}, "-reps -1"},
		{[]string{"scenario", "-duration", "-1s", "sync-vs-async"}, "-duration -1s"},
		{[]string{"run", "-keep-topics"}, "-keep-topics"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("loadgen %v: exit %d, stderr %q; want a failure naming %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a failed run left files behind: %v", names)
	}
}

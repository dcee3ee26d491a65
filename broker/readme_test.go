package broker_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the part of ../README.md from the line heading
// until the next heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	level := heading[:strings.Index(heading, " ")+1]
	sec, _, _ = strings.Cut(sec, "\n"+level)
	return sec
}

// TestREADMEClient builds the README's client program as written there (a
// module of its own requiring what this one requires) and runs it twice
// against two namesrvs and a broker: each run sends a message and exits
// once it has received it.
func TestREADMEClient(t *testing.T) {
	sec := readmeSection(t, "## Using it from the official Go client")
	_, code, ok := strings.Cut(sec, "\n```go\n")
	if !ok {
		t.Fatal("the README's client section has no ```go block")
	}
	code, _, _ = strings.Cut(code, "\n```\n")
	const namesrvs = `"127.0.0.1:9876", "127.0.0.1:9877"`
	if !strings.Contains(code, namesrvs) {
		t.Fatalf("the README's program does not name the namesrvs of make run (%s):\n%s", namesrvs, code)
	}
	c := startCluster(t, 2)
	code = strings.Replace(code, namesrvs, `"`+c.nsAddrs[0]+`", "`+c.nsAddrs[1]+`"`, 1)

	dir := t.TempDir()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	version := "(not in go.mod)"
	if m := regexp.MustCompile(`(?m)^\s*github.com/apache/rocketmq-client-go/v2 (\S+)`).FindSubmatch(mod); m != nil {
		version = string(m[1])
	}
	if !strings.Contains(sec, "go get github.com/apache/rocketmq-client-go/v2@"+version+"\n") {
		t.Errorf("the README's client section does not say go get github.com/apache/rocketmq-client-go/v2@%s, go.mod's version", version)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module readmeclient"))
	for name, data := range map[string][]byte{"main.go": []byte(code + "\n"), "go.mod": mod, "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", "client", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the README's program: %v\n%s\n%s", err, out, code)
	}
	sentLine := regexp.MustCompile(`(?m)^sent ([0-9A-Fa-f]+) to broker-a queue [0-3]$`)
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := exec.CommandContext(ctx, filepath.Join(dir, "client")).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("run %d of the README's program: %v\n%s", run, err, out)
		}
		m := sentLine.FindStringSubmatch(string(out))
		if m == nil || !strings.Contains(string(out), "received "+m[1]+" hello\n") {
			t.Fatalf("run %d of the README's program printed\n%s", run, out)
		}
	}
}

// TestREADMELinks checks that every link of the README leads to a file of
// this repository or a heading of the README itself.
func TestREADMELinks(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	links := regexp.MustCompile(`\]\(([^)\s]*)\)`).FindAllStringSubmatch(readme, -1)
	if len(links) == 0 {
		t.Fatal("no links found: the pattern is wrong")
	}
	for _, l := range links {
		target := l[1]
		switch {
		case strings.HasPrefix(target, "#"):
			if !hasHeading(readme, target[1:]) {
				t.Errorf("link %s: no such heading", target)
			}
		case strings.Contains(target, "://"), strings.HasPrefix(target, "/"), strings.HasPrefix(filepath.Clean(target), ".."):
			t.Errorf("link %s leads out of the repository", target)
		default:
			if _, err := os.Stat(filepath.Join("..", target)); err != nil {
				t.Errorf("link %s: %v", target, err)
			}
		}
	}
}

// hasHeading reports whether readme has a heading whose GitHub anchor is
// anchor (lower case, spaces as '-', punctuation dropped).
func hasHeading(readme, anchor string) bool {
	for _, line := range strings.Split(readme, "\n") {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		if b.String() == anchor {
			return true
		}
	}
	return false
}

package broker_test

import (
	"flag"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rocketgo/rocketgo/broker"
	"github.com/rocketgo/rocketgo/internal/props"
)

var update = flag.Bool("update", false, "rewrite the README's table of settings from broker.Settings")

// TestSettingsDocumentEveryKey checks that broker.Settings has one entry,
// with a meaning and allowed values, for every key of Config and no other.
func TestSettingsDocumentEveryKey(t *testing.T) {
	var documented []string
	for _, s := range broker.Settings {
		if s.Meaning == "" || s.Allowed == "" {
			t.Errorf("%s: meaning %q, allowed %q: want both", s.Key, s.Meaning, s.Allowed)
		}
		documented = append(documented, s.Key)
	}
	sort.Strings(documented)
	cfg := broker.DefaultConfig()
	if keys := props.Keys(&cfg); !reflect.DeepEqual(documented, keys) {
		t.Errorf("broker.Settings documents\n%v\nConfig has the keys\n%v", documented, keys)
	}
}

// TestSettingDefaultsAreDefaultConfig checks that the defaults the README
// shows are DefaultConfig's, but for the host name and home directory.
func TestSettingDefaultsAreDefaultConfig(t *testing.T) {
	shown, real := broker.SettingDefaults(), broker.DefaultConfig()
	if shown.BrokerName != "<host name>" || shown.StorePathRootDir != "~/store" {
		t.Errorf("README defaults: brokerName=%q storePathRootDir=%q", shown.BrokerName, shown.StorePathRootDir)
	}
	shown.BrokerName, shown.StorePathRootDir = real.BrokerName, real.StorePathRootDir
	if !reflect.DeepEqual(shown, real) {
		t.Errorf("README defaults\n%v\nDefaultConfig\n%v", props.Format(&shown), props.Format(&real))
	}
}

// The README's table of settings lies between these lines.
const (
	settingsBegin = "<!-- settings: generated from broker.Settings; go test ./broker -run TestREADMESettings -update rewrites it -->\n"
	settingsEnd   = "<!-- end of settings -->\n"
)

// TestREADMESettings checks that the README's table of settings is the
// rendering of broker.Settings with the default config (-update writes it).
func TestREADMESettings(t *testing.T) {
	const path = "../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	before, rest, ok1 := strings.Cut(readme, settingsBegin)
	table, after, ok2 := strings.Cut(rest, settingsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no section between %q and %q", path, settingsBegin, settingsEnd)
	}
	cfg := broker.SettingDefaults()
	want := broker.SettingsMarkdown(&cfg)
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+settingsBegin+want+settingsEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the README's table of settings differs from broker.Settings; run go test ./broker -run TestREADMESettings -update\nREADME:\n%s\nwant:\n%s", table, want)
}

package broker

import (
	"strings"
	"testing"
)

// TestIndexConfigBounds checks the message index keys at and past their
// bounds.
func TestIndexConfigBounds(t *testing.T) {
	for _, c := range []struct {
		set  func(*Config)
		want string // "" = valid
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.MaxHashSlotNum, c.MaxIndexNum = 1, 2 }, ""},
		{func(c *Config) { c.MaxHashSlotNum = 0 }, "maxHashSlotNum=0"},
		{func(c *Config) { c.MaxIndexNum = 1 }, "maxIndexNum=1"},
		{func(c *Config) { c.MaxHashSlotNum, c.MaxIndexNum = 5_000_000, 107_000_000 }, "exceed"},
		{func(c *Config) { c.MaxMsgsNumBatch = 0 }, "maxMsgsNumBatch=0"},
		{func(c *Config) { c.DefaultQueryMaxNum = -1 }, "defaultQueryMaxNum=-1"},
		{func(c *Config) { c.MessageIndexEnable = false; c.MaxIndexNum = 0 }, "maxIndexNum=0"},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
	if cfg := DefaultConfig(); !cfg.MessageIndexEnable || cfg.MaxHashSlotNum != 5_000_000 || cfg.MaxIndexNum != 20_000_000 ||
		cfg.MaxMsgsNumBatch != 64 || cfg.DefaultQueryMaxNum != 32 {
		t.Errorf("defaults: %+v", cfg)
	}
}

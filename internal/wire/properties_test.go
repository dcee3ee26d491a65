package wire

import (
	"maps"
	"math"
	"strings"
	"testing"
)

const goldenProps = "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x017F00000100002A9F0000000000000001\x02"

func TestProperty(t *testing.T) {
	for _, tc := range []struct {
		props, name, want string
		ok                bool
	}{
		{goldenProps, "TAGS", "TagA", true},
		{goldenProps, "KEYS", "k1 k2", true},
		{goldenProps, "UNIQ_KEY", "7F00000100002A9F0000000000000001", true},
		{goldenProps, "TAG", "", false},
		{goldenProps, "AGS", "", false},
		{"", "TAGS", "", false},
		{"TAGS\x01a", "TAGS", "a", true},                  // no trailing separator
		{"TAGS\x01\x02", "TAGS", "", true},                // empty value
		{"TAGS\x01a\x01b\x02", "TAGS", "", false},         // three parts: ignored
		{"TAGS\x01a\x02TAGS\x01b\x02", "TAGS", "b", true}, // last wins
		{"XTAGS\x01a\x02", "TAGS", "", false},
		{"junk\x02TAGS\x01v\x02", "TAGS", "v", true},
		{"\x01v\x02", "", "", false}, // no name: ignored
	} {
		got, ok := Property(tc.props, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Property(%q, %q) = %q, %v; want %q, %v", tc.props, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Property(goldenProps, "UNIQ_KEY") }); n != 0 {
		t.Errorf("Property allocates %v times", n)
	}
}

func TestParseProperties(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
	}{
		{"", nil},
		{"a\x01b\x02", map[string]string{"a": "b"}},
		{"a\x01b", map[string]string{"a": "b"}}, // no trailing separator
		{"a\x01b\x02c\x02\x01d\x02e\x01f\x01g\x02h\x01\x02", map[string]string{"a": "b", "h": ""}},
		{"a\x011\x02a\x012\x02", map[string]string{"a": "2"}},
		{goldenProps, map[string]string{"TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "7F00000100002A9F0000000000000001"}},
	} {
		if got := ParseProperties(c.in); !maps.Equal(got, c.want) {
			t.Errorf("ParseProperties(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestWithProperty(t *testing.T) {
	props := "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01ABC\x02"
	check := func(name, want string, wantOK bool) {
		t.Helper()
		got, ok := Property(props, name)
		if got != want || ok != wantOK {
			t.Errorf("Property(%s) = %q, %v; want %q, %v", name, got, ok, want, wantOK)
		}
	}
	props = WithProperty(props, "TAGS", "TagB")
	check("TAGS", "TagB", true)
	check("KEYS", "k1 k2", true)
	props = WithoutProperty(props, "KEYS")
	check("KEYS", "", false)
	check("UNIQ_KEY", "ABC", true)
	if !strings.HasSuffix(props, "\x02") {
		t.Errorf("properties %q lack the trailing separator", props)
	}
	for _, c := range []struct{ in, name, value, want string }{
		{"", "A", "1", "A\x011\x02"},
		{"A\x011", "B", "2", "A\x011\x02B\x012\x02"},                         // no trailing separator
		{"A\x011\x02B\x012\x02A\x013\x02", "A", "4", "B\x012\x02A\x014\x02"}, // every A goes
		{"A\x01x\x01y\x02", "A", "1", "A\x011\x02"},                          // malformed pairs of that name go too
	} {
		if got := WithProperty(c.in, c.name, c.value); got != c.want {
			t.Errorf("WithProperty(%q, %s, %s) = %q, want %q", c.in, c.name, c.value, got, c.want)
		}
	}
	if got, in := WithoutProperty("A\x011\x02\x02junk", "B"), "A\x011\x02\x02junk"; got != in {
		t.Errorf("WithoutProperty of an absent name rewrote %q to %q", in, got)
	}
}

func TestValidProperty(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"a", "", true}, {"TAGS", "x y", true}, {"", "x", false}, {"a\x01", "x", false},
		{"a\x02", "x", false}, {"a", "x\x01", false}, {"a", "\x02", false},
	} {
		if got := ValidProperty(c.name, c.value); got != c.ok {
			t.Errorf("ValidProperty(%q, %q) = %v", c.name, c.value, got)
		}
	}
}

func TestTagsCode(t *testing.T) {
	// Values from Java's String.hashCode (UTF-16 code units).
	for _, tc := range []struct {
		tags string
		want int64
	}{
		{"", 0},
		{"a", 97},
		{"*", 42},
		{"TagA", 2598919},
		{"TagB", 2598920},
		{"TagA||TagB", 1789476431},
		{"abcdefghijklmnop", -2093879032},
		{"polygenelubricants", math.MinInt32},
		{"中文标签", 622041809},
		{"😀x", 54959989}, // a surrogate pair
	} {
		if got := TagsCode(tc.tags); got != tc.want {
			t.Errorf("TagsCode(%q) = %d, want %d", tc.tags, got, tc.want)
		}
	}
}

// FuzzProperties: Property agrees with ParseProperties; WithProperty and
// WithoutProperty change only the pair they name; a parsed map encodes
// back to itself.
func FuzzProperties(f *testing.F) {
	for _, b := range goldenFiles(f, pullBodies) {
		for _, v := range parseAll(f, b) {
			f.Add(string(v.Properties), "TAGS", "x")
		}
	}
	f.Add(goldenProps, "UNIQ_KEY", "")
	f.Add("a\x01b\x02c\x02\x01d\x02e\x01f\x01g\x02h\x01\x02", "e", "1")
	f.Fuzz(func(t *testing.T, props, name, value string) {
		all := ParseProperties(props)
		got, ok := Property(props, name)
		if want, wantOK := all[name]; got != want || ok != wantOK {
			t.Fatalf("Property(%q, %q) = %q, %v; ParseProperties has %q, %v", props, name, got, ok, want, wantOK)
		}
		// Property2 finds both names as Property finds each (value doubles as a second name).
		va, oka, vb, okb := Property2(props, name, value)
		wb, wbOK := all[value]
		if value == "" || value == name {
			wb, wbOK = "", false
		}
		if va != got || oka != ok || vb != wb || okb != wbOK {
			t.Fatalf("Property2(%q, %q, %q) = %q %v %q %v", props, name, value, va, oka, vb, okb)
		}
		others := func(m map[string]string) map[string]string {
			m = maps.Clone(m)
			delete(m, name)
			if len(m) == 0 {
				return nil
			}
			return m
		}
		without := WithoutProperty(props, name)
		if _, ok := Property(without, name); ok {
			t.Fatalf("WithoutProperty(%q, %q) = %q still has it", props, name, without)
		}
		if !maps.Equal(others(ParseProperties(without)), others(all)) {
			t.Fatalf("WithoutProperty(%q, %q) = %q changed other pairs", props, name, without)
		}
		if ValidProperty(name, value) {
			with := WithProperty(props, name, value)
			if got, ok := Property(with, name); !ok || got != value {
				t.Fatalf("WithProperty(%q, %q, %q) = %q gives %q, %v", props, name, value, with, got, ok)
			}
			if !maps.Equal(others(ParseProperties(with)), others(all)) {
				t.Fatalf("WithProperty(%q, %q, %q) = %q changed other pairs", props, name, value, with)
			}
		}
		var enc []byte
		for k, v := range all {
			enc = AppendProperty(enc, k, v)
		}
		if back := ParseProperties(string(enc)); !maps.Equal(back, all) {
			t.Fatalf("%q parses to %v; encoded as %q it parses to %v", props, all, enc, back)
		}
		TagsCode(props) // must not panic on any bytes
	})
}

package wire

import (
	"strings"
	"unicode/utf8"
)

// Separators of the properties string.
const (
	NameSeparator = '\x01' // between a property's name and value
	PairSeparator = '\x02' // after each property
)

// Property returns the value of name in a properties string without
// allocating. A pair that does not split into a non-empty name and a value
// at exactly one NameSeparator is ignored, and the last of repeated names
// wins: the rules of ParseProperties.
func Property(props, name string) (string, bool) {
	v, ok, _, _ := Property2(props, name, "")
	return v, ok
}

// Property2 is Property for two names in one pass over props; an empty
// name is never found.
func Property2(props, a, b string) (va string, oka bool, vb string, okb bool) {
	for len(props) > 0 {
		pair := props
		if i := strings.IndexByte(props, PairSeparator); i >= 0 {
			pair, props = props[:i], props[i+1:]
		} else {
			props = ""
		}
		k := strings.IndexByte(pair, NameSeparator)
		if k <= 0 || k != len(a) && k != len(b) {
			continue
		}
		if strings.IndexByte(pair[k+1:], NameSeparator) >= 0 {
			continue
		}
		switch pair[:k] {
		case a:
			va, oka = pair[k+1:], true
		case b:
			vb, okb = pair[k+1:], true
		}
	}
	return va, oka, vb, okb
}

// ParseProperties splits a properties string into a map (nil for ""). Values
// are substrings of s.
func ParseProperties(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := make(map[string]string, strings.Count(s, string(PairSeparator))+1)
	for s != "" {
		var pair string
		if i := strings.IndexByte(s, PairSeparator); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			pair, s = s, ""
		}
		i := strings.IndexByte(pair, NameSeparator)
		if i <= 0 || strings.IndexByte(pair[i+1:], NameSeparator) >= 0 {
			continue
		}
		m[pair[:i]] = pair[i+1:]
	}
	return m
}

// ValidProperty reports whether name and value can be stored: name is not
// empty and neither holds a separator.
func ValidProperty(name, value string) bool {
	return name != "" && strings.IndexByte(name, NameSeparator) < 0 && strings.IndexByte(name, PairSeparator) < 0 &&
		strings.IndexByte(value, NameSeparator) < 0 && strings.IndexByte(value, PairSeparator) < 0
}

// AppendProperty appends one pair to dst. It does not check ValidProperty.
func AppendProperty(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, NameSeparator)
	dst = append(dst, value...)
	return append(dst, PairSeparator)
}

// WithoutProperty returns props without the pairs named name (malformed
// ones included). Without such a pair props is returned as it is;
// otherwise empty pieces are dropped and every piece ends in a separator.
func WithoutProperty(props, name string) string {
	if !hasName(props, name) {
		return props
	}
	var b strings.Builder
	b.Grow(len(props))
	for pair := range strings.SplitSeq(props, string(PairSeparator)) {
		if pair == "" {
			continue
		}
		if i := strings.IndexByte(pair, NameSeparator); i >= 0 && pair[:i] == name {
			continue
		}
		b.WriteString(pair)
		b.WriteByte(PairSeparator)
	}
	return b.String()
}

// hasName reports whether some piece of props starts with name and a
// NameSeparator.
func hasName(props, name string) bool {
	for pair := range strings.SplitSeq(props, string(PairSeparator)) {
		if len(pair) > len(name) && pair[len(name)] == NameSeparator && pair[:len(name)] == name {
			return true
		}
	}
	return false
}

// WithProperty returns props with name set to value: earlier pairs of that
// name are removed and the pair is added at the end.
func WithProperty(props, name, value string) string {
	props = WithoutProperty(props, name)
	if props != "" && props[len(props)-1] != PairSeparator {
		props += string(PairSeparator)
	}
	return props + name + string(NameSeparator) + value + string(PairSeparator)
}

// TagsCode is the consume-queue tags hash of a TAGS value: Java's
// String.hashCode over UTF-16 code units with int32 wrap-around,
// sign-extended; 0 for "". Invalid UTF-8 counts as U+FFFD per bad byte.
func TagsCode(tags string) int64 { return int64(HashString(0, tags)) }

// HashString continues Java's String.hashCode from h over s (UTF-16 code
// units, int32 wrap-around): HashString(HashString(0, a), b) is the hash of
// a+b. Invalid UTF-8 counts as U+FFFD per bad byte.
func HashString(h int32, s string) int32 {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
		} else {
			h = 31*h + int32(r)
		}
	}
	return h
}

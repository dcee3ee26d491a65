// Package props reads Java-properties text (RocketMQ's broker.properties) and
// binds it to a plain struct whose fields carry `prop:"key"` tags.
//
// Precedence is the caller's business: Bind applies whatever map it is given,
// so a main applies defaults, then the file, then the flags that were set.
package props

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Parse reads Java-properties text: `key=value` or `key: value` or
// `key value`, `#` and `!` comments, backslash line continuations and the
// usual escapes (\t \n \r \f \uXXXX, \= \: \\). Later keys win.
func Parse(r io.Reader) (map[string]string, error) {
	out := make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var logical strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if logical.Len() == 0 {
			line = strings.TrimLeft(line, " \t\f")
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
		} else {
			line = strings.TrimLeft(line, " \t\f")
		}
		if continues(line) {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		k, v, err := splitPair(logical.String())
		logical.Reset()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical.Len() > 0 {
		k, v, err := splitPair(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		out[k] = v
	}
	return out, nil
}

// continues reports whether line ends in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitPair(s string) (string, string, error) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(s) {
		i = len(s)
	}
	key, err := unescape(s[:i])
	if err != nil {
		return "", "", err
	}
	rest := strings.TrimLeft(s[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	val, err := unescape(rest)
	if err != nil {
		return "", "", fmt.Errorf("key %s: %w", key, err)
	}
	return key, val, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("truncated \\u escape in %q", s)
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("bad \\u escape in %q", s)
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// Keys returns the property keys that the tagged fields of the struct
// pointed to by dst accept, sorted.
func Keys(dst any) []string {
	var keys []string
	walk(reflect.ValueOf(dst).Elem(), func(key string, _ reflect.Value) {
		keys = append(keys, key)
	})
	sort.Strings(keys)
	return keys
}

// Bind sets the tagged fields of the struct pointed to by dst from kv.
// Supported field kinds: string, bool, all ints, float64, time.Duration (Go
// duration syntax or integer milliseconds). It returns the keys that matched
// no field (sorted) and an error naming every key whose value did not parse.
func Bind(dst any, kv map[string]string) (unknown []string, err error) {
	fields := map[string]reflect.Value{}
	walk(reflect.ValueOf(dst).Elem(), func(key string, v reflect.Value) { fields[key] = v })
	var errs []error
	for k, raw := range kv {
		f, ok := fields[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if err := set(f, strings.TrimSpace(raw)); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", k, raw, err))
		}
	}
	sort.Strings(unknown)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return unknown, errors.Join(errs...)
}

// Format returns key=value lines for the tagged fields of the struct
// pointed to by src, sorted by key (for logging the effective config).
func Format(src any) []string {
	var out []string
	walk(reflect.ValueOf(src).Elem(), func(key string, v reflect.Value) {
		out = append(out, fmt.Sprintf("%s=%v", key, v.Interface()))
	})
	sort.Strings(out)
	return out
}

// Each calls fn with the key and value of each tagged field of the struct
// pointed to by src, in the order of the fields (for documenting them).
func Each(src any, fn func(key string, value any)) {
	walk(reflect.ValueOf(src).Elem(), func(key string, v reflect.Value) { fn(key, v.Interface()) })
}

// walk calls fn for each tagged field of the struct v, and of the untagged
// struct fields within it (a group of settings defined elsewhere).
func walk(v reflect.Value, fn func(string, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("prop")
		if key == "" && v.Field(i).Kind() == reflect.Struct && t.Field(i).IsExported() {
			walk(v.Field(i), fn)
			continue
		}
		if key == "" || key == "-" {
			continue
		}
		fn(key, v.Field(i))
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

func set(f reflect.Value, s string) error {
	if f.Type() == durationType {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			f.SetInt(n * int64(time.Millisecond))
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration (milliseconds or Go syntax like 500ms)")
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a %d-bit integer", f.Type().Bits())
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an unsigned %d-bit integer", f.Type().Bits())
		}
		f.SetUint(n)
	case reflect.Float64, reflect.Float32:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("not a number")
		}
		f.SetFloat(n)
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

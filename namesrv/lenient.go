package namesrv

// quoteNumericKeys rewrites object keys written as bare numbers ({0:"a"}), as
// fastjson writes integer-keyed maps, into JSON strings ({"0":"a"}), so that
// encoding/json accepts the document. Everything else, strings included, is
// copied unchanged; input that is not JSON stays invalid for the decoder to
// reject. When there is nothing to rewrite it returns b itself.
func quoteNumericKeys(b []byte) []byte {
	var (
		out       []byte // nil until the first rewrite
		copied    int    // b[:copied] has been appended to out
		inObject  []bool // per open container: true for '{', false for '['
		expectKey bool   // the next token is an object key
	)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			expectKey = false
		case '{':
			inObject = append(inObject, true)
			expectKey = true
		case '[':
			inObject = append(inObject, false)
			expectKey = false
		case '}', ']':
			if len(inObject) > 0 {
				inObject = inObject[:len(inObject)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
		case ' ', '\t', '\r', '\n':
			// whitespace keeps the current expectation
		default:
			if expectKey && (c == '-' || c >= '0' && c <= '9') {
				end := i + 1
				for end < len(b) && isNumberByte(b[end]) {
					end++
				}
				if out == nil {
					out = make([]byte, 0, len(b)+16)
				}
				out = append(out, b[copied:i]...)
				out = append(out, '"')
				out = append(out, b[i:end]...)
				out = append(out, '"')
				copied = end
				i = end - 1
			}
			expectKey = false
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[copied:]...)
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

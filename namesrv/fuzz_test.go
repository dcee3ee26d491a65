package namesrv

import (
	"os"
	"path/filepath"
	"testing"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func FuzzDecodeRegisterBody(f *testing.F) {
	f.Add(readTestdata(f, "register_body.json"), false)
	f.Add(readTestdata(f, "register_body_fastjson.json"), false)
	f.Add(readTestdata(f, "register_body.zlib"), true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, body []byte, compressed bool) {
		_, topics, err := decodeRegisterBody(body, compressed)
		if err != nil {
			return // rejecting input is fine; panics and hangs are not
		}
		for name, qd := range topics {
			if name == "" || qd.ReadQueueNums < 0 || qd.WriteQueueNums < 0 {
				t.Fatalf("accepted topic %q %+v", name, qd)
			}
		}
	})
}

package broker

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rocketgo/rocketgo/remoting"
)

// The test vector of REMOTING.md §11.
func TestACLSignatureVector(t *testing.T) {
	req := remoting.NewRequest(remoting.GetRouteinfoByTopic, "topic", "TopicTest", "AccessKey", "ak")
	got := base64.StdEncoding.EncodeToString(remoting.ACLSignature(req, []byte("sk"), false))
	if got != "bUNDfLxxr02vTlIhHg73lpRhduQ=" {
		t.Fatalf("signature %s, want bUNDfLxxr02vTlIhHg73lpRhduQ=", got)
	}
	req.SetExt("Signature", got)
	if !aclSigned(req, []byte("sk")) || aclSigned(req, []byte("other")) {
		t.Fatal("verification disagrees with the vector")
	}
	// A SecurityToken left out of the signature (the Go client) or signed
	// with it (Java clients) both pass.
	req.SetExt("SecurityToken", "tok")
	if !aclSigned(req, []byte("sk")) {
		t.Fatal("Go-style signature with a SecurityToken refused")
	}
	req.SetExt("Signature", base64.StdEncoding.EncodeToString(remoting.ACLSignature(req, []byte("sk"), false)))
	if !aclSigned(req, []byte("sk")) {
		t.Fatal("Java-style signature with a SecurityToken refused")
	}
	req.Body = []byte("tampered")
	if aclSigned(req, []byte("sk")) {
		t.Fatal("a changed body kept its signature")
	}
}

func TestACLAddrPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"*", []string{"10.1.2.3", "::1"}, nil},
		{"192.168.*.*", []string{"192.168.0.1", "192.168.255.9"}, []string{"192.169.0.1"}},
		{"10.0.0.10-20", []string{"10.0.0.10", "10.0.0.20"}, []string{"10.0.0.9", "10.0.0.21"}},
		{"192.168.0.{100,101}", []string{"192.168.0.100", "192.168.0.101"}, []string{"192.168.0.102"}},
		{"127.0.0.1,10.0.0.1", []string{"127.0.0.1", "10.0.0.1", "::ffff:127.0.0.1"}, []string{"10.0.0.2", "::1"}},
	} {
		p, err := parseAddrPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, a := range tc.yes {
			if !p.matches(netip.MustParseAddr(a)) {
				t.Errorf("%s does not match %s", tc.pattern, a)
			}
		}
		for _, a := range tc.no {
			if p.matches(netip.MustParseAddr(a)) {
				t.Errorf("%s matches %s", tc.pattern, a)
			}
		}
	}
	for _, bad := range []string{"10.0.0", "10.0.0.300", "10.0.0.a", "10.0.0.20-10"} {
		if _, err := parseAddrPattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestLoadACLNamesEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	os.WriteFile(path, []byte(`
globalWhiteRemoteAddresses: ["10.0.0.999"]
accounts:
  - accessKey: a1
    secretKey: s1
    defaultTopicPerm: WRITE
    topicPerms: ["t1"]
  - accessKey: a1
    secretKey: s2
  - accessKey: ""
    secretKey: s3
`), 0o644)
	_, err := loadACL(path)
	if err == nil {
		t.Fatal("a broken ACL file loaded")
	}
	for _, w := range []string{"10.0.0.999", "defaultTopicPerm", `"t1"`, "listed twice", "accessKey and secretKey are required"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %s:\n%v", w, err)
		}
	}
	if _, err := loadACL(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Fatal("a missing ACL file loaded")
	}
}

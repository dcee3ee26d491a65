package remoting

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
)

// Credentials sign requests for brokers that enforce ACL (REMOTING.md §11).
type Credentials struct {
	AccessKey, SecretKey, SecurityToken string
}

// Sign sets req's AccessKey (and SecurityToken) ext fields and its
// Signature: HMAC-SHA1 with the SecretKey over the values of every other
// ext field sorted by key, then the body, in standard base64. The token is
// signed too, as Java clients do. Signing again (a retried request) gives
// the same fields.
func (cr *Credentials) Sign(req *Command) {
	req.SetExt("AccessKey", cr.AccessKey)
	if cr.SecurityToken != "" {
		req.SetExt("SecurityToken", cr.SecurityToken)
	}
	req.SetExt("Signature", base64.StdEncoding.EncodeToString(ACLSignature(req, []byte(cr.SecretKey), false)))
}

// ACLSignature is the HMAC-SHA1 a signed request carries: over the values
// of its ext fields but Signature (and SecurityToken, when skipToken, as the
// Go client signs), sorted by key, then the body. A repeated key counts
// once, with its last value.
func ACLSignature(req *Command, secret []byte, skipToken bool) []byte {
	fields := slices.Clone(req.Fields())
	slices.SortStableFunc(fields, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	mac := hmac.New(sha1.New, secret)
	for i, f := range fields {
		if f.Key == "Signature" || (skipToken && f.Key == "SecurityToken") {
			continue
		}
		if i+1 < len(fields) && fields[i+1].Key == f.Key {
			continue
		}
		mac.Write([]byte(f.Value))
	}
	mac.Write(req.Body)
	return mac.Sum(nil)
}

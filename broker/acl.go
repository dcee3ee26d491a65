package broker

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rocketgo/rocketgo/remoting"
)

// ACL (aclEnable=true): RocketMQ 4.x "plain" access control, configured in
// a plain_acl.yml file of the same format, re-read when it changes.
//
//   - A request from an address in globalWhiteRemoteAddresses passes.
//   - Otherwise it must carry an AccessKey of an account; a request from the
//     account's whiteRemoteAddress passes, any other must be signed with the
//     account's SecretKey (REMOTING.md §11: HMAC-SHA1 over the sorted ext
//     values and the body; signatures that leave SecurityToken out, as the Go
//     client's do, are accepted too).
//   - Admin accounts may do anything; the others may not run the admin codes
//     (topic and subscription-group changes, broker config) and need PUB or
//     SUB on the topics and consumer groups a request names: an explicit
//     topicPerms / groupPerms entry, else defaultTopicPerm / defaultGroupPerm.
//
// Refusals are NO_PERMISSION with a remark that names the reason. Brokers
// talk to each other (a slave syncing its master's metadata) unsigned: put
// their addresses in globalWhiteRemoteAddresses, as with Java.

type aclFile struct {
	GlobalWhiteRemoteAddresses []string `yaml:"globalWhiteRemoteAddresses"`
	Accounts                   []struct {
		AccessKey          string   `yaml:"accessKey"`
		SecretKey          string   `yaml:"secretKey"`
		WhiteRemoteAddress string   `yaml:"whiteRemoteAddress"`
		Admin              bool     `yaml:"admin"`
		DefaultTopicPerm   string   `yaml:"defaultTopicPerm"`
		DefaultGroupPerm   string   `yaml:"defaultGroupPerm"`
		TopicPerms         []string `yaml:"topicPerms"`
		GroupPerms         []string `yaml:"groupPerms"`
	} `yaml:"accounts"`
}

type aclPerm uint8

const (
	aclPub aclPerm = 1 << iota
	aclSub
)

func (p aclPerm) String() string {
	switch p {
	case aclPub:
		return "PUB"
	case aclSub:
		return "SUB"
	case aclPub | aclSub:
		return "PUB|SUB"
	}
	return "DENY"
}

func parsePerm(s string) (aclPerm, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", "")) {
	case "", "DENY":
		return 0, nil
	case "PUB":
		return aclPub, nil
	case "SUB":
		return aclSub, nil
	case "PUB|SUB", "SUB|PUB", "ANY":
		return aclPub | aclSub, nil
	}
	return 0, fmt.Errorf("permission %q: want DENY, PUB, SUB, PUB|SUB or ANY", s)
}

type aclAccount struct {
	secret     []byte
	white      *addrPattern
	admin      bool
	defTopic   aclPerm
	defGroup   aclPerm
	topicPerms map[string]aclPerm
	groupPerms map[string]aclPerm
}

type aclTable struct {
	white    []addrPattern
	accounts map[string]*aclAccount
}

// loadACL reads and checks a plain_acl.yml file.
func loadACL(path string) (*aclTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ACL file: %w", err)
	}
	var f aclFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("ACL file %s: %w", path, err)
	}
	t := &aclTable{accounts: map[string]*aclAccount{}}
	var errs []error
	for _, w := range f.GlobalWhiteRemoteAddresses {
		p, err := parseAddrPattern(w)
		if err != nil {
			errs = append(errs, fmt.Errorf("globalWhiteRemoteAddresses: %w", err))
			continue
		}
		t.white = append(t.white, p)
	}
	for i, a := range f.Accounts {
		where := fmt.Sprintf("accounts[%d] (%s)", i, a.AccessKey)
		if a.AccessKey == "" || a.SecretKey == "" {
			errs = append(errs, fmt.Errorf("%s: accessKey and secretKey are required", where))
			continue
		}
		if _, dup := t.accounts[a.AccessKey]; dup {
			errs = append(errs, fmt.Errorf("%s: accessKey listed twice", where))
			continue
		}
		acct := &aclAccount{secret: []byte(a.SecretKey), admin: a.Admin, topicPerms: map[string]aclPerm{}, groupPerms: map[string]aclPerm{}}
		if a.WhiteRemoteAddress != "" {
			p, err := parseAddrPattern(a.WhiteRemoteAddress)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: whiteRemoteAddress: %w", where, err))
			} else {
				acct.white = &p
			}
		}
		var err error
		if acct.defTopic, err = parsePerm(a.DefaultTopicPerm); err != nil {
			errs = append(errs, fmt.Errorf("%s: defaultTopicPerm: %w", where, err))
		}
		if acct.defGroup, err = parsePerm(a.DefaultGroupPerm); err != nil {
			errs = append(errs, fmt.Errorf("%s: defaultGroupPerm: %w", where, err))
		}
		for field, list := range map[string][]string{"topicPerms": a.TopicPerms, "groupPerms": a.GroupPerms} {
			into := acct.topicPerms
			if field == "groupPerms" {
				into = acct.groupPerms
			}
			for _, e := range list {
				name, perm, ok := strings.Cut(e, "=")
				p, err := parsePerm(perm)
				if !ok || strings.TrimSpace(name) == "" || err != nil {
					errs = append(errs, fmt.Errorf("%s: %s entry %q: want name=PERM with PERM one of DENY, PUB, SUB, PUB|SUB", where, field, e))
					continue
				}
				into[strings.TrimSpace(name)] = p
			}
		}
		t.accounts[a.AccessKey] = acct
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ACL file %s: %w", path, errors.Join(errs...))
	}
	return t, nil
}

// addrPattern is a RocketMQ IP white-list entry: "*", "192.168.*.*",
// "192.168.1.10-20", "192.168.0.{100,101}", or a ','-separated list of these.
type addrPattern struct {
	any  bool
	alts [][4]octetRange
}

type octetRange struct{ lo, hi int }

func parseAddrPattern(s string) (addrPattern, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return addrPattern{any: true}, nil
	}
	var p addrPattern
	// "a.b.c.{x,y}" lists alternatives of the last octet.
	var alts []string
	if i := strings.IndexByte(s, '{'); i >= 0 && strings.HasSuffix(s, "}") {
		for _, last := range strings.Split(s[i+1:len(s)-1], ",") {
			alts = append(alts, s[:i]+strings.TrimSpace(last))
		}
	} else {
		alts = strings.Split(s, ",")
	}
	for _, a := range alts {
		parts := strings.Split(strings.TrimSpace(a), ".")
		if len(parts) != 4 {
			return p, fmt.Errorf("%q is not an IPv4 pattern like 192.168.*.* or 10.0.0.1-20", s)
		}
		var rs [4]octetRange
		for k, part := range parts {
			lo, hi, err := parseOctet(part)
			if err != nil {
				return p, fmt.Errorf("%q: %w", s, err)
			}
			rs[k] = octetRange{lo, hi}
		}
		p.alts = append(p.alts, rs)
	}
	return p, nil
}

func parseOctet(s string) (int, int, error) {
	if s == "*" {
		return 0, 255, nil
	}
	loS, hiS, isRange := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(loS)
	hi := lo
	var err2 error
	if isRange {
		hi, err2 = strconv.Atoi(hiS)
	}
	if err1 != nil || err2 != nil || lo < 0 || hi > 255 || lo > hi {
		return 0, 0, fmt.Errorf("octet %q: want 0..255, a range like 10-20, or *", s)
	}
	return lo, hi, nil
}

func (p *addrPattern) matches(ip netip.Addr) bool {
	if p.any {
		return true
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return false
	}
	b := ip.As4()
	for _, rs := range p.alts {
		ok := true
		for k, r := range rs {
			if int(b[k]) < r.lo || int(b[k]) > r.hi {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// aclAdminCodes are the request codes only admin accounts may run.
var aclAdminCodes = map[int32]string{
	remoting.UpdateAndCreateTopic:             "UPDATE_AND_CREATE_TOPIC",
	remoting.UpdateBrokerConfig:               "UPDATE_BROKER_CONFIG",
	remoting.DeleteTopicInBroker:              "DELETE_TOPIC_IN_BROKER",
	remoting.UpdateAndCreateSubscriptionGroup: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	remoting.DeleteSubscriptionGroup:          "DELETE_SUBSCRIPTIONGROUP",
}

// aclNeed is one resource a request touches and what it needs there.
type aclNeed struct {
	name  string
	group bool // a consumer group, else a topic
	perm  aclPerm
}

// aclNeeds lists the topics and groups a request names (as Java's
// PlainAccessValidator.parse does) with the permission each needs.
func aclNeeds(req *remoting.Command) []aclNeed {
	var out []aclNeed
	topic := func(field string, perm aclPerm) {
		if t := req.ExtValue(field); t != "" {
			if g, ok := strings.CutPrefix(t, retryPrefix); ok {
				out = append(out, aclNeed{g, true, aclSub}) // a retry topic belongs to its group
			} else {
				out = append(out, aclNeed{t, false, perm})
			}
		}
	}
	group := func(field string) {
		if g := req.ExtValue(field); g != "" {
			out = append(out, aclNeed{g, true, aclSub})
		}
	}
	switch req.Code {
	case remoting.SendMessage, remoting.SendReplyMessage:
		topic("topic", aclPub)
	case remoting.SendMessageV2, remoting.SendBatchMessage, remoting.SendReplyMessageV2:
		topic("b", aclPub)
	case remoting.ConsumerSendMsgBack:
		group("group")
	case remoting.PullMessage:
		topic("topic", aclSub)
		group("consumerGroup")
	case remoting.QueryMessage:
		topic("topic", aclSub)
	case remoting.UnregisterClient, remoting.GetConsumerListByGroup:
		group("consumerGroup")
	case remoting.QueryConsumerOffset, remoting.UpdateConsumerOffset:
		topic("topic", aclSub)
		group("consumerGroup")
	case remoting.HeartBeat:
		var hb heartbeatBody
		if json.Unmarshal(req.Body, &hb) == nil {
			for _, cd := range hb.ConsumerDataSet {
				out = append(out, aclNeed{cd.GroupName, true, aclSub})
				for _, sd := range cd.SubscriptionDataSet {
					if !strings.HasPrefix(sd.Topic, retryPrefix) {
						out = append(out, aclNeed{sd.Topic, false, aclSub})
					}
				}
			}
		}
	}
	return out
}

// aclSigned reports whether req carries a valid signature for secret.
func aclSigned(req *remoting.Command, secret []byte) bool {
	sig := req.ExtValue("Signature")
	if sig == "" {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	if hmac.Equal(remoting.ACLSignature(req, secret, false), want) {
		return true
	}
	_, hasToken := req.Ext("SecurityToken")
	return hasToken && hmac.Equal(remoting.ACLSignature(req, secret, true), want)
}

// aclReloadInterval is how often the ACL file is checked for changes.
const aclReloadInterval = 2 * time.Second

// acl is the broker's access control, nil when aclEnable is false.
type acl struct {
	path  string
	table atomic.Pointer[aclTable]
	mod   time.Time // of the loaded file; reload goroutine only
}

func newACL(path string) (*acl, error) {
	t, err := loadACL(path)
	if err != nil {
		return nil, err
	}
	a := &acl{path: path}
	a.table.Store(t)
	if fi, err := os.Stat(path); err == nil {
		a.mod = fi.ModTime()
	}
	return a, nil
}

// reload re-reads the file when it changed, keeping the old table when the
// new one is broken.
func (a *acl) reload(b *Broker) {
	fi, err := os.Stat(a.path)
	if err != nil || fi.ModTime().Equal(a.mod) {
		return
	}
	a.mod = fi.ModTime()
	t, err := loadACL(a.path)
	if err != nil {
		b.log.Error("ACL file changed but does not load; keeping the previous rules", "err", err)
		return
	}
	a.table.Store(t)
	b.log.Info("ACL file reloaded", "path", a.path, "accounts", len(t.accounts))
}

// check returns nil when req may run, else the refusal.
func (a *acl) check(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	t := a.table.Load()
	ip := remoteIP(c)
	for i := range t.white {
		if t.white[i].matches(ip) {
			return nil
		}
	}
	ak := req.ExtValue("AccessKey")
	if ak == "" {
		return remoting.Errorf(req, remoting.NoPermission, "ACL: request code %d from %s is not signed: this broker has aclEnable=true", req.Code, c.RemoteAddr())
	}
	acct := t.accounts[ak]
	if acct == nil {
		return remoting.Errorf(req, remoting.NoPermission, "ACL: no account for AccessKey %q", ak)
	}
	if acct.white != nil && acct.white.matches(ip) {
		return nil
	}
	if !aclSigned(req, acct.secret) {
		return remoting.Errorf(req, remoting.NoPermission, "ACL: signature check failed for AccessKey %q (wrong SecretKey?)", ak)
	}
	if acct.admin {
		return nil
	}
	if name, ok := aclAdminCodes[req.Code]; ok {
		return remoting.Errorf(req, remoting.NoPermission, "ACL: AccessKey %q needs admin=true for %s", ak, name)
	}
	for _, n := range aclNeeds(req) {
		granted, kind := acct.defTopic, "topic"
		if n.group {
			granted, kind = acct.defGroup, "group"
			if p, ok := acct.groupPerms[n.name]; ok {
				granted = p
			}
		} else if p, ok := acct.topicPerms[n.name]; ok {
			granted = p
		}
		if granted&n.perm != n.perm {
			return remoting.Errorf(req, remoting.NoPermission, "ACL: AccessKey %q has %s on %s %s, the request needs %s", ak, granted, kind, n.name, n.perm)
		}
	}
	return nil
}

func remoteIP(c *remoting.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

package broker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/remoting"
)

// sign adds AccessKey and Signature as RocketMQ clients do: HMAC-SHA1 over
// the ext values sorted by key, then the body.
func sign(req *remoting.Command, ak, sk string) *remoting.Command {
	req.SetExt("AccessKey", ak)
	fields := slices.Clone(req.Fields())
	slices.SortFunc(fields, func(a, b remoting.Field) int { return strings.Compare(a.Key, b.Key) })
	mac := hmac.New(sha1.New, []byte(sk))
	for _, f := range fields {
		mac.Write([]byte(f.Value))
	}
	mac.Write(req.Body)
	req.SetExt("Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

const aclYAML = `
accounts:
  - accessKey: adminAK01
    secretKey: adminSK01
    admin: true
  - accessKey: userAK001
    secretKey: userSK001
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclTopic=PUB|SUB
    groupPerms:
      - GID_acl_denied=DENY
`

// TestACL: with aclEnable the broker serves the official client with good
// credentials and refuses, with NO_PERMISSION and a reason, unsigned
// requests, bad signatures, admin codes from non-admins and topics or
// groups the account may not use.
func TestACL(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(file, []byte(aclYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, "-aclEnable", "true", "-rocketmq.acl.plain.file", file)
	create := func(topic string, signer func(*remoting.Command) *remoting.Command) *remoting.Command {
		return c.invoke(signer(remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", topic,
			"readQueueNums", "1", "writeQueueNums", "1", "perm", "6")))
	}
	refused := func(resp *remoting.Command, why string) {
		t.Helper()
		if resp.Code != remoting.NoPermission || !strings.Contains(resp.Remark, why) {
			t.Fatalf("got code %d %q, want NO_PERMISSION mentioning %q", resp.Code, resp.Remark, why)
		}
	}
	refused(create("AclTopic", func(r *remoting.Command) *remoting.Command { return r }), "not signed")
	refused(create("AclTopic", func(r *remoting.Command) *remoting.Command { return sign(r, "userAK001", "userSK001") }), "admin")
	refused(create("AclTopic", func(r *remoting.Command) *remoting.Command { return sign(r, "adminAK01", "wrong") }), "signature")
	refused(create("AclTopic", func(r *remoting.Command) *remoting.Command { return sign(r, "nobody", "x") }), "no account")
	for _, topic := range []string{"AclTopic", "DeniedTopic"} {
		if resp := create(topic, func(r *remoting.Command) *remoting.Command { return sign(r, "adminAK01", "adminSK01") }); resp.Code != remoting.Success {
			t.Fatalf("admin create %s: %d %s", topic, resp.Code, resp.Remark)
		}
		c.waitRoute(topic)
	}

	newProducer := func(instance string, cred primitive.Credentials) rocketmq.Producer {
		// An instance name of its own: the Go client shares one client
		// object (and its signer) per instance name.
		return newProducer(t, c.nsAddrs, producer.WithGroupName("PG_"+instance), producer.WithInstanceName(instance),
			producer.WithCredentials(cred), producer.WithRetry(0))
	}
	user := primitive.Credentials{AccessKey: "userAK001", SecretKey: "userSK001"}
	p := newProducer("acl-user", user)
	if res, err := p.SendSync(context.Background(), primitive.NewMessage("AclTopic", []byte("allowed"))); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send with PUB on the topic: %v %v", res, err)
	}
	// The official client reports a refused send as "CODE: 16, DESC: <remark>"
	// and a refused pull as "unknown Response Code: 16, remark: <remark>".
	officialRefusal := func(what string, err error, prefix, why string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), prefix+strconv.Itoa(int(remoting.NoPermission))+",") || !strings.Contains(err.Error(), why) {
			t.Fatalf("%s: %v, want NO_PERMISSION (%d) mentioning %q", what, err, remoting.NoPermission, why)
		}
	}
	_, err := p.SendSync(context.Background(), primitive.NewMessage("DeniedTopic", []byte("denied")))
	officialRefusal("send to a DENY topic", err, "CODE: ", `has DENY on topic DeniedTopic, the request needs PUB`)
	bad := newProducer("acl-bad", primitive.Credentials{AccessKey: "userAK001", SecretKey: "guess"})
	_, err = bad.SendSync(context.Background(), primitive.NewMessage("AclTopic", []byte("x")))
	officialRefusal("send with a wrong SecretKey", err, "CODE: ", `signature check failed for AccessKey "userAK001"`)
	// The Go client sends a SecurityToken but leaves it out of what it signs.
	tok := newProducer("acl-token", primitive.Credentials{AccessKey: "userAK001", SecretKey: "userSK001", SecurityToken: "t0k"})
	if res, err := tok.SendSync(context.Background(), primitive.NewMessage("AclTopic", []byte("token"))); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send with a SecurityToken: %v %v", res, err)
	}

	// rocketgo's own client (loadgen's) signs with the same algorithm.
	for _, tc := range []struct {
		name string
		opts []client.Option
		why  string // the refusal's remark; "" for a send that goes through
	}{
		{"signed", []client.Option{client.Credentials("userAK001", "userSK001")}, ""},
		{"unsigned", nil, "is not signed: this broker has aclEnable=true"},
		{"wrong secret", []client.Option{client.Credentials("userAK001", "guess")}, `signature check failed for AccessKey "userAK001"`},
	} {
		rp, err := client.NewProducer(c.nsAddrs, append(tc.opts, client.Retries(0))...)
		if err != nil {
			t.Fatal(err)
		}
		if err := rp.Start(); err != nil {
			t.Fatal(err)
		}
		_, err = rp.Send(context.Background(), &client.Message{Topic: "AclTopic", Body: []byte("rocketgo client")})
		rp.Close()
		var be *client.BrokerError
		switch {
		case tc.why == "" && err != nil:
			t.Fatalf("rocketgo client, %s: %v", tc.name, err)
		case tc.why != "" && (!errors.As(err, &be) || be.Code != remoting.NoPermission || !strings.Contains(be.Remark, tc.why)):
			t.Fatalf("rocketgo client, %s: %v, want NO_PERMISSION mentioning %q", tc.name, err, tc.why)
		}
	}

	pull := func(group string) (*primitive.PullResult, error) {
		pc, err := rocketmq.NewPullConsumer(consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
			consumer.WithGroupName(group), consumer.WithInstance("acl-"+group), consumer.WithCredentials(user))
		if err != nil {
			t.Fatal(err)
		}
		// Subscribed to DeniedTopic, which holds no messages: Start needs
		// a subscription, and one to AclTopic would pull in the
		// background, which rocketmq-client-go v2.1.3 turns into a panic
		// ("send on closed channel", processQueue.putMessage) when a pull
		// brings messages while Shutdown runs. PullFrom reads AclTopic.
		if err := pc.Subscribe("DeniedTopic", consumer.MessageSelector{}); err != nil {
			t.Fatal(err)
		}
		if err := pc.Start(); err != nil {
			t.Fatal(err)
		}
		defer pc.Shutdown()
		return pc.PullFrom(context.Background(), &primitive.MessageQueue{Topic: "AclTopic", BrokerName: "broker-a", QueueId: 0}, 0, 8)
	}
	res, err := pull("GID_acl_ok")
	if err != nil || res.Status != primitive.PullFound || len(res.GetMessageExts()) != 3 {
		t.Fatalf("pull with SUB on topic and group: %v %+v", err, res)
	}
	_, err = pull("GID_acl_denied")
	officialRefusal("pull by a DENY group", err, "Response Code: ", `has DENY on group GID_acl_denied, the request needs SUB`)
}

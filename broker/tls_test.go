package broker_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/rocketgo/rocketgo/client"
	"github.com/rocketgo/rocketgo/internal/proctest"
	"github.com/rocketgo/rocketgo/internal/testpki"
	"github.com/rocketgo/rocketgo/remoting"
)

// The official Go client keeps WithTls in a process-wide default that
// every producer and consumer points at (remote.DefaultRemotingClientConfig),
// read when a connection is dialled: the last option applied wins for
// every client of the process. So the phases below run one after the
// other, each with its clients shut down before the next, and every test
// ends with a plain phase, leaving the default as the other tests expect.

// tlsServerArgs are the broker keys or namesrv flags for mode.
func tlsServerArgs(pki testpki.Files, mode string) []string {
	return []string{"-tls.server.mode", mode, "-tls.server.certPath", pki.ServerCert, "-tls.server.keyPath", pki.ServerKey}
}

// TestOfficialClientTLS: the official Go client with WithTls(true) sends
// and consumes through namesrv and broker in permissive and enforcing
// modes; a plain one does in disabled and permissive modes. A TLS client
// against disabled servers, and a plain one against enforcing servers,
// fail, and the servers log why.
func TestOfficialClientTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	pki := testpki.New(t, t.TempDir())
	for _, mode := range []string{"disabled", "permissive", "enforcing"} {
		t.Run(mode, func(t *testing.T) {
			brokerArgs := tlsServerArgs(pki, mode)
			var rpcTLS *tls.Config
			if mode == "enforcing" { // the broker registers over TLS, and so do the test's requests
				brokerArgs = append(brokerArgs, "-tls.enable", "true", "-tls.client.trustCertPath", pki.CACert)
				rpcTLS = mustClientTLS(t, remoting.TLSClientSettings{TrustCertPath: pki.CACert})
			}
			c := startClusterTLS(t, 1, tlsServerArgs(pki, mode), rpcTLS, brokerArgs...)
			phase := func(name string, fn func(c *cluster)) {
				t.Run(name, func(t *testing.T) {
					sub := *c
					sub.t = t // the phase's clients are shut down when it ends
					fn(&sub)
				})
			}
			switch mode {
			case "disabled":
				phase("tls client fails", func(c *cluster) {
					officialSendFails(c, true)
					if !c.namesrvs[0].WaitLog("a TLS handshake on a port without TLS", 10*time.Second) {
						t.Errorf("the namesrv does not say why it closed the TLS connection:\n%s", c.namesrvs[0].Log())
					}
				})
				phase("plain client", func(c *cluster) { officialSendAndConsume(c, "TLS_disabled_plain", false) })
			case "permissive":
				phase("tls client", func(c *cluster) { officialSendAndConsume(c, "TLS_permissive_tls", true) })
				phase("plain client", func(c *cluster) { officialSendAndConsume(c, "TLS_permissive_plain", false) })
			case "enforcing":
				phase("tls client", func(c *cluster) { officialSendAndConsume(c, "TLS_enforcing_tls", true) })
				phase("plain client refused", func(c *cluster) {
					officialSendFails(c, false)
					if !c.namesrvs[0].WaitLog("refused a plain connection", 10*time.Second) {
						t.Errorf("the namesrv does not say why it refused the plain connection:\n%s", c.namesrvs[0].Log())
					}
					// The broker's port refuses too, with an answer that says why.
					plain := remoting.NewClient(remoting.ClientConfig{})
					defer plain.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					resp, err := plain.Invoke(ctx, c.brokerAddr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo))
					if err != nil || resp.Code != remoting.NoPermission || !strings.Contains(resp.Remark, "tls.server.mode=enforcing") {
						t.Fatalf("plain request to an enforcing broker: %v %+v", err, resp)
					}
					if !c.broker.WaitLog("refused a plain connection", 10*time.Second) {
						t.Errorf("the broker does not log the refusal:\n%s", c.broker.Log())
					}
				})
			}
		})
	}
}

func mustClientTLS(t *testing.T, s remoting.TLSClientSettings) *tls.Config {
	t.Helper()
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// officialSendAndConsume sends 20 messages to a new topic with the official
// producer and reads them back with its push consumer, both with
// WithTls(useTLS).
func officialSendAndConsume(c *cluster, topic string, useTLS bool) {
	t := c.t
	c.createTopic(topic, 4)
	p := c.producer(producer.WithTls(useTLS), producer.WithGroupName("PG_"+topic))
	want := map[string]bool{}
	for i := range 20 {
		body := fmt.Sprintf("%s-%d-%s", topic, i, strings.Repeat("x", i*1000))
		res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(body)))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d with tls=%v: %v %+v", i, useTLS, err, res)
		}
		want[body] = true
	}
	var r received
	c.pushConsumerWith(topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			r.add(m)
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName("GID_"+topic), consumer.WithTls(useTLS))
	eventually(t, 30*time.Second, "every message consumed", func() bool {
		got := r.bodies()
		for b := range want {
			if got[b] == 0 {
				return false
			}
		}
		return true
	})
}

// officialSendFails checks that the official producer with WithTls(useTLS)
// cannot send, and logs what it reports.
func officialSendFails(c *cluster, useTLS bool) {
	t := c.t
	p := c.producer(producer.WithTls(useTLS), producer.WithRetry(0), producer.WithSendMsgTimeout(3*time.Second))
	_, err := p.SendSync(context.Background(), primitive.NewMessage("TBW102", []byte("x")))
	if err == nil {
		t.Fatalf("official client with tls=%v sent through servers that should refuse it", useTLS)
	}
	t.Logf("official client with tls=%v: %v", useTLS, err)
}

// TestTLSSlaveSyncsFromEnforcingMaster: namesrv, master and slave all
// enforce TLS with client certificates (need.client.auth=require); the
// brokers' tls.enable connections present theirs, so both register and the
// slave syncs its master's topics. Replication itself runs on the plain HA
// port, as in RocketMQ.
func TestTLSSlaveSyncsFromEnforcingMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	pki := testpki.New(t, t.TempDir())
	server := append(tlsServerArgs(pki, "enforcing"), "-tls.server.trustCertPath", pki.CACert, "-tls.server.need.client.auth", "require")
	brokerTLS := append(append([]string(nil), server...), "-tls.enable", "true",
		"-tls.client.trustCertPath", pki.CACert, "-tls.client.certPath", pki.ClientCert, "-tls.client.keyPath", pki.ClientKey)
	rpcTLS := mustClientTLS(t, remoting.TLSClientSettings{TrustCertPath: pki.CACert, CertPath: pki.ClientCert, KeyPath: pki.ClientKey})
	c := startClusterTLS(t, 1, server, rpcTLS, brokerTLS...)
	const topic = "TLSSlaveSync"
	c.createTopic(topic, 2)

	p, err := client.NewProducer(c.nsAddrs, client.TLS(rpcTLS))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 10 {
		if _, err := p.Send(context.Background(), &client.Message{Topic: topic, Body: []byte("m" + strconv.Itoa(i))}); err != nil {
			t.Fatalf("send %d over TLS with a client certificate: %v", i, err)
		}
	}

	c.startSlave(brokerTLS...)
	eventually(t, 30*time.Second, "the slave to sync the topic from its master", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.rpc.Invoke(ctx, c.slaveAddr, remoting.NewRequest(remoting.GetAllTopicConfig))
		if err != nil || resp.Code != remoting.Success {
			t.Fatalf("GET_ALL_TOPIC_CONFIG on the slave: %v %+v", err, resp)
		}
		var w struct{ TopicConfigTable map[string]json.RawMessage }
		return json.Unmarshal(resp.Body, &w) == nil && w.TopicConfigTable[topic] != nil
	})
	c.waitReplicated()
	for q := range 2 {
		if m, s := c.maxOffset(topic, q), c.maxOffsetAt(c.slaveAddr, topic, q); m != s {
			t.Errorf("queue %d: master has %d messages, slave %d", q, m, s)
		}
	}
	// Without a client certificate the master's port turns a TLS client away.
	bare := remoting.NewClient(remoting.ClientConfig{TLS: mustClientTLS(t, remoting.TLSClientSettings{TrustCertPath: pki.CACert})})
	defer bare.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bare.Invoke(ctx, c.brokerAddr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo)); err == nil {
		t.Fatal("a TLS client without a certificate was served by a broker with tls.server.need.client.auth=require")
	}
}

// TestTLSBrokerWithoutTLSEnableCannotRegister: a broker whose own
// connections are plain (tls.enable=false) is refused by an enforcing
// namesrv and logs the namesrv's reason.
func TestTLSBrokerWithoutTLSEnableCannotRegister(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real processes")
	}
	pki := testpki.New(t, t.TempDir())
	ns := proctest.Start(t, filepath.Join(binDir, "namesrv"), append([]string{"-listen", "127.0.0.1:0"}, tlsServerArgs(pki, "enforcing")...)...)
	b := proctest.Start(t, filepath.Join(binDir, "broker"), "-namesrvAddr", ns.Addr("namesrv"), "-brokerName", "broker-a",
		"-listenPort", "0", "-haListenPort", "0", "-storePathRootDir", t.TempDir(), "-mappedFileSizeCommitLog", strconv.Itoa(64<<20))
	if !b.WaitLog("accepts TLS connections only", 20*time.Second) {
		t.Fatalf("the broker does not report why the namesrv refused it:\n%s", b.Log())
	}
}

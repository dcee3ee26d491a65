package remoting

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rocketgo/rocketgo/internal/testpki"
)

// tlsFixture is a throwaway CA with a server and client certificate.
func tlsFixture(t testing.TB) testpki.Files { return testpki.New(t, t.TempDir()) }

// serverTLS loads the server settings for mode and need.client.auth.
func serverTLS(t testing.TB, pki testpki.Files, mode, auth string) *ServerTLS {
	t.Helper()
	st, err := TLSServerSettings{
		Mode: mode, CertPath: pki.ServerCert, KeyPath: pki.ServerKey, TrustCertPath: pki.CACert,
		NeedClientAuth: auth, HandshakeTimeout: DefaultHandshakeTimeout,
	}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tlsClient returns a client that talks TLS, verifying the server against
// trust when it is not empty and presenting cert/key when given.
func tlsClient(t testing.TB, trust, cert, key string) *Client {
	t.Helper()
	tc, err := TLSClientSettings{TrustCertPath: trust, CertPath: cert, KeyPath: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(ClientConfig{TLS: tc})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// logTo returns a logger writing into buf and to t.Log.
func logTo(t testing.TB, buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestTLSModes: what plain and TLS clients get from a server in each
// mode. Bodies span several TLS records; the server sees the client's own
// address.
func TestTLSModes(t *testing.T) {
	pki := tlsFixture(t)
	type outcome int
	const (
		served outcome = iota
		refused
		handshakeFails
	)
	cases := []struct {
		mode        string
		plain, tls  outcome
		plainLogged string
	}{
		{"disabled", served, handshakeFails, ""},
		{"permissive", served, served, ""},
		{"enforcing", refused, served, "refused a plain connection"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			var logs syncBuffer
			peers := make(chan string, 16)
			s := startServer(t, ServerConfig{Log: logTo(t, &logs), TLS: serverTLS(t, pki, tc.mode, "none")}, func(s *Server) {
				s.Handle(testCode, func(c *Conn, req *Command) *Command {
					peers <- c.RemoteAddr()
					return echo(c, req)
				})
			})
			body := bytes.Repeat([]byte("0123456789abcdef"), 10<<10) // 160 KiB: ten records
			check := func(name string, c *Client, want outcome) {
				t.Helper()
				req := NewRequest(testCode, "v", name)
				req.Body = body
				resp, err := c.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), req)
				switch want {
				case served:
					if err != nil || resp.Code != Success || resp.ExtValue("echo") != name || !bytes.Equal(resp.Body, body) {
						t.Fatalf("%s client: %v %+v", name, err, resp)
					}
					if p := <-peers; !strings.HasPrefix(p, "127.0.0.1:") {
						t.Fatalf("%s client: the server sees it at %q", name, p)
					}
				case refused:
					if err != nil || resp.Code != NoPermission || !strings.Contains(resp.Remark, "tls.server.mode=enforcing") {
						t.Fatalf("%s client: want NO_PERMISSION naming tls.server.mode, got %v %+v", name, err, resp)
					}
					// On a connection of its own: the answer, then the server hangs up.
					nc, err := net.Dial("tcp", s.Addr())
					if err != nil {
						t.Fatal(err)
					}
					defer nc.Close()
					req := NewRequest(testCode)
					req.Opaque = 7
					if _, err := nc.Write(req.Encode(nil)); err != nil {
						t.Fatal(err)
					}
					_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					all, err := io.ReadAll(nc)
					if err != nil {
						t.Fatalf("want the answer and the end of the connection, got %v", err)
					}
					resp, err := DecodeCommand(all)
					if err != nil || resp.Code != NoPermission || resp.Opaque != 7 || !resp.IsResponse() {
						t.Fatalf("raw plain client: %v %+v", err, resp)
					}
				case handshakeFails:
					if err == nil {
						t.Fatalf("%s client: answered %+v by a server without TLS", name, resp)
					}
				}
			}
			check("plain", newClient(t), tc.plain)
			check("tls", tlsClient(t, pki.CACert, "", ""), tc.tls)
			if tc.plainLogged != "" {
				if n := strings.Count(logs.String(), tc.plainLogged); n != 2 {
					t.Fatalf("%q logged %d times for two connections:\n%s", tc.plainLogged, n, logs.String())
				}
			}
			if tc.tls == handshakeFails {
				eventually(t, "the server to log why", func() bool {
					return strings.Contains(logs.String(), errTLSOnPlainPort.Error())
				})
			}
		})
	}
}

// eventually polls cond every 10 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSClientAuth: with need.client.auth=require a client needs a
// certificate signed by tls.server.trustCertPath; with optional it may
// send none, but not a foreign one.
func TestTLSClientAuth(t *testing.T) {
	pki, other := tlsFixture(t), tlsFixture(t)
	for _, tc := range []struct {
		auth                    string
		none, trusted, stranger bool // served?
	}{
		{"none", true, true, true},
		{"optional", true, true, false},
		{"require", false, true, false},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			s := startServer(t, ServerConfig{TLS: serverTLS(t, pki, "enforcing", tc.auth)}, func(s *Server) { s.Handle(testCode, echo) })
			check := func(name string, c *Client, want bool) {
				t.Helper()
				resp, err := c.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(testCode, "v", name))
				if got := err == nil && resp.Code == Success; got != want {
					t.Fatalf("client with %s certificate: served=%v, want %v (%v)", name, got, want, err)
				}
			}
			check("no", tlsClient(t, pki.CACert, "", ""), tc.none)
			check("a trusted", tlsClient(t, pki.CACert, pki.ClientCert, pki.ClientKey), tc.trusted)
			check("a foreign", tlsClient(t, pki.CACert, other.ClientCert, other.ClientKey), tc.stranger)
		})
	}
}

// TestTLSClientVerifiesServer: tls.client.trustCertPath rejects a server
// whose certificate another CA signed; without it, any server is accepted.
func TestTLSClientVerifiesServer(t *testing.T) {
	pki, other := tlsFixture(t), tlsFixture(t)
	s := startServer(t, ServerConfig{TLS: serverTLS(t, pki, "enforcing", "none")}, func(s *Server) { s.Handle(testCode, echo) })
	for _, tc := range []struct {
		name, trust string
		ok          bool
	}{
		{"its CA", pki.CACert, true},
		{"no CA", "", true},
		{"another CA", other.CACert, false},
	} {
		_, err := tlsClient(t, tc.trust, "", "").Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(testCode))
		if (err == nil) != tc.ok {
			t.Fatalf("client trusting %s: %v", tc.name, err)
		}
		if !tc.ok && !strings.Contains(err.Error(), "tls.client.trustCertPath") {
			t.Fatalf("client trusting %s: the error does not say why: %v", tc.name, err)
		}
	}
}

// TestTLSHandshakeTimeout: a connection that sends nothing, or stalls in
// its handshake, is closed after tls.server.handshakeTimeoutMillis.
func TestTLSHandshakeTimeout(t *testing.T) {
	pki := tlsFixture(t)
	st := serverTLS(t, pki, "permissive", "none")
	st.HandshakeTimeout = 100 * time.Millisecond
	s := startServer(t, ServerConfig{TLS: st, IdleTimeout: -1}, nil)
	for name, send := range map[string][]byte{
		"silent":            nil,
		"stalled handshake": {0x16, 0x03, 0x01, 0x00, 0x40},
	} {
		t.Run(name, func(t *testing.T) { expectClosed(t, s.Addr(), send) })
	}
	// A client that gets on with it is served.
	if _, err := tlsClient(t, "", "", "").Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(testCode)); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCloseBothWays: a server-side Close reaches the TLS peer after the
// answers written before it; a peer that goes away closes the server's
// Conn; a peer that stops reading is cut off when the loop closes its
// connection; server-initiated requests cross the bridge.
func TestTLSCloseBothWays(t *testing.T) {
	pki := tlsFixture(t)
	conns := make(chan *Conn, 4)
	closed := make(chan *Conn, 4)
	pulled := make(chan struct{}, 16)
	// The last part answers 16 MiB to a peer that reads none of it: the
	// queue bound is raised so the server takes every request whatever the
	// sockets absorb (at the default 4 MiB it would stop reading some).
	s := startServer(t, ServerConfig{TLS: serverTLS(t, pki, "enforcing", "none"), Limits: Limits{HighWater: 64 << 20, QueueBytes: 64 << 20}}, func(s *Server) {
		s.Handle(HeartBeat, func(c *Conn, req *Command) *Command {
			conns <- c
			return NewResponse(req, Success, "")
		})
		s.Handle(UnregisterClient, func(c *Conn, req *Command) *Command {
			resp := NewResponse(req, Success, "bye")
			resp.Body = make([]byte, 200<<10)
			if err := c.Answer(req, resp); err != nil {
				t.Error(err)
			}
			c.Close()
			return req.Answered()
		})
		s.Handle(PullMessage, func(c *Conn, req *Command) *Command {
			resp := NewResponse(req, Success, "")
			resp.Body = make([]byte, 1<<20)
			defer func() { pulled <- struct{}{} }()
			return resp
		})
		s.OnClose(func(c *Conn) { closed <- c })
	})
	c := tlsClient(t, pki.CACert, "", "")
	c.Handle(GetConsumerRunningInfo, func(_ string, req *Command) *Command { return NewResponse(req, Success, "running") })
	ctx := ctxTimeout(t, 20*time.Second)

	// Server-initiated request, then the server closes after answering.
	if _, err := c.Invoke(ctx, s.Addr(), NewRequest(HeartBeat)); err != nil {
		t.Fatal(err)
	}
	conn := <-conns
	if resp, err := conn.Invoke(ctx, NewRequest(GetConsumerRunningInfo)); err != nil || resp.Remark != "running" {
		t.Fatalf("server to client over TLS: %v %+v", err, resp)
	}
	resp, err := c.Invoke(ctx, s.Addr(), NewRequest(UnregisterClient))
	if err != nil || resp.Remark != "bye" || len(resp.Body) != 200<<10 {
		t.Fatalf("answer before close: %v %+v", err, resp)
	}
	if got := <-closed; got != conn {
		t.Fatal("OnClose got another connection")
	}
	c.CloseAddr(s.Addr()) // do not race the server's close with the next request

	// The peer goes: the server's Conn closes.
	if _, err := c.Invoke(ctx, s.Addr(), NewRequest(HeartBeat)); err != nil {
		t.Fatal(err)
	}
	conn = <-conns
	c.CloseAddr(s.Addr())
	if got := <-closed; got != conn {
		t.Fatal("OnClose got another connection")
	}

	// A peer that asks for megabytes and reads none of them: when the
	// connection is closed on the server (as a slow consumer would be),
	// its TLS side goes too, within closeLinger.
	raw, err := tls.Dial("tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var frames []byte
	hb := NewRequest(HeartBeat)
	hb.Opaque = 1
	frames = hb.Encode(frames)
	for i := range 16 {
		pull := NewRequest(PullMessage)
		pull.Opaque = int32(2 + i)
		frames = pull.Encode(frames)
	}
	if _, err := raw.Write(frames); err != nil {
		t.Fatal(err)
	}
	conn = <-conns
	for range 16 { // 16 MiB answered, more than the socket buffers hold
		<-pulled
	}
	conn.Close()
	if got := <-closed; got != conn {
		t.Fatal("OnClose got another connection")
	}
	eventually(t, "the TLS side to go", func() bool {
		s.tls.mu.Lock()
		defer s.tls.mu.Unlock()
		return len(s.tls.raw) == 0 && len(s.tls.bridges) == 0
	})
}

// TestTLSServerClose: closing the server closes TLS connections and waits
// for their goroutines; clients see ErrClosed.
func TestTLSServerClose(t *testing.T) {
	pki := tlsFixture(t)
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Log: testLogger(t), TLS: serverTLS(t, pki, "permissive", "none")})
	s.Handle(PullMessage, func(_ *Conn, req *Command) *Command { return req.Later() })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for _, c := range []*Client{newClient(t), tlsClient(t, "", "", "")} {
		wg.Add(1)
		err := c.InvokeAsync(ctxTimeout(t, time.Minute), s.Addr(), NewRequest(PullMessage), func(_ *Command, err error) {
			defer wg.Done()
			errs <- err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A connection still in its handshake, too.
	half, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	eventually(t, "both requests to arrive", func() bool { return s.tls != nil && countConns(s) == 2 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("pending request after server close: %v", err)
		}
	}
	if len(s.tls.raw) != 0 {
		t.Fatalf("%d connections left open", len(s.tls.raw))
	}
}

func countConns(s *Server) int {
	n := 0
	s.conns.Range(func(_, _ any) bool { n++; return true })
	return n
}

// TestTLSSettingsCheck: each problem names its key.
func TestTLSSettingsCheck(t *testing.T) {
	ok := TLSServerSettings{Mode: "enforcing", CertPath: "c", KeyPath: "k", NeedClientAuth: "none", HandshakeTimeout: time.Second}
	for _, tc := range []struct {
		edit func(s *TLSServerSettings)
		want string // "" = valid
	}{
		{func(*TLSServerSettings) {}, ""},
		{func(s *TLSServerSettings) { s.Mode, s.CertPath, s.KeyPath = "disabled", "", "" }, ""},
		{func(s *TLSServerSettings) { s.Mode = "PERMISSIVE" }, ""},
		{func(s *TLSServerSettings) { s.Mode = "on" }, "tls.server.mode="},
		{func(s *TLSServerSettings) { s.CertPath = "" }, "needs tls.server.certPath"},
		{func(s *TLSServerSettings) { s.KeyPath = "" }, "needs tls.server.keyPath"},
		{func(s *TLSServerSettings) { s.NeedClientAuth = "always" }, "tls.server.need.client.auth="},
		{func(s *TLSServerSettings) { s.NeedClientAuth = "require" }, "needs tls.server.trustCertPath"},
		{func(s *TLSServerSettings) { s.HandshakeTimeout = 0 }, "tls.server.handshakeTimeoutMillis"},
	} {
		s := ok
		tc.edit(&s)
		err := s.Check()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", s, err, tc.want)
		}
	}
	// Files are read by Load, and a bad one is named by its key.
	pki := tlsFixture(t)
	for _, tc := range []struct {
		s    TLSServerSettings
		want string
	}{
		{TLSServerSettings{CertPath: "/nonexistent/cert.pem", KeyPath: pki.ServerKey}, "tls.server.certPath=/nonexistent/cert.pem"},
		{TLSServerSettings{CertPath: pki.ServerCert, KeyPath: "/nonexistent/key.pem"}, "tls.server.keyPath=/nonexistent/key.pem"},
		{TLSServerSettings{CertPath: pki.ServerCert, KeyPath: pki.ClientKey}, "tls.server.certPath="},
		{TLSServerSettings{CertPath: pki.ServerCert, KeyPath: pki.ServerKey, TrustCertPath: pki.ServerKey}, "tls.server.trustCertPath="},
	} {
		tc.s.Mode, tc.s.HandshakeTimeout = "enforcing", time.Second
		if _, err := tc.s.Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	if st, err := (TLSServerSettings{Mode: "disabled", CertPath: "/nonexistent", HandshakeTimeout: time.Second}).Load(); st != nil || err != nil {
		t.Errorf("disabled: %v %v, want nothing loaded", st, err)
	}
	if _, err := (TLSClientSettings{CertPath: pki.ClientCert}).Config(); err == nil || !strings.Contains(err.Error(), "tls.client.keyPath") {
		t.Errorf("client certificate without key: %v", err)
	}
}

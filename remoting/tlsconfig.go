package remoting

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TLSMode is RocketMQ's tls.server.mode: what a server accepts on its port.
type TLSMode int

const (
	// TLSDisabled serves plain TCP only; gnet owns the port, as without TLS.
	TLSDisabled TLSMode = iota
	// TLSPermissive serves TLS and plain TCP on the same port, told apart
	// by the first byte a client sends.
	TLSPermissive
	// TLSEnforcing serves TLS only: a plain client's first request is
	// answered NO_PERMISSION and its connection closed.
	TLSEnforcing
)

var tlsModeNames = [...]string{"disabled", "permissive", "enforcing"}

func (m TLSMode) String() string {
	if int(m) < len(tlsModeNames) {
		return tlsModeNames[m]
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// ParseTLSMode reads a tls.server.mode value, ignoring case.
func ParseTLSMode(s string) (TLSMode, error) {
	for i, name := range tlsModeNames {
		if strings.EqualFold(s, name) {
			return TLSMode(i), nil
		}
	}
	return 0, fmt.Errorf("want disabled, permissive or enforcing")
}

// DefaultHandshakeTimeout bounds the wait for a new connection's first byte
// and its TLS handshake; Netty's SslHandler, which RocketMQ uses, allows
// the same 10 s.
const DefaultHandshakeTimeout = 10 * time.Second

// TLSServerSettings are the server half of RocketMQ's TLS settings
// (TlsSystemConfig), under their RocketMQ names: broker.properties keys of
// the broker, flags of the namesrv.
type TLSServerSettings struct {
	Mode           string // tls.server.mode: disabled | permissive | enforcing
	CertPath       string // tls.server.certPath: PEM certificate (chain) of the server
	KeyPath        string // tls.server.keyPath: its PEM private key, unencrypted
	TrustCertPath  string // tls.server.trustCertPath: PEM CA certificates that sign client certificates
	NeedClientAuth string // tls.server.need.client.auth: none | optional | require
	// HandshakeTimeout is tls.server.handshakeTimeoutMillis (ours; RocketMQ
	// has Netty's fixed 10 s): a connection that has not sent its first
	// byte and finished its handshake by then is closed.
	HandshakeTimeout time.Duration
}

// Check reports every problem of s, each naming its key.
func (s TLSServerSettings) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	mode, err := ParseTLSMode(s.Mode)
	if err != nil {
		bad("tls.server.mode=%q: %v", s.Mode, err)
	}
	if _, err := clientAuthType(s.NeedClientAuth); err != nil {
		bad("tls.server.need.client.auth=%q: %v", s.NeedClientAuth, err)
	}
	if s.HandshakeTimeout <= 0 {
		bad("tls.server.handshakeTimeoutMillis=%v: must be positive", s.HandshakeTimeout)
	}
	if err != nil || mode == TLSDisabled {
		return errors.Join(errs...)
	}
	if s.CertPath == "" {
		bad("tls.server.mode=%s needs tls.server.certPath (the server's PEM certificate)", mode)
	}
	if s.KeyPath == "" {
		bad("tls.server.mode=%s needs tls.server.keyPath (the server's PEM private key)", mode)
	}
	if auth, _ := clientAuthType(s.NeedClientAuth); auth != tls.NoClientCert && s.TrustCertPath == "" {
		bad("tls.server.need.client.auth=%s needs tls.server.trustCertPath (the CA certificates that sign client certificates)", s.NeedClientAuth)
	}
	return errors.Join(errs...)
}

// Load checks s and loads its files. It returns nil for mode disabled,
// without reading any file.
func (s TLSServerSettings) Load() (*ServerTLS, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	mode, _ := ParseTLSMode(s.Mode)
	if mode == TLSDisabled {
		return nil, nil
	}
	cert, err := loadKeyPair(s.CertPath, s.KeyPath, "tls.server")
	if err != nil {
		return nil, err
	}
	auth, _ := clientAuthType(s.NeedClientAuth)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: auth}
	if s.TrustCertPath != "" {
		if tc.ClientCAs, err = loadPool(s.TrustCertPath, "tls.server.trustCertPath"); err != nil {
			return nil, err
		}
	}
	return &ServerTLS{Mode: mode, Config: tc, HandshakeTimeout: s.HandshakeTimeout}, nil
}

// clientAuthType maps tls.server.need.client.auth (Netty's ClientAuth
// names) to Go's. Client certificates are always verified against
// tls.server.trustCertPath, as RocketMQ does with tls.server.authClient=true.
func clientAuthType(s string) (tls.ClientAuthType, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return tls.NoClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, errors.New("want none, optional or require")
}

// TLSClientSettings are the client half of RocketMQ's TLS settings, used
// when tls.enable=true.
type TLSClientSettings struct {
	// TrustCertPath is tls.client.trustCertPath: PEM CA certificates the
	// server's certificate chain must lead to. The host name is not checked
	// (RocketMQ checks none either: peers are often addressed by IP). Empty:
	// the server's certificate is not verified, which is RocketMQ's default
	// (tls.client.authServer=false) and what the official Go client does.
	TrustCertPath string
	CertPath      string // tls.client.certPath: our PEM certificate, for servers that require one
	KeyPath       string // tls.client.keyPath: its PEM private key, unencrypted
}

// Check reports every problem of s, each naming its key.
func (s TLSClientSettings) Check() error {
	if (s.CertPath == "") != (s.KeyPath == "") {
		return fmt.Errorf("tls.client.certPath=%q and tls.client.keyPath=%q: set both or neither", s.CertPath, s.KeyPath)
	}
	return nil
}

// Config checks s, loads its files and returns the configuration for
// ClientConfig.TLS.
func (s TLSClientSettings) Config() (*tls.Config, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	tc := &tls.Config{InsecureSkipVerify: true} // the chain is verified below, without the host name
	if s.CertPath != "" {
		cert, err := loadKeyPair(s.CertPath, s.KeyPath, "tls.client")
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if s.TrustCertPath != "" {
		roots, err := loadPool(s.TrustCertPath, "tls.client.trustCertPath")
		if err != nil {
			return nil, err
		}
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
	}
	return tc, nil
}

// verifyChain checks that the server's certificate chains to roots, for
// server authentication, at any host name.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("tls: server certificate not trusted by tls.client.trustCertPath: %w", err)
	}
	return nil
}

func loadKeyPair(certPath, keyPath, prefix string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.certPath=%s: %w", prefix, certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.keyPath=%s: %w", prefix, keyPath, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.certPath=%s, %s.keyPath=%s: %w", prefix, certPath, prefix, keyPath, err)
	}
	return cert, nil
}

func loadPool(path, key string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", key, path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s=%s: no PEM certificate in the file", key, path)
	}
	return pool, nil
}

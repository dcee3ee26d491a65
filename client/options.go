package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

// Option sets a Producer or PullConsumer parameter. Options that do not
// concern the one being built are accepted and ignored.
type Option func(*options)

type options struct {
	group         string
	sendTimeout   time.Duration
	retries       int
	inFlight      int
	compressOver  int
	routeRefresh  time.Duration
	log           *slog.Logger
	binaryHeaders bool
	brokerAddr    func(string) string
	cred          *remoting.Credentials
	tls           *tls.Config
}

// Defaults.
const (
	defaultProducerGroup = "DEFAULT_PRODUCER"
	defaultSendTimeout   = 3 * time.Second
	defaultRetries       = 2
	defaultInFlight      = 1024
	defaultCompressOver  = 4096
	defaultRouteRefresh  = 30 * time.Second
)

func defaultOptions() options {
	return options{
		group:        defaultProducerGroup,
		sendTimeout:  defaultSendTimeout,
		retries:      defaultRetries,
		inFlight:     defaultInFlight,
		compressOver: defaultCompressOver,
		routeRefresh: defaultRouteRefresh,
	}
}

// Group sets the producer group (default DEFAULT_PRODUCER). A
// PullConsumer takes its group as an argument and ignores this option.
func Group(name string) Option { return func(o *options) { o.group = name } }

// SendTimeout bounds each call that has no earlier context deadline: a
// whole Send with its retries, one SendTo, SendAsync or SendBatch attempt,
// and the consumer's offset calls (default 3 s). A Pull waits up to its
// suspend time plus SendTimeout.
func SendTimeout(d time.Duration) Option { return func(o *options) { o.sendTimeout = d } }

// Retries sets how many more attempts Send makes, on other brokers when
// there are, after a transport error or a SYSTEM_ERROR, SERVICE_NOT_AVAILABLE,
// NO_PERMISSION or TOPIC_NOT_EXIST answer (default 2).
func Retries(n int) Option { return func(o *options) { o.retries = n } }

// InFlight sets the window: how many SendAsync calls may await their
// answer on one broker connection (default 1024). A SendAsync that finds
// the window full waits for a slot.
func InFlight(n int) Option { return func(o *options) { o.inFlight = n } }

// CompressOver sets the body size from which Send, SendTo and SendAsync
// zlib-compress a body (default 4096, as the official client; 0 disables).
// Batches are never compressed.
func CompressOver(n int) Option { return func(o *options) { o.compressOver = n } }

// RouteRefresh sets how often cached topic routes are fetched again from
// the namesrv (default 30 s).
func RouteRefresh(d time.Duration) Option { return func(o *options) { o.routeRefresh = d } }

// Logger sets the logger for background work (route refreshes,
// heartbeats). The default discards.
func Logger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Credentials signs every request with an ACL account (brokers with
// aclEnable=true refuse unsigned ones).
func Credentials(accessKey, secretKey string) Option {
	return func(o *options) { o.cred = &remoting.Credentials{AccessKey: accessKey, SecretKey: secretKey} }
}

// TLS makes every connection, to namesrvs and brokers, TLS (servers with
// tls.server.mode permissive or enforcing). remoting.TLSClientSettings
// builds cfg from RocketMQ's tls.client.* settings; an empty ServerName is
// taken from the address dialled.
func TLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// BinaryHeaders makes sends, pulls and offset calls use RocketMQ's binary
// (ROCKETMQ) header encoding instead of JSON. Every RocketMQ broker, and
// rocketgo's, accepts both; binary is cheaper to encode and decode.
// Namesrv queries and heartbeats stay JSON. Default off: JSON, like the
// official Go client.
func BinaryHeaders(on bool) Option { return func(o *options) { o.binaryHeaders = on } }

func (o *options) apply(opts []Option) error {
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	var errs []error
	if o.group == "" {
		errs = append(errs, errors.New("client: Group is empty"))
	}
	if o.sendTimeout <= 0 {
		errs = append(errs, fmt.Errorf("client: SendTimeout(%v) is not positive", o.sendTimeout))
	}
	if o.retries < 0 {
		errs = append(errs, fmt.Errorf("client: Retries(%d) is negative", o.retries))
	}
	if o.inFlight < 1 {
		errs = append(errs, fmt.Errorf("client: InFlight(%d) is below 1", o.inFlight))
	}
	if o.compressOver < 0 {
		errs = append(errs, fmt.Errorf("client: CompressOver(%d) is negative", o.compressOver))
	}
	if o.routeRefresh <= 0 {
		errs = append(errs, fmt.Errorf("client: RouteRefresh(%v) is not positive", o.routeRefresh))
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// BrokerAddr rewrites every broker address taken from a route before it is
// dialled: fn(addr) is used instead of addr. A load generator uses it to
// route a client through a fault-injecting proxy; nil leaves addresses as
// the namesrv gives them.
func BrokerAddr(fn func(addr string) string) Option {
	return func(o *options) { o.brokerAddr = fn }
}

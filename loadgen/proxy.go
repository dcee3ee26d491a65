package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// link is a fault-injecting TCP proxy (Shopify's toxiproxy, in process)
// on one replication link, master HA port ← slave. With TopologySpec.
// ProxyLinks every slave replicates through one, faults or not, so the
// no-fault baseline pays the same proxy hop.
type link struct {
	name  string // "<group>/slave-N-link"
	proxy *toxiproxy.Proxy
	mu    sync.Mutex
	toxic []string
}

var (
	proxyServerOnce sync.Once
	proxyServer     *toxiproxy.ApiServer
)

func newLink(name, upstream string) (*link, error) {
	proxyServerOnce.Do(func() {
		proxyServer = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	})
	p := toxiproxy.NewProxy(proxyServer, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("proxy %s to %s: %w", name, upstream, err)
	}
	return &link{name: name, proxy: p}, nil
}

// addr is where the slave connects.
func (l *link) addr() string { return l.proxy.Listen }

// degrade adds a toxic to both directions of the link: "latency" (value:
// milliseconds added each way) or "bandwidth" (value: KB/s each way).
func (l *link) degrade(kind string, value int) error {
	attr := map[string]string{"latency": "latency", "bandwidth": "rate"}[kind]
	if attr == "" {
		return fmt.Errorf("link %s: unknown degradation %q (want latency or bandwidth)", l.name, kind)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, stream := range []string{"upstream", "downstream"} {
		name := fmt.Sprintf("%s-%s-%d", kind, stream, len(l.toxic))
		spec := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":{%q:%d}}`, name, kind, stream, attr, value)
		if _, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
			return fmt.Errorf("link %s: add %s: %w", l.name, kind, err)
		}
		l.toxic = append(l.toxic, name)
	}
	return nil
}

// clear removes every toxic.
func (l *link) clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range l.toxic {
		if err := l.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("link %s: remove %s: %w", l.name, name, err)
		}
	}
	l.toxic = nil
	return nil
}

func (l *link) stop() { l.proxy.Stop() }

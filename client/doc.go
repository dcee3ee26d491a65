// Package client is rocketgo's own lean RocketMQ client: a Producer (sync,
// async with a per-connection window, and batch sends) and a PullConsumer
// (pulls at chosen offsets, long polling, committed offsets). It speaks the
// remoting protocol through remoting.Client and works with rocketgo and
// Apache RocketMQ brokers; messages it sends are readable by the official
// clients and the other way round.
//
// It does not do push consumption, rebalancing, retries of consumed
// messages, transactions, ordered-message selectors, ACL signing or TLS.
//
// # Routes
//
// Topic routes come from the namesrvs (GET_ROUTEINFO_BY_TOPIC). The client
// keeps using the namesrv that last answered, starting from a random one,
// and moves round robin to the next one after a transport failure; an
// answer, even TOPIC_NOT_EXIST, is final. A producer asking for a topic the
// namesrvs do not know uses the route of TBW102 (at most 4 queues per
// broker): the broker creates the topic on the first send. Routes are
// cached per topic and fetched again every RouteRefresh, and soon (at most
// once a second) after a send or pull to the topic failed in transport; a
// failed refresh keeps the old route. brokerAddrs is parsed whether its ids
// are quoted or bare numbers ({0:"host:port"}, as Java's fastjson writes).
//
// # Sending
//
// Single messages go out as SEND_MESSAGE_V2 (short ext names a…n), batches
// as SEND_BATCH_MESSAGE, always to the master (brokerId 0) of the queue's
// broker. Every message gets a UNIQ_KEY: 32 upper-case hex digits of
//
//	| IPv4 4 | random 4, per producer | counter 8, starting at the creation time in ns |
//
// Headers are JSON, like the official Go client's; BinaryHeaders switches
// sends, pulls and offset calls to RocketMQ's binary header encoding, which
// every broker accepts and which costs less on both ends.
//
// Bodies of CompressOver bytes or more are zlib-compressed (level 5) and
// flagged with sysFlag bit 0. Properties travel as one string of
// name 0x01 value 0x02 pairs, at most 32767 bytes (internal/wire).
//
// A batch body is its messages laid end to end, each (big-endian)
//
//	| totalSize 4 | magic 4 = 0 | bodyCRC 4 = 0 | flag 4 | bodyLen 4 | body | propsLen 2 | properties |
//
// with totalSize = 22 + bodyLen + propsLen, uncompressed.
//
// # Pulling
//
// A pull body is stored records laid end to end, V1 or V2, IPv4 or IPv6
// hosts; the layout, the properties string and the offset message id are
// in internal/wire's doc, whose parser DecodeMessages uses.
//
// # Concurrency
//
// Producer and PullConsumer methods are safe for concurrent use. The send
// path takes no lock shared by all connections: routes and send windows are
// read through atomic pointers to immutable values, requests and in-flight
// calls are pooled (sync.Pool), and the window of each broker connection
// is a buffered channel. SendAsync never starts a goroutine; its done func
// runs on the connection's reader goroutine (see remoting.Client) and must
// not block. Background work belongs to the Producer or PullConsumer:
// Start starts the route refresher (and the consumer's heartbeat), Close
// stops it and waits for it, then closes the connections, which fails
// outstanding calls with errors wrapping ErrClosed.
//
// Locks: core.mu guards the topic table's writers, the window table and
// first route lookups; PullConsumer.mu guards subscriptions. Neither is
// held while doing I/O or together with the other.
package client

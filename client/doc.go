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
// flagged with sysFlag bit 0. Properties travel as one string:
//
//	name 0x01 value 0x02 name 0x01 value 0x02 …   (at most 32767 bytes)
//
// A batch body is its messages laid end to end, each (big-endian)
//
//	| totalSize 4 | magic 4 = 0 | bodyCRC 4 = 0 | flag 4 | bodyLen 4 | body | propsLen 2 | properties |
//
// with totalSize = 22 + bodyLen + propsLen, uncompressed.
//
// # Pulling
//
// A pull body is stored records laid end to end (big-endian, IPv4 offsets;
// an IPv6 host, sysFlag 0x10 born / 0x20 store, takes 20 bytes instead of 8
// and shifts what follows):
//
//	 0 totalSize 4 | 4 magic 4 (0xDAA320A7; 0xDAA320AB: 2-byte topic length)
//	 8 bodyCRC 4   | 12 queueId 4 | 16 flag 4 | 20 queueOffset 8 | 28 physicalOffset 8
//	36 sysFlag 4   | 40 bornTimestamp 8 | 48 bornHost 8 | 56 storeTimestamp 8 | 64 storeHost 8
//	72 reconsumeTimes 4 | 76 preparedTransactionOffset 8 | 84 bodyLen 4 | body
//	   topicLen 1 | topic | propsLen 2 | properties
//
// A host is its address (4 or 16 bytes) and an int32 port. The offset
// message id is the upper-case hex of store address, port and physical
// offset (32 digits for IPv4).
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

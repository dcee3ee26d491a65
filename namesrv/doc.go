// Package namesrv is the name server: brokers register their topics with it,
// producers and consumers ask it where a topic's queues live.
//
// The route table is in memory only and rebuilt from broker registrations;
// name servers never talk to each other. It holds four maps:
//
//	topics    topic → brokerName → queue data (read/write queue numbers, perm, topicSysFlag)
//	brokers   brokerName → group (cluster, brokerId → address; id 0 is the master)
//	clusters  cluster → set of brokerName
//	live      brokerAddr → liveness (data version, HA address, last registration, connection)
//
// Requests served (RocketMQ codes): REGISTER_BROKER 103, UNREGISTER_BROKER
// 104, GET_ROUTEINFO_BY_TOPIC 105, GET_BROKER_CLUSTER_INFO 106,
// GET_ALL_TOPIC_LIST_FROM_NAMESERVER 206, DELETE_TOPIC_IN_NAMESRV 216,
// QUERY_DATA_VERSION 322, and GET_KV_CONFIG 101, which always answers
// QUERY_NOT_FOUND: there is no KV store, no order-topic config and no filter
// servers.
//
// A master (brokerId 0) contributes queue data, as RocketMQ 5 does: a
// registration whose data version changed, or the first one from an
// address, creates or overwrites the group's entry in every topic it lists;
// any other registration only adds the listed topics the group is missing
// from. Nothing is removed by a registration: a broker may list only the
// topics that changed (RocketMQ's registerIncrementBrokerData), and a topic
// goes away by DELETE_TOPIC_IN_NAMESRV (which mqadmin and the admin clients
// send after DELETE_TOPIC_IN_BROKER; a broker that still lists the topic
// brings it back with its next registration) or with its whole group.
// While a group has no master, the registrations of its lowest-id slave
// that sets enableActingMaster=true (RocketMQ 5's prime slave) contribute
// the same way, so a namesrv that never saw the master can still route the
// slave's topics; other slaves contribute nothing. A broker
// is forgotten 120 s after its last registration (or its own
// heartbeatTimeoutMillis), when it unregisters, or at once when the
// connection it registered through closes. A group that lost only its
// master keeps its queue data, so consumers can still read from the slaves;
// a group left empty loses its queue data in every topic.
//
// Route, cluster-info and topic-list bodies are internal/wire's types, whose
// doc has the format: standard, compact JSON with keys in fastjson's
// alphabetical order and brokerAddrs free of white space. Incoming JSON may
// use fastjson's unquoted integer keys ({0:"a"}); wire.Unmarshal quotes them
// before decoding.
//
// A compressed REGISTER_BROKER body (ext compressed=true) is a zlib stream
// of big-endian length-prefixed parts:
//
//	| len 4 | DataVersion JSON | topicCount 4 |
//	| len 4 | "name readQ writeQ perm filterType[ attributesJSON]" | … (topicCount times)
//	| len 4 | filter-server list JSON | (Java 5: count 4, then len 4 | queue-mapping JSON …)
//
// Concurrency: handlers run concurrently, on the remoting server's workers
// and on connection-close callbacks; the expiry scan is one goroutine that
// Start starts and Close stops. One sync.RWMutex (routeTable.mu) guards the
// whole table; it is the only lock besides Server.mu, which guards start and
// close and is never held while taking routeTable.mu. Nothing blocks or
// calls out while holding routeTable.mu: connections of expired brokers
// are closed after it is released.
package namesrv

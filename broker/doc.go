// Package broker is a RocketMQ-compatible broker: the request handlers of
// REMOTING.md §8–§10 in front of a commitlog.Log, with the tables around it
// (topics, consumer offsets, subscription groups, live consumers, queue
// locks, delayed messages) and the registration with every namesrv.
//
// Sends, replies and offset requests run inline on the remoting server's
// event loops (HandleInline), everything else in its worker pool; no
// handler blocks on I/O it does not own: a send that must wait (group-commit
// flush, a slave's ack) returns req.Later() and is answered from the
// completion callback; a pull that finds nothing is parked in polls
// (req.Later() too) and answered when the commit log reports an arrival on
// its queue or its suspend time (at most maxPullSuspendTimeout) ends; the
// pulls parked for a connection that closes are dropped. What one
// connection may hold (queued answers, requests in flight) is bounded by
// remoting.Limits, set from the broker.properties keys of the same names.
//
// Every message the broker writes — a send, a batch, a reply, a message
// given back, a delayed message coming due, a transaction's commit — goes
// through one send pipeline (pipeline.go): build, store, wait until durable
// as the role and flush type require, and only then answer or count it
// delivered.
//
// The topic and subscription-group tables (table.go) are read without a
// lock; writers write their file outside any lock a reader takes.
//
// Registration (register.go) is RocketMQ 5's: the whole topic table at
// start, every registerNameServerPeriod, after a deletion and always from a
// slave; only the created or changed topics otherwise
// (registerIncrementBrokerData), one round at a time on one goroutine, so
// topics created together share one request. UPDATE_AND_CREATE_TOPIC
// answers once every namesrv was sent its topic.
//
// Pull bodies are slices of the mapped commit log written with
// Conn.WriteBody: the stored record is the wire layout.
//
// A slave serves what its store holds (stored.go): pulls and offset
// requests of a topic its table lacks are answered from its consume queues,
// and its registration lists those topics, so it can stand in for a dead
// master with topics younger than its last metadata sync. It follows its
// master's topic and subscription-group tables by long polling
// (metawait.go): the master holds the slave's request until a table
// changes.
//
// Lock order: no handler holds two of the tables' locks at once (a table's
// wmu comes before its mu); polls.mu may be taken from the commit log's
// arrival listener, so nothing holding polls.mu calls into the commit log's
// append path. metaWaiters.mu and regMu are leaves; the group table wakes
// the held metadata requests with its lock held, through a channel that
// never blocks.
package broker

// Package remoting speaks Apache RocketMQ's remoting protocol: the frame
// codec (JSON and ROCKETMQ binary headers), request and response codes, a
// server on gnet event loops and a client with opaque-matched futures.
//
// It moves Commands; what a code means is the business of namesrv and
// broker, save that Credentials sign a client's requests for ACL (acl.go).
//
// TLS (tls.go, tlsconfig.go), with RocketMQ's settings: ServerConfig.TLS
// serves TLS on a server's port, in permissive mode beside plain TCP (told
// apart by a connection's first byte: 0x16 starts a TLS handshake) or in
// enforcing mode alone (a plain client's first request is answered
// NO_PERMISSION, then its connection closed). Then a Go listener owns the
// port; plain connections go to the event loops as they are, TLS ones
// through a socketpair bridged by two goroutines each. Without TLS, gnet
// owns the port and nothing of this runs. ClientConfig.TLS makes a
// Client's connections TLS.
//
// Frame layout (big-endian):
//
//	| length 4 | T 1 | hdrLen 3 | header (hdrLen bytes) | body |
//
// length counts the bytes after itself: 4 + hdrLen + len(body). T is the
// header serialization: 0 JSON, 1 ROCKETMQ. A JSON header is one object:
//
//	{"code":105,"language":"GO","version":317,"opaque":3,"flag":0,"remark":"","extFields":{"topic":"TopicTest"}}
//
// A ROCKETMQ header is
//
//	| code 2 | language 1 | version 2 | opaque 4 | flag 4 |
//	| remarkLen 4 | remark | extLen 4 | { keyLen 2 | key | valueLen 4 | value }* |
//
// with language bytes JAVA=0 … OTHER=7, HTTP=8, GO=9 … NODE_JS=13. Flag
// bit 0 marks a response, bit 1 a oneway request; responses carry their
// request's opaque.
//
// Memory: DecodeCommand copies a frame's header and body into one new
// buffer; the Command's strings and Body alias it, so it outlives the
// connection's input buffer, and holding any of its strings keeps the
// whole frame alive. The server decodes requests into pooled Commands and
// buffers instead, and recycles those of handlers registered with
// HandleScoped once they return (pool.go): such a handler must copy what
// it keeps, or call Keep.
//
// Concurrency. Command is not safe for concurrent mutation; a decoded one
// may be read from many goroutines.
//
// Server: event loops (gnet) decode frames and never block: requests go to
// a queue served by a pool of worker goroutines, so requests of one
// connection run concurrently and are answered in any order; a full queue
// (by count or bytes) is answered with SYSTEM_BUSY by the loop. Conn methods
// are safe from any goroutine. Writes are batched per connection: writers
// append encoded frames under Conn.mu and wake the loop, which takes the
// batch and writes it with writev. Conn.mu is a leaf lock; OnClose takes it
// on the loop, which is why wake-ups are triggered while it is held (the
// loop cannot have exited while a Conn is open). Close waits for running
// handlers.
//
// Bounded memory (flow.go, Limits): answers queued for a connection above a
// high-water mark stop the server reading it (TCP backpressure reaches the
// peer) until they drain below a low-water mark; a peer that takes none of
// its answers for a while is closed as a slow consumer, logged once.
// Requests in flight on a connection, kept ones included, are counted;
// beyond a limit they are answered SYSTEM_BUSY. The bytes of requests the
// server holds (queued for workers, and large ones until answered) have a
// budget: a large request is read, into a buffer of its own that goes with
// it, only when it fits.
//
// The server asks a client on its connection with Conn.Invoke (waits) or
// Conn.InvokeAsync, whose callback runs on the event loop or a timer and
// must not block.
//
// Client: one TCP connection per address. Senders encode requests into the
// connection's write buffer under clientConn.mu; a sender that finds no
// write in progress writes the buffer itself, and requests queued meanwhile
// go out together in the next write (after two rounds the connection's
// writer goroutine takes over), so requests in flight coalesce into few
// syscalls. One reader goroutine per connection decodes frames and
// completes futures; InvokeAsync callbacks run on it and must not block.
// Server requests arriving on client connections run on goroutines of
// their own.
//
// Locks: Client.mu and clientConn.mu are never held together, and no lock
// of the package is held while user code (handlers, callbacks) runs.
// tlsServer.mu is a leaf lock; OnOpen and OnClose take it on the loop.
package remoting

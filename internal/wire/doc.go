// Package wire holds the RocketMQ byte formats that more than one package
// reads or writes: the stored message record (the commit log's records and,
// concatenated, pull bodies), the properties string, tags codes, offset
// message ids, and the namesrv's route and cluster-info JSON, with the
// leniency fastjson's output needs.
//
// It is a leaf: it imports nothing of ours. STYLE.md has commitlog import
// nothing of ours; this package is the one exception, because the record
// codec the store writes is the one the client reads and issue 8 asked for
// a single copy. broker, namesrv, client, loadgen and the commands use it
// too. It does no I/O and keeps no state; everything here is safe for
// concurrent use. Decoders read untrusted bytes: they check every length
// against what is there, never allocate more than the input's size from a
// length field, and are fuzzed (go test -fuzz, see the Makefile's fuzz target).
//
// # Record layout
//
// Big-endian, byte-compatible with RocketMQ. A pull response body, a
// CHECK_TRANSACTION_STATE body and a commit-log segment hold these records
// end to end. Offsets for IPv4 hosts; an IPv6 born or store host takes 20
// bytes instead of 8 and shifts what follows.
//
//	 0 totalSize 4     whole record, this field included
//	 4 magic 4         0xDAA320A7 (V1: 1-byte topic length), or 0xDAA320AB (V2, RocketMQ 5:
//	                   2-byte topic length; read, never written)
//	 8 bodyCRC 4       CRC32-IEEE(body) & 0x7FFFFFFF
//	12 queueId 4
//	16 flag 4          the producer's flag, stored verbatim
//	20 queueOffset 8   0 for PREPARED and ROLLBACK transaction records
//	28 physOffset 8    offset of this record in the commit log
//	36 sysFlag 4       0x1 compressed, &0xC transaction type (0x4 PREPARED, 0x8 COMMIT, 0xC ROLLBACK),
//	                   0x10 born host IPv6, 0x20 store host IPv6, &0x700 compression type (RocketMQ 5:
//	                   0x100 LZ4, 0x200 ZSTD, 0x300 or 0 zlib)
//	40 bornTimestamp 8 ms
//	48 bornHost 8|20   address 4|16, port int32 (0..65535)
//	56 storeTimestamp 8  ms
//	64 storeHost 8|20
//	72 reconsumeTimes 4
//	76 preparedTransactionOffset 8
//	84 bodyLength 4, body
//	   topicLength 1|2, topic   (V1: ≤ 127 bytes, Java reads the length as a signed byte)
//	   propertiesLength 2, properties (signed: ≤ 32767 bytes)
//
// Fixed overhead: 91 bytes for a V1 record with two IPv4 hosts. The
// commit log also writes an 8-byte blank record (totalSize = bytes left in
// the segment, magic 0xCBD43194) at the end of a segment; ParseRecord
// reports it as ErrBlank. Pull bodies never hold one.
//
// # Properties
//
// One string of pairs, each name 0x01 value 0x02, the last 0x02 included:
//
//	TAGS 0x01 TagA 0x02 KEYS 0x01 k1 k2 0x02 UNIQ_KEY 0x01 7F00…01 0x02
//
// A piece that does not split into a non-empty name and a value at exactly
// one 0x01 is ignored, as the clients do; of repeated names the last wins.
// Names and values therefore cannot hold 0x01 or 0x02.
//
// # Tags code
//
// A consume-queue entry keeps the hash of the record's TAGS: Java's
// String.hashCode over UTF-16 code units, int32 arithmetic, sign-extended to
// 64 bits.
//
// # Offset message id
//
// Upper-case hex of the store host's address (4 or 16 bytes), its port
// (4 bytes) and the record's commit-log offset (8 bytes): 32 hex digits for
// IPv4, 56 for IPv6. Example: 7F000001000051AF00000000000003E8 is
// 127.0.0.1:20911, offset 1000.
//
// # Route and cluster JSON
//
// GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO and
// GET_ALL_TOPIC_LIST_FROM_NAMESERVER answer with JSON bodies (TopicRoute,
// ClusterInfo, TopicList). What we write is standard, compact JSON with
// fastjson's alphabetical key order, for example
//
//	{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},
//	"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[{"brokerName":"broker-a",
//	"perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}
//
// brokerAddrs maps broker ids (0 is the master) to addresses and is written
// without white space, ids in numeric order: the Go client splits its raw
// text on ',' and the first ':'. Java's fastjson writes integer map keys bare
// ({0:"10.0.0.5:10911"}); Unmarshal quotes them before decoding, for route
// bodies from a Java namesrv as for Java brokers' JSON metadata files.
package wire

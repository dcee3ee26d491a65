// Package index keeps RocketMQ's IndexFile: a hash index from
// topic#key to the commit-log offsets of the records stored under that
// key, for the operator's queries by message key and by unique key
// (QUERY_MESSAGE). It follows the commit log as RocketMQ's dispatcher
// does: one goroutine (the builder) reads the records the log has made
// readable, after the appender is done with them, and indexes each under
// its UNIQ_KEY and under each space-separated KEYS value. ROLLBACK
// transaction records are not indexed. The append path does no index
// work: it only wakes the builder (Kick).
//
// It does not read message bodies, keep anything per key in memory, or
// decide what a query may see: a lookup yields candidate offsets, which the
// caller checks against the record it reads there (the hash is 31 bits,
// and an entry may outlive its record, see Recovery).
//
// # Files
//
// Under Config.Dir (<storePathRootDir>/index), one file per
// maxIndexNum entries, named by its creation time in local time,
// yyyyMMddHHmmssSSS (a later file always gets a larger name).
// Big-endian, byte-compatible with RocketMQ's IndexFile:
//
//	header, 40 bytes:
//	 0 beginTimestamp 8   store time of the first record indexed in the file
//	 8 endTimestamp 8     store time of the last record the index has processed
//	16 beginPhyOffset 8   log offset of the first record indexed in the file
//	24 endPhyOffset 8     log offset of the last record the index has processed
//	32 hashSlotCount 4    slots in use
//	36 indexCount 4       next entry number; starts at 1 (entry 0 is never used)
//	slots, maxHashSlotNum × 4: the number of the newest entry whose
//	   keyHash % maxHashSlotNum is the slot's; 0 = none
//	entries, maxIndexNum × 20:
//	 0 keyHash 4          |Java String.hashCode(topic+"#"+key)| (0 for MIN_VALUE)
//	 4 phyOffset 8        the record's commit-log offset
//	12 timeDiff 4         seconds from beginTimestamp to the record's store time
//	16 prevIndex 4        the slot's previous entry; 0 ends the chain
//
// A file is 40 + 4×maxHashSlotNum + 20×maxIndexNum bytes (420,000,040 with
// the defaults), created sparse. A new file takes its begin and end values
// from the previous file's end. RocketMQ's endPhyOffset is the last record
// with a key; here it is the last record processed, keys or not, so that a
// restart resumes after it (RocketMQ's builder skips a record below
// endPhyOffset; both readings agree on that). Lookups walk a slot's chain
// from the newest entry back, in every file whose time range meets the
// query's, newest file first.
//
// # Recovery
//
// The builder writes an entry, then advances indexCount, then points the
// slot at it, and updates endPhyOffset and endTimestamp once a record's
// keys are all in. A process killed at any point (kill -9: every store to
// the shared mapping survives) leaves at worst an entry past indexCount,
// which nothing reaches, and a record whose keys are partly indexed;
// Open resumes at the record after endPhyOffset, reading the commit log
// again from there, so that record's keys are indexed again (a duplicate
// entry, which the caller's check drops). Open also checks the newest
// file: a slot that points at or past indexCount (a write the kernel lost)
// makes it rebuild the slot table from the entries; a header that is
// impossible, or a file of another size than the configuration gives,
// makes it drop the file and index that stretch of the log again.
//
// Files are msynced when full (before the next is used) and at Close.
// After a power loss the newest file may have lost entries the kernel had
// not written back; the messages are then found by offset id but not by key
// until they are indexed again (removing the index directory rebuilds it).
// When the log ends before what the index processed (its tail was cut), the
// index starts a new file at the log's end; entries left pointing past it
// are dropped by the caller's check.
//
// Retention: a file whose endPhyOffset is below the log's min offset is
// deleted, never the newest one.
//
// # Concurrency
//
// One builder goroutine writes (Start, Close). While records keep coming
// it looks at the log every millisecond; after 50 ms without any it waits
// for a Kick (or Config.Interval). Under load a Kick only fills a channel's
// one-slot buffer: only the first one after a quiet spell wakes the
// builder, so the appender's event loop does not pay a wake-up per record.
// Lookup is safe from any goroutine: it reads a slot with an atomic load,
// which orders the entry the builder wrote before it, and the header
// through atomic mirrors; it holds the file list's read lock while it
// walks, so a file is unmapped only once no lookup is in it. The builder
// holds the write lock only to add or drop a file, never while it creates,
// syncs or removes one.
package index

// Package commitlog stores messages in an append-only log of fixed-size,
// memory-mapped segment files, each named by its 20-digit start offset, and
// indexes them per topic queue in consume queues.
//
// It does not know about brokers, roles, topics' configuration, retention
// policy or the network: the broker decides what to append, where the bytes
// go and which old segments to delete (DeleteSegments, retain.go); this
// package keeps them durable, findable and readable without copying.
//
// # Files
//
// Under Config.Dir:
//
//	commitlog/<20-digit start offset>            segments, exactly SegmentSize bytes each
//	consumequeue/<topic>/<queueId>/<20-digit n>  consume-queue files, QueueFileEntries×20 bytes;
//	                                             n is the byte offset of the first entry (queue offset×20)
//	index/<yyyyMMddHHmmssSSS>                    message index files, kept by package commitlog/index
//	checkpoint                                   4 KiB, see below
//	abort                                        exists while the store is open; left behind by a crash
//	lock                                         flock(LOCK_EX) held while open
//
// # Record layout
//
// Records are RocketMQ's stored message records (V1 magic), byte for byte;
// a pull response body is these records concatenated exactly as stored. The
// layout, shared with the client's pull decoder, is in the doc of
// internal/wire, the one package of ours this one imports (a leaf that
// imports nothing of ours). The store writes and accepts only V1 records
// with a non-empty topic of at most 127 bytes that does not end in NUL and
// properties that do not end in NUL (see Recovery); the 8-byte
// storeTimestamp at offset 56 (IPv4 born host) is set under the append
// lock, so it is monotone in log order.
//
// Fixed overhead: 91 bytes with two IPv4 hosts. A record never spans
// segments: when len+8 exceeds the space left, an 8-byte blank record
// (totalSize = bytes left in the segment, magic 0xCBD43194) ends the segment
// and the record goes to the next one. Zeros after the last record mark the
// end of the log.
//
// # Consume queue entry (20 bytes)
//
//	0 physOffset 8 | 8 size 4 | 12 tagsCode 8
//
// Entry i of a queue is at byte i×20 of the queue's file sequence. A slot the
// store never had a record for (the queue started mid-stream on a replica, see
// AppendAt) holds (0, math.MaxInt32, 0). A zero entry ends the queue.
//
// # Checkpoint (big-endian, 4096 bytes, rewritten and fdatasynced by the flusher)
//
//	 0 physicMsgTimestamp 8   store time of the last record known flushed
//	 8 logicsMsgTimestamp 8   store time of the last record indexed in flushed consume queues
//	16 indexMsgTimestamp 8    always 0 (the index keeps its progress in its own files)
//	24 flushedOffset 8        log bytes below it were fsynced
//	32 confirmOffset 8        always 0
//	40 queueSafeOffset 8      every record below it is in the flushed consume queues
//	48 minOffset 8            first readable log offset (a replica may start mid-segment)
//	56 crc 4                  CRC32-IEEE of bytes [0,56)
//
// # Recovery
//
// Open always scans the log's tail with CRC checks, from the start of the
// third-to-last segment or earlier (the segment holding the highest offset
// the consume queues or the checkpoint vouch for), and cuts the log at the
// first record that is torn, corrupt or zero. Besides the magic, the lengths
// and the body CRC, a record must have a non-empty topic that does not end in
// NUL, and properties that do not end in NUL (Append enforces both): a record
// whose tail was lost to zeros fails one of these checks wherever it tore.
// Consume-queue entries at or past
// the cut are removed, records missing from the consume queues are indexed
// again (idempotently), and each queue's next offset is the number of entries
// it holds. After a crash (the abort file was left behind) the bytes after
// the cut are zeroed, so no stale record can reappear later.
//
// # Concurrency
//
// Append, AppendBatch and AppendAt serialise on one mutex (the appender). The
// record's CRC, size and tags code are computed before it is taken; the
// record is encoded straight into the mapping and its consume-queue entry
// written before the call returns. Read, MaxOffset, MinOffset, FlushedOffset
// and the queue readers (QueueEntries, QueueMaxOffset, QueueMinOffset,
// QueueCount, Queues, SearchOffset, EarliestStoreTime) are safe from any goroutine; they never
// take the appender's mutex, and wait for it only while it adds a queue or a
// queue file. A slice returned by Read aliases the mapping and stays valid
// until Close, or for DeleteGrace after retention deletes its segment; one
// returned by ReadPinned (and Chunk's file) until its Pin is released,
// however long after the deletion (retain.go).
//
// No file is created under the appender's mutex by Append and AppendBatch:
// the allocator creates the next segment and the next consume-queue file
// ahead of need, and an append that finds one missing releases the mutex,
// creates it (or waits for the allocator to finish it) and tries again. An
// append with Message.NoBlock set (one on an event loop) returns
// ErrWouldBlock instead, having changed nothing. The replica's AppendAt and
// recovery still create files under the mutex: they hold it across a
// stretch of log, and nothing else appends on a replica.
//
// The arrival listener hears of each append call once per queue, with the
// queue's new end (a batch, or the records a replicated chunk completes).
//
// Truncate (truncate.go) cuts the log's tail at runtime, with readers going
// on: it holds the appender's mutex, and waits out the flusher's syncs and
// holds them off (Log.flushMu) while it cuts; segments it deletes stay
// mapped for their pins and DeleteGrace, as retention's do.
//
// One flusher goroutine msyncs the log (every FlushInterval; in SyncFlush
// mode as soon as WaitDurable callers wait, releasing every waiter one sync
// covers) and the consume queues (every second), then rewrites the
// checkpoint. A failed msync fails the waiters it should have released, and
// the next round writes the range again before syncing it (the kernel may
// have marked the pages it could not write clean). Before it writes back
// whole pages it unmaps them (they map again on the next access): writing
// back a page mapped writable costs a TLB shootdown per page, which would
// interrupt the appender. One allocator goroutine creates and sizes the next
// segment before the roll needs it, and keeps the 64 MiB ahead of the append
// position (and the next consume-queue pages) faulted in, so that the
// appender takes no page faults; a second one creates consume-queue files
// ahead and faults their pages in. A new consume-queue file is mapped
// MADV_RANDOM (a fault in it maps one page instead of reading around it,
// which for a file of holes means zeroing up to read_ahead_kb of page
// cache) and gets its first 256 KiB faulted in before the appender sees
// it; a queue's warm distance grows with what it takes (cqWarmEnd), so a
// topic that takes one message holds 512 KiB of page cache per queue.
//
// Every call that changes a file goes through Config.FS (fs.go), the seam
// where tests inject errors and model a power loss; the writes through the
// mappings are plain memory.
//
// Lock order: Log.mu (appender) → Log.flushMu (the flusher's syncs and
// checkpoint writes) → cqueue.mk (a queue's file creation) → Log.qmu (queue
// table) → allocator.mu; Log.wmu (waiters), Log.retireMu and Log.doomMu are
// leaves. Callbacks (WaitDurable's done, the arrival listener) run with no
// lock held; Config.OnSync runs with Log.flushMu held.
package commitlog

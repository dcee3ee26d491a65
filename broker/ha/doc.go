// Package ha replicates a master's commit log to its slaves with
// RocketMQ's classic HA protocol (BROKER-INTERNALS.md §12).
//
// Wire format, big-endian, over plain TCP:
//
//	slave → master  | maxOffset 8 |                        offset report and ack
//	master → slave  | phyOffset 8 | size 4 | size bytes |  a run of raw log bytes
//
// A report is the slave's commit-log max offset; the first one on a
// connection says where to start, later ones acknowledge. A frame carries
// at most BatchSize bytes from one segment, not aligned to records; size 0
// is a heartbeat. The master sends frame bodies with sendfile(2) straight
// from the segment files, so replicated bytes never pass through user space
// on the master.
//
// Master: one reader and one sender goroutine per slave connection; a
// slave silent for IdleTimeout, or one that takes no byte of a frame for
// SendTimeout (it reports but does not read), is dropped. A SYNC_MASTER
// send registers a waiter (no goroutine of its own) that the
// highest ack of any slave releases, in offset order; a sweep fails the
// waiters whose time is up.
//
// Slave: one goroutine dials the master (reconnecting with backoff), reports
// its max offset at once, after every append and at least every
// HeartbeatInterval, and appends each frame at exactly its offset; a frame
// at any other offset closes the connection and the slave starts over from
// its own max offset.
package ha

package broker

import (
	"math"
	"sort"

	"github.com/rocketgo/rocketgo/commitlog"
)

// readLimit is the CommitLog offset up to which consumers may read: on a
// controller-mode master, the offset every replica of the SyncStateSet
// holds (RocketMQ's confirmOffset), so that a consumer never reads a
// message a failover takes back and then misses the new master's
// messages at the same queue offsets. Unlimited elsewhere, and with
// readUnCommitted.
func (b *Broker) readLimit() int64 {
	if b.ctl == nil || b.cfg.ReadUnCommitted || b.master == nil || b.isSlave() {
		return math.MaxInt64
	}
	return b.master.Confirmed()
}

// readMax is the queue's end as consumers see it.
func (b *Broker) readMax(topic string, queueID int32) int64 {
	return b.readMaxOf(topic, queueID, b.store.QueueMaxOffset(topic, queueID))
}

// readMaxOf is readMax given the queue's stored end: the first queue
// offset whose record reaches past readLimit, found by bisection over the
// (few) unconfirmed entries at the tail.
func (b *Broker) readMaxOf(topic string, queueID int32, stored int64) int64 {
	limit := b.readLimit()
	if limit == math.MaxInt64 || stored == 0 {
		return stored
	}
	var buf [1]commitlog.Entry
	visible := func(off int64) bool { // the entry at off is confirmed
		es, err := b.store.QueueEntries(topic, queueID, off, 1, buf[:0])
		return err == nil && len(es) == 1 && es[0].PhysOffset+int64(es[0].Size) <= limit
	}
	if visible(stored - 1) {
		return stored
	}
	lo := b.store.QueueMinOffset(topic, queueID)
	if lo >= stored {
		return stored
	}
	// Entries lie in log order: the confirmed ones come first.
	return lo + int64(sort.Search(int(stored-lo), func(i int) bool { return !visible(lo + int64(i)) }))
}

package ha

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rocketgo/rocketgo/commitlog"
)

// Epochs (controller mode, BROKER-INTERNALS.md §19). Each time a broker
// becomes master, at master epoch E, it records (E, its log's end offset):
// the bytes from there on, up to the next entry's start, were written by the
// master of epoch E. A slave adopts its master's entries. Since an epoch has
// one master, which starts it once, two brokers holding the same entry hold
// the same bytes before its start; ConsistentPoint uses that to find how
// much of a log a master shares, and the rest is truncated before
// replication starts.

// EpochEntry says that the master of Epoch began writing at StartOffset.
type EpochEntry struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"startOffset"`
}

// ErrBadEpochEntry is wrapped by every error about an entry that breaks the
// rules of an epoch list: epochs and start offsets are not negative, epochs
// strictly increase and start offsets never decrease.
var ErrBadEpochEntry = errors.New("ha: bad epoch entry")

// checkEpochEntry checks e on its own and, when it has one, against the entry
// before it.
func checkEpochEntry(e EpochEntry, prev *EpochEntry) error {
	switch {
	case e.Epoch < 0:
		return fmt.Errorf("%w: epoch %d is negative", ErrBadEpochEntry, e.Epoch)
	case e.StartOffset < 0:
		return fmt.Errorf("%w: epoch %d starts at negative offset %d", ErrBadEpochEntry, e.Epoch, e.StartOffset)
	case prev == nil:
		return nil
	case e.Epoch <= prev.Epoch:
		return fmt.Errorf("%w: epoch %d after epoch %d: epochs must increase", ErrBadEpochEntry, e.Epoch, prev.Epoch)
	case e.StartOffset < prev.StartOffset:
		return fmt.Errorf("%w: epoch %d starts at %d, before epoch %d's start %d: start offsets must not decrease",
			ErrBadEpochEntry, e.Epoch, e.StartOffset, prev.Epoch, prev.StartOffset)
	}
	return nil
}

// ValidateEpochEntries reports the first entry of entries that breaks the
// rules (see ErrBadEpochEntry), naming its index; nil for a valid list,
// including an empty one. Use it on a list that came from a peer before
// trusting it.
func ValidateEpochEntries(entries []EpochEntry) error {
	for i := range entries {
		var prev *EpochEntry
		if i > 0 {
			prev = &entries[i-1]
		}
		if err := checkEpochEntry(entries[i], prev); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// EpochEnd returns where the bytes of entries[i]'s epoch end in a log that
// ends at logEnd: where entries[i+1] starts, or logEnd for the last entry,
// and never past logEnd. The epoch holds bytes of that log only when its
// StartOffset is below the result; an entry starting at or past logEnd holds
// none. i must index entries.
func EpochEnd(entries []EpochEntry, i int, logEnd int64) int64 {
	if i+1 < len(entries) {
		return min(entries[i+1].StartOffset, logEnd)
	}
	return logEnd
}

// ConsistentPoint returns the offset up to which a local log that ends at
// localEnd, described by local, holds the same bytes as a remote one (the
// master's), described by remote: the caller truncates its log, and its
// epoch file, there before replicating from the master.
//
// It walks local newest first. The first epoch that holds bytes in both logs
// and that remote has with the same StartOffset gives the answer: the lesser
// of where that epoch ends locally and where it ends remotely (EpochEnd).
// Entries that hold no bytes of their log (they start at or past its end)
// are never matched, so the result is above the matched entry's start, and
// never above localEnd or remoteEnd. An epoch number that the two lists have
// with different starts is not shared.
//
// ok is false when no epoch is shared (either list empty, either log empty,
// or histories that have nothing in common): the caller then discards its log
// and starts over from the master. Both lists are expected to pass
// ValidateEpochEntries; any other input gives some answer, never a panic.
func ConsistentPoint(local []EpochEntry, localEnd int64, remote []EpochEntry, remoteEnd int64) (cut int64, ok bool) {
	for i := len(local) - 1; i >= 0; i-- {
		e := local[i]
		localEpochEnd := EpochEnd(local, i, localEnd)
		if e.StartOffset >= localEpochEnd {
			continue // no local bytes of this epoch
		}
		j := slices.IndexFunc(remote, func(r EpochEntry) bool { return r.Epoch == e.Epoch })
		if j < 0 || remote[j].StartOffset != e.StartOffset {
			continue
		}
		remoteEpochEnd := EpochEnd(remote, j, remoteEnd)
		if e.StartOffset >= remoteEpochEnd {
			continue // no remote bytes of this epoch
		}
		return min(localEpochEnd, remoteEpochEnd), true
	}
	return 0, false
}

// An EpochFile is a broker's list of epoch entries, kept on disk at one
// path. Its methods are safe for concurrent use. Every change is written to
// disk before the method returns: the whole list goes to path.tmp, which is
// synced and renamed over path, and the directory is synced. A crash leaves
// the old list or the new one. After a failed write the list in memory is
// unchanged (the file may hold the new one if only the directory sync
// failed), and the next change writes it all again.
//
// The file is text an operator can read and edit: a comment line, then one
// entry per line, oldest first, as two decimal numbers separated by a space:
//
//	# rocketgo epoch file: "<epoch> <startOffset>" per line, oldest first; ...
//	1 0
//	2 800
//	4 1500
//
// On reading, blank lines and lines starting with # are skipped, and fields
// may be separated by any run of spaces or tabs; every other line must hold
// an entry, and the entries must follow the rules of ErrBadEpochEntry.
type EpochFile struct {
	path string
	fs   commitlog.FS // nil: the real file system

	mu      sync.Mutex
	entries []EpochEntry // ascending; replaced, never changed in place
}

const epochFileHeader = `# rocketgo epoch file: "<epoch> <startOffset>" per line, oldest first; ` +
	"the master of <epoch> wrote the commit log from <startOffset> on\n"

// OpenEpochFile reads the list at path. A missing file is an empty list
// (the file is created by the first change), as long as its directory
// exists. A file that cannot be parsed is an error naming path and the line.
func OpenEpochFile(path string) (*EpochFile, error) {
	return openEpochFile(nil, path)
}

// openEpochFile is OpenEpochFile with changes written through fsys.
func openEpochFile(fsys commitlog.FS, path string) (*EpochFile, error) {
	f := &EpochFile{path: path, fs: fsys}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("open epoch file %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open epoch file: %w", err)
	default:
		if f.entries, err = parseEpochFile(path, data); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func parseEpochFile(path string, data []byte) ([]EpochEntry, error) {
	var entries []EpochEntry
	for n, line := range strings.Split(string(data), "\n") {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("epoch file %s line %d: "+format, append([]any{path, n + 1}, args...)...)
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, bad("%q: want \"<epoch> <startOffset>\"", line)
		}
		epoch, err := strconv.ParseInt(fields[0], 10, 32)
		if err != nil {
			return nil, bad("epoch %q: %w", fields[0], err)
		}
		start, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, bad("start offset %q: %w", fields[1], err)
		}
		e := EpochEntry{Epoch: int32(epoch), StartOffset: start}
		var prev *EpochEntry
		if len(entries) > 0 {
			prev = &entries[len(entries)-1]
		}
		if err := checkEpochEntry(e, prev); err != nil {
			return nil, bad("%w", err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func encodeEpochFile(entries []EpochEntry) []byte {
	b := []byte(epochFileHeader)
	for _, e := range entries {
		b = strconv.AppendInt(b, int64(e.Epoch), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, e.StartOffset, 10)
		b = append(b, '\n')
	}
	return b
}

// Path returns the file's path.
func (f *EpochFile) Path() string { return f.path }

// Entries returns a copy of the list, oldest first.
func (f *EpochFile) Entries() []EpochEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

// Last returns the newest entry; ok is false when the list is empty.
func (f *EpochFile) Last() (e EpochEntry, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return EpochEntry{}, false
	}
	return f.entries[len(f.entries)-1], true
}

// Append adds e after the newest entry: its epoch must be greater, and its
// start no less (else an error wrapping ErrBadEpochEntry says which rule
// broke). Appending an entry equal to the newest one does nothing, so a
// master that is told its epoch again, or a slave that adopts its master's
// entries again, need not check first. A broker that becomes master at the
// end of its log calls Truncate(end) first, which drops entries adopted from
// an earlier master past what it replicated.
func (f *EpochFile) Append(e EpochEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var prev *EpochEntry
	if n := len(f.entries); n > 0 {
		prev = &f.entries[n-1]
		if e == *prev {
			return nil
		}
	}
	if err := checkEpochEntry(e, prev); err != nil {
		return fmt.Errorf("append to epoch file %s: %w", f.path, err)
	}
	return f.saveLocked(append(slices.Clone(f.entries), e))
}

// Truncate makes the list describe a log cut at offset: it drops every entry
// that starts at or past offset, since none of them holds a byte of that log
// (a master elected there appends its own entry at offset right after).
// What remains all starts below offset. Nothing to drop writes nothing.
func (f *EpochFile) Truncate(offset int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.entries)
	for n > 0 && f.entries[n-1].StartOffset >= offset {
		n--
	}
	if n == len(f.entries) {
		return nil
	}
	return f.saveLocked(slices.Clone(f.entries[:n]))
}

// Reset replaces the whole list with entries, which must pass
// ValidateEpochEntries; nil or empty empties it.
func (f *EpochFile) Reset(entries []EpochEntry) error {
	if err := ValidateEpochEntries(entries); err != nil {
		return fmt.Errorf("reset epoch file %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saveLocked(slices.Clone(entries))
}

// saveLocked writes next to disk and then makes it the list.
// f.mu must be held.
func (f *EpochFile) saveLocked(next []EpochEntry) error {
	if err := commitlog.ReplaceFile(f.fs, f.path, encodeEpochFile(next)); err != nil {
		return fmt.Errorf("save epoch file %s: %w", f.path, err)
	}
	f.entries = next
	return nil
}

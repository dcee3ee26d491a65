package broker

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rocketgo/rocketgo/commitlog"
)

// cleaner is the retention service (BROKER-INTERNALS §10): every
// cleanResourceInterval it measures the store's disk and deletes commit-log
// segments, oldest first, that are past fileReservedTime when it is time
// (an hour of deleteWhen) or the disk is fuller than diskMaxUsedSpaceRatio,
// and unexpired ones too above diskSpaceCleanForciblyRatio. Above
// diskSpaceWarningLevelRatio it also makes the broker refuse sends. The
// store deletes the consume-queue files that point only into deleted
// segments.
type cleaner struct {
	b        *Broker
	hours    [24]bool
	diskFull atomic.Bool
	lastErr  time.Time // of the last logged measuring error; cleaner goroutine only
}

// maxSegmentsPerRun bounds one run's deletions, as Java's
// deleteFilesBatchMax does.
const maxSegmentsPerRun = 10

func newCleaner(b *Broker) *cleaner {
	hours, _ := parseDeleteWhen(b.cfg.DeleteWhen) // validated with the config
	return &cleaner{b: b, hours: hours}
}

// parseDeleteWhen reads deleteWhen: hours of the day separated by ';'.
func parseDeleteWhen(s string) ([24]bool, error) {
	var h [24]bool
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n > 23 {
			return h, fmt.Errorf("%q is not an hour of the day (0..23); want a ';'-separated list like 04 or 02;14", part)
		}
		h[n] = true
	}
	return h, nil
}

// usedRatio measures the used fraction of the store's file system now (one
// statfs), so that it is known before the first run; -1 when that fails.
func (c *cleaner) usedRatio() float64 {
	ratio, err := diskUsedRatio(c.b.cfg.StorePathRootDir)
	if err != nil {
		return -1
	}
	return ratio
}

// once is one run of the service.
func (c *cleaner) once(now time.Time, done <-chan struct{}) {
	cfg := &c.b.cfg
	log := c.b.log
	ratio, err := diskUsedRatio(cfg.StorePathRootDir)
	if err != nil {
		ratio = -1
		if now.Sub(c.lastErr) > time.Minute {
			c.lastErr = now
			log.Warn("measure the store's disk", "dir", cfg.StorePathRootDir, "err", err)
		}
	}
	cleanNow := false
	switch {
	case ratio > cfg.DiskSpaceWarningLevelRatio:
		if !c.diskFull.Swap(true) {
			log.Error("disk full: refusing sends until retention frees space", "usedRatio", ratio,
				"diskSpaceWarningLevelRatio", cfg.DiskSpaceWarningLevelRatio)
		}
		cleanNow = true
	case ratio > cfg.DiskSpaceCleanForciblyRatio:
		cleanNow = true
		fallthrough
	default:
		if c.diskFull.Swap(false) {
			log.Info("disk below the warning level again: accepting sends", "usedRatio", ratio)
		}
	}
	maxRatio := float64(min(max(cfg.DiskMaxUsedSpaceRatio, 10), 95)) / 100
	spaceFull := ratio < 0 || ratio > maxRatio
	timeUp := c.hours[now.Hour()]
	if !timeUp && !spaceFull {
		return
	}
	force := cleanNow && cfg.CleanFileForciblyEnable
	reserved := time.Duration(cfg.FileReservedTime) * time.Hour
	asked := 0
	n, err := c.b.store.DeleteSegments(maxSegmentsPerRun, func(si commitlog.SegmentInfo) bool {
		if !force && now.Sub(si.LastWrite) < reserved {
			return false
		}
		if asked > 0 && cfg.DeleteCommitLogFilesInterval > 0 {
			select { // spread the unlinks, as Java does
			case <-done:
				return false
			case <-time.After(cfg.DeleteCommitLogFilesInterval):
			}
		}
		asked++
		return true
	})
	if err != nil {
		log.Warn("retention", "err", err)
	}
	if n > 0 {
		log.Info("retention deleted commit log segments", "segments", n, "minOffset", c.b.store.MinOffset(),
			"forced", force, "timeUp", timeUp, "spaceFull", spaceFull, "usedRatio", ratio)
	}
}

// diskUsedRatio is the used fraction of the file system holding dir, as
// df counts it (blocks reserved for root are neither used nor available).
func diskUsedRatio(dir string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, fmt.Errorf("statfs %s: %w", dir, err)
	}
	used := float64(st.Blocks - st.Bfree)
	total := used + float64(st.Bavail)
	if total <= 0 {
		return -1, fmt.Errorf("statfs %s: no blocks", dir)
	}
	return used / total, nil
}

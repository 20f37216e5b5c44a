package search

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Follower keeps a Library fed from the bus's FEATURES stream: it replays
// what came after the library's snapshot (Library.Seq), then follows new
// records, and snapshots the library every SnapshotEvery.
type Follower struct {
	Library *Library
	Bus     *bus.Bus
	// SnapshotEvery is how often the library is snapshotted while records
	// come in (0: never; Close's caller may still call Snapshot).
	SnapshotEvery time.Duration
	// Batch is the most records added in one transaction (0: 512).
	Batch int

	ready  atomic.Bool
	seen   atomic.Uint64   // messages read, for the tests
	first  atomic.Uint64   // the first message's stream sequence
	scans  map[string]bool // scans whose manifest was read
	batch  []records.Record
	jobs   []string
	last   uint64
	lastAt time.Time
}

// Ready reports whether the follower has caught up with the stream once.
func (f *Follower) Ready() bool { return f.ready.Load() }

// Run follows the stream until ctx ends (returning nil then) or the bus
// fails. A message that is not a valid record is logged, by its stream
// sequence only, and skipped: one bad publisher must not stop the search.
// A shard's follower (Config.Shard) reads every message and keeps the
// records of its shard's series.
func (f *Follower) Run(ctx context.Context) error {
	l := f.Library
	f.scans, f.lastAt = map[string]bool{}, time.Now()
	if f.Batch <= 0 {
		f.Batch = 512
	}
	err := f.Bus.ConsumeFeaturesFrom(ctx, l.Seq()+1, func(m bus.Feature) error {
		if f.seen.Add(1) == 1 {
			f.first.Store(m.Sequence)
		}
		rec, err := records.Unmarshal(m.Data)
		switch {
		case err != nil:
			l.log.Warn("search: skipping a message that is no feature record", "sequence", m.Sequence, "err", err)
		case !l.cfg.Shard.Owns(rec.SeriesUID): // another shard's
		default:
			f.scan(ctx, &rec)
			f.batch = append(f.batch, rec)
			f.jobs = append(f.jobs, jobRecord(m))
		}
		f.last = m.Sequence
		if len(f.batch) >= f.Batch || m.Pending == 0 {
			return f.flush(ctx, m.Pending == 0)
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// jobRecord returns a job's message's "<job>/<record>", or "".
func jobRecord(m bus.Feature) string {
	job, record := m.Header.Get(bus.HeaderJobID), m.Header.Get(bus.HeaderRecord)
	if job == "" || record == "" {
		return ""
	}
	return job + "/" + record
}

// flush adds the batch, and snapshots when it is time.
func (f *Follower) flush(ctx context.Context, caughtUp bool) error {
	l := f.Library
	if err := l.add(ctx, f.batch, f.jobs, f.last); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("search: records left out, or kept without their vectors", "through_sequence", f.last, "err", err)
	}
	f.batch, f.jobs = f.batch[:0], f.jobs[:0]
	if caughtUp {
		f.ready.Store(true)
	}
	if f.SnapshotEvery > 0 && time.Since(f.lastAt) >= f.SnapshotEvery {
		f.lastAt = time.Now()
		if err := l.Snapshot(ctx); err != nil {
			l.log.Warn("search: snapshot failed", "err", err)
		}
	}
	return nil
}

// scan stores, the first time a scan's record comes, what its manifest on
// the bus says of its series and energy bins (a scan reconstructed from a
// folder has none there; its records are indexed all the same). The
// manifest's patient fields are not read.
func (f *Follower) scan(ctx context.Context, rec *records.Record) {
	if rec.ScanID == "" || f.scans[rec.ScanID] {
		return
	}
	f.scans[rec.ScanID] = true
	l := f.Library
	data, err := f.Bus.Manifest(ctx, rec.ScanID)
	if err != nil {
		return
	}
	sc, err := sinogram.ParseManifest(data)
	if err != nil {
		l.log.Warn("search: scan manifest unreadable", "scan", rec.ScanID, "err", err)
		return
	}
	if err := l.putManifest(ctx, rec.ScanID, sc); err != nil {
		l.log.Warn("search: storing scan metadata", "scan", rec.ScanID, "err", err)
	}
}

// putManifest stores what the filters read of scan id's manifest: the
// study's date and description, the day the scan started (in the
// scanner's time zone) and the energy bins. A manifest names no scanner.
func (l *Library) putManifest(ctx context.Context, id string, sc *sinogram.Scan) error {
	s := Scan{ID: id, StudyDate: isoDate(sc.Study.Date), Description: sc.Study.Description}
	if len(sc.Acquired) >= 10 {
		s.ScanDate = sc.Acquired[:10]
	}
	if err := l.PutScan(ctx, s); err != nil {
		return err
	}
	for i, b := range sc.Bins {
		if err := l.PutBin(ctx, id, i, b.LowKeV, b.HighKeV); err != nil {
			return fmt.Errorf("bin %d: %w", i, err)
		}
	}
	return nil
}

// isoDate writes a DICOM date (YYYYMMDD) as YYYY-MM-DD; others are kept.
func isoDate(d string) string {
	if len(d) == 8 && !strings.ContainsFunc(d, func(r rune) bool { return r < '0' || r > '9' }) {
		return d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return d
}

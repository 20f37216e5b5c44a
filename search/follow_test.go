package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/scansim"
)

// follow runs a follower of l on b until the test ends or stop is called.
func follow(t *testing.T, l *Library, b *bus.Bus) (f *Follower, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	f = &Follower{Library: l, Bus: b, Batch: 50}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("follower: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return f, stop
}

// waitSeq waits, at most a minute, until l holds the stream through seq.
func waitSeq(t *testing.T, l *Library, seq uint64) {
	t.Helper()
	waitFor(t, func() bool { return l.Seq() >= seq }, func() string { return fmt.Sprintf("library at sequence %d, want %d", l.Seq(), seq) })
}

// waitReady waits, at most a minute, until f has caught up. The library's
// sequence moves before the follower marks itself ready, so a caller that
// saw the sequence reach the stream's end must still wait for Ready.
func waitReady(t *testing.T, f *Follower) {
	t.Helper()
	waitFor(t, f.Ready, func() string { return "follower not ready after catching up" })
}

// waitFor polls cond every 10 ms for a minute, and fails the test with
// msg() if it is still false then.
func waitFor(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(msg() + " after a minute")
		}
	}
}

// restartQueries are what TestRestartReplaysAfterSnapshot asks before and
// after the restart.
func restartQueries(recs []records.Record) []Query {
	r := ofKind(recs, "radiomics-v1")[1]
	h := ofKind(recs, "hist-hu-v1")[3]
	return []Query{
		{Kind: "radiomics-v1", Like: ItemOf(&r).String(), K: 20},
		{Kind: "hist-hu-v1", Like: ItemOf(&h).String(), K: 20, Filter: "class = 'bone' or bin = 1"},
		{Filter: "volume > 400", Limit: 1000},
		{Icons: &sp.Query{Mandatory: []sp.QueryObject{{Name: "A", Class: "bone"}, {Name: "B", Class: "lipid"}},
			Relations: [][]sp.QueryTriple{{{A: "A", Rel: sp.Before, B: "B"}}}, Threshold: 0.3}, Limit: 1000},
	}
}

// TestRestartReplaysAfterSnapshot: a library follows a real (embedded)
// NATS server's FEATURES stream, snapshots, takes more records, and
// stops; opened again from its folder it loads the snapshot, replays only
// the messages after it, and answers every query as before.
func TestRestartReplaysAfterSnapshot(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	recs := fixtureRecords(30, 20)
	half := len(recs) / 2
	bustest.PublishRecords(t, b, recs[:half])
	dir := t.TempDir()
	cfg := Config{Dir: dir, Names: map[string][]string{"radiomics-v1": radNames}, Log: slog.New(slog.DiscardHandler)}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, stop := follow(t, l, b)
	waitSeq(t, l, uint64(half))
	waitReady(t, f)
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	bustest.PublishRecords(t, b, recs[half:])
	waitSeq(t, l, uint64(len(recs)))
	var before []*Answer
	for _, q := range restartQueries(recs) {
		a, err := l.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, a)
	}
	stop()
	l.Close()

	l2, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Seq() != uint64(half) {
		t.Fatalf("reopened at sequence %d, want the snapshot's %d", l2.Seq(), half)
	}
	f2, _ := follow(t, l2, b)
	waitSeq(t, l2, uint64(len(recs)))
	if f2.first.Load() != uint64(half+1) || f2.seen.Load() != uint64(len(recs)-half) {
		t.Errorf("replayed %d messages from %d, want %d from %d", f2.seen.Load(), f2.first.Load(), len(recs)-half, half+1)
	}
	for i, q := range restartQueries(recs) {
		a, err := l2.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Hits) == 0 || !sameHits(a, before[i]) || a.Index != before[i].Index {
			t.Errorf("query %d after the restart: %d hits by %s, want the %d by %s from before", i, len(a.Hits), a.Index, len(before[i].Hits), before[i].Index)
		}
	}
}

func sameHits(a, b *Answer) bool {
	return slices.EqualFunc(a.Hits, b.Hits, func(x, y Hit) bool {
		return x.Key == y.Key && x.Kind == y.Kind && deref(x.Distance) == deref(y.Distance) || x.Distance == nil && y.Distance == nil && x.Key == y.Key
	})
}

// TestSnapshotOfHNSW: a library of HNSW indexes restarts from its snapshot
// with the same graphs: the same answers, without rebuilding.
func TestSnapshotOfHNSW(t *testing.T) {
	recs := fixtureRecords(100, 21)
	dir := t.TempDir()
	l := openFixture(t, Config{Dir: dir, Index: "hnsw"}, recs)
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := restartQueries(recs)[0]
	before, err := l.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2, err := Open(context.Background(), Config{Dir: dir, Index: "hnsw", Names: map[string][]string{"radiomics-v1": radNames}})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	after, err := l2.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if after.Index != "hnsw" || !sameHits(after, before) {
		t.Errorf("after reopening: %d hits by %s, want the %d by hnsw from before", len(after.Hits), after.Index, len(before.Hits))
	}
}

// TestJobCopies: a job's record published again by another attempt under
// another item (after the stream's duplicate window) is not indexed twice.
func TestJobCopies(t *testing.T) {
	recs := fixtureRecords(2, 22)
	l := openFixture(t, Config{}, nil)
	first, again := ofKind(recs, "hist-hu-v1")[0], ofKind(recs, "hist-hu-v1")[0]
	again.SeriesUID = "4.4.4"
	if err := l.add(context.Background(), []records.Record{first}, []string{"job1/bin0/slice-1/object0/hist-hu-v1"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.add(context.Background(), []records.Record{again, first}, []string{"job1/bin0/slice-1/object0/hist-hu-v1", ""}, 2); err != nil {
		t.Fatal(err)
	}
	a, err := l.Search(context.Background(), Query{})
	if err != nil || *a.Total != 1 || a.Hits[0].SeriesUID != first.SeriesUID {
		t.Errorf("after a copy: %+v %v, want the first record alone", a, err)
	}
}

// TestScanMetadataFromManifest: the follower reads a scan's manifest from
// the bus for the filters (study date and description, the day the scan
// started, the energy bins) and keeps none of its patient fields.
func TestScanMetadataFromManifest(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	spec := scansim.DefaultSpec()
	spec.Study.Date = "20260116"
	spec.Acquired = time.Date(2026, 1, 16, 9, 30, 0, 0, time.FixedZone("NZDT", 13*3600))
	sim, err := scansim.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	sc := sim.Scan()
	manifest, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PublishManifest(context.Background(), spec.ScanID, manifest); err != nil {
		t.Fatal(err)
	}
	recs := ofKind(fixtureRecords(4, 23), "hist-hu-v1")
	for i := range recs {
		recs[i].ScanID = spec.ScanID
	}
	bustest.PublishRecords(t, b, recs)
	dir := t.TempDir()
	l, err := Open(context.Background(), Config{Dir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	follow(t, l, b)
	waitSeq(t, l, uint64(len(recs)))
	for filter, want := range map[string]int{
		"study_date = 2026-01-16 and scan_date = '2026-01-16'":         len(recs),
		"description ~ 'SPECTRAL PHANTOM'":                             len(recs),
		"kev_low >= 25 and kev_high <= 33.5":                           len(recs) / 2,
		"study_date < 2026-01-16 or description ~ 'nothing like this'": 0,
	} {
		a, err := l.Search(context.Background(), Query{Filter: filter})
		if err != nil || *a.Total != want {
			t.Errorf("%q: %v records, %v; want %d", filter, a, err, want)
		}
	}
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, snapshotDir, "library.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(spec.Patient.Name)) || bytes.Contains(db, []byte(spec.Patient.ID)) {
		t.Errorf("the database holds the manifest's patient name or ID")
	}
}

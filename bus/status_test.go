package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestStatusRoundTrip(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	want := Status{
		ID:       "job-7",
		State:    StateRunning,
		Progress: 0.25,
		Device:   "cuda:0",
		Timings:  map[string]float64{"reconstruct.preprocess": 1.5, "reconstruct.filter": 0.02},
	}
	before := time.Now().UTC()
	rev, err := b.PutStatus(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.GetStatus(ctx, "job-7")
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Before(before) || time.Since(got.UpdatedAt) > time.Minute {
		t.Errorf("UpdatedAt %v, put at %v", got.UpdatedAt, before)
	}
	if got.Revision != rev {
		t.Errorf("revision %d, PutStatus said %d", got.Revision, rev)
	}
	if got.ID != want.ID || got.State != want.State || got.Progress != want.Progress || got.Device != want.Device ||
		len(got.Timings) != 2 || got.Timings["reconstruct.preprocess"] != want.Timings["reconstruct.preprocess"] {
		t.Errorf("got %+v, want %+v", got, want)
	}

	if _, err := b.GetStatus(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing job: %v", err)
	}
	for _, bad := range []Status{
		{ID: "x", State: "paused"},
		{ID: "x", State: StateRunning, Progress: 1.5},
		{ID: "x", State: StateRunning, Progress: math.NaN()},
		{ID: "x.y", State: StateRunning},
	} {
		if _, err := b.PutStatus(ctx, bad); !errors.Is(err, ErrInvalidStatus) && !errors.Is(err, ErrInvalidID) {
			t.Errorf("PutStatus(%+v): %v", bad, err)
		}
	}

	for _, id := range []string{"job-9", "job-1"} {
		if _, err := b.PutStatus(ctx, Status{ID: id, State: StateQueued}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := b.ListStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	if len(ids) != 3 || ids[0] != "job-1" || ids[1] != "job-7" || ids[2] != "job-9" {
		t.Errorf("ListStatus IDs %v", ids)
	}
}

func TestListStatusEmpty(t *testing.T) {
	_, b := newBus(t, Config{})
	all, err := b.ListStatus(testContext(t, 5*time.Second))
	if err != nil || len(all) != 0 {
		t.Errorf("ListStatus on an empty bucket: %v, %v", all, err)
	}
}

func TestWatchStatus(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	if _, err := b.PutStatus(ctx, Status{ID: "w", State: StateQueued}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutStatus(ctx, Status{ID: "other", State: StateQueued}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	one, err := b.WatchStatus(wctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	every, err := b.WatchStatus(wctx, "")
	if err != nil {
		t.Fatal(err)
	}
	next := func(ch <-chan Status) Status {
		t.Helper()
		select {
		case s, ok := <-ch:
			if !ok {
				t.Fatal("watch closed early")
			}
			return s
		case <-ctx.Done():
			t.Fatal("no status update")
		}
		return Status{}
	}
	if s := next(one); s.ID != "w" || s.State != StateQueued {
		t.Errorf("current value %+v", s)
	}
	for _, p := range []float64{0.5, 1} {
		st := StateRunning
		if p == 1 {
			st = StateDone
		}
		if _, err := b.PutStatus(ctx, Status{ID: "w", State: st, Progress: p}); err != nil {
			t.Fatal(err)
		}
		if s := next(one); s.Progress != p || s.State != st {
			t.Errorf("update %+v, want progress %v", s, p)
		}
	}
	seen := map[string]int{}
	for range 4 {
		seen[next(every).ID]++
	}
	if seen["w"] != 3 || seen["other"] != 1 {
		t.Errorf("watch of all jobs saw %v", seen)
	}
	cancel()
	for range one {
	}
	for range every {
	}
}

// UpdateStatus writes only on top of the revision it was given: the
// compare-and-set by which a worker that lost its job to another (or to a
// cancel) finds out instead of overwriting the newer status. Every state
// of a job's life validates.
func TestUpdateStatusCompareAndSet(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	first, err := b.UpdateStatus(ctx, Status{ID: "cas", State: StateQueued}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdateStatus(ctx, Status{ID: "cas", State: StateQueued}, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("creating an existing status: %v, want ErrConflict", err)
	}
	mine, err := b.UpdateStatus(ctx, Status{ID: "cas", State: StateWaiting, Attempt: "a"}, first)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := b.UpdateStatus(ctx, Status{ID: "cas", State: StateRunning, Attempt: "b"}, first)
	if !errors.Is(err, ErrConflict) || theirs != 0 {
		t.Errorf("update from a replaced revision: %d, %v, want ErrConflict", theirs, err)
	}
	if _, err := b.UpdateStatus(ctx, Status{ID: "cas", State: StateCancelled, CancelledBy: "me"}, mine); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetStatus(ctx, "cas")
	if err != nil || got.State != StateCancelled || got.CancelledBy != "me" || !got.State.Final() {
		t.Errorf("status %+v (%v), want cancelled by me", got, err)
	}
	for _, s := range []State{StateQueued, StateWaiting, StateRunning, StateDone, StateFailed, StateCancelled} {
		st := Status{ID: "x", State: s}
		if err := st.Validate(); err != nil {
			t.Errorf("state %s: %v", s, err)
		}
		if s.Final() != (s == StateDone || s == StateFailed || s == StateCancelled) {
			t.Errorf("state %s: Final %v", s, s.Final())
		}
	}
}

// A status holds its stage times in seconds ("timings_s"), and its total
// counts each second once: the parts of a stage (reconstruct.filter) are
// in the stage's own time. A status written before, with nanoseconds
// under "timings" and the parts of reconstruct named as stages, reads
// with the same seconds and the same total. Before, JSON held
// nanoseconds, and adding every stage counted the parts twice.
func TestStatusTimingsInSeconds(t *testing.T) {
	st := Status{ID: "j", State: StateDone, Timings: map[string]float64{
		"read": 0.25, "reconstruct": 3, "reconstruct.preprocess": 0.5, "reconstruct.filter": 0.75, "reconstruct.backproject": 1.5, "dicom": 0.5}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	if s, ok := fields["timings_s"].(map[string]any); !ok || s["reconstruct"] != 3.0 || fields["timings"] != nil {
		t.Errorf("JSON %s, want timings_s in seconds and no timings", data)
	}
	if got := st.TotalSeconds(); got != 3.75 {
		t.Errorf("total %g s, want 3.75 (read + reconstruct + dicom)", got)
	}
	legacy := `{"id":"j","state":"done","timings":{"read":250000000,"reconstruct":3000000000,"preprocess":500000000,` +
		`"filter":750000000,"backproject":1500000000,"dicom":500000000}}`
	var old Status
	if err := json.Unmarshal([]byte(legacy), &old); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(old.Timings, st.Timings) || old.TotalSeconds() != 3.75 || old.ID != "j" || old.State != StateDone {
		t.Errorf("an older status reads as %+v (total %g s), want %v", old, old.TotalSeconds(), st.Timings)
	}
}

// A status keeps a job's warnings within MaxWarnings of MaxWarningBytes
// each, cut at a rune and ending in "...", the last line counting those
// left to the report, however much the job warns of; few short warnings
// are kept as they are, and all survive the bucket.
func TestBoundWarnings(t *testing.T) {
	long := strings.Repeat("µ", MaxWarningBytes) // 2 bytes a rune
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("warning %d", i))
	}
	many[1] = long
	got := BoundWarnings(many)
	if len(got) != MaxWarnings || got[0] != "warning 0" || got[MaxWarnings-2] != many[MaxWarnings-2] {
		t.Fatalf("%d warnings bounded to %q", len(many), got)
	}
	if want := fmt.Sprintf("... and %d more warnings (report.json)", 40-(MaxWarnings-1)); got[MaxWarnings-1] != want {
		t.Errorf("last line %q, want %q", got[MaxWarnings-1], want)
	}
	if w := got[1]; len(w) > MaxWarningBytes || !utf8.ValidString(w) || !strings.HasSuffix(w, "µ...") {
		t.Errorf("a warning of %d bytes bounded to %d bytes (valid UTF-8 %v) ending %q", len(long), len(w), utf8.ValidString(w), w[len(w)-8:])
	}
	few := []string{"a", "b"}
	if got := BoundWarnings(few); !slices.Equal(got, few) {
		t.Errorf("BoundWarnings(%q) = %q", few, got)
	}
	exactly := slices.Clone(many[:MaxWarnings])
	exactly[1] = "short"
	if got := BoundWarnings(exactly); !slices.Equal(got, exactly) {
		t.Errorf("%d warnings bounded to %q, want them kept", MaxWarnings, got)
	}

	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	if _, err := b.PutStatus(ctx, Status{ID: "warned", State: StateDone, Progress: 1, Warnings: got}); err != nil {
		t.Fatal(err)
	}
	st, err := b.GetStatus(ctx, "warned")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Warnings, got) {
		t.Errorf("warnings from the bucket %q, want %q", st.Warnings, got)
	}
}

// A status whose warnings would pass the server's max_payload is stored
// with them cut to fit, each keeping its beginning, or, where the room is
// too small to read them, as one line counting them. Before, the server
// refused it, and a worker retried writing its done status for ever
// (TestWorkerLeavesOutOversizeRecords, once a job warned a little more).
func TestStatusWarningsFitMaxPayload(t *testing.T) {
	const limit = 2048
	e := startServer(t, EmbeddedOptions{MaxPayload: limit})
	b := connect(t, e.ClientURL())
	ctx := testContext(t, 10*time.Second)
	if err := b.Setup(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	warning := func(i int) string { return fmt.Sprintf("warning %d: ", i) + strings.Repeat("<long & detailed> ", 30) }
	for _, c := range []struct {
		n    int
		want func(got []string) bool
	}{
		{2, func(got []string) bool {
			return len(got) == 2 && strings.HasPrefix(got[0], "warning 0: <long") && strings.HasPrefix(got[1], "warning 1: <long") && strings.HasSuffix(got[1], "...")
		}},
		{16, func(got []string) bool {
			return len(got) == 1 && strings.HasPrefix(got[0], "16 warnings left out of this status") && strings.Contains(got[0], "report.json")
		}},
	} {
		var warnings []string
		for i := range c.n {
			warnings = append(warnings, warning(i))
		}
		id := fmt.Sprintf("warned-%d", c.n)
		if _, err := b.PutStatus(ctx, Status{ID: id, State: StateDone, Progress: 1, Warnings: BoundWarnings(warnings)}); err != nil {
			t.Fatalf("%d warnings: %v", c.n, err)
		}
		st, err := b.GetStatus(ctx, id)
		if err != nil || !c.want(st.Warnings) {
			t.Errorf("%d warnings of %d bytes under a max_payload of %d: stored %q (%v)", c.n, len(warnings[0]), limit, st.Warnings, err)
		}
	}
}

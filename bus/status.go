package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// State is the stage of a job.
type State string

// The states of a job: queued by submit; waiting on a worker for its
// streamed scan to start; running; then done, failed or cancelled.
const (
	StateQueued    State = "queued"
	StateWaiting   State = "waiting"
	StateRunning   State = "running"
	StateDone      State = "done"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Final reports whether s is a state a job never leaves: done, failed or
// cancelled.
func (s State) Final() bool {
	return s == StateDone || s == StateFailed || s == StateCancelled
}

// Status is a job's entry in the JOBS_STATUS bucket, stored as JSON under
// its ID.
type Status struct {
	ID       string  `json:"id"`
	State    State   `json:"state"`
	Progress float64 `json:"progress"`         // 0 to 1
	Device   string  `json:"device,omitempty"` // "cuda:0", "cpu", ...
	Reason   string  `json:"reason,omitempty"` // why it waits, failed, was retried or cancelled
	// Attempt names the delivery of the job that a worker holds (host,
	// process, delivery, random): a worker writes the status only while
	// the latest value is its own (UpdateStatus), so one that lost the
	// job to another cannot overwrite it.
	Attempt string `json:"attempt,omitempty"`
	// CancelledBy says who cancelled the job (state cancelled).
	CancelledBy string `json:"cancelled_by,omitempty"`
	// Stage is what Progress measures while the job runs: "reconstruct"
	// (views) or "pacs" (instances uploaded).
	Stage string `json:"stage,omitempty"`
	// Output is the folder that holds the job's results (state done).
	Output string `json:"output,omitempty"`
	// StudyInstanceUID is the DICOM study the job wrote (state done).
	StudyInstanceUID string `json:"study_instance_uid,omitempty"`
	// Series are the DICOM series the job wrote, one per energy bin
	// (state done).
	Series []Series `json:"series,omitempty"`
	// Materials are the material maps a materials job wrote (state done).
	Materials *Materials `json:"materials,omitempty"`
	// Warnings are what the job's report warns of (state done); PutStatus
	// and UpdateStatus store at most MaxWarnings of at most
	// MaxWarningBytes each (BoundWarnings), cut further where the status
	// would pass the server's max_payload (fitStatus).
	Warnings []string `json:"warnings,omitempty"`
	// Timings holds how long each stage took, in seconds, by stage (read,
	// check, reconstruct, dicom, ...). A stage named "parent.part" is a
	// part of stage parent and counted in its time (reconstruct.filter);
	// TotalSeconds adds the others. Statuses written before this field
	// held nanoseconds under "timings"; they are read into it (see
	// UnmarshalJSON).
	Timings map[string]float64 `json:"timings_s,omitempty"`
	// Slabs is how many slabs a job split across workers has, and
	// SlabsDone how many of them are reconstructed (0: not split).
	Slabs     int `json:"slabs,omitempty"`
	SlabsDone int `json:"slabs_done,omitempty"`
	// Worker names the worker that did a slab (a slab's status, done).
	Worker string `json:"worker,omitempty"`
	// Report is what a slab's worker tells its job's report (a slab's
	// status, done: recon's pre-processing counts and parts).
	Report    json.RawMessage `json:"report,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`

	// Revision is the bucket's revision of this value, set by GetStatus,
	// ListStatus and WatchStatus; PutStatus ignores it.
	Revision uint64 `json:"-"`
}

// Series is one DICOM series a job wrote: an energy bin's.
type Series struct {
	Bin               int     `json:"bin"`
	LowKeV            float64 `json:"low_kev"`
	HighKeV           float64 `json:"high_kev"`
	SeriesInstanceUID string  `json:"series_instance_uid"`
	// Dir is the folder that holds the series' files, one per slice.
	Dir   string `json:"dir"`
	Files int    `json:"files"`
}

// Materials is what a job's material decomposition made: the calibration
// it used and each material's map.
type Materials struct {
	// Calibration is the calibration file used, or "physics"; Source
	// says what it is (material.Calibration.Describe).
	Calibration string        `json:"calibration"`
	Source      string        `json:"source"`
	Maps        []MaterialMap `json:"maps"`
}

// MaterialMap is one material's map: a DICOM series.
type MaterialMap struct {
	Material          string `json:"material"`
	Unit              string `json:"unit"` // mg/mL, or "% of volume"
	SeriesInstanceUID string `json:"series_instance_uid"`
	Dir               string `json:"dir"` // the folder of the series' files
	Files             int    `json:"files"`
	// NoiseSD is the map's noise per voxel in its unit, and NoiseLimit
	// the noise over which the job warns; both 0 where not measured.
	NoiseSD    float64 `json:"noise_sd,omitempty"`
	NoiseLimit float64 `json:"noise_sd_limit,omitempty"`
}

// The bounds of a status's warnings (BoundWarnings): a bucket value stays
// small however much a job warns of; its report keeps them all.
const (
	MaxWarnings     = 16
	MaxWarningBytes = 1024
)

// BoundWarnings returns warnings bounded for a status: each cut to
// MaxWarningBytes (at a rune boundary, ending in "..."), and past
// MaxWarnings-1 of them a last line saying how many more the report has.
func BoundWarnings(warnings []string) []string {
	if len(warnings) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(warnings), MaxWarnings))
	for i, w := range warnings {
		if i == MaxWarnings-1 && len(warnings) > MaxWarnings {
			return append(out, fmt.Sprintf("... and %d more warnings (report.json)", len(warnings)-i))
		}
		out = append(out, cutWarning(w, MaxWarningBytes))
	}
	return out
}

// cutWarning returns w cut to at most n bytes, at a rune boundary and
// ending in "...", when it is longer.
func cutWarning(w string, n int) string {
	if len(w) <= n {
		return w
	}
	return strings.ToValidUTF8(w[:n-3], "") + "..."
}

// fitStatus returns s as JSON in at most limit bytes when it can: a
// status the server refuses as over its max_payload would be retried for
// ever (a job done, its status never written). Its warnings, which the
// job's report keeps whole, give way: each is cut to an equal share of the
// room the rest leaves, or, where that share is too small to read, they
// become one line saying how many were left out.
func fitStatus(s Status, limit int) ([]byte, error) {
	data, err := json.Marshal(s)
	if err != nil || limit <= 0 || len(data) <= limit || len(s.Warnings) == 0 {
		return data, err
	}
	warnings := s.Warnings
	s.Warnings = nil
	bare, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	// Each warning costs its quotes and comma, and JSON's escapes (<, >
	// and & take six bytes) may lengthen it: a share that does not fit is
	// halved.
	for share := (limit-len(bare)-len(`,"warnings":[]`))/len(warnings) - 3; share >= 80; share /= 2 {
		s.Warnings = s.Warnings[:0]
		for _, w := range warnings {
			s.Warnings = append(s.Warnings, cutWarning(w, share))
		}
		if data, err = json.Marshal(s); err != nil || len(data) <= limit {
			return data, err
		}
	}
	s.Warnings = []string{fmt.Sprintf("%d warnings left out of this status, which would pass the NATS server's max_payload with them: the job's report.json has them", len(warnings))}
	return json.Marshal(s)
}

// TotalSeconds is the job's time: the sum of its stages' Timings, without
// the parts of stages (named "parent.part"), which their parents hold.
func (s *Status) TotalSeconds() float64 {
	var total float64
	for stage, t := range s.Timings {
		if !strings.Contains(stage, ".") {
			total += t
		}
	}
	return total
}

// legacyParts are the stages that statuses written before Timings held
// seconds named as stages of their own, though they are parts of
// reconstruct.
var legacyParts = []string{"preprocess", "filter", "backproject"}

// UnmarshalJSON reads a status, and the timings of one written before
// Timings held seconds ("timings", in nanoseconds) into Timings, in
// seconds, its parts of reconstruct named as parts.
func (s *Status) UnmarshalJSON(data []byte) error {
	type plain Status // without this method
	var v struct {
		plain
		Legacy map[string]time.Duration `json:"timings"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = Status(v.plain)
	if len(v.Legacy) > 0 && s.Timings == nil {
		s.Timings = make(map[string]float64, len(v.Legacy))
		for stage, d := range v.Legacy {
			if slices.Contains(legacyParts, stage) {
				stage = "reconstruct." + stage
			}
			s.Timings[stage] = d.Seconds()
		}
	}
	return nil
}

// Validate checks s and returns an error wrapping ErrInvalidStatus or
// ErrInvalidID.
func (s *Status) Validate() error {
	if err := validKey(s.ID); err != nil {
		return err
	}
	switch s.State {
	case StateQueued, StateWaiting, StateRunning, StateDone, StateFailed, StateCancelled:
	default:
		return fmt.Errorf("%w: job %s: state %q", ErrInvalidStatus, s.ID, s.State)
	}
	if !(s.Progress >= 0 && s.Progress <= 1) { // NaN fails too
		return fmt.Errorf("%w: job %s: progress %v not in [0, 1]", ErrInvalidStatus, s.ID, s.Progress)
	}
	return nil
}

// PutStatus stores s under s.ID with UpdatedAt set to now, and returns the
// new revision. Errors wrap ErrInvalidStatus, ErrInvalidID or the
// jetstream error.
func (b *Bus) PutStatus(ctx context.Context, s Status) (revision uint64, err error) {
	kv, data, err := b.statusValue(ctx, s)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Put(ctx, s.ID, data)
	if err != nil {
		return 0, fmt.Errorf("bus: put status of job %s: %w", s.ID, err)
	}
	return rev, nil
}

// statusValue validates s and returns the bucket and s as JSON with
// UpdatedAt set to now and its warnings bounded.
func (b *Bus) statusValue(ctx context.Context, s Status) (jetstream.KeyValue, []byte, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	kv, err := b.statusBucket(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.UpdatedAt = time.Now().UTC()
	s.Warnings = BoundWarnings(s.Warnings)
	data, err := fitStatus(s, int(b.maxPayload()-statusOverhead))
	if err != nil {
		return nil, nil, fmt.Errorf("bus: status of job %s: %w", s.ID, err)
	}
	return kv, data, nil
}

// statusOverhead is what a status's message adds to its JSON: the
// bucket's subject and the compare-and-set header, with room to spare.
const statusOverhead = 512

// UpdateStatus stores s under s.ID, like PutStatus, only if the job's latest
// status is revision last (0: only if the job has no status yet), and
// returns the new revision. This compare-and-set is how a worker holds a
// job: a write based on a value someone else has since replaced fails.
// Errors wrap ErrConflict when the latest revision is not last,
// ErrInvalidStatus, ErrInvalidID or the jetstream error.
func (b *Bus) UpdateStatus(ctx context.Context, s Status, last uint64) (revision uint64, err error) {
	kv, data, err := b.statusValue(ctx, s)
	if err != nil {
		return 0, err
	}
	if last == 0 {
		revision, err = kv.Create(ctx, s.ID, data)
	} else {
		revision, err = kv.Update(ctx, s.ID, data, last)
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, fmt.Errorf("bus: update status of job %s from revision %d: %w", s.ID, last, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("bus: update status of job %s: %w", s.ID, err)
	}
	return revision, nil
}

// GetStatus returns the latest status of job id (or of a slab: SlabKey).
// Errors wrap ErrNotFound when there is none (or it was deleted),
// ErrInvalidID, or the jetstream error.
func (b *Bus) GetStatus(ctx context.Context, id string) (Status, error) {
	if err := validKey(id); err != nil {
		return Status{}, err
	}
	kv, err := b.statusBucket(ctx)
	if err != nil {
		return Status{}, err
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Status{}, fmt.Errorf("bus: status of job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("bus: get status of job %s: %w", id, err)
	}
	return decodeStatus(e)
}

func decodeStatus(e jetstream.KeyValueEntry) (Status, error) {
	var s Status
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return Status{}, fmt.Errorf("bus: status of job %s (revision %d): %w", e.Key(), e.Revision(), err)
	}
	s.Revision = e.Revision()
	return s, nil
}

// ListStatus returns the latest status of every job, sorted by ID; the
// statuses of slabs (SlabKey) are left out.
func (b *Bus) ListStatus(ctx context.Context) ([]Status, error) {
	kv, err := b.statusBucket(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("bus: list status: %w", err)
	}
	defer stopWatcher(w)
	var all []Status
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: list status: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("bus: list status: watcher closed")
			}
			if e == nil { // all current values seen
				slices.SortFunc(all, func(a, b Status) int { return strings.Compare(a.ID, b.ID) })
				return all, nil
			}
			if isSlab(e.Key()) {
				continue
			}
			s, err := decodeStatus(e)
			if err != nil {
				return nil, err
			}
			all = append(all, s)
		}
	}
}

// WatchStatus sends the current status of job id (or slab: SlabKey; of
// every job, without slabs, if id is empty) and then every update, until
// ctx ends; then it closes the channel.
// Deleted entries are skipped. A receiver that falls behind holds up the
// watch, not the server.
func (b *Bus) WatchStatus(ctx context.Context, id string) (<-chan Status, error) {
	key := jetstream.AllKeys
	if id != "" {
		if err := validKey(id); err != nil {
			return nil, err
		}
		key = id
	}
	kv, err := b.statusBucket(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, key, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("bus: watch status %s: %w", key, err)
	}
	out := make(chan Status)
	go func() {
		defer close(out)
		defer stopWatcher(w)
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil || id == "" && isSlab(e.Key()) {
					continue
				}
				s, err := decodeStatus(e)
				if err != nil {
					b.log.Warn("skipping a malformed job status", "err", err)
					continue
				}
				select {
				case out <- s:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// stopWatcher stops w and drains its updates, so that the client's
// delivery goroutine is never left blocked on a full channel.
func stopWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	for range w.Updates() {
	}
}

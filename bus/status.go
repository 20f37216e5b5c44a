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

// The states of a job: queued by submit, running on a worker, then done or
// failed.
const (
	StateQueued  State = "queued"
	StateRunning State = "running"
	StateDone    State = "done"
	StateFailed  State = "failed"
)

// Status is a job's entry in the JOBS_STATUS bucket, stored as JSON under
// its ID.
type Status struct {
	ID       string  `json:"id"`
	State    State   `json:"state"`
	Progress float64 `json:"progress"`         // 0 to 1
	Device   string  `json:"device,omitempty"` // "cuda:0", "cpu", ...
	Reason   string  `json:"reason,omitempty"` // why it failed or was retried
	// Timings holds how long each stage took (preprocess, filter,
	// backproject, dicom, ...); JSON holds nanoseconds.
	Timings   map[string]time.Duration `json:"timings,omitempty"`
	UpdatedAt time.Time                `json:"updated_at"`

	// Revision is the bucket's revision of this value, set by GetStatus,
	// ListStatus and WatchStatus; PutStatus ignores it.
	Revision uint64 `json:"-"`
}

// Validate checks s and returns an error wrapping ErrInvalidStatus or
// ErrInvalidID.
func (s *Status) Validate() error {
	if err := ValidID("job", s.ID); err != nil {
		return err
	}
	switch s.State {
	case StateQueued, StateRunning, StateDone, StateFailed:
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
	if err := s.Validate(); err != nil {
		return 0, err
	}
	kv, err := b.statusBucket(ctx)
	if err != nil {
		return 0, err
	}
	s.UpdatedAt = time.Now().UTC()
	data, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("bus: status of job %s: %w", s.ID, err)
	}
	rev, err := kv.Put(ctx, s.ID, data)
	if err != nil {
		return 0, fmt.Errorf("bus: put status of job %s: %w", s.ID, err)
	}
	return rev, nil
}

// GetStatus returns the latest status of job id. Errors wrap ErrNotFound
// when there is none (or it was deleted), ErrInvalidID, or the jetstream
// error.
func (b *Bus) GetStatus(ctx context.Context, id string) (Status, error) {
	if err := ValidID("job", id); err != nil {
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

// ListStatus returns the latest status of every job, sorted by ID.
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
			s, err := decodeStatus(e)
			if err != nil {
				return nil, err
			}
			all = append(all, s)
		}
	}
}

// WatchStatus sends the current status of job id (of every job if id is
// empty) and then every update, until ctx ends; then it closes the channel.
// Deleted entries are skipped. A receiver that falls behind holds up the
// watch, not the server.
func (b *Bus) WatchStatus(ctx context.Context, id string) (<-chan Status, error) {
	key := jetstream.AllKeys
	if id != "" {
		if err := ValidID("job", id); err != nil {
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
				if e == nil {
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

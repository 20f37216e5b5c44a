package index

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/nats-io/nats.go"
)

// Service keeps the search index fed from the bus's features stream. It
// reads the stream from its first message, so a restarted service rebuilds
// the index it had.
type Service struct {
	ix    *Exact
	ready atomic.Bool

	mu sync.Mutex
	// records maps "<job>/<record>" (bus.PublishJobFeatures) to the key
	// its first copy was indexed under.
	records map[string]string
}

// NewService returns an empty service.
func NewService() *Service { return &Service{ix: &Exact{}, records: map[string]string{}} }

// Follow adds every HU histogram of the stream to the index, then each
// new one, until ctx ends; records of other kinds are passed over (their
// indexes are to come). A message that is not a valid vector is logged
// and skipped: one bad publisher must not stop the search. A job's record
// is indexed once: a later copy of it under another key (published by
// another attempt at the job after the stream's duplicate window) is
// skipped, as the stream itself drops one within the window.
func (s *Service) Follow(ctx context.Context, b *bus.Bus, log *slog.Logger) error {
	return b.ConsumeFeatures(ctx, true, func(f bus.Feature) error {
		v, ok, err := histogramOf(f.Data)
		if err == nil && !ok {
			return nil // a kind this index does not hold
		}
		if err == nil && s.first(f.Header, v.Key()) {
			err = AddFeature(s.ix, &v)
		} else if err == nil {
			log.Info("skipping another copy of a job's feature record", "sequence", f.Sequence,
				"job", f.Header.Get(bus.HeaderJobID), "record", f.Header.Get(bus.HeaderRecord), "key", v.Key())
		}
		if err != nil {
			log.Warn("skipping a feature vector", "sequence", f.Sequence, "err", err)
		}
		if f.Pending == 0 {
			s.ready.Store(true)
		}
		return nil
	})
}

// histogramOf decodes a FEATURES message: a feature record
// (features/records) of the HU histogram kind, the one this index holds,
// becomes a features.Vector; a record of another kind gives ok false. A
// message that is no record is decoded as a features.Vector, as workers
// published them before records.
func histogramOf(data []byte) (v features.Vector, ok bool, err error) {
	rec, rerr := records.Unmarshal(data)
	if rerr != nil {
		v, err = features.Unmarshal(data)
		return v, err == nil, err
	}
	if rec.KindVersion() != features.KindHistHU {
		return v, false, nil
	}
	v = features.Vector{StudyUID: rec.StudyUID, SeriesUID: rec.SeriesUID, Bin: rec.Bin, Slice: rec.Slice,
		Kind: features.KindHistHU, Values: rec.Values}
	return v, true, v.Validate()
}

// first reports whether a message with headers h, to be indexed under
// key, is the first copy of its job's record (or no job's record).
func (s *Service) first(h nats.Header, key string) bool {
	job, record := h.Get(bus.HeaderJobID), h.Get(bus.HeaderRecord)
	if job == "" || record == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := job + "/" + record
	if k, ok := s.records[id]; ok && k != key {
		return false
	}
	s.records[id] = key
	return true
}

// Ready reports whether the index has caught up with the stream once.
func (s *Service) Ready() bool { return s.ready.Load() }

// Len returns the number of vectors in the index.
func (s *Service) Len() int { return s.ix.Len() }

// Handler answers GET /search (see NewHandler).
func (s *Service) Handler() http.Handler { return NewHandler(s.ix, nil) }

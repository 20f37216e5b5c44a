package index

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
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

// Follow adds every feature vector of the stream to the index, then each
// new one, until ctx ends. A message that is not a valid vector is logged
// and skipped: one bad publisher must not stop the search. A job's record
// is indexed once: a later copy of it under another key (published by
// another attempt at the job after the stream's duplicate window) is
// skipped, as the stream itself drops one within the window.
func (s *Service) Follow(ctx context.Context, b *bus.Bus, log *slog.Logger) error {
	return b.ConsumeFeatures(ctx, true, func(f bus.Feature) error {
		v, err := features.Unmarshal(f.Data)
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

package index

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
)

// Service keeps the search index fed from the bus's features stream. It
// reads the stream from its first message, so a restarted service rebuilds
// the index it had.
type Service struct {
	ix    *Exact
	ready atomic.Bool
}

// NewService returns an empty service.
func NewService() *Service { return &Service{ix: &Exact{}} }

// Follow adds every feature vector of the stream to the index, then each
// new one, until ctx ends. A message that is not a valid vector is logged
// and skipped: one bad publisher must not stop the search.
func (s *Service) Follow(ctx context.Context, b *bus.Bus, log *slog.Logger) error {
	return b.ConsumeFeatures(ctx, true, func(f bus.Feature) error {
		v, err := features.Unmarshal(f.Data)
		if err == nil {
			err = AddFeature(s.ix, &v)
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

// Ready reports whether the index has caught up with the stream once.
func (s *Service) Ready() bool { return s.ready.Load() }

// Len returns the number of vectors in the index.
func (s *Service) Len() int { return s.ix.Len() }

// Handler answers GET /search (see NewHandler).
func (s *Service) Handler() http.Handler { return NewHandler(s.ix, nil) }

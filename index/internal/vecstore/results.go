package vecstore

import (
	"math"
	"strings"

	"github.com/ctrecon/ctrecon/index"
)

// Results collects the answer to one search from the slots a structure
// offers: the k nearest to the query (NewKNN) or those within a radius
// (NewRange), by the metric's float64 Distance, equal distances ordered by
// key, as index.Exact answers. The float32 rank screens a built-in metric's
// candidates first: a slot whose rank shows it cannot enter the answer is
// not measured in float64, and the rank's bound has slack enough for its
// rounding, so screening never changes the answer.
type Results struct {
	s      *Store
	q      []float32
	filter index.Filter
	dist   func(a, b []float32) float64
	rank   func(a, b []float32) float32
	bound  func(d float64) float32 // the largest rank within d; nil: no screening
	k      int                     // 0 in a range search
	radius float64
	h      []cand // max-heap of the best so far; all hits in a range search
	// Measured counts the slots whose Distance was computed.
	Measured int
}

type cand struct {
	d    float64
	slot uint32
}

// NewKNN returns the collector of the k ≥ 1 nearest of q among the slots of
// s that filter accepts (all when nil), under m.
func NewKNN(s *Store, m index.Metric, q []float32, k int, filter index.Filter) *Results {
	r := newResults(s, m, q, filter)
	r.k, r.radius = k, math.Inf(1)
	return r
}

// NewRange returns the collector of the slots of s within radius of q that
// filter accepts, under m.
func NewRange(s *Store, m index.Metric, q []float32, radius float64, filter index.Filter) *Results {
	r := newResults(s, m, q, filter)
	r.radius = radius
	return r
}

func newResults(s *Store, m index.Metric, q []float32, filter index.Filter) *Results {
	return &Results{s: s, q: q, filter: filter, dist: m.Distance, rank: m.RankFunc(), bound: rankBound(m, len(q))}
}

// rankBound returns, for a built-in metric, a function giving a float32
// rank that no vector within distance d of the query exceeds: the rank's
// rounding (relative for the sums of non-negative terms of Euclidean and
// Manhattan, absolute and growing with the dimension for the ratios of
// cosine and Jaccard) stays far inside the slack. A metric of NewMetric
// ranks by its Distance, so screening would measure twice: nil.
func rankBound(m index.Metric, dim int) func(d float64) float32 {
	abs := 1e-3 + 1e-7*float64(dim)
	switch m.Name() {
	case index.Euclidean.Name():
		return func(d float64) float32 { return float32(d*d*(1+1e-3) + 1e-30) }
	case index.Manhattan.Name():
		return func(d float64) float32 { return float32(d*(1+1e-3) + 1e-30) }
	case index.Cosine.Name(), index.Jaccard.Name():
		return func(d float64) float32 { return float32(d + abs) }
	}
	return nil
}

// Query returns the query vector.
func (r *Results) Query() []float32 { return r.q }

// Accepts reports whether the filter accepts slot i.
func (r *Results) Accepts(i uint32) bool {
	return r.filter == nil || r.filter(r.s.keys[i], r.s.metas[i])
}

// Offer measures slot i (unless the filter refuses it or its rank shows it
// cannot enter the answer) and keeps it when it belongs to the answer so
// far. A structure offers each slot at most once per search.
func (r *Results) Offer(i uint32) {
	if !r.Accepts(i) {
		return
	}
	v := r.s.Vec(i)
	if w := r.Worst(); r.bound != nil && !math.IsInf(w, 1) && r.rank(r.q, v) > r.bound(w) {
		return
	}
	r.Measured++
	r.Push(i, r.dist(r.q, v))
}

// Push keeps slot i at distance d from the query when it belongs to the
// answer so far; the caller has measured d and checked Accepts.
func (r *Results) Push(i uint32, d float64) {
	c := cand{d, i}
	switch {
	case r.k == 0:
		if d <= r.radius {
			r.h = append(r.h, c)
		}
	case len(r.h) < r.k:
		r.h = append(r.h, c)
		r.up(len(r.h) - 1)
	case r.less(c, r.h[0]):
		r.h[0] = c
		r.down(0)
	}
}

// Worst returns the distance beyond which no slot enters the answer: the
// radius of a range search; the k-th nearest distance so far, +Inf while
// fewer than k are kept. A vector at exactly Worst may still enter (it
// wins by key).
func (r *Results) Worst() float64 {
	if r.k > 0 && len(r.h) == r.k {
		return r.h[0].d
	}
	return r.radius
}

// Full reports whether k slots are kept (always false in a range search).
func (r *Results) Full() bool { return r.k > 0 && len(r.h) == r.k }

// Hits returns the answer, nearest first, equal distances by key.
func (r *Results) Hits() []index.Hit {
	if len(r.h) == 0 {
		return nil
	}
	hits := make([]index.Hit, len(r.h))
	for j, c := range r.h {
		hits[j] = index.Hit{Key: r.s.keys[c.slot], Distance: c.d, Meta: r.s.metas[c.slot]}
	}
	index.SortHits(hits)
	return hits
}

// less orders candidates by distance, then key.
func (r *Results) less(a, b cand) bool {
	if a.d != b.d {
		return a.d < b.d
	}
	return strings.Compare(r.s.keys[a.slot], r.s.keys[b.slot]) < 0
}

// up and down keep h a max-heap under less.
func (r *Results) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !r.less(r.h[p], r.h[j]) {
			return
		}
		r.h[p], r.h[j] = r.h[j], r.h[p]
		j = p
	}
}

func (r *Results) down(j int) {
	h := r.h
	for {
		c := 2*j + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && r.less(h[c], h[c+1]) {
			c++
		}
		if !r.less(h[j], h[c]) {
			return
		}
		h[j], h[c] = h[c], h[j]
		j = c
	}
}

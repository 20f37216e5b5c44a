package index

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Errors returned by Exact.Add.
var (
	// ErrDimension: a vector's length differs from the index's dimension,
	// or is 0.
	ErrDimension = errors.New("vector dimension mismatch")
	// ErrValue: a vector holds a NaN or an infinity, which have no distance.
	ErrValue = errors.New("vector value not finite")
	// ErrKey: the key is empty.
	ErrKey = errors.New("empty key")
)

// Hit is one result of a search.
type Hit struct {
	Key string
	// Distance is the Euclidean distance to the query.
	Distance float64
	// Meta is what was stored with the vector.
	Meta any
}

// Exact is an exact k-nearest-neighbour index of float32 vectors of one
// dimension, each under a unique string key with an opaque meta value. The
// metric is the Euclidean distance, sqrt(Σ (qᵢ − vᵢ)²), summed in float64;
// histogram metrics (chi-square, Hellinger) may come later as options.
//
// The vectors are stored contiguously, so a search is one pass over memory.
// An Exact is safe for concurrent use: searches run in parallel with each
// other and are serialised with changes. The zero value is an empty index
// whose dimension is set by the first Add.
type Exact struct {
	mu   sync.RWMutex
	dim  int
	data []float32 // vector i is data[i*dim : (i+1)*dim]
	keys []string
	meta []any
	pos  map[string]int // key -> i
}

// NewExact returns an empty index of vectors of dim values; dim 0 leaves it
// to the first Add.
func NewExact(dim int) *Exact { return &Exact{dim: max(dim, 0)} }

// Dim returns the length of the index's vectors, 0 before the first Add of
// an index made without one. It does not change afterwards, even when every
// vector is deleted.
func (x *Exact) Dim() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dim
}

// Len returns the number of vectors.
func (x *Exact) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.keys)
}

// Add stores a copy of v with meta under key, replacing what the key held.
// It returns an error wrapping ErrKey for an empty key, ErrValue for a NaN or
// infinite value and ErrDimension for a vector whose length is not the
// index's dimension; the index is then unchanged.
func (x *Exact) Add(key string, v []float32, meta any) error {
	if key == "" {
		return ErrKey
	}
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("%w: vector for key %q: value %d is %g", ErrValue, key, i, f)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case len(v) == 0:
		return fmt.Errorf("%w: vector for key %q is empty", ErrDimension, key)
	case x.dim == 0:
		x.dim = len(v)
	case len(v) != x.dim:
		return fmt.Errorf("%w: vector for key %q has %d dimensions, the index holds %d", ErrDimension, key, len(v), x.dim)
	}
	if i, ok := x.pos[key]; ok {
		copy(x.data[i*x.dim:(i+1)*x.dim], v)
		x.meta[i] = meta
		return nil
	}
	if x.pos == nil {
		x.pos = make(map[string]int)
	}
	x.pos[key] = len(x.keys)
	x.keys = append(x.keys, key)
	x.meta = append(x.meta, meta)
	x.data = append(x.data, v...)
	return nil
}

// Delete removes key and reports whether it was there. The last vector
// moves into its place, so storage stays contiguous.
func (x *Exact) Delete(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.pos[key]
	if !ok {
		return false
	}
	last := len(x.keys) - 1
	if i != last {
		copy(x.data[i*x.dim:(i+1)*x.dim], x.data[last*x.dim:])
		x.keys[i], x.meta[i] = x.keys[last], x.meta[last]
		x.pos[x.keys[i]] = i
	}
	x.keys[last], x.meta[last] = "", nil // let the collector have them
	x.keys, x.meta = x.keys[:last], x.meta[:last]
	x.data = x.data[:last*x.dim]
	delete(x.pos, key)
	return true
}

// Get returns a copy of the vector stored under key and its meta.
func (x *Exact) Get(key string) (v []float32, meta any, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.pos[key]
	if !ok {
		return nil, nil, false
	}
	return slices.Clone(x.data[i*x.dim : (i+1)*x.dim]), x.meta[i], true
}

// Search returns the k vectors nearest to q among those filter accepts (all
// when filter is nil), nearest first; equal distances are ordered by key, so
// the result does not depend on the order of insertion. It returns fewer
// than k hits when fewer vectors are accepted, and none when k < 1 or q has
// another dimension than the index or holds a NaN or infinity: check Dim
// first to tell those apart from an empty result.
//
// filter is called under the index's read lock, once per stored vector, and
// must not call the index's methods. The only allocation is the result.
func (x *Exact) Search(q []float32, k int, filter func(key string, meta any) bool) []Hit {
	if k < 1 {
		return nil
	}
	for _, f := range q {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil
		}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, dim := len(x.keys), x.dim
	if len(q) != dim || n == 0 {
		return nil
	}
	// h is a max-heap of the best hits so far under (distance, key), its
	// worst at the root; Distance holds squared distances until the end.
	h := make([]Hit, 0, min(k, n))
	for i := range n {
		if filter != nil && !filter(x.keys[i], x.meta[i]) {
			continue
		}
		v := x.data[i*dim : (i+1)*dim]
		if len(h) < k {
			h = append(h, Hit{x.keys[i], sqDist(q, v, math.Inf(1)), x.meta[i]})
			heapUp(h, len(h)-1)
			continue
		}
		worst := h[0].Distance
		d := sqDist(q, v, worst)
		if d > worst || d == worst && x.keys[i] > h[0].Key {
			continue
		}
		h[0] = Hit{x.keys[i], d, x.meta[i]}
		heapDown(h, 0)
	}
	slices.SortFunc(h, cmpHit)
	for i := range h {
		h[i].Distance = math.Sqrt(h[i].Distance)
	}
	return h
}

// cmpHit orders hits by distance, then key.
func cmpHit(a, b Hit) int {
	if a.Distance != b.Distance {
		if a.Distance < b.Distance {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Key, b.Key)
}

// heapUp and heapDown keep h a max-heap under cmpHit. They are written out
// rather than using container/heap, whose interface boxes every element.
func heapUp(h []Hit, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if cmpHit(h[p], h[i]) >= 0 {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func heapDown(h []Hit, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && cmpHit(h[c+1], h[c]) > 0 {
			c++
		}
		if cmpHit(h[i], h[c]) >= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sqDist returns the squared Euclidean distance between a and b (of equal
// length), or, as soon as a partial sum exceeds bound, that partial sum. The
// terms are non-negative and float64 rounding is monotonic, so a partial sum
// above bound means the full sum is above it too: stopping early never
// changes which vectors are nearest. Four accumulators let the additions
// overlap; each sums the same terms in the same order on every call, so a
// distance does not depend on the bound.
func sqDist(a, b []float32, bound float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+16 <= len(a); i += 16 {
		for j := i; j < i+16; j += 4 {
			d0 := float64(a[j]) - float64(b[j])
			d1 := float64(a[j+1]) - float64(b[j+1])
			d2 := float64(a[j+2]) - float64(b[j+2])
			d3 := float64(a[j+3]) - float64(b[j+3])
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		if s := (s0 + s1) + (s2 + s3); s > bound {
			return s
		}
	}
	for ; i < len(a); i++ {
		d := float64(a[i]) - float64(b[i])
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

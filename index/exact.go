package index

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Exact is an exact k-nearest-neighbour index of float32 vectors of one
// dimension, each under a unique string key with an opaque meta value,
// under a Metric (Euclidean unless made by NewExactMetric): it measures
// every stored vector, in float64, and is the reference every approximate
// index is tested against.
//
// The vectors are stored contiguously, so a search is one pass over memory.
// An Exact is safe for concurrent use: searches run in parallel with each
// other and are serialised with changes. The zero value is an empty
// Euclidean index whose dimension is set by the first Add.
type Exact struct {
	mu     sync.RWMutex
	metric Metric
	dim    int
	data   []float32 // vector i is data[i*dim : (i+1)*dim]
	keys   []string
	meta   []any
	pos    map[string]int // key -> i
}

// NewExact returns an empty Euclidean index of vectors of dim values; dim 0
// leaves it to the first Add.
func NewExact(dim int) *Exact { return &Exact{dim: max(dim, 0)} }

// NewExactMetric returns an empty index of vectors of dim values under m.
func NewExactMetric(dim int, m Metric) *Exact { return &Exact{dim: max(dim, 0), metric: m} }

func init() {
	Register(Kind{
		Name: "exact",
		Doc:  "exact search: every query measures every vector (the reference)",
		New: func(dim int, m Metric, _ map[string]string) (Index, error) {
			return NewExactMetric(dim, m), nil
		},
		Load: loadExact,
	})
}

var _ Index = (*Exact)(nil)

// Kind returns "exact".
func (x *Exact) Kind() string { return "exact" }

// Metric returns the index's metric.
func (x *Exact) Metric() Metric { return x.metric }

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

// Add stores a copy of v with meta under key, replacing what the key held
// (see Index.Add for the errors).
func (x *Exact) Add(key string, v []float32, meta any) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := CheckAdd(key, v, x.dim, x.metric); err != nil {
		return err
	}
	x.dim = len(v)
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
// another dimension than the index or a value CheckVector refuses: check
// Dim first to tell those apart from an empty result.
//
// filter is called under the index's read lock, once per stored vector, and
// must not call the index's methods. The only allocation is the result.
func (x *Exact) Search(q []float32, k int, filter Filter) []Hit {
	if k < 1 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, dim := len(x.keys), x.dim
	if n == 0 || !CheckQuery(q, dim, x.metric) {
		return nil
	}
	score, finish := x.scorer()
	// h is a max-heap of the best hits so far under (score, key), its
	// worst at the root; Distance holds scores until the end.
	h := make([]Hit, 0, min(k, n))
	for i := range n {
		if filter != nil && !filter(x.keys[i], x.meta[i]) {
			continue
		}
		v := x.data[i*dim : (i+1)*dim]
		if len(h) < k {
			h = append(h, Hit{x.keys[i], score(q, v, math.Inf(1)), x.meta[i]})
			heapUp(h, len(h)-1)
			continue
		}
		worst := h[0].Distance
		d := score(q, v, worst)
		if d > worst || d == worst && x.keys[i] > h[0].Key {
			continue
		}
		h[0] = Hit{x.keys[i], d, x.meta[i]}
		heapDown(h, 0)
	}
	SortHits(h)
	for i := range h {
		h[i].Distance = finish(h[i].Distance)
	}
	return h
}

// Range returns the vectors within radius of q that filter accepts,
// nearest first, equal distances by key; none for a q Search refuses.
func (x *Exact) Range(q []float32, radius float64, filter Filter) []Hit {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, dim := len(x.keys), x.dim
	if n == 0 || !CheckQuery(q, dim, x.metric) || !(radius >= 0) {
		return nil
	}
	score, finish := x.scorer()
	// Scores above bound are outside the radius; those below are checked
	// as distances, so rounding in bound cannot change the answer.
	bound := math.Nextafter(radius*radius, math.Inf(1)) * (1 + 1e-9)
	var h []Hit
	for i := range n {
		if filter != nil && !filter(x.keys[i], x.meta[i]) {
			continue
		}
		if d := finish(score(q, x.data[i*dim:(i+1)*dim], bound)); d <= radius {
			h = append(h, Hit{x.keys[i], d, x.meta[i]})
		}
	}
	SortHits(h)
	return h
}

// scorer returns the function Search ranks by and the one that turns its
// scores into distances. For Euclidean the score is the squared distance,
// and the sum stops as soon as it exceeds bound (sqDist); other metrics
// measure the whole distance.
func (x *Exact) scorer() (score func(q, v []float32, bound float64) float64, finish func(float64) float64) {
	if x.metric.Name() == Euclidean.Name() {
		return sqDist, math.Sqrt
	}
	dist := x.metric.get().dist
	return func(q, v []float32, _ float64) float64 { return dist(q, v) },
		func(d float64) float64 { return d }
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
// distance does not depend on the bound. Lengths that are a multiple of 16
// take the AVX2 kernel (the same sums, added up in another order at the
// end), about four times faster for 64 values.
func sqDist(a, b []float32, bound float64) float64 {
	b = b[:len(a)]
	if simd && len(a)&15 == 0 && len(a) > 0 {
		return sqDistVec(a, b, bound)
	}
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

// Save writes the index (see Load). The body of kind "exact", version 1:
// the number of vectors n (uint64), their n keys (strings), their n·dim
// values (float32), and their metas (Encoder.Metas).
func (x *Exact) Save(w io.Writer) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := NewEncoder(w, Header{Kind: x.Kind(), KindVersion: 1, Metric: x.metric, Dim: x.dim})
	e.Uint64(uint64(len(x.keys)))
	e.Strings(x.keys)
	e.Float32s(x.data)
	e.Metas(x.meta)
	return e.Close()
}

func loadExact(h Header, d *Decoder) (Index, error) {
	if h.KindVersion != 1 {
		return nil, fmt.Errorf("%w: exact index version %d, this program reads 1", ErrFormat, h.KindVersion)
	}
	x := NewExactMetric(h.Dim, h.Metric)
	n := d.Uint64()
	if n > maxArray || n > 0 && h.Dim == 0 {
		d.Fail("%d vectors of %d values", n, h.Dim)
	}
	x.keys = d.Strings(int(n))
	x.data = d.Float32s(int(n) * h.Dim)
	x.meta = d.Metas(int(n))
	if d.Err() != nil {
		return nil, d.Err()
	}
	x.pos = make(map[string]int, n)
	for i, k := range x.keys {
		if err := CheckAdd(k, x.data[i*h.Dim:(i+1)*h.Dim], h.Dim, h.Metric); err != nil {
			return nil, fmt.Errorf("%w: vector %d: %w", ErrFormat, i, err)
		}
		if _, ok := x.pos[k]; ok {
			return nil, fmt.Errorf("%w: key %q is saved twice", ErrFormat, k)
		}
		x.pos[k] = i
	}
	return x, nil
}

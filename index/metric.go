package index

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metric is a distance between two vectors of equal length, in two forms:
// Distance, summed in float64, which indexes report and exact search ranks
// by; and a float32 rank (RankFunc) that orders pairs as Distance does and
// is cheaper, which approximate indexes navigate by. The zero Metric is
// Euclidean.
//
// Euclidean, Manhattan and Jaccard satisfy the triangle inequality; Cosine
// does not (a metric tree must not prune with it). A Metric made by
// NewMetric is whatever its function is.
type Metric struct{ p *metric }

type metric struct {
	name  string
	dist  func(a, b []float32) float64
	rank  func(a, b []float32) float32
	check func(v []float32) error // nil: every finite vector is valid
}

// The built-in metrics.
var (
	// Euclidean is √Σ (aᵢ − bᵢ)²; its rank is the squared distance.
	Euclidean = Metric{&metric{name: "euclidean", dist: euclidean, rank: sqL2}}
	// Manhattan is the L1 distance Σ |aᵢ − bᵢ|.
	Manhattan = Metric{&metric{name: "manhattan", dist: manhattan, rank: l1}}
	// Cosine is 1 − a·b / (|a| |b|), from 0 (same direction) to 2
	// (opposite). A vector of zeros has no direction and is refused.
	Cosine = Metric{&metric{name: "cosine", dist: cosine, rank: cosineRank, check: checkDirection}}
	// Jaccard is 1 − Σ min(aᵢ, bᵢ) / Σ max(aᵢ, bᵢ) over vectors of
	// non-negative values: for 0/1 vectors (sets, binary features) the
	// Jaccard distance 1 − |A∩B| / |A∪B|, for weights its generalisation
	// (the Ruzicka distance, also a metric). Two vectors of zeros are at
	// distance 0. A negative value is refused.
	Jaccard = Metric{&metric{name: "jaccard", dist: jaccard, rank: jaccardRank, check: checkNonNegative}}
)

var builtin = []Metric{Euclidean, Manhattan, Cosine, Jaccard}

// aliases are other names MetricNamed accepts.
var aliases = map[string]string{"l2": "euclidean", "l1": "manhattan"}

// MetricNamed returns the built-in metric called name ("euclidean" or "l2",
// "manhattan" or "l1", "cosine", "jaccard"; in any case: "L2").
func MetricNamed(name string) (Metric, error) {
	key := strings.ToLower(name)
	if a, ok := aliases[key]; ok {
		key = a
	}
	for _, m := range builtin {
		if m.p.name == key {
			return m, nil
		}
	}
	return Metric{}, fmt.Errorf("unknown metric %q (want %s, or a function given in Go)", name, strings.Join(MetricNames(), ", "))
}

// MetricNames returns the names of the built-in metrics.
func MetricNames() []string {
	names := make([]string, len(builtin))
	for i, m := range builtin {
		names[i] = m.p.name
	}
	return names
}

// NewMetric returns the metric dist under name, which a saved index records
// so that Load can ask for the same function again. dist must be symmetric
// and non-negative, and takes vectors of equal length; its rank is
// float32(dist(a, b)). NewMetric panics when name is empty or a built-in
// metric's (or alias's) name, or dist is nil.
func NewMetric(name string, dist func(a, b []float32) float64) Metric {
	if _, err := MetricNamed(name); err == nil || name == "" || dist == nil {
		panic(fmt.Sprintf("index.NewMetric(%q): need a new, non-empty name and a function", name))
	}
	return Metric{&metric{name: name, dist: dist, rank: func(a, b []float32) float32 { return float32(dist(a, b)) }}}
}

func (m Metric) get() *metric {
	if m.p == nil {
		return Euclidean.p
	}
	return m.p
}

// Name returns the metric's name.
func (m Metric) Name() string { return m.get().name }

// String returns the metric's name.
func (m Metric) String() string { return m.Name() }

// Distance returns the distance between a and b, which have equal length.
func (m Metric) Distance(a, b []float32) float64 { return m.get().dist(a, b) }

// RankFunc returns the metric's float32 rank: a function of two vectors of
// equal length that orders pairs as Distance does (up to float32
// rounding), for approximate indexes to navigate by. Built-in metrics use
// AVX2 kernels where the processor has them.
func (m Metric) RankFunc() func(a, b []float32) float32 { return m.get().rank }

// RankFuncFor returns RankFunc's rank for vectors of exactly dim values,
// which may skip what RankFunc does for any length: for Euclidean on a
// processor with AVX2 and dim a multiple of 8, the kernel itself, called
// straight from an index's innermost loop. Its vectors must be dim long.
func (m Metric) RankFuncFor(dim int) func(a, b []float32) float32 {
	if m.get() == Euclidean.p && dim > 0 {
		switch {
		case simd && dim&7 == 0:
			return sqL2Vec
		case !simd || dim < 8: // sqL2 is its plain Go loop then
			return sqL2Go
		}
	}
	return m.RankFunc()
}

// DistanceFuncFor returns Distance for vectors of exactly dim values, the
// same float64 to the bit, which may skip what Distance does for any
// length: for Euclidean on fewer than 16 values, the plain loop that is
// all Distance runs then, with no call to choose the kernel and no bound
// (the same loop, so that a compiler that fuses its multiply-adds, as
// with GOAMD64=v3, fuses both alike); an index that reports the distances
// of its hits calls it once per hit.
func (m Metric) DistanceFuncFor(dim int) func(a, b []float32) float64 {
	if m.get() == Euclidean.p && dim > 0 && dim < 16 {
		return euclideanShort
	}
	return m.get().dist
}

// RanksFunc sets out[j] to a rank (see Metric.RankFunc) between q and the
// vector of ids[j] for every j < len(ids): the len(q) values of data from
// ids[j]·stride on (stride > 0, in values). It is how a graph index, whose
// nodes hold their vectors at a fixed stride in one array, measures a
// node's neighbours in one call. out is at least len(ids) long. It panics
// when a vector reaches past the end of data.
type RanksFunc func(q, data []float32, stride int, ids []uint32, out []float32)

// RanksFuncFor returns RankFuncFor(dim)'s rank as a RanksFunc for queries
// of dim values, giving the same float32 values. For Euclidean on a
// processor with AVX2 and dim at least 8, it is one assembly call over
// the first multiple of 8 values that brings the next vector into the
// cache while it measures one, as hnswlib does with _mm_prefetch, and a
// Go loop over the rest; for 4 values (spectral signatures of 4 energy
// bins) one assembly call that measures a vector in one register; else,
// or without AVX2, one Go loop over the vectors (no call per vector: on a
// few values the calls cost more than the arithmetic).
func (m Metric) RanksFuncFor(dim int) RanksFunc {
	if m.get() == Euclidean.p && dim > 0 {
		if simd && (dim >= 8 || dim == 4) {
			return sqL2Ranks
		}
		return sqL2RanksGo
	}
	return ranksWith(m.RankFuncFor(dim))
}

// ranksWith returns the RanksFunc that calls rank for each vector.
func ranksWith(rank func(a, b []float32) float32) RanksFunc {
	return func(q, data []float32, stride int, ids []uint32, out []float32) {
		out = out[:len(ids)]
		for j, id := range ids {
			i := int(id) * stride
			out[j] = rank(q, data[i:i+len(q)])
		}
	}
}

// Builtin reports whether m is one of the built-in metrics, whose vectors
// an index may also average or project (k-means centres, LSH), unlike the
// vectors of a metric given as a function (NewMetric), which are only
// compared.
func (m Metric) Builtin() bool { return slices.Contains(builtin, Metric{m.get()}) }

// NeedBuiltin returns an error, for an index of the named kind that does
// more than compare vectors (does says what: "averages vectors (k-means
// centres)"), when m is not a built-in metric.
func NeedBuiltin(kind, does string, m Metric) error {
	if m.Builtin() {
		return nil
	}
	return fmt.Errorf("the %s index %s, which mean nothing under the %s metric, a function of whole vectors; use exact, hnsw or slim", kind, does, m)
}

// CheckVector returns an error wrapping ErrValue when v holds a NaN or an
// infinity, or a value m refuses (a vector of zeros for Cosine, a negative
// value for Jaccard); the error names key.
func CheckVector(key string, v []float32, m Metric) error {
	if err := CheckValues(v, m); err != nil {
		return fmt.Errorf("vector for key %q: %w", key, err)
	}
	return nil
}

// CheckValues is CheckVector for a vector without a key: its error wraps
// ErrValue and names the value at fault by its position, from 1 ("value 2
// of 4").
func CheckValues(v []float32, m Metric) error {
	if !finite(v) {
		for i, f := range v {
			if f-f != 0 {
				return fmt.Errorf("%w: value %d of %d is %g", ErrValue, i+1, len(v), f)
			}
		}
	}
	if c := m.get().check; c != nil {
		if err := c(v); err != nil {
			return fmt.Errorf("%w: %v", ErrValue, err)
		}
	}
	return nil
}

// finite reports whether v holds no NaN and no infinity. It is checked for
// every query, so it is kept cheap: f−f is 0 for a finite f and NaN
// otherwise, and a NaN stays in a sum (and in a square): the vector
// kernel's sum of (f−f)² over the longest multiple of 8 values, four sums
// and no branch per value over the rest.
func finite(v []float32) bool {
	var s0, s1, s2, s3 float32
	i := 0
	if simd && len(v) >= 8 {
		i = len(v) &^ 7
		s0 = sqL2Vec(v[:i], v[:i])
	}
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i] - v[i]
		s1 += v[i+1] - v[i+1]
		s2 += v[i+2] - v[i+2]
		s3 += v[i+3] - v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i] - v[i]
	}
	return (s0+s1)+(s2+s3) == 0
}

func checkDirection(v []float32) error {
	for _, f := range v {
		if f != 0 {
			return nil
		}
	}
	return fmt.Errorf("all values are 0, which has no direction for the cosine metric")
}

func checkNonNegative(v []float32) error {
	for i, f := range v {
		if f < 0 {
			return fmt.Errorf("value %d of %d is %g; the Jaccard metric takes non-negative values", i+1, len(v), f)
		}
	}
	return nil
}

// The float64 reference distances.

func euclidean(a, b []float32) float64 { return math.Sqrt(sqDist(a, b, math.Inf(1))) }

// euclideanShort is euclidean for fewer than 16 values, where sqDist only
// runs its last loop (its other three sums stay 0, and adding 0 to the
// first changes nothing): the same additions in the same order.
func euclideanShort(a, b []float32) float64 {
	b = b[:len(a)]
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

func manhattan(a, b []float32) float64 {
	b = b[:len(a)]
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s
}

func cosine(a, b []float32) float64 {
	b = b[:len(a)]
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	return cosineOf(ab, aa, bb)
}

// cosineOf returns 1 − ab/√(aa·bb), clamped to [0, 2] against rounding; 1
// when a norm is 0.
func cosineOf(ab, aa, bb float64) float64 {
	if aa == 0 || bb == 0 {
		return 1
	}
	return min(max(1-ab/math.Sqrt(aa*bb), 0), 2)
}

func jaccard(a, b []float32) float64 {
	b = b[:len(a)]
	var lo, hi float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		lo += min(x, y)
		hi += max(x, y)
	}
	return jaccardOf(lo, hi)
}

// jaccardOf returns 1 − lo/hi, and 0 when hi is 0 (two vectors of zeros).
func jaccardOf(lo, hi float64) float64 {
	if hi == 0 {
		return 0
	}
	return 1 - lo/hi
}

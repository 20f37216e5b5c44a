package lsh

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ctrecon/ctrecon/index"
)

// Family is a family of locality-sensitive hash functions.
type Family string

// The families.
const (
	// Hyperplane is Charikar's (2002) random-hyperplane family for the
	// cosine distance: a function is the side of a random hyperplane
	// through the origin (the sign of a·v, a standard normal), and two
	// vectors at angle θ fall on one side with probability 1 − θ/π.
	Hyperplane Family = "hyperplane"
	// Gaussian is the 2-stable family of Datar, Immorlica, Indyk and
	// Mirrokni (2004) for the Euclidean distance: ⌊(a·v + b) / w⌋, a
	// standard normal, b uniform in [0, w).
	Gaussian Family = "gaussian"
	// Cauchy is the same family with a standard Cauchy a, 1-stable, for
	// the Manhattan distance.
	Cauchy Family = "cauchy"
	// Auto picks the family of the index's metric.
	Auto Family = "auto"
)

// Follows returns the family whose collision probability follows m
// (Hyperplane for Cosine, Gaussian for Euclidean, Cauchy for Manhattan),
// or "" for a metric none follows.
func Follows(m index.Metric) Family {
	return map[string]Family{index.Cosine.Name(): Hyperplane, index.Euclidean.Name(): Gaussian, index.Manhattan.Name(): Cauchy}[m.Name()]
}

// familyFor returns the family f means under m: f itself, or for Auto the
// one whose collision probability follows m. A family that follows another
// metric is refused unless its bucket width is given: the width measured
// on the data is in m's units, which are not the family's projections'
// (Cauchy projections of Euclidean data, or Gaussian ones of cosine
// distances, put near neighbours in different buckets almost always).
func familyFor(f Family, m index.Metric, width float64) (Family, error) {
	own := Follows(m)
	switch {
	case f == Auto || f == "":
		if own == "" {
			return "", fmt.Errorf("parameter family: no LSH family follows the %s metric; give family=%s, %s or %s", m, Hyperplane, Gaussian, Cauchy)
		}
		return own, nil
	case f != Hyperplane && f != Gaussian && f != Cauchy:
		return "", fmt.Errorf("parameter family is %q, want %s, %s, %s or %s", f, Auto, Hyperplane, Gaussian, Cauchy)
	case f != own && f != Hyperplane && width == 0:
		other := Auto // a family=auto that picks a family, else one with no width
		if own == "" {
			other = Hyperplane
		}
		return "", fmt.Errorf("parameter family=%s does not follow the %s metric, so its bucket width cannot be measured on the data: give width=W, or family=%s", f, m, other)
	}
	return f, nil
}

// table is one hash table: hashes functions of one family, concatenated
// into the key of a bucket.
type table struct {
	a     []float32 // the functions' projections, hashes·dim (hashes ≤ 64)
	norm2 []float64 // the projections' squared lengths
	b     []float64 // the p-stable offsets in [0, 1) of a width (none for hyperplanes)
	mult  []uint64  // the p-stable key's random odd multipliers
	// buckets holds the slots of each key. A hyperplane key is the
	// functions' bits; a p-stable key is Σ hᵢ·multᵢ (mod 2⁶⁴), so that a
	// probe one step away along function i adds ±multᵢ.
	buckets map[uint64][]uint32
}

// newTable draws a table of hashes functions of family f over vectors of
// dim values.
func newTable(f Family, hashes, dim int, rng *rand.Rand) *table {
	t := &table{a: make([]float32, hashes*dim), buckets: map[uint64][]uint32{}}
	for i := range t.a {
		if f == Cauchy {
			t.a[i] = float32(math.Tan(math.Pi * (rng.Float64() - 0.5)))
		} else {
			t.a[i] = float32(rng.NormFloat64())
		}
	}
	if f != Hyperplane {
		t.b, t.mult = make([]float64, hashes), make([]uint64, hashes)
		for i := range t.b {
			t.b[i], t.mult[i] = rng.Float64(), rng.Uint64()|1
		}
	}
	t.norms(dim)
	return t
}

// norms computes norm2 from a.
func (t *table) norms(dim int) {
	t.norm2 = make([]float64, len(t.a)/dim)
	for i := range t.norm2 {
		a := t.a[i*dim : (i+1)*dim]
		t.norm2[i] = max(dot(a, a), math.SmallestNonzeroFloat64)
	}
}

// project returns the functions' values on v before rounding: a·v for a
// hyperplane, (a·v)/w + b for p-stable functions, into p.
func (t *table) project(v []float32, w float64, p []float64) {
	dim := len(v)
	for i := range p {
		p[i] = dot(t.a[i*dim:(i+1)*dim], v)
		if t.b != nil {
			p[i] = p[i]/w + t.b[i]
		}
	}
}

// key returns the bucket of projections p.
func (t *table) key(p []float64) uint64 {
	var k uint64
	for i, x := range p {
		if t.b == nil {
			if x >= 0 {
				k |= 1 << i
			}
		} else {
			k += uint64(int64(math.Floor(x))) * t.mult[i]
		}
	}
	return k
}

// step returns key moved one bucket along function i, in direction dir
// (−1 or +1; for a hyperplane, to the other side).
func (t *table) step(key uint64, i, dir int) uint64 {
	if t.b == nil {
		return key ^ 1<<i
	}
	return key + uint64(int64(dir))*t.mult[i]
}

func (t *table) add(key uint64, slot uint32) { t.buckets[key] = append(t.buckets[key], slot) }

// remove takes slot out of bucket key.
func (t *table) remove(key uint64, slot uint32) {
	b := t.buckets[key]
	for j, s := range b {
		if s == slot {
			b[j] = b[len(b)-1]
			b = b[:len(b)-1]
			break
		}
	}
	if len(b) == 0 {
		delete(t.buckets, key)
	} else {
		t.buckets[key] = b
	}
}

func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64((s0 + s1) + (s2 + s3))
}

package radiomics

import (
	"cmp"
	"maps"
	"math"
	"slices"
)

// sizeMatrix is a texture matrix of counts by grey level i and a size j:
// the run length of a GLRLM, the zone size of a GLSZM, the zone distance of
// a GLDZM, the dependence count of an NGLDM. The four families' features
// are the same sums over it under different names. Sizes can be large (a
// zone of thousands of voxels), so only the cells counted are stored.
type sizeMatrix struct {
	counts map[[2]int32]float64
	// voxels is the number of voxels the matrix was counted on, summed
	// over merged matrices (IBSI N_v, for the percentage features).
	voxels float64
}

func newSizeMatrix() *sizeMatrix { return &sizeMatrix{counts: map[[2]int32]float64{}} }

func (m *sizeMatrix) add(o *sizeMatrix) {
	for k, c := range o.counts {
		m.counts[k] += c
	}
	m.voxels += o.voxels
}

func (m *sizeMatrix) empty() bool { return len(m.counts) == 0 }

// count adds one occurrence of grey level i with size j.
func (m *sizeMatrix) count(i int32, j int) { m.counts[[2]int32{i, int32(j)}]++ }

// sizeSums are the sums over a sizeMatrix that its families' features are:
// emphases of small/large sizes and low/high grey levels, the
// non-uniformities, the percentage, variances, entropy and energy.
type sizeSums struct {
	short, long, low, high                 float64
	shortLow, shortHigh, longLow, longHigh float64
	glnu, glnuNorm, snu, snuNorm, perc     float64
	glVar, sizeVar, entropy, energy        float64
}

// sums visits the cells in a fixed order (grey level, then size), so that
// the same matrix gives the same features to the last bit: a map's order
// changes from run to run, and so would the rounding of the sums.
func (m *sizeMatrix) sums() *sizeSums {
	var s sizeSums
	var n, muI, muJ float64
	keys := slices.SortedFunc(maps.Keys(m.counts), func(a, b [2]int32) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	rows, cols := map[int32]float64{}, map[int32]float64{}
	for _, k := range keys {
		c := m.counts[k]
		i, j := float64(k[0]), float64(k[1])
		i2, j2 := i*i, j*j
		n += c
		s.short += c / j2
		s.long += c * j2
		s.low += c / i2
		s.high += c * i2
		s.shortLow += c / (i2 * j2)
		s.shortHigh += c * i2 / j2
		s.longLow += c * j2 / i2
		s.longHigh += c * i2 * j2
		muI += c * i
		muJ += c * j
		rows[k[0]] += c
		cols[k[1]] += c
	}
	muI /= n
	muJ /= n
	for _, k := range keys {
		p := m.counts[k] / n
		s.glVar += sq(float64(k[0])-muI) * p
		s.sizeVar += sq(float64(k[1])-muJ) * p
		s.entropy -= p * math.Log2(p)
		s.energy += p * p
	}
	for _, i := range slices.Sorted(maps.Keys(rows)) {
		s.glnu += rows[i] * rows[i]
	}
	for _, j := range slices.Sorted(maps.Keys(cols)) {
		s.snu += cols[j] * cols[j]
	}
	for _, v := range []*float64{&s.short, &s.long, &s.low, &s.high, &s.shortLow, &s.shortHigh, &s.longLow, &s.longHigh, &s.glnu, &s.snu} {
		*v /= n
	}
	s.glnuNorm = s.glnu / n
	s.snuNorm = s.snu / n
	s.perc = n / m.voxels
	return &s
}

// The sums, in the order IBSI lists every size family's features.
var sizeSumOrder = []func(*sizeSums) float64{
	func(s *sizeSums) float64 { return s.short },
	func(s *sizeSums) float64 { return s.long },
	func(s *sizeSums) float64 { return s.low },
	func(s *sizeSums) float64 { return s.high },
	func(s *sizeSums) float64 { return s.shortLow },
	func(s *sizeSums) float64 { return s.shortHigh },
	func(s *sizeSums) float64 { return s.longLow },
	func(s *sizeSums) float64 { return s.longHigh },
	func(s *sizeSums) float64 { return s.glnu },
	func(s *sizeSums) float64 { return s.glnuNorm },
	func(s *sizeSums) float64 { return s.snu },
	func(s *sizeSums) float64 { return s.snuNorm },
	func(s *sizeSums) float64 { return s.perc },
	func(s *sizeSums) float64 { return s.glVar },
	func(s *sizeSums) float64 { return s.sizeVar },
	func(s *sizeSums) float64 { return s.entropy },
	func(s *sizeSums) float64 { return s.energy },
}

// sizeTable pairs a family's definitions, in IBSI's order (the sums of
// sizeSumOrder, the last, energy, only for the NGLDM), with the sums.
func sizeTable(defs ...Definition) []def[*sizeSums] {
	out := make([]def[*sizeSums], len(defs))
	for i, d := range defs {
		out[i] = def[*sizeSums]{d, sizeSumOrder[i]}
	}
	return out
}

// sizeFamily returns the texture family of a size matrix table.
func sizeFamily(defs []def[*sizeSums]) texFamily[*sizeMatrix] {
	return texFamily[*sizeMatrix]{
		defs: definitions(defs),
		eval: func(m *sizeMatrix) []float64 { return values(defs, m.sums()) },
		zero: newSizeMatrix,
	}
}

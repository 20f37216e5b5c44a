package radiomics

import "math"

// sizeMatrix is a texture matrix of counts by grey level i and a size j:
// the run length of a GLRLM, the zone size of a GLSZM, the zone distance of
// a GLDZM, the dependence count of an NGLDM. The four families' features
// are the same sums over it under different names. Each grey level's row
// reaches only as far as the largest size counted at that level (a zone
// can hold thousands of voxels).
type sizeMatrix struct {
	// rows[i-1][j-1] counts grey level i with size j.
	rows [][]float64
	// voxels is the number of voxels the matrix was counted on, summed
	// over merged matrices (IBSI N_v, for the percentage features).
	voxels float64
}

func newSizeMatrix() *sizeMatrix { return &sizeMatrix{} }

func (m *sizeMatrix) add(o *sizeMatrix) {
	for i, row := range o.rows {
		dst := m.row(i, len(row))
		for j, c := range row {
			dst[j] += c
		}
	}
	m.voxels += o.voxels
}

// row returns row i (grey level i+1) grown to at least n sizes.
func (m *sizeMatrix) row(i, n int) []float64 {
	if i >= len(m.rows) {
		m.rows = append(m.rows, make([][]float64, i+1-len(m.rows))...)
	}
	if r := m.rows[i]; n > len(r) {
		m.rows[i] = append(r, make([]float64, n-len(r))...)
	}
	return m.rows[i]
}

// empty reports a matrix with no count: every row a count grew ends in a
// count.
func (m *sizeMatrix) empty() bool {
	for _, row := range m.rows {
		if len(row) > 0 {
			return false
		}
	}
	return true
}

// count adds one occurrence of grey level i (1 or more) with size j (1 or
// more).
func (m *sizeMatrix) count(i int32, j int) { m.row(int(i-1), j)[j-1]++ }

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
// the same matrix gives the same features to the last bit.
func (m *sizeMatrix) sums() *sizeSums {
	var s sizeSums
	var n, muI, muJ float64
	rows := make([]float64, len(m.rows))
	var cols []float64
	for r, row := range m.rows {
		if len(row) > len(cols) {
			cols = append(cols, make([]float64, len(row)-len(cols))...)
		}
		i := float64(r + 1)
		i2 := i * i
		for k, c := range row {
			if c == 0 {
				continue
			}
			j := float64(k + 1)
			j2 := j * j
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
			rows[r] += c
			cols[k] += c
		}
	}
	muI /= n
	muJ /= n
	for r, row := range m.rows {
		for k, c := range row {
			if c == 0 {
				continue
			}
			p := c / n
			s.glVar += sq(float64(r+1)-muI) * p
			s.sizeVar += sq(float64(k+1)-muJ) * p
			s.entropy -= p * math.Log2(p)
			s.energy += p * p
		}
	}
	for _, c := range rows {
		s.glnu += c * c
	}
	for _, c := range cols {
		s.snu += c * c
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

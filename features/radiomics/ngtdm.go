package radiomics

import "math"

// ngtdm is a neighbourhood grey tone difference matrix (IBSI IPET): for
// each grey level i, the number n_i of its voxels that have a neighbour in
// the intensity mask and the sum s_i of |i − mean of their neighbours|.
type ngtdm struct {
	n, s []float64 // index i-1
}

func newNGTDM(ng int) *ngtdm { return &ngtdm{n: make([]float64, ng), s: make([]float64, ng)} }

func (m *ngtdm) add(o *ngtdm) {
	for i := range m.n {
		m.n[i] += o.n[i]
		m.s[i] += o.s[i]
	}
}

func (m *ngtdm) empty() bool {
	for _, n := range m.n {
		if n > 0 {
			return false
		}
	}
	return true
}

// ngtdmMatrices returns the NGTDM of each slice (inPlane) or the volume's.
func ngtdmMatrices(r *roi, inPlane bool) []*ngtdm {
	return perSliceOrVolume(r, inPlane, func() *ngtdm { return newNGTDM(r.ng) }, func(m *ngtdm, g int32, nb []int32) {
		if len(nb) == 0 {
			return
		}
		var sum float64
		for _, h := range nb {
			sum += float64(h)
		}
		m.n[g-1]++
		m.s[g-1] += math.Abs(float64(g) - sum/float64(len(nb)))
	})
}

// toneDifferences holds an NGTDM's probabilities and the sums its
// features share; levels lists the grey levels present (p_i > 0).
type toneDifferences struct {
	p, s     []float64
	levels   []int
	voxels   float64 // N_v,c
	ps, sumS float64 // Σ p_i s_i, Σ s_i
}

func (m *ngtdm) differences() *toneDifferences {
	t := &toneDifferences{p: make([]float64, len(m.n)), s: m.s}
	for _, n := range m.n {
		t.voxels += n
	}
	for i, n := range m.n {
		t.p[i] = n / t.voxels
		t.ps += t.p[i] * m.s[i]
		t.sumS += m.s[i]
		if n > 0 {
			t.levels = append(t.levels, i)
		}
	}
	return t
}

// pairs returns Σ f(i1, i2) over the pairs of present grey levels (level
// values are i+1).
func (t *toneDifferences) pairs(f func(i1, i2 int) float64) float64 {
	var sum float64
	for _, a := range t.levels {
		for _, b := range t.levels {
			sum += f(a, b)
		}
	}
	return sum
}

// ngtFeatures are IBSI's NGTDM features, with IBSI's values for the
// degenerate cases: coarseness 10⁶ when Σ p_i s_i = 0; contrast and
// busyness 0 for a single grey level; strength 0 when Σ s_i = 0. Busyness
// is 0 too when its denominator Σ|i p_i − j p_j| is 0 with several grey
// levels (levels 1 and 2 with p_1 = 2 p_2), as pyradiomics has it, rather
// than +Inf.
var ngtFeatures = []def[*toneDifferences]{
	{Definition{"ngt.coarseness", "QCDE", "Coarseness"}, func(t *toneDifferences) float64 {
		if t.ps == 0 {
			return 1e6
		}
		return 1 / t.ps
	}},
	{Definition{"ngt.contrast", "65HE", "Contrast"}, func(t *toneDifferences) float64 {
		ngp := float64(len(t.levels))
		if ngp <= 1 {
			return 0
		}
		spread := t.pairs(func(a, b int) float64 { return t.p[a] * t.p[b] * sq(float64(a-b)) })
		return spread / (ngp * (ngp - 1)) * t.sumS / t.voxels
	}},
	{Definition{"ngt.busyness", "NQ30", "Busyness"}, func(t *toneDifferences) float64 {
		spread := t.pairs(func(a, b int) float64 { return math.Abs(float64(a+1)*t.p[a] - float64(b+1)*t.p[b]) })
		if spread == 0 { // one grey level, or i·p_i the same for all
			return 0
		}
		return t.ps / spread
	}},
	{Definition{"ngt.complexity", "HDEZ", "Complexity"}, func(t *toneDifferences) float64 {
		return t.pairs(func(a, b int) float64 {
			return math.Abs(float64(a-b)) * (t.p[a]*t.s[a] + t.p[b]*t.s[b]) / (t.p[a] + t.p[b])
		}) / t.voxels
	}},
	{Definition{"ngt.strength", "1X9X", "Strength"}, func(t *toneDifferences) float64 {
		if t.sumS == 0 {
			return 0
		}
		return t.pairs(func(a, b int) float64 { return (t.p[a] + t.p[b]) * sq(float64(a-b)) }) / t.sumS
	}},
}

func init() {
	familyTable["ngt"] = family{
		defs: func() []Definition { return definitions(ngtFeatures) },
		compute: func(r *roi) []Feature {
			f := texFamily[*ngtdm]{
				defs: definitions(ngtFeatures),
				eval: func(m *ngtdm) []float64 { return values(ngtFeatures, m.differences()) },
				zero: func() *ngtdm { return newNGTDM(r.ng) },
			}
			return f.zoned(r,
				func() []*ngtdm { return ngtdmMatrices(r, true) },
				func() *ngtdm { return ngtdmMatrices(r, false)[0] })
		},
	}
}

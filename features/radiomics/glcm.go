package radiomics

import "math"

// glcm is a symmetric grey level co-occurrence matrix (IBSI LFYI): counts
// of grey levels i and j (1..ng) in neighbouring voxels, both ways.
type glcm struct {
	ng     int
	counts []float64 // counts[(i-1)*ng + j-1]
	total  float64
}

func newGLCM(ng int) *glcm { return &glcm{ng: ng, counts: make([]float64, ng*ng)} }

func (m *glcm) add(o *glcm) {
	for k, c := range o.counts {
		m.counts[k] += c
	}
	m.total += o.total
}

func (m *glcm) empty() bool { return m.total == 0 }

// pair counts levels a and b as neighbours, in both orders.
func (m *glcm) pair(a, b int32) {
	m.counts[int(a-1)*m.ng+int(b-1)]++
	m.counts[int(b-1)*m.ng+int(a-1)]++
	m.total += 2
}

// glcmMatrices counts the ROI's co-occurrences at the texture distance:
// per slice and in-plane direction, and per out-of-plane direction over
// the volume. Only pairs of voxels both in the intensity mask count.
func glcmMatrices(r *roi) (planes [][]*glcm, volume []*glcm) {
	delta := r.s.Texture.Distance
	in, out := scaled(inPlaneDirections, delta), scaled(outOfPlaneDirections, delta)
	planes = make([][]*glcm, r.Size[2])
	for z := range planes {
		planes[z] = make([]*glcm, len(in))
		for d := range in {
			planes[z][d] = newGLCM(r.ng)
		}
	}
	volume = make([]*glcm, len(out))
	for d := range out {
		volume[d] = newGLCM(r.ng)
	}
	p := r.padded()
	eachDirection(r, in, out, planes, volume, func(m *glcm, n int, a int32, o int) {
		if b := p.grey[n+o]; b > 0 {
			m.pair(a, b)
		}
	})
	return planes, volume
}

// cooccurrence holds the probabilities a GLCM's features are made of.
type cooccurrence struct {
	ng                  int
	p                   []float64 // joint, p[(i-1)*ng + j-1]
	marginal            []float64 // p_i. (= p_.j by symmetry)
	diff, sum           []float64 // p_{i-j,k}, k = 0..ng-1; p_{i+j,k}, index k-2
	mu, variance        float64   // mean and variance of the marginal
	hxy, hx, hxy1, hxy2 float64
}

func (m *glcm) probabilities() *cooccurrence {
	ng := m.ng
	c := &cooccurrence{ng: ng, p: make([]float64, ng*ng), marginal: make([]float64, ng), diff: make([]float64, ng), sum: make([]float64, 2*ng-1)}
	for i := range ng {
		for j := range ng {
			p := m.counts[i*ng+j] / m.total
			c.p[i*ng+j] = p
			c.marginal[i] += p
			c.diff[abs(i-j)] += p
			c.sum[i+j] += p
		}
	}
	for i, p := range c.marginal {
		c.mu += float64(i+1) * p
		c.hx -= xlog2x(p)
	}
	for i, p := range c.marginal {
		c.variance += sq(float64(i+1)-c.mu) * p
	}
	for i := range ng {
		for j := range ng {
			p, q := c.p[i*ng+j], c.marginal[i]*c.marginal[j]
			c.hxy -= xlog2x(p)
			if p > 0 {
				c.hxy1 -= p * math.Log2(q)
			}
			c.hxy2 -= xlog2x(q)
		}
	}
	return c
}

// sumIJ returns Σ_ij f(i, j) p_ij over the levels 1..ng.
func (c *cooccurrence) sumIJ(f func(i, j float64) float64) float64 {
	var s float64
	for i := range c.ng {
		for j := range c.ng {
			if p := c.p[i*c.ng+j]; p > 0 {
				s += f(float64(i+1), float64(j+1)) * p
			}
		}
	}
	return s
}

// sumDiff returns Σ_k f(k) p_{i-j,k}, k = 0..ng-1.
func (c *cooccurrence) sumDiff(f func(k float64) float64) float64 {
	var s float64
	for k, p := range c.diff {
		if p > 0 {
			s += f(float64(k)) * p
		}
	}
	return s
}

// sumSum returns Σ_k f(k) p_{i+j,k}, k = 2..2ng.
func (c *cooccurrence) sumSum(f func(k float64) float64) float64 {
	var s float64
	for k, p := range c.sum {
		if p > 0 {
			s += f(float64(k+2)) * p
		}
	}
	return s
}

// entropyOf returns the Shannon entropy in bits of probabilities.
func entropyOf(ps []float64) float64 {
	var e float64
	for _, p := range ps {
		e -= xlog2x(p)
	}
	return e
}

func xlog2x(p float64) float64 {
	if p <= 0 {
		return 0
	}
	return p * math.Log2(p)
}

func sq(x float64) float64 { return x * x }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// cmDefs are IBSI's GLCM features.
var cmDefs = []def[*cooccurrence]{
	{Definition{"cm.joint.max", "GYBY", "Joint maximum"}, func(c *cooccurrence) float64 {
		var m float64
		for _, p := range c.p {
			m = max(m, p)
		}
		return m
	}},
	{Definition{"cm.joint.avg", "60VM", "Joint average"}, func(c *cooccurrence) float64 { return c.sumIJ(func(i, _ float64) float64 { return i }) }},
	{Definition{"cm.joint.var", "UR99", "Joint variance"}, func(c *cooccurrence) float64 {
		mu := c.sumIJ(func(i, _ float64) float64 { return i })
		return c.sumIJ(func(i, _ float64) float64 { return sq(i - mu) })
	}},
	{Definition{"cm.joint.entr", "TU9B", "Joint entropy"}, func(c *cooccurrence) float64 { return c.hxy }},
	{Definition{"cm.diff.avg", "TF7R", "Difference average"}, func(c *cooccurrence) float64 { return c.sumDiff(func(k float64) float64 { return k }) }},
	{Definition{"cm.diff.var", "D3YU", "Difference variance"}, func(c *cooccurrence) float64 {
		mu := c.sumDiff(func(k float64) float64 { return k })
		return c.sumDiff(func(k float64) float64 { return sq(k - mu) })
	}},
	{Definition{"cm.diff.entr", "NTRS", "Difference entropy"}, func(c *cooccurrence) float64 { return entropyOf(c.diff) }},
	{Definition{"cm.sum.avg", "ZGXS", "Sum average"}, func(c *cooccurrence) float64 { return c.sumSum(func(k float64) float64 { return k }) }},
	{Definition{"cm.sum.var", "OEEB", "Sum variance"}, func(c *cooccurrence) float64 {
		mu := c.sumSum(func(k float64) float64 { return k })
		return c.sumSum(func(k float64) float64 { return sq(k - mu) })
	}},
	{Definition{"cm.sum.entr", "P6QZ", "Sum entropy"}, func(c *cooccurrence) float64 { return entropyOf(c.sum) }},
	{Definition{"cm.energy", "8ZQL", "Angular second moment"}, func(c *cooccurrence) float64 {
		return c.sumIJ(func(float64, float64) float64 { return 0 }) + sumSquares(c.p)
	}},
	{Definition{"cm.contrast", "ACUI", "Contrast"}, func(c *cooccurrence) float64 { return c.sumDiff(func(k float64) float64 { return k * k }) }},
	{Definition{"cm.dissimilarity", "8S9J", "Dissimilarity"}, func(c *cooccurrence) float64 { return c.sumDiff(func(k float64) float64 { return k }) }},
	{Definition{"cm.inv.diff", "IB1Z", "Inverse difference"}, func(c *cooccurrence) float64 { return c.sumDiff(func(k float64) float64 { return 1 / (1 + k) }) }},
	{Definition{"cm.inv.diff.norm", "NDRX", "Normalised inverse difference"}, func(c *cooccurrence) float64 {
		return c.sumDiff(func(k float64) float64 { return 1 / (1 + k/float64(c.ng)) })
	}},
	{Definition{"cm.inv.diff.mom", "WF0Z", "Inverse difference moment"}, func(c *cooccurrence) float64 { return c.sumDiff(func(k float64) float64 { return 1 / (1 + k*k) }) }},
	{Definition{"cm.inv.diff.mom.norm", "1QCO", "Normalised inverse difference moment"}, func(c *cooccurrence) float64 {
		return c.sumDiff(func(k float64) float64 { return 1 / (1 + sq(k/float64(c.ng))) })
	}},
	{Definition{"cm.inv.var", "E8JP", "Inverse variance"}, func(c *cooccurrence) float64 {
		return c.sumDiff(func(k float64) float64 {
			if k == 0 {
				return 0
			}
			return 1 / (k * k)
		})
	}},
	{Definition{"cm.corr", "NI2N", "Correlation"}, func(c *cooccurrence) float64 {
		return c.sumIJ(func(i, j float64) float64 { return (i - c.mu) * (j - c.mu) }) / c.variance
	}},
	{Definition{"cm.auto.corr", "QWB0", "Autocorrelation"}, func(c *cooccurrence) float64 { return c.sumIJ(func(i, j float64) float64 { return i * j }) }},
	{Definition{"cm.clust.tend", "DG8W", "Cluster tendency"}, func(c *cooccurrence) float64 {
		return c.sumIJ(func(i, j float64) float64 { return sq(i + j - 2*c.mu) })
	}},
	{Definition{"cm.clust.shade", "7NFM", "Cluster shade"}, func(c *cooccurrence) float64 {
		return c.sumIJ(func(i, j float64) float64 { return math.Pow(i+j-2*c.mu, 3) })
	}},
	{Definition{"cm.clust.prom", "AE86", "Cluster prominence"}, func(c *cooccurrence) float64 {
		return c.sumIJ(func(i, j float64) float64 { return math.Pow(i+j-2*c.mu, 4) })
	}},
	{Definition{"cm.info.corr.1", "R8DG", "Information correlation 1"}, func(c *cooccurrence) float64 { return (c.hxy - c.hxy1) / c.hx }},
	{Definition{"cm.info.corr.2", "JN9H", "Information correlation 2"}, func(c *cooccurrence) float64 {
		return math.Sqrt(1 - math.Exp(-2*(c.hxy2-c.hxy)))
	}},
}

func sumSquares(ps []float64) float64 {
	var s float64
	for _, p := range ps {
		s += p * p
	}
	return s
}

func init() {
	familyTable["cm"] = family{
		defs: func() []Definition { return definitions(cmDefs) },
		compute: func(r *roi) []Feature {
			f := texFamily[*glcm]{
				defs: definitions(cmDefs),
				eval: func(m *glcm) []float64 { return values(cmDefs, m.probabilities()) },
				zero: func() *glcm { return newGLCM(r.ng) },
			}
			planes, volume := glcmMatrices(r)
			return f.directional(r, planes, volume)
		},
	}
}

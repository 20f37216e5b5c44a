package radiomics

import "math"

// histogram is the intensity histogram of the discretised intensities
// (IBSI ZVCW): counts of grey levels 1..Ng, zero counts included, and the
// distribution of the levels.
type histogram struct {
	*distribution
	counts []float64 // counts[i-1] is n_i
}

func newHistogram(r *roi) *histogram {
	h := &histogram{counts: make([]float64, r.ng)}
	levels := make([]float64, 0, len(r.values))
	for k, in := range r.inten {
		if in {
			h.counts[r.grey[k]-1]++
			levels = append(levels, float64(r.grey[k]))
		}
	}
	h.distribution = describe(levels)
	return h
}

// mode is the most common level; of several, the one nearest the mean, and
// of two as near, the lower.
func (h *histogram) mode() float64 {
	best := 0
	for i, c := range h.counts {
		b := h.counts[best]
		if c > b || c == b && math.Abs(float64(i+1)-h.mean) < math.Abs(float64(best+1)-h.mean) {
			best = i
		}
	}
	return float64(best + 1)
}

// gradient is IBSI's histogram gradient H': central differences inside,
// one-sided at the ends, 0 for a single bin.
func (h *histogram) gradient() []float64 {
	n := h.counts
	g := make([]float64, len(n))
	if len(n) < 2 {
		return g
	}
	g[0] = n[1] - n[0]
	g[len(n)-1] = n[len(n)-1] - n[len(n)-2]
	for i := 1; i < len(n)-1; i++ {
		g[i] = (n[i+1] - n[i-1]) / 2
	}
	return g
}

// gradientExtreme returns the largest (sign 1) or smallest (sign -1)
// gradient and the first level where it is reached.
func (h *histogram) gradientExtreme(sign float64) (value, level float64) {
	g := h.gradient()
	best := 0
	for i, v := range g {
		if sign*v > sign*g[best] {
			best = i
		}
	}
	return g[best], float64(best + 1)
}

func (h *histogram) entropy() float64 {
	var e float64
	total := float64(len(h.sorted))
	for _, c := range h.counts {
		if c > 0 {
			p := c / total
			e -= p * math.Log2(p)
		}
	}
	return e
}

func (h *histogram) uniformity() float64 {
	var u float64
	total := float64(len(h.sorted))
	for _, c := range h.counts {
		u += (c / total) * (c / total)
	}
	return u
}

// ihFeatures are IBSI's intensity histogram features (ZVCW).
var ihFeatures = []def[*histogram]{
	{Definition{"ih.mean", "X6K6", "Mean discretised intensity"}, func(h *histogram) float64 { return h.mean }},
	{Definition{"ih.var", "CH89", "Discretised intensity variance"}, func(h *histogram) float64 { return h.variance }},
	{Definition{"ih.skew", "88K1", "Discretised intensity skewness"}, func(h *histogram) float64 { return h.skewness }},
	{Definition{"ih.kurt", "C3I7", "(Excess) discretised intensity kurtosis"}, func(h *histogram) float64 { return h.kurtosis }},
	{Definition{"ih.median", "WIFQ", "Median discretised intensity"}, func(h *histogram) float64 { return h.median }},
	{Definition{"ih.min", "1PR8", "Minimum discretised intensity"}, func(h *histogram) float64 { return h.min() }},
	{Definition{"ih.p10", "GPMT", "10th discretised intensity percentile"}, func(h *histogram) float64 { return h.p10 }},
	{Definition{"ih.p90", "OZ0C", "90th discretised intensity percentile"}, func(h *histogram) float64 { return h.p90 }},
	{Definition{"ih.max", "3NCY", "Maximum discretised intensity"}, func(h *histogram) float64 { return h.max() }},
	{Definition{"ih.mode", "AMMC", "Intensity histogram mode"}, (*histogram).mode},
	{Definition{"ih.iqr", "WR0O", "Discretised intensity interquartile range"}, func(h *histogram) float64 { return h.p75 - h.p25 }},
	{Definition{"ih.range", "5Z3W", "Discretised intensity range"}, func(h *histogram) float64 { return h.max() - h.min() }},
	{Definition{"ih.mad", "D2ZX", "Intensity histogram mean absolute deviation"}, func(h *histogram) float64 { return h.mad }},
	{Definition{"ih.rmad", "WRZB", "Intensity histogram robust mean absolute deviation"}, func(h *histogram) float64 { return h.rmad }},
	{Definition{"ih.medad", "4RNL", "Intensity histogram median absolute deviation"}, func(h *histogram) float64 { return h.medad }},
	{Definition{"ih.cov", "CWYJ", "Intensity histogram coefficient of variation"}, func(h *histogram) float64 { return ratio(math.Sqrt(h.variance), h.mean) }},
	{Definition{"ih.qcod", "SLWD", "Intensity histogram quartile coefficient of dispersion"}, func(h *histogram) float64 { return ratio(h.p75-h.p25, h.p75+h.p25) }},
	{Definition{"ih.entropy", "TLU2", "Discretised intensity entropy"}, (*histogram).entropy},
	{Definition{"ih.uniformity", "BJ5W", "Discretised intensity uniformity"}, (*histogram).uniformity},
	{Definition{"ih.max.grad", "12CE", "Maximum histogram gradient"}, func(h *histogram) float64 { v, _ := h.gradientExtreme(1); return v }},
	{Definition{"ih.max.grad.gl", "8E6O", "Maximum histogram gradient intensity"}, func(h *histogram) float64 { _, l := h.gradientExtreme(1); return l }},
	{Definition{"ih.min.grad", "VQB3", "Minimum histogram gradient"}, func(h *histogram) float64 { v, _ := h.gradientExtreme(-1); return v }},
	{Definition{"ih.min.grad.gl", "RHQZ", "Minimum histogram gradient intensity"}, func(h *histogram) float64 { _, l := h.gradientExtreme(-1); return l }},
}

func init() {
	familyTable["ih"] = family{
		defs: func() []Definition { return definitions(ihFeatures) },
		compute: func(r *roi) []Feature {
			return emit(nil, ihFeatures, values(ihFeatures, newHistogram(r)), "")
		},
	}
}

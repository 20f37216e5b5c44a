// Package featvec turns ctrecon's features into the vectors the
// similarity indexes hold, for the benchmarks: radiomics standardised
// feature by feature so that the Euclidean distance weighs every feature
// alike. (Metric histograms' vectors are histogram.VectorOfPairs'.)
package featvec

import (
	"math"
)

// Standardise returns rows (each of the same length) with each column
// shifted and scaled to mean 0 and standard deviation 1 over the rows,
// leaving out the columns that are not finite in every row or constant
// (no information, and a division by zero), and the kept columns' indices.
func Standardise(rows [][]float32) ([][]float32, []int) {
	if len(rows) == 0 {
		return nil, nil
	}
	var kept []int
	var mean, sd []float64
	for c := range rows[0] {
		var s, ss float64
		finite := true
		for _, r := range rows {
			x := float64(r[c])
			finite = finite && !math.IsNaN(x) && !math.IsInf(x, 0)
			s += x
		}
		if !finite {
			continue
		}
		mu := s / float64(len(rows))
		for _, r := range rows {
			d := float64(r[c]) - mu
			ss += d * d
		}
		sigma := math.Sqrt(ss / float64(len(rows)))
		if !(sigma > 1e-12*math.Max(1, math.Abs(mu))) {
			continue
		}
		kept, mean, sd = append(kept, c), append(mean, mu), append(sd, sigma)
	}
	out := make([][]float32, len(rows))
	for i, r := range rows {
		out[i] = make([]float32, len(kept))
		for j, c := range kept {
			out[i][j] = float32((float64(r[c]) - mean[j]) / sd[j])
		}
	}
	return out, kept
}

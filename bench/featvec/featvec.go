// Package featvec turns ctrecon's features into the fixed-length vectors
// the similarity indexes hold, for the benchmarks: metric histograms
// (whose number of control points varies) padded to one length and
// compared by DM, and radiomics standardised feature by feature so that
// the Euclidean distance weighs every feature alike.
package featvec

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/index"
)

// MetricLen is the length of the vector Metric makes of a metric
// histogram of up to points control points.
func MetricLen(points int) int { return 1 + 2*points }

// Metric returns m as a vector of MetricLen(points) values: the number of
// control points, then each point's HU and density, then zeros. A metric
// histogram of more than points points is an error.
func Metric(m *histogram.Metric, points int) ([]float32, error) {
	if len(m.Points) > points {
		return nil, fmt.Errorf("metric histogram of %d points: the vectors hold %d", len(m.Points), points)
	}
	v := make([]float32, MetricLen(points))
	v[0] = float32(len(m.Points))
	for i, p := range m.Points {
		v[1+2*i], v[2+2*i] = float32(p.HU), float32(p.Density)
	}
	return v, nil
}

// MetricFromPairs returns the vector Metric makes, of MetricLen(points)
// values, of a metric histogram given as its points' HU and density in
// turn (how feature records hold it, features/extract). An odd number of
// values, or more than points points, is an error.
func MetricFromPairs(pairs []float32, points int) ([]float32, error) {
	if len(pairs)%2 != 0 || len(pairs) > 2*points {
		return nil, fmt.Errorf("metric histogram of %d values: want pairs of HU and density, at most %d", len(pairs), points)
	}
	v := make([]float32, MetricLen(points))
	v[0] = float32(len(pairs) / 2)
	copy(v[1:], pairs)
	return v, nil
}

// metricOf decodes a vector Metric made. The float32 rounding of HU keeps
// their order (bins' centres are far more than a float32 step apart).
func metricOf(v []float32) histogram.Metric {
	n := min(int(v[0]), (len(v)-1)/2)
	m := histogram.Metric{Points: make([]histogram.Point, n)}
	for i := range m.Points {
		m.Points[i] = histogram.Point{HU: float64(v[1+2*i]), Density: float64(v[2+2*i])}
	}
	return m
}

// DM is histogram.DM between the metric histograms of two vectors Metric
// made, as an index metric: the distance the metric-histogram papers
// search by. Only the metric-space indexes (exact, HNSW, Slim-tree) can
// use it: k-means centres and LSH projections of such vectors are not
// metric histograms.
var DM = index.NewMetric("dm", func(a, b []float32) float64 {
	ma, mb := metricOf(a), metricOf(b)
	return histogram.DM(&ma, &mb)
})

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

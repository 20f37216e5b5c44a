package histogram

import (
	"fmt"

	"github.com/ctrecon/ctrecon/index"
)

// A metric histogram's number of control points varies, so an index holds
// it as a vector of fixed length, VectorLen(points) values: the number of
// points, each point's HU and density in turn (as feature records hold
// them, features/extract), then zeros. DMIndexMetric compares two such
// vectors by DM. Only the indexes that compare vectors without averaging
// them (exact, HNSW, Slim-tree) can use it: k-means centres and LSH
// projections of these vectors are no metric histograms.

// VectorLen is the length of the vector of a metric histogram of up to
// points control points.
func VectorLen(points int) int { return 1 + 2*points }

// VectorOfPairs returns the vector of VectorLen(points) values of a
// metric histogram given as its points' HU and density in turn. Errors
// wrap ErrInput: an odd number of values, more than points points, a curve
// Validate refuses.
func VectorOfPairs(pairs []float32, points int) ([]float32, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("%w: a metric histogram's %d values are not (HU, density) pairs", ErrInput, len(pairs))
	}
	if len(pairs)/2 > points {
		return nil, fmt.Errorf("%w: a metric histogram of %d points: the vectors hold at most %d", ErrInput, len(pairs)/2, points)
	}
	v := make([]float32, VectorLen(points))
	v[0] = float32(len(pairs) / 2)
	copy(v[1:], pairs)
	m := MetricOfVector(v)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// Vector returns m as a vector of VectorLen(points) values (VectorOfPairs).
func (m *Metric) Vector(points int) ([]float32, error) {
	pairs := make([]float32, 0, 2*len(m.Points))
	for _, p := range m.Points {
		pairs = append(pairs, float32(p.HU), float32(p.Density))
	}
	return VectorOfPairs(pairs, points)
}

// MetricOfVector decodes a vector VectorOfPairs made. The float32 rounding
// of HU keeps their order (bins' centres are far more than a float32 step
// apart).
func MetricOfVector(v []float32) Metric {
	n := min(int(v[0]), (len(v)-1)/2)
	m := Metric{Points: make([]Point, max(n, 0))}
	for i := range m.Points {
		m.Points[i] = Point{HU: float64(v[1+2*i]), Density: float64(v[2+2*i])}
	}
	return m
}

// PairsOfVector returns the (HU, density) pairs of a vector VectorOfPairs
// made: its inverse, the values a query by curve gives.
func PairsOfVector(v []float32) []float32 {
	if len(v) == 0 {
		return v
	}
	return v[1:min(1+2*max(int(v[0]), 0), len(v))]
}

// DMIndexMetric is DM between two vectors VectorOfPairs made, as an index
// metric named "dm" (which a saved index records): the distance the
// metric-histogram papers search by.
var DMIndexMetric = index.NewMetric("dm", func(a, b []float32) float64 {
	ma, mb := MetricOfVector(a), MetricOfVector(b)
	return DM(&ma, &mb)
})

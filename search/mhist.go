package search

import (
	"fmt"

	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/index"
	_ "github.com/ctrecon/ctrecon/index/slimtree" // registers "slim", the metric histograms' index
)

// Metric histograms (histogram.KindMetric) are compared by DM, the area
// between their curves, not bin by bin: their records' values are the
// control points' HU and density, (HU, density) pairs, as many as the
// histogram has. The library holds each as a vector of dmLen values (the
// number of points, the pairs, then zeros) in a Slim-tree, a metric tree
// exact under DM, which the metric-histogram papers search with.
const (
	// dmPoints is the most control points a metric histogram may have here:
	// histogram.DefaultSettings reduce to at most 33 (32 buckets).
	dmPoints = 64
	dmLen    = 1 + 2*dmPoints
	dmIndex  = "slim"
)

// dmMetric is histogram.DM between two vectors dmVector made. An index
// saved with it names it "dm"; Load is given it (snapshot.go).
var dmMetric = index.NewMetric("dm", func(a, b []float32) float64 {
	ma, mb := dmCurve(a), dmCurve(b)
	return histogram.DM(&ma, &mb)
})

// dmVector returns a metric histogram record's values, (HU, density)
// pairs, as the vector the library holds. Errors name what is wrong: an
// odd count, too many points, a curve histogram.Metric.Validate refuses.
func dmVector(values []float32) ([]float32, error) {
	if len(values)%2 != 0 {
		return nil, fmt.Errorf("a metric histogram's %d values are not (HU, density) pairs", len(values))
	}
	if len(values)/2 > dmPoints {
		return nil, fmt.Errorf("a metric histogram of %d points: the search holds at most %d", len(values)/2, dmPoints)
	}
	v := make([]float32, dmLen)
	v[0] = float32(len(values) / 2)
	copy(v[1:], values)
	m := dmCurve(v)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// dmCurve decodes a vector dmVector made.
func dmCurve(v []float32) histogram.Metric {
	n := min(int(v[0]), (len(v)-1)/2)
	m := histogram.Metric{Points: make([]histogram.Point, max(n, 0))}
	for i := range m.Points {
		m.Points[i] = histogram.Point{HU: float64(v[1+2*i]), Density: float64(v[2+2*i])}
	}
	return m
}

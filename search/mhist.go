package search

import (
	"github.com/ctrecon/ctrecon/features/histogram"
	_ "github.com/ctrecon/ctrecon/index/slimtree" // registers "slim", the metric histograms' index
)

// Metric histograms (histogram.KindMetric) are compared by DM, the area
// between their curves, not bin by bin: the library holds each as the
// vector histogram.VectorOfPairs makes of its record's (HU, density)
// pairs, in a Slim-tree, a metric tree exact under DM
// (histogram.DMIndexMetric), which the metric-histogram papers search with.
const (
	// dmPoints is the most control points a metric histogram may have here:
	// histogram.DefaultSettings reduce to at most 33 (32 buckets).
	dmPoints = 64
	dmIndex  = "slim"
)

// dmVector returns a metric histogram record's values, (HU, density)
// pairs, as the vector the library holds (histogram.VectorOfPairs).
func dmVector(values []float32) ([]float32, error) { return histogram.VectorOfPairs(values, dmPoints) }

// queryValues returns the values a query gives (Query.Vector) of a vector
// kind's index holds: vectorOf's inverse, a metric histogram's (HU,
// density) pairs, else the vector itself. A shard answers a like query's
// vector so (likeVector), for the other shards to search with.
func queryValues(kind string, v []float32) []float32 {
	if kind != histogram.KindMetric {
		return v
	}
	return histogram.PairsOfVector(v)
}

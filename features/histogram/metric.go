package histogram

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
)

// KindMetric is the kind of metric histograms of HU histograms; Settings
// name the binning and the reduction.
const KindMetric = "mhist-hu-v1"

// Point is a control point of a metric histogram.
type Point struct {
	HU float64 `json:"hu"`
	// Density is the share of voxels per HU at HU: the normalised
	// histogram divided by the bin width, so that the area under the curve
	// is 1 whatever the binning.
	Density float64 `json:"density"`
}

// Metric is a metric histogram (Traina, Traina, Bueno, Chino and
// Azevedo-Marques 2003): a normalised histogram approximated by the
// piecewise-linear curve through a few control points, placed where the
// histogram's shape changes. Consecutive points bound a bucket; their number
// varies from histogram to histogram, so metric histograms are compared by
// the area between their curves, DM, not bin by bin.
//
// The curve runs through Points in increasing HU, linear between them, and
// is 0 outside [Points[0].HU, Points[len-1].HU], the binning's range.
type Metric struct {
	Points []Point `json:"points"`
	// Error bounds the distance DM between this metric histogram and the
	// curve of the histogram it was reduced from (Curve): the sum of the
	// areas the reduction removed. It is at most the Settings' Tolerance
	// unless MaxBuckets forced more removals.
	Error float64 `json:"error"`
}

// Kind returns KindMetric.
func (m *Metric) Kind() string { return KindMetric }

// Buckets returns the number of buckets, one fewer than the points.
func (m *Metric) Buckets() int { return len(m.Points) - 1 }

// Validate reports a metric histogram DM cannot compare: fewer than two
// points, HU not finite and strictly increasing, a density that is negative
// or not finite, or an Error that is negative or not finite. Errors wrap
// ErrInput.
func (m *Metric) Validate() error {
	if len(m.Points) < 2 {
		return fmt.Errorf("%w: metric histogram has %d points, want at least 2", ErrInput, len(m.Points))
	}
	for i, p := range m.Points {
		if math.IsNaN(p.HU) || math.IsInf(p.HU, 0) || (i > 0 && !(p.HU > m.Points[i-1].HU)) {
			return fmt.Errorf("%w: metric histogram point %d at %g HU, want finite and above point %d's", ErrInput, i, p.HU, i-1)
		}
		if !(p.Density >= 0) || math.IsInf(p.Density, 1) {
			return fmt.Errorf("%w: metric histogram point %d has density %g, want finite and not negative", ErrInput, i, p.Density)
		}
	}
	if !(m.Error >= 0) || math.IsInf(m.Error, 1) {
		return fmt.Errorf("%w: metric histogram error %g, want finite and not negative", ErrInput, m.Error)
	}
	return nil
}

// Curve returns the full curve of histogram h counted with binning b, as a
// metric histogram with a point at each bin's centre (Binning.Center) and
// one at each end of the range with the end bin's density:
//
//	MinHU, c_0, c_1, ..., c_(Bins−1), MaxHU
//
// Bin i's density is Counts[i] / (N · Width()). The curve is linear between
// bin centres and flat in the outer half bins, so the area under it is
// exactly 1, as under the histogram's bars. Errors wrap ErrInput (h does not
// fit b) or ErrEmpty (h counted nothing).
func Curve(h *Histogram, b Binning) (Metric, error) {
	if err := b.Validate(); err != nil {
		return Metric{}, err
	}
	if len(h.Counts) != b.Bins {
		return Metric{}, fmt.Errorf("%w: histogram has %d bins, its binning %d", ErrInput, len(h.Counts), b.Bins)
	}
	if h.N <= 0 {
		return Metric{}, fmt.Errorf("%w: the histogram counted no voxel", ErrEmpty)
	}
	scale := 1 / (float64(h.N) * b.Width())
	pts := make([]Point, 0, b.Bins+2)
	pts = append(pts, Point{HU: b.MinHU, Density: float64(h.Counts[0]) * scale})
	for i, k := range h.Counts {
		pts = append(pts, Point{HU: b.Center(i), Density: float64(k) * scale})
	}
	pts = append(pts, Point{HU: b.MaxHU, Density: float64(h.Counts[b.Bins-1]) * scale})
	return Metric{Points: pts}, nil
}

// Reduce returns the metric histogram of h: its Curve with the control
// points that shape it least removed, as Settings say.
//
// The reduction is Visvalingam and Whyatt's (1993, "Line generalisation by
// repeated elimination of points", Cartographic Journal 30(1)): a point's
// effective area is the triangle it forms with its two current neighbours,
// and the point of least area is removed, its neighbours' areas recomputed,
// until every remaining area is too large. Removing a point changes the
// curve by exactly that triangle (the old and the new curve differ only
// between the neighbours, on one side of their chord), so the sum of the
// removed areas bounds DM between Curve and the result; the reduction stops
// before that sum would exceed Tolerance, and keeps removing past it only
// while more than MaxBuckets buckets remain. The end points are always kept.
// Collinear points (a flat run of empty bins, a linear ramp) cost nothing
// and go first; local maxima and minima and sharp changes of slope cost most
// and stay.
//
// Traina et al. place their control points with thresholds on the slope's
// change and sign and a maximum bucket width, all in units of one image's
// grey levels and counts; measuring each point by area instead gives one
// threshold in the unit of DM and the bound above. Ties are broken by HU, so
// the result is deterministic. Errors are Curve's and Settings.Validate's.
func Reduce(h *Histogram, s Settings) (Metric, error) {
	if err := s.Validate(); err != nil {
		return Metric{}, err
	}
	m, err := Curve(h, s.Binning)
	if err != nil {
		return Metric{}, err
	}
	m.Points, m.Error = simplify(m.Points, s.Tolerance, s.MaxBuckets+1)
	return m, nil
}

// simplify removes interior points of pts in the order of least effective
// area while the removed areas add up to at most tol, and further while more
// than maxPoints remain. It returns the points kept and the removed area.
func simplify(pts []Point, tol float64, maxPoints int) ([]Point, float64) {
	n := len(pts)
	prev, next, stamp := make([]int, n), make([]int, n), make([]int, n)
	for i := range n {
		prev[i], next[i] = i-1, i+1
	}
	q := make(candidates, 0, n)
	for i := 1; i < n-1; i++ {
		q = append(q, candidate{area: triangle(pts[i-1], pts[i], pts[i+1]), i: i})
	}
	heap.Init(&q)
	alive, removed := n, 0.0
	for q.Len() > 0 {
		c := q[0]
		if c.stamp != stamp[c.i] { // superseded by a later area, or removed
			heap.Pop(&q)
			continue
		}
		if alive <= maxPoints && removed+c.area > tol {
			break
		}
		heap.Pop(&q)
		removed += c.area
		alive--
		p, s := prev[c.i], next[c.i]
		next[p], prev[s] = s, p
		stamp[c.i] = -1
		for _, j := range [2]int{p, s} {
			if j > 0 && j < n-1 {
				stamp[j]++
				heap.Push(&q, candidate{area: triangle(pts[prev[j]], pts[j], pts[next[j]]), i: j, stamp: stamp[j]})
			}
		}
	}
	kept := make([]Point, 0, alive)
	for i := 0; i < n; i = next[i] {
		kept = append(kept, pts[i])
	}
	return kept, removed
}

// triangle returns the area of the triangle abc.
func triangle(a, b, c Point) float64 {
	return math.Abs((b.HU-a.HU)*(c.Density-a.Density)-(c.HU-a.HU)*(b.Density-a.Density)) / 2
}

// candidate is a point's effective area; stamp tells a current area from
// one its neighbour's removal superseded.
type candidate struct {
	area  float64
	i     int
	stamp int
}

// candidates is a min-heap by area, then index.
type candidates []candidate

func (q candidates) Len() int { return len(q) }
func (q candidates) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(q[i].area, q[j].area), cmp.Compare(q[i].i, q[j].i)) < 0
}
func (q candidates) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *candidates) Push(x any)   { *q = append(*q, x.(candidate)) }
func (q *candidates) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

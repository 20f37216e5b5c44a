// Package kmeans clusters vectors for the clustering indexes (index/ivf,
// index/tree): Lloyd's k-means seeded with k-means++ (Arthur and
// Vassilvitskii, 2007), under any index.Metric.
//
// Under the built-in metrics a centre is the mean of its vectors (for
// Manhattan the mean is not the L1 optimum, the median is, but it serves a
// coarse quantiser; for cosine the mean points along the cluster's
// direction). A metric given as a function (index.NewMetric) may be
// defined on vectors that encode something else, a metric histogram, whose
// mean means nothing; its centres are medoids, stored vectors, found by
// Voronoi iteration (Park and Jun, 2009): each centre moves to the member
// nearest, in sum, to a sample of its cluster.
package kmeans

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/ctrecon/ctrecon/index"
)

// Train returns k centres (k·dim values, fewer centres when rows hold fewer
// than k vectors) for the vectors rows (n·dim values, n ≥ 1) under m, after
// at most iters rounds of assignment and update; rng draws the seeds. Rows
// are not changed.
func Train(rows []float32, dim, k, iters int, m index.Metric, rng *rand.Rand) []float32 {
	n := len(rows) / dim
	k = min(k, n)
	c := seed(rows, dim, k, m, rng)
	assign := make([]int32, n)
	for i := range assign {
		assign[i] = -1
	}
	means := isBuiltin(m)
	for range iters {
		if !reassign(rows, dim, c, assign, m.RankFunc()) {
			break
		}
		if means {
			update(rows, dim, c, assign, rng)
		} else {
			medoids(rows, dim, c, assign, m, rng)
		}
	}
	return c
}

// isBuiltin reports whether m is a built-in metric: NewMetric refuses
// their names.
func isBuiltin(m index.Metric) bool {
	_, err := index.MetricNamed(m.Name())
	return err == nil
}

// seed picks k rows by k-means++: each next seed is drawn with probability
// proportional to the squared distance to the nearest seed so far.
func seed(rows []float32, dim, k int, m index.Metric, rng *rand.Rand) []float32 {
	n := len(rows) / dim
	rank := m.RankFunc()
	sq := m.Name() != index.Euclidean.Name() // Euclidean ranks are squared already
	c := make([]float32, 0, k*dim)
	c = append(c, row(rows, dim, rng.IntN(n))...)
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Inf(1)
	}
	for len(c) < k*dim {
		last := c[len(c)-dim:]
		total := 0.0
		for i := range n {
			d := float64(rank(row(rows, dim, i), last))
			if sq {
				d *= d
			}
			w[i] = min(w[i], d)
			total += w[i]
		}
		next := rng.IntN(n) // every row is a seed's copy: any will do
		if total > 0 {
			x := rng.Float64() * total
			for next = 0; next < n-1 && x >= w[next]; next++ {
				x -= w[next]
			}
		}
		c = append(c, row(rows, dim, next)...)
	}
	return c
}

func row(rows []float32, dim, i int) []float32 { return rows[i*dim : (i+1)*dim] }

// reassign moves every row to its nearest centre, on every core, and
// reports whether any moved.
func reassign(rows []float32, dim int, c []float32, assign []int32, rank func(a, b []float32) float32) bool {
	n := len(assign)
	workers := min(runtime.GOMAXPROCS(0), max(1, n/256))
	moved := make([]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				j, _ := Nearest(c, dim, row(rows, dim, i), rank)
				if assign[i] != int32(j) {
					assign[i], moved[w] = int32(j), true
				}
			}
		})
	}
	wg.Wait()
	return slices.Contains(moved, true)
}

// Nearest returns the centre of c (k·dim values) nearest to v by rank, and
// its rank; ties go to the lower centre.
func Nearest(c []float32, dim int, v []float32, rank func(a, b []float32) float32) (int, float32) {
	best, bestR := 0, float32(math.Inf(1))
	for j := 0; j*dim < len(c); j++ {
		if r := rank(v, c[j*dim:(j+1)*dim]); r < bestR {
			best, bestR = j, r
		}
	}
	return best, bestR
}

// update moves each centre to the mean of its rows; a centre left without
// rows takes a random row of the largest cluster.
func update(rows []float32, dim int, c []float32, assign []int32, rng *rand.Rand) {
	k := len(c) / dim
	sum := make([]float64, len(c))
	count := make([]int, k)
	for i, j := range assign {
		count[j]++
		s := sum[int(j)*dim : (int(j)+1)*dim]
		for d, x := range row(rows, dim, i) {
			s[d] += float64(x)
		}
	}
	for j := range k {
		if count[j] == 0 {
			copy(c[j*dim:(j+1)*dim], row(rows, dim, fromLargest(assign, count, rng)))
			continue
		}
		for d := range dim {
			c[j*dim+d] = float32(sum[j*dim+d] / float64(count[j]))
		}
	}
}

// fromLargest returns a random row of the largest cluster.
func fromLargest(assign []int32, count []int, rng *rand.Rand) int {
	big := int32(slices.Index(count, slices.Max(count)))
	for {
		if i := rng.IntN(len(assign)); assign[i] == big {
			return i
		}
	}
}

// Members sampled per cluster by medoids: the candidates for its medoid
// and the sample they are measured against.
const (
	medoidCandidates = 64
	medoidSample     = 16
)

// medoids moves each centre to the member, of up to medoidCandidates drawn
// from its cluster, whose distances to up to medoidSample members sum
// least.
func medoids(rows []float32, dim int, c []float32, assign []int32, m index.Metric, rng *rand.Rand) {
	k := len(c) / dim
	members := make([][]int, k)
	for i, j := range assign {
		members[j] = append(members[j], i)
	}
	for j, ms := range members {
		centre := c[j*dim : (j+1)*dim]
		if len(ms) == 0 {
			count := make([]int, k)
			for i := range members {
				count[i] = len(members[i])
			}
			copy(centre, row(rows, dim, fromLargest(assign, count, rng)))
			continue
		}
		cands := draw(ms, medoidCandidates, rng)
		sample := draw(ms, medoidSample, rng)
		best, bestSum := -1, math.Inf(1)
		for _, i := range cands {
			s := 0.0
			for _, t := range sample {
				s += m.Distance(row(rows, dim, i), row(rows, dim, t))
			}
			if s < bestSum {
				best, bestSum = i, s
			}
		}
		copy(centre, row(rows, dim, best))
	}
}

// draw returns up to n of ms at random, without repetition.
func draw(ms []int, n int, rng *rand.Rand) []int {
	if len(ms) <= n {
		return ms
	}
	out := make([]int, n)
	for i, p := range rng.Perm(len(ms))[:n] {
		out[i] = ms[p]
	}
	return out
}

package slimtree_test

import (
	"testing"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/indextest"
	"github.com/ctrecon/ctrecon/index/slimtree"
)

func TestInterface(t *testing.T) {
	indextest.Interface(t, func() index.Index { return slimtree.New(0, index.Euclidean, slimtree.Config{}) })
}

// TestExact checks that k-nearest and range searches give exactly
// index.Exact's answers under every metric, on coarse values whose
// distances tie, in a tree of several levels, before and after Slim-down.
func TestExact(t *testing.T) {
	data := indextest.Random(3000, 9, true, 1)
	for _, m := range indextest.Metrics {
		s := indextest.ForMetric(data, m)
		x := slimtree.New(0, m, slimtree.Config{Capacity: 8, MinOcc: 2})
		ref := indextest.Fill(t, x, s)
		if nodes, height := x.Shape(); height < 4 {
			t.Fatalf("%s: %d nodes, height %d; want a deeper tree", m, nodes, height)
		}
		indextest.SameAsExact(t, x, ref, s.Queries[:40], []int{1, 10, 100, 5000}, []float64{0, 0.3, 1})
		x.SlimDown()
		indextest.SameAsExact(t, x, ref, s.Queries[40:80], []int{1, 10}, []float64{0.5})
	}
}

// TestOperations adds, replaces and deletes at random, checking that the
// answers stay exact as leaves empty and the root collapses.
func TestOperations(t *testing.T) {
	s := indextest.Clustered(3000, 12, 20, 0.2, 2)
	x := slimtree.New(0, index.Manhattan, slimtree.Config{Capacity: 6, MinOcc: 2})
	indextest.Operations(t, x, s, func(ref *index.Exact) {
		indextest.SameAsExact(t, x, ref, s.Queries[:10], []int{1, 10}, []float64{0.5})
	})
	for _, k := range s.Keys {
		x.Delete(k)
	}
	if nodes, height := x.Shape(); x.Len() != 0 || nodes != 1 || height != 1 {
		t.Errorf("after deleting all: Len %d, %d nodes, height %d; want one empty leaf", x.Len(), nodes, height)
	}
}

// TestSlimDown reports the fat-factor and bloat-factor before and after
// Slim-down and the distances computed per query against a linear scan's
// one per vector, on clustered vectors: Slim-down must not make the tree
// fatter, and the pruning must spare most of the scan.
func TestSlimDown(t *testing.T) {
	s := indextest.Clustered(20000, 16, 50, 0.05, 3)
	x := slimtree.New(0, index.Euclidean, slimtree.Config{})
	ref := indextest.Fill(t, x, s)
	fat, bloat := x.FatFactor()
	perQuery := func() float64 {
		before := x.Distances()
		for _, q := range s.Queries {
			x.Search(q, 10, nil)
		}
		return float64(x.Distances()-before) / float64(len(s.Queries))
	}
	dBefore := perQuery()
	moved := x.SlimDown()
	fat2, bloat2 := x.FatFactor()
	dAfter := perQuery()
	t.Logf("%d vectors of 16: fat-factor %.4f -> %.4f, bloat-factor %.4f -> %.4f after Slim-down (%d moved); "+
		"distances per 10-NN query %.0f -> %.0f, a linear scan %d", len(s.Base), fat, fat2, bloat, bloat2, moved, dBefore, dAfter, len(s.Base))
	if moved == 0 || fat2 > fat || bloat2 > bloat {
		t.Errorf("Slim-down moved %d, fat %.4f -> %.4f, bloat %.4f -> %.4f", moved, fat, fat2, bloat, bloat2)
	}
	if dAfter > float64(len(s.Base))/4 {
		t.Errorf("%.0f distances per query of %d vectors", dAfter, len(s.Base))
	}
	indextest.SameAsExact(t, x, ref, s.Queries[:20], []int{10}, nil)
}

// TestSlimDownKeepsRadii: Slim-down must not widen a ball. An index
// node's radius grows on insert only to the vector's own distance, below
// the reach of its children's balls that Slim-down used to set it to, so
// that small nodes came out fatter: the bloat-factor, whose nodes and
// height are fixed by n and the capacity, counts the node accesses of
// point queries and must not grow.
func TestSlimDownKeepsRadii(t *testing.T) {
	s := indextest.Clustered(2000, 16, 10, 0.3, 5)
	for _, capacity := range []int{3, 8} {
		x := slimtree.New(0, index.Euclidean, slimtree.Config{Capacity: capacity})
		ref := indextest.Fill(t, x, s)
		_, bloat := x.FatFactor()
		x.SlimDown()
		if _, bloat2 := x.FatFactor(); bloat2 > bloat {
			t.Errorf("capacity %d: bloat-factor %.4f -> %.4f after Slim-down", capacity, bloat, bloat2)
		}
		indextest.SameAsExact(t, x, ref, s.Queries[:20], []int{10}, nil)
	}
}

func TestSaveLoad(t *testing.T) {
	for _, n := range []int{5, 3000} { // a root leaf and a tree
		s := indextest.ForMetric(indextest.Clustered(n, 16, 10, 0.2, 3), indextest.Custom)
		x := slimtree.New(0, indextest.Custom, slimtree.Config{Capacity: 10, MinOcc: 3})
		ref := indextest.FillThinned(t, x, s)
		y := indextest.SaveLoad(t, x, s, indextest.Custom)
		indextest.SameAsExact(t, y, ref, s.Queries, []int{1, 10}, []float64{1})
	}
}

func TestConcurrent(t *testing.T) {
	indextest.Concurrent(t, slimtree.New(0, index.Euclidean, slimtree.Config{}), indextest.Clustered(1500, 8, 10, 0.2, 4))
}

func TestParams(t *testing.T) {
	indextest.Params(t, "slim", [][2]string{{"capacity", "2"}, {"minocc", "-1"}, {"minocc", "20"}}, nil, nil)
}

// TestSweepDigits measures the exact search's speed, build time and
// memory on the digits, over the node capacity.
func TestSweepDigits(t *testing.T) {
	s := indextest.Digits(t)
	rows := indextest.Sweep(t, slimtree.Kind, index.Euclidean, s,
		[]map[string]string{{"capacity": "16", "minocc": "4"}, {"capacity": "32"}, {"capacity": "64"}}, []map[string]string{{}})
	indextest.CheckSweep(t, rows, 1)
}

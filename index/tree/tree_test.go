package tree_test

import (
	"testing"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/indextest"
	"github.com/ctrecon/ctrecon/index/tree"
)

func TestInterface(t *testing.T) {
	indextest.Interface(t, func() index.Index { return tree.New(0, index.Euclidean, tree.Config{}) })
}

// TestAllChecksExact checks that a search measuring every vector (checks
// 0) is exact under every metric, on coarse values whose distances tie,
// in a tree of several levels.
func TestAllChecksExact(t *testing.T) {
	data := indextest.Random(3000, 9, true, 1)
	for _, m := range indextest.Metrics {
		s := indextest.ForMetric(data, m)
		x := tree.New(0, m, tree.Config{Branching: 4, Leaf: 16})
		ref := indextest.Fill(t, x, s)
		if nodes, depth := x.Nodes(); depth < 4 {
			t.Fatalf("%s: %d nodes, depth %d; want a deeper tree", m, nodes, depth)
		}
		if err := x.SetParam("checks", "0"); err != nil {
			t.Fatal(err)
		}
		indextest.SameAsExact(t, x, ref, s.Queries[:60], []int{1, 10, 100, 5000}, []float64{0, 0.3, 1})
	}
}

// TestRecallClustered checks the recall on clustered vectors as they are
// added, replaced and deleted, leaves splitting as the tree grows.
func TestRecallClustered(t *testing.T) {
	s := indextest.Clustered(6000, 24, 40, 0.2, 2)
	x := tree.New(0, index.Euclidean, tree.Config{Checks: 300})
	indextest.Operations(t, x, s, indextest.Consistent(t, x, s.Queries[:200], 0.9))
}

// TestEqualVectors adds many copies of one vector: the leaf cannot split,
// and must not try at every Add.
func TestEqualVectors(t *testing.T) {
	x := tree.New(0, index.Euclidean, tree.Config{Leaf: 8})
	for i := range 1000 {
		if err := x.Add(string(rune('a'+i%26))+string(rune('a'+i/26)), []float32{1, 2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if nodes, _ := x.Nodes(); nodes != 1 {
		t.Errorf("%d nodes for 1000 equal vectors, want 1", nodes)
	}
	if h := x.Search([]float32{1, 2}, 5, nil); len(h) != 5 || h[4].Distance != 0 {
		t.Errorf("search found %v", h)
	}
}

func TestSaveLoad(t *testing.T) {
	for _, n := range []int{50, 3000} {
		s := indextest.ForMetric(indextest.Clustered(n, 16, 10, 0.2, 3), indextest.Custom)
		x := tree.New(0, indextest.Custom, tree.Config{Checks: 100})
		indextest.FillThinned(t, x, s)
		y := indextest.SaveLoad(t, x, s, indextest.Custom)
		a, _ := x.Nodes()
		if b, _ := y.(*tree.Index).Nodes(); a != b {
			t.Errorf("%d vectors: loaded %d nodes, saved %d", n, b, a)
		}
	}
}

func TestConcurrent(t *testing.T) {
	indextest.Concurrent(t, tree.New(0, index.Euclidean, tree.Config{Leaf: 16}), indextest.Clustered(1500, 8, 10, 0.2, 4))
}

func TestParams(t *testing.T) {
	indextest.Params(t, "tree", [][2]string{{"branching", "1"}, {"leaf", "0"}, {"iters", "x"}},
		tree.New(4, index.Euclidean, tree.Config{}), [][2]string{{"checks", "-1"}, {"leaf", "3"}})
	indextest.RefusesCustomMetric(t, "tree")
}

func TestSweepDigits(t *testing.T) {
	rows := indextest.Sweep(t, tree.Kind, index.Euclidean, indextest.Digits(t),
		[]map[string]string{{"branching": "8"}, {"branching": "16"}},
		indextest.Values("checks", 16, 32, 64, 128, 256, 512))
	indextest.CheckSweep(t, rows, 0.99)
}

func TestSweepClustered(t *testing.T) {
	rows := indextest.Sweep(t, tree.Kind, index.Euclidean, indextest.Clustered(20000, 64, 100, 0.6, 5),
		[]map[string]string{{"branching": "16"}},
		indextest.Values("checks", 32, 64, 128, 256, 512, 1024))
	indextest.CheckSweep(t, rows, 0.99)
}

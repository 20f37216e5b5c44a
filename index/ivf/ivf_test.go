package ivf_test

import (
	"testing"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/indextest"
	"github.com/ctrecon/ctrecon/index/ivf"
)

func TestInterface(t *testing.T) {
	indextest.Interface(t, func() index.Index { return ivf.New(0, index.Euclidean, ivf.Config{}) })
}

// TestAllListsExact checks that searching every list is exact, under every
// metric, on coarse values whose distances tie: the lists and the
// screening by float32 rank lose nothing.
func TestAllListsExact(t *testing.T) {
	data := indextest.Random(3000, 9, true, 1)
	for _, m := range indextest.Metrics {
		s := indextest.ForMetric(data, m)
		x := ivf.New(0, m, ivf.Config{NList: 24})
		ref := indextest.Fill(t, x, s)
		if x.Lists() != 24 {
			t.Fatalf("%s: %d lists, want 24", m, x.Lists())
		}
		if err := x.SetParam("nprobe", "24"); err != nil {
			t.Fatal(err)
		}
		indextest.SameAsExact(t, x, ref, s.Queries[:60], []int{1, 10, 100, 5000}, []float64{0, 0.3, 1})
	}
}

// TestRecallClustered checks the recall on clustered vectors as they are
// added, replaced and deleted, the quantiser training as the index grows.
func TestRecallClustered(t *testing.T) {
	s := indextest.Clustered(6000, 24, 40, 0.2, 2)
	x := ivf.New(0, index.Euclidean, ivf.Config{NProbe: 6})
	indextest.Operations(t, x, s, indextest.Consistent(t, x, s.Queries[:200], 0.9))
	if x.Lists() < 20 {
		t.Errorf("%d lists after training on %d vectors", x.Lists(), x.Len())
	}
}

func TestSaveLoad(t *testing.T) {
	for _, n := range []int{100, 3000} { // before and after the first training
		s := indextest.ForMetric(indextest.Clustered(n, 16, 10, 0.2, 3), indextest.Custom)
		x := ivf.New(0, indextest.Custom, ivf.Config{NProbe: 3})
		indextest.FillThinned(t, x, s)
		y := indextest.SaveLoad(t, x, s, indextest.Custom)
		if got := y.(*ivf.Index).Lists(); got != x.Lists() {
			t.Errorf("%d vectors: loaded %d lists, saved %d", n, got, x.Lists())
		}
	}
}

func TestConcurrent(t *testing.T) {
	indextest.Concurrent(t, ivf.New(0, index.Euclidean, ivf.Config{}), indextest.Clustered(1500, 8, 10, 0.2, 4))
}

func TestParams(t *testing.T) {
	indextest.Params(t, "ivf", [][2]string{{"nlist", "-1"}, {"iters", "x"}, {"seed", "-3"}},
		ivf.New(4, index.Euclidean, ivf.Config{}), [][2]string{{"nprobe", "0"}, {"nlist", "3"}, {"ef", "3"}})
	indextest.RefusesCustomMetric(t, "ivf")
}

func TestSweepDigits(t *testing.T) {
	s := indextest.Digits(t)
	rows := indextest.Sweep(t, ivf.Kind, index.Euclidean, s,
		[]map[string]string{{"nlist": "20"}, {"nlist": "40"}},
		indextest.Values("nprobe", 1, 2, 4, 8, 16))
	indextest.CheckSweep(t, rows, 0.99)
}

func TestSweepClustered(t *testing.T) {
	s := indextest.Clustered(20000, 64, 100, 0.6, 5)
	rows := indextest.Sweep(t, ivf.Kind, index.Euclidean, s,
		[]map[string]string{{"nlist": "0"}},
		indextest.Values("nprobe", 1, 2, 4, 8, 16, 32))
	indextest.CheckSweep(t, rows, 0.99)
}

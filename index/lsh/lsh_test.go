package lsh_test

import (
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/indextest"
	"github.com/ctrecon/ctrecon/index/lsh"
)

func mustNew(t testing.TB, m index.Metric, c lsh.Config) *lsh.Index {
	t.Helper()
	x, err := lsh.New(0, m, c)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// centred returns s moved by −1/2 along every axis, so that its clusters
// (in the unit cube) surround the origin: hyperplanes through the origin
// can part them.
func centred(s *indextest.Set) *indextest.Set {
	c := *s
	shift := func(vs [][]float32) [][]float32 {
		out := make([][]float32, len(vs))
		for i, v := range vs {
			out[i] = make([]float32, len(v))
			for j, x := range v {
				out[i][j] = x - 0.5
			}
		}
		return out
	}
	c.Base, c.Queries = shift(s.Base), shift(s.Queries)
	return &c
}

func TestInterface(t *testing.T) {
	indextest.Interface(t, func() index.Index { return mustNew(t, index.Euclidean, lsh.Config{}) })
	indextest.Interface(t, func() index.Index { return mustNew(t, index.Cosine, lsh.Config{}) })
}

// TestEveryBucketExact makes every vector reachable from every query and
// checks that the answers are then exact: random hyperplanes with probes
// enough for all 2⁴ buckets of a table, and p-stable functions whose width
// puts all the vectors in a bucket or its neighbours.
func TestEveryBucketExact(t *testing.T) {
	data := indextest.Random(3000, 9, true, 1)
	for _, c := range []struct {
		m   index.Metric
		cfg lsh.Config
	}{
		{index.Cosine, lsh.Config{Hashes: 4, Tables: 2, Probes: 15}},
		{index.Euclidean, lsh.Config{Hashes: 3, Tables: 2, Width: 1e6, Probes: 26}},
		{index.Manhattan, lsh.Config{Hashes: 3, Tables: 2, Width: 1e9, Probes: 26}},
		{index.Jaccard, lsh.Config{Family: lsh.Gaussian, Hashes: 3, Tables: 1, Width: 1e6, Probes: 26}},
	} {
		s := indextest.ForMetric(data, c.m)
		x := mustNew(t, c.m, c.cfg)
		ref := indextest.Fill(t, x, s)
		indextest.SameAsExact(t, x, ref, s.Queries[:60], []int{1, 10, 100, 5000}, []float64{0, 0.3, 1})
	}
}

// TestProbesRaiseRecall checks that multi-probe finds what the query's
// own buckets miss, for both kinds of family.
func TestProbesRaiseRecall(t *testing.T) {
	s := centred(indextest.Clustered(4000, 32, 20, 0.3, 6))
	for _, m := range []index.Metric{index.Euclidean, index.Cosine} {
		x := mustNew(t, m, lsh.Config{Tables: 4, Hashes: 12})
		ref := indextest.Fill(t, x, s)
		recall := map[int]float64{}
		for _, p := range []int{0, 8, 64} {
			x.SetParam("probes", []string{0: "0", 8: "8", 64: "64"}[p])
			recall[p] = indextest.Recall(x, ref, s.Queries, 10)
		}
		t.Logf("%s: recall@10 %v by probes", m, recall)
		if !(recall[0] < recall[8] && recall[8] < recall[64] && recall[64] > 0.9) {
			t.Errorf("%s: recall@10 by probes %v, want rising above 0.9", m, recall)
		}
	}
}

// TestRecallClustered checks the recall on clustered vectors as they are
// added, replaced and deleted, the width measured again as they grow.
// (With a cluster's few vectors among the ten nearest, the rest lie in
// other clusters, too far for any bucket: few clusters here.)
func TestRecallClustered(t *testing.T) {
	s := indextest.Clustered(6000, 24, 8, 0.2, 2)
	x := mustNew(t, index.Euclidean, lsh.Config{Tables: 10, Probes: 32})
	indextest.Operations(t, x, s, indextest.Consistent(t, x, s.Queries[:200], 0.9))
	if x.Width() == 0 {
		t.Error("no width measured")
	}
}

func TestSaveLoad(t *testing.T) {
	for _, n := range []int{100, 3000} { // before and after the width is measured
		for _, m := range []index.Metric{index.Euclidean, index.Cosine} {
			s := indextest.Clustered(n, 16, 10, 0.2, 3)
			x := mustNew(t, m, lsh.Config{})
			indextest.FillThinned(t, x, s)
			y := indextest.SaveLoad(t, x, s)
			if a, b := x.Width(), y.(*lsh.Index).Width(); a != b {
				t.Errorf("%s: loaded width %g, saved %g", m, b, a)
			}
		}
	}
}

func TestConcurrent(t *testing.T) {
	indextest.Concurrent(t, mustNew(t, index.Euclidean, lsh.Config{}), indextest.Clustered(1500, 8, 10, 0.2, 4))
}

func TestParams(t *testing.T) {
	indextest.Params(t, "lsh", [][2]string{{"family", "minhash"}, {"tables", "0"}, {"hashes", "65"}, {"width", "-1"}},
		mustNew(t, index.Euclidean, lsh.Config{}), [][2]string{{"probes", "-1"}, {"tables", "3"}})
	if _, err := lsh.New(4, index.Jaccard, lsh.Config{}); err == nil || !strings.Contains(err.Error(), "family") {
		t.Errorf("%s with the family its metric's: %v", index.Jaccard, err)
	}
	// a metric given as a function (DM) refused with every family, as ivf
	// and tree refuse it: its vectors mean nothing projected
	indextest.RefusesCustomMetric(t, "lsh", map[string]string{}, map[string]string{"family": "hyperplane"},
		map[string]string{"family": "gaussian", "width": "1"})
	for _, c := range []struct {
		m index.Metric
		f lsh.Family
	}{{index.Euclidean, lsh.Cauchy}, {index.Cosine, lsh.Gaussian}, {index.Manhattan, lsh.Gaussian}} {
		if _, err := lsh.New(4, c.m, lsh.Config{Family: c.f}); err == nil || !strings.Contains(err.Error(), "width") {
			t.Errorf("family %s under %s with the width measured: %v, want an error asking for a width", c.f, c.m, err)
		}
		if _, err := lsh.New(4, c.m, lsh.Config{Family: c.f, Width: 2}); err != nil {
			t.Errorf("family %s under %s with width 2: %v", c.f, c.m, err)
		}
	}
	// the way out offered works: family=auto where the metric has a family,
	// else hyperplane (family=auto is refused under Jaccard)
	for m, want := range map[index.Metric]lsh.Family{index.Euclidean: lsh.Auto, index.Jaccard: lsh.Hyperplane} {
		_, err := lsh.New(4, m, lsh.Config{Family: lsh.Cauchy})
		if err == nil || !strings.HasSuffix(err.Error(), "give width=W, or family="+string(want)) {
			t.Errorf("family cauchy under %s: %v, want family=%s offered", m, err, want)
		}
		if _, err := lsh.New(4, m, lsh.Config{Family: want}); err != nil {
			t.Errorf("family %s under %s, as offered: %v", want, m, err)
		}
	}
}

func TestSweepDigits(t *testing.T) {
	rows := indextest.Sweep(t, lsh.Kind, index.Euclidean, indextest.Digits(t),
		[]map[string]string{{"tables": "8", "hashes": "8"}, {"tables": "16", "hashes": "10"}},
		indextest.Values("probes", 0, 4, 16, 64, 256))
	indextest.CheckSweep(t, rows, 0.99)
}

func TestSweepClustered(t *testing.T) {
	s := centred(indextest.Clustered(20000, 64, 100, 0.6, 5))
	for _, m := range []index.Metric{index.Euclidean, index.Cosine} {
		rows := indextest.Sweep(t, lsh.Kind, m, s,
			[]map[string]string{{"tables": "16", "hashes": "12"}},
			indextest.Values("probes", 0, 4, 16, 64, 256))
		indextest.CheckSweep(t, rows, 0.99)
	}
}

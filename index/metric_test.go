package index

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestMetricValues(t *testing.T) {
	for _, c := range []struct {
		m    Metric
		a, b []float32
		want float64
	}{
		{Euclidean, []float32{1, 0, 0}, []float32{0, 1, 0}, math.Sqrt2},
		{Euclidean, []float32{3, 0}, []float32{0, 4}, 5},
		{Manhattan, []float32{1, -2, 3}, []float32{0, 1, 3}, 4},
		{Cosine, []float32{1, 0}, []float32{0, 2}, 1},
		{Cosine, []float32{1, 1}, []float32{2, 2}, 0},
		{Cosine, []float32{1, 0}, []float32{-3, 0}, 2},
		{Cosine, []float32{1, 0}, []float32{1, 1}, 1 - 1/math.Sqrt2},
		// sets {0, 1, 3} and {0, 2, 3}: |A∩B| = 2, |A∪B| = 4
		{Jaccard, []float32{1, 1, 0, 1}, []float32{1, 0, 1, 1}, 0.5},
		{Jaccard, []float32{0, 0}, []float32{0, 0}, 0},
		{Jaccard, []float32{2, 1}, []float32{1, 3}, 1 - 2.0/5},
	} {
		got := c.m.Distance(c.a, c.b)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s(%v, %v) = %v, want %v", c.m, c.a, c.b, got, c.want)
		}
		if r := c.m.RankFunc()(c.a, c.b); c.m != Euclidean && math.Abs(float64(r)-c.want) > 1e-6 ||
			c.m == Euclidean && math.Abs(float64(r)-c.want*c.want) > 1e-6 {
			t.Errorf("%s rank(%v, %v) = %v for distance %v", c.m, c.a, c.b, r, c.want)
		}
	}
	if (Metric{}).Name() != "euclidean" || (Metric{}).Distance([]float32{0}, []float32{2}) != 2 {
		t.Error("the zero Metric is not Euclidean")
	}
}

// TestRankAgreesWithDistance compares every metric's float32 rank (for any
// length and for the length at hand), on the
// vector kernels and on the plain Go loops, with its float64 distance for
// lengths around the kernels' strides of 8, 16 and 32.
func TestRankAgreesWithDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	eachKernel(func(vec bool) {
		for n := 1; n <= 140; n++ {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i], b[i] = float32(rng.Float64()*4), float32(rng.Float64()*4)
			}
			for _, m := range builtin {
				want := m.Distance(a, b)
				if m == Euclidean {
					want *= want
				}
				for name, rank := range map[string]func(a, b []float32) float32{"RankFunc": m.RankFunc(), "RankFuncFor": m.RankFuncFor(n)} {
					got := float64(rank(a, b))
					if math.Abs(got-want) > 1e-5*max(want, 1) {
						t.Fatalf("vector kernels %v, n %d: %s %s %v, want %v", vec, n, m, name, got, want)
					}
				}
			}
		}
	})
}

// eachKernel runs f with the plain Go loops (vec false) and, where the
// processor has them, the vector kernels (vec true), and leaves them as
// they were.
func eachKernel(f func(vec bool)) {
	defer setSIMD(simd)
	setSIMD(false)
	f(false)
	setSIMD(true)
	if simd {
		f(true)
	}
}

// TestDistanceFuncFor checks that DistanceFuncFor's distance is Distance's
// float64 to the bit, for each metric and lengths 1 to 40 (the short
// Euclidean loop below 16, the kernels from there), with the vector
// kernels and the plain Go loops.
func TestDistanceFuncFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	eachKernel(func(vec bool) {
		for n := 1; n <= 40; n++ {
			for _, m := range builtin {
				dist := m.DistanceFuncFor(n)
				for range 200 {
					a, b := make([]float32, n), make([]float32, n)
					for i := range a {
						a[i], b[i] = float32(rng.NormFloat64()*1e3), float32(rng.NormFloat64()*1e-3)
					}
					if got, want := dist(a, b), m.Distance(a, b); math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("vector kernels %v, n %d, %s: DistanceFuncFor gives %v, Distance %v", vec, n, m, got, want)
					}
				}
			}
		}
	})
}

// TestRanksFunc checks RanksFuncFor against each vector's RankFuncFor
// rank, and that against RankFunc's (the same float32, to the bit), and
// against the float64 distance,
// for lengths 1 to 140 (odd ones and those not a multiple of 8 included),
// on vectors at strides from the length to the length plus 9 in one
// array, with the vector kernels and the plain Go loops; and that an id
// whose vector reaches past the array panics, the last one that fits
// does not.
func TestRanksFunc(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	eachKernel(func(vec bool) {
		for n := 1; n <= 140; n++ {
			stride := n + rng.IntN(10)
			slots := 1 + rng.IntN(40)
			data := make([]float32, (slots-1)*stride+n)
			for i := range data {
				data[i] = float32(rng.Float64() * 4)
			}
			q := make([]float32, n)
			for i := range q {
				q[i] = float32(rng.Float64() * 4)
			}
			ids := make([]uint32, rng.IntN(33))
			if n <= 8 { // the short kernels, whose sum order a few vectors may not tell apart
				ids = make([]uint32, 2000)
			}
			for j := range ids {
				ids[j] = uint32(rng.IntN(slots))
			}
			for _, m := range builtin {
				out := make([]float32, len(ids)+1)
				out[len(ids)] = -1
				m.RanksFuncFor(n)(q, data, stride, ids, out)
				rank := m.RankFuncFor(n)
				for j, id := range ids {
					v := data[int(id)*stride : int(id)*stride+n]
					want := m.Distance(q, v)
					if m == Euclidean {
						want *= want
					}
					r := rank(q, v)
					if out[j] != r || math.Abs(float64(r)-want) > 1e-5*max(want, 1) {
						t.Fatalf("vector kernels %v, n %d, %s: rank %d is %v, want %v (float64 %v)", vec, n, m, j, out[j], r, want)
					}
					if any := m.RankFunc()(q, v); r != any {
						t.Fatalf("vector kernels %v, n %d, %s: RankFuncFor's rank %d is %v, RankFunc's %v", vec, n, m, j, r, any)
					}
				}
				if out[len(ids)] != -1 {
					t.Fatalf("vector kernels %v, n %d, %s: wrote past the ids", vec, n, m)
				}
				ranksPanics(t, m, q, data, stride, uint32(slots-1), false)
				ranksPanics(t, m, q, data, stride, uint32(slots), true)
			}
		}
	})
}

// ranksPanics checks whether RanksFuncFor's function panics on ids that
// end with last.
func ranksPanics(t *testing.T, m Metric, q, data []float32, stride int, last uint32, want bool) {
	t.Helper()
	defer func() {
		if got := recover() != nil; got != want {
			t.Fatalf("%s, n %d, stride %d, %d values: id %d panics %v, want %v", m, len(q), stride, len(data), last, got, want)
		}
	}()
	m.RanksFuncFor(len(q))(q, data, stride, []uint32{0, last}, make([]float32, 2))
}

// TestSqDistKernel compares sqDist's AVX2 kernel with its plain Go loop,
// and checks that with a bound it returns the full distance when that is
// within the bound and else a partial sum above the bound.
func TestSqDistKernel(t *testing.T) {
	if !simd {
		t.Skip("no AVX2")
	}
	defer setSIMD(true)
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 16; n <= 256; n += 16 {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		setSIMD(false)
		want := sqDist(a, b, math.Inf(1))
		setSIMD(true)
		got := sqDist(a, b, math.Inf(1))
		if math.Abs(got-want) > 1e-12*want {
			t.Fatalf("n %d: kernel %v, Go %v", n, got, want)
		}
		if d := sqDist(a, b, got); d != got {
			t.Errorf("n %d, bound the distance itself: %v, want %v", n, d, got)
		}
		if d := sqDist(a, b, got/2); !(d > got/2 && d <= got) {
			t.Errorf("n %d, bound half the distance: %v, want a partial sum in (%v, %v]", n, d, got/2, got)
		}
	}
}

// TestFinite checks that CheckValues refuses a NaN or an infinity at every
// place of vectors of 1 to 40 values (in the vector kernel's part and in
// the rest) and accepts the finite vectors, extremes included, with the
// vector kernels and the plain Go loops.
func TestFinite(t *testing.T) {
	eachKernel(func(vec bool) {
		for n := 1; n <= 40; n++ {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(i) - 20
			}
			v[0], v[n-1] = math.MaxFloat32, -math.MaxFloat32
			if err := CheckValues(v, Euclidean); err != nil {
				t.Fatalf("vector kernels %v, n %d: finite values refused: %v", vec, n, err)
			}
			for i := range v {
				for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
					was := v[i]
					v[i] = float32(bad)
					err := CheckValues(v, Euclidean)
					v[i] = was
					if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), fmt.Sprintf("value %d of %d", i+1, n)) {
						t.Fatalf("vector kernels %v, n %d, %v at %d: %v, want ErrValue naming it", vec, n, bad, i+1, err)
					}
				}
			}
		}
	})
}

func TestCheckVector(t *testing.T) {
	for _, c := range []struct {
		m    Metric
		v    []float32
		says string
	}{
		{Euclidean, []float32{1, float32(math.NaN())}, "value 2 of 2 is NaN"},
		{Manhattan, []float32{float32(math.Inf(1))}, "value 1 of 1 is +Inf"},
		{Euclidean, []float32{0, 1, 2, 3, 4, float32(math.NaN()), 6}, "value 6 of 7 is NaN"},
		{Cosine, []float32{1, 2, float32(math.Inf(-1)), 4, 5, 6, 7, 8, 9}, "value 3 of 9 is -Inf"},
		{Cosine, []float32{0, 0, 0}, "all values are 0"},
		{Jaccard, []float32{1, -0.5}, "value 2 of 2 is -0.5; the Jaccard metric takes non-negative values"},
	} {
		err := CheckVector("k", c.v, c.m)
		if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), `key "k"`) {
			t.Errorf("%s %v: %v, want ErrValue saying %q", c.m, c.v, err, c.says)
		}
	}
	for _, m := range builtin {
		if err := CheckVector("k", []float32{0, 1}, m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestMetricNamed(t *testing.T) {
	for name, want := range map[string]Metric{"euclidean": Euclidean, "l2": Euclidean, "l1": Manhattan,
		"manhattan": Manhattan, "cosine": Cosine, "jaccard": Jaccard} {
		if m, err := MetricNamed(name); err != nil || m != want {
			t.Errorf("MetricNamed(%q) = %v, %v", name, m, err)
		}
	}
	if _, err := MetricNamed("dm"); err == nil || !strings.Contains(err.Error(), "euclidean, manhattan, cosine, jaccard") {
		t.Errorf("unknown metric: %v", err)
	}
	dm := NewMetric("dm", func(a, b []float32) float64 { return math.Abs(float64(a[0] - b[0])) })
	if dm.Name() != "dm" || dm.Distance([]float32{1}, []float32{4}) != 3 || dm.RankFunc()([]float32{1}, []float32{4}) != 3 {
		t.Errorf("custom metric %v", dm)
	}
	for _, name := range []string{"", "l2", "cosine"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewMetric(%q) did not panic", name)
				}
			}()
			NewMetric(name, dm.Distance)
		}()
	}
}

func BenchmarkRank(b *testing.B) {
	have := simd
	defer setSIMD(have)
	for _, dim := range []int{64, 128} {
		rng := rand.New(rand.NewPCG(1, 1))
		x, y := make([]float32, dim), make([]float32, dim)
		for i := range x {
			x[i], y[i] = rng.Float32(), rng.Float32()
		}
		for _, m := range builtin {
			for _, vec := range []bool{false, true} {
				if vec && !have {
					continue
				}
				b.Run(fmt.Sprintf("%s/%d/simd=%v", m, dim, vec), func(b *testing.B) {
					setSIMD(vec)
					rank := m.RankFunc()
					var s float32
					for b.Loop() {
						s += rank(x, y)
					}
					sink = s
				})
			}
		}
	}
}

// BenchmarkDistance measures the float64 Euclidean distance that Exact
// ranks by and every index reports, on the AVX2 kernel and the Go loop.
func BenchmarkDistance(b *testing.B) {
	have := simd
	defer setSIMD(have)
	for _, dim := range []int{64, 128} {
		x, y := make([]float32, dim), make([]float32, dim)
		for i := range x {
			x[i], y[i] = float32(i), float32(dim-i)
		}
		for _, vec := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/simd=%v", dim, vec), func(b *testing.B) {
				setSIMD(vec && have)
				var s float64
				for b.Loop() {
					s += Euclidean.Distance(x, y)
				}
				sink = float32(s)
			})
		}
	}
}

var sink float32

// BenchmarkRanks measures Euclidean's RanksFunc as HNSW calls it: the
// vectors of 16 nodes of a graph of 108, at the stride of its layer-0
// blocks (1 + 32 + dim values), for the 4 values of a spectral signature
// and 64 of an HU histogram.
func BenchmarkRanks(b *testing.B) {
	for _, dim := range []int{4, 64} {
		stride := 1 + 32 + dim
		rng := rand.New(rand.NewPCG(1, 1))
		data := make([]float32, 108*stride)
		for i := range data {
			data[i] = rng.Float32()
		}
		ids := make([]uint32, 16)
		for i := range ids {
			ids[i] = uint32(rng.IntN(108))
		}
		q, out := data[:dim], make([]float32, len(ids))
		ranks := Euclidean.RanksFuncFor(dim)
		b.Run(strconv.Itoa(dim), func(b *testing.B) {
			for b.Loop() {
				ranks(q, data, stride, ids, out)
			}
		})
	}
}

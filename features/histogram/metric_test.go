package histogram

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tent is a histogram of 12 one-HU bins over [0, 12) whose densities rise
// linearly from bin 1 to a peak at bin 5 and fall linearly to 0 at bin 9:
// its curve has corners at 1.5, 5.5 and 9.5 HU and is straight between.
var (
	tentBinning = Binning{Bins: 12, MinHU: 0, MaxHU: 12}
	tent        = Histogram{Counts: []int64{0, 0, 1, 2, 3, 4, 3, 2, 1, 0, 0, 0}, N: 16}
)

func TestCurveTent(t *testing.T) {
	m, err := Curve(&tent, tentBinning)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{0, 0}, {0.5, 0}, {1.5, 0}, {2.5, 1. / 16}, {3.5, 2. / 16}, {4.5, 3. / 16}, {5.5, 4. / 16},
		{6.5, 3. / 16}, {7.5, 2. / 16}, {8.5, 1. / 16}, {9.5, 0}, {10.5, 0}, {11.5, 0}, {12, 0}}
	if !slices.Equal(m.Points, want) || m.Error != 0 {
		t.Errorf("curve %v (error %g), want %v", m.Points, m.Error, want)
	}
}

// TestReduceTent: with tolerance 0 the collinear points go, at no cost, and
// the corners stay; fewer buckets remove the corners of least area, worked
// out by hand: 1.5 HU's triangle with (0, 0) and (5.5, 1/4) has area 3/16, 9.5 HU's
// with (5.5, 1/4) and (12, 0) 5/16, and then the peak's with the two ends
// 12·(1/4)/2 = 3/2.
func TestReduceTent(t *testing.T) {
	for _, c := range []struct {
		maxBuckets int
		want       []Point
		err        float64
	}{
		{32, []Point{{0, 0}, {1.5, 0}, {5.5, 0.25}, {9.5, 0}, {12, 0}}, 0},
		{4, []Point{{0, 0}, {1.5, 0}, {5.5, 0.25}, {9.5, 0}, {12, 0}}, 0},
		{3, []Point{{0, 0}, {5.5, 0.25}, {9.5, 0}, {12, 0}}, 3. / 16},
		{2, []Point{{0, 0}, {5.5, 0.25}, {12, 0}}, 3./16 + 5./16},
		{1, []Point{{0, 0}, {12, 0}}, 3./16 + 5./16 + 3./2},
	} {
		m, err := Reduce(&tent, Settings{Binning: tentBinning, MaxBuckets: c.maxBuckets})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Points, c.want) || m.Error != c.err {
			t.Errorf("%d buckets: %v (error %g), want %v (error %g)", c.maxBuckets, m.Points, m.Error, c.want, c.err)
		}
		full, _ := Curve(&tent, tentBinning)
		if d := DM(&m, &full); d > m.Error+1e-15 {
			t.Errorf("%d buckets: DM to the curve %g exceeds the error bound %g", c.maxBuckets, d, m.Error)
		}
	}
}

// randomHistogram returns counts with a few peaks and empty stretches, like
// a CT slice's.
func randomHistogram(rng *rand.Rand, bins int) Histogram {
	h := Histogram{Counts: make([]int64, bins)}
	for range 1 + rng.IntN(4) {
		centre, width, height := rng.Float64()*float64(bins), 1+rng.Float64()*float64(bins)/8, 10+rng.Float64()*1000
		for i := range h.Counts {
			z := (float64(i) - centre) / width
			h.Counts[i] += int64(height * math.Exp(-z*z/2))
		}
	}
	h.Counts[rng.IntN(bins)]++ // never empty
	for _, k := range h.Counts {
		h.N += k
	}
	return h
}

// TestReduceRandom checks Reduce against a brute-force transcription of
// the elimination (every area recomputed at every step) and the bounds it
// documents, on random histograms and settings.
func TestReduceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 300 {
		b := Binning{Bins: 2 + rng.IntN(200), MinHU: -1000, MaxHU: -1000 + 100 + 3000*rng.Float64()}
		s := Settings{Binning: b, Tolerance: []float64{0, 1e-3, 0.01, 0.1}[rng.IntN(4)], MaxBuckets: 1 + rng.IntN(40)}
		h := randomHistogram(rng, b.Bins)
		m, err := Reduce(&h, s)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := Curve(&h, b)
		want, wantErr := bruteSimplify(full.Points, s.Tolerance, s.MaxBuckets+1)
		if !slices.Equal(m.Points, want) || math.Abs(m.Error-wantErr) > 1e-12 {
			t.Fatalf("%+v: %d points (error %g), brute force %d (error %g)", s, len(m.Points), m.Error, len(want), wantErr)
		}
		if m.Buckets() > s.MaxBuckets {
			t.Errorf("%+v: %d buckets", s, m.Buckets())
		}
		if m.Buckets() < s.MaxBuckets && m.Error > s.Tolerance {
			t.Errorf("%+v: error %g over the tolerance with %d buckets", s, m.Error, m.Buckets())
		}
		if d := DM(&m, &full); d > m.Error*(1+1e-12)+1e-15 {
			t.Errorf("%+v: DM to the curve %g exceeds the error bound %g", s, d, m.Error)
		}
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// bruteSimplify removes, one at a time, the interior point of least
// triangle area (ties: lowest HU), recomputing every area each time.
func bruteSimplify(pts []Point, tol float64, maxPoints int) ([]Point, float64) {
	pts = slices.Clone(pts)
	var removed float64
	for len(pts) > 2 {
		best, bestArea := -1, math.Inf(1)
		for i := 1; i+1 < len(pts); i++ {
			if a := triangle(pts[i-1], pts[i], pts[i+1]); a < bestArea {
				best, bestArea = i, a
			}
		}
		if len(pts) <= maxPoints && removed+bestArea > tol {
			break
		}
		removed += bestArea
		pts = slices.Delete(pts, best, best+1)
	}
	return pts, removed
}

// TestCurveArea checks that the curve encloses area 1 (its DM to the zero
// curve) whatever the binning, and that histograms of one distribution
// compare across sizes and binnings: counting every voxel twice changes
// nothing, and a finer binning of the same data stays close.
func TestCurveArea(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 100 {
		b := Binning{Bins: 1 + rng.IntN(100), MinHU: -1000, MaxHU: 2000}
		h := randomHistogram(rng, b.Bins)
		m, err := Curve(&h, b)
		if err != nil {
			t.Fatal(err)
		}
		zero := curveOf(b.MinHU, 0, b.MaxHU, 0)
		if a := DM(&m, zero); math.Abs(a-1) > 1e-12 {
			t.Errorf("%d bins: area %.15g, want 1", b.Bins, a)
		}
		double := Histogram{N: 2 * h.N}
		for _, k := range h.Counts {
			double.Counts = append(double.Counts, 2*k)
		}
		m2, _ := Curve(&double, b)
		if d := DM(&m, &m2); d != 0 {
			t.Errorf("%d bins: twice the voxels at DM %g", b.Bins, d)
		}
	}

	// Uniform HU over [-1000, 2000): 64 and 256 bins draw the same flat
	// curve (a constant histogram has exact shares).
	coarse, fine := Histogram{Counts: make([]int64, 64), N: 64 * 100}, Histogram{Counts: make([]int64, 256), N: 256 * 25}
	for i := range coarse.Counts {
		coarse.Counts[i] = 100
	}
	for i := range fine.Counts {
		fine.Counts[i] = 25
	}
	mc, _ := Reduce(&coarse, DefaultSettings())
	mf, _ := Reduce(&fine, Settings{Binning: Binning{Bins: 256, MinHU: -1000, MaxHU: 2000}, Tolerance: 0.01, MaxBuckets: 32})
	if d := DM(&mc, &mf); d > 1e-15 || mc.Buckets() != 1 || mf.Buckets() != 1 {
		t.Errorf("uniform: 64 and 256 bins at DM %g, with %d and %d buckets, want 0 with 1", d, mc.Buckets(), mf.Buckets())
	}
}

func TestReduceErrors(t *testing.T) {
	good := DefaultSettings()
	h := Histogram{Counts: make([]int64, HUBins)}
	h.Counts[3], h.N = 5, 5
	for _, c := range []struct {
		name   string
		h      Histogram
		s      Settings
		target error
		says   string
	}{
		{"empty", Histogram{Counts: make([]int64, HUBins)}, good, ErrEmpty, "no voxel"},
		{"bins", Histogram{Counts: make([]int64, 3), N: 1}, good, ErrInput, "3 bins, its binning 64"},
		{"tolerance", h, Settings{Binning: HU, Tolerance: -1, MaxBuckets: 3}, ErrInput, "tolerance -1"},
		{"tolerance NaN", h, Settings{Binning: HU, Tolerance: math.NaN(), MaxBuckets: 3}, ErrInput, "tolerance NaN"},
		{"buckets", h, Settings{Binning: HU, MaxBuckets: 0}, ErrInput, "max_buckets 0"},
		{"binning", h, Settings{Binning: Binning{Bins: 64, MinHU: 5, MaxHU: 5}, MaxBuckets: 3}, ErrInput, "empty"},
	} {
		if _, err := Reduce(&c.h, c.s); !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want %v saying %q", c.name, err, c.target, c.says)
		}
	}
}

func TestMetricValidate(t *testing.T) {
	for _, c := range []struct {
		m    *Metric
		says string
	}{
		{curveOf(0, 1), "1 points"},
		{curveOf(0, 1, 0, 1), "point 1 at 0 HU"},
		{curveOf(0, 1, math.NaN(), 1), "point 1 at NaN HU"},
		{curveOf(0, -1, 1, 1), "point 0 has density -1"},
		{curveOf(0, 1, 1, math.Inf(1)), "point 1 has density +Inf"},
		{&Metric{Points: curveOf(0, 1, 1, 1).Points, Error: math.NaN()}, "error NaN"},
	} {
		if err := c.m.Validate(); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: err = %v, want ErrInput saying %q", c.m.Points, err, c.says)
		}
	}
}

package sinogram

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Noisy line integrals are unbiased to first order and have the variance
// 1/(i0·e^-p) that Poisson counting predicts, for low and high counts
// (both branches of the sampler).
func TestAddPoissonNoiseStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, tc := range []struct{ i0, p float64 }{{1e5, 2}, {2000, 1}, {300, 0.5}} {
		const n = 200000
		img := make([]float32, n)
		for i := range img {
			img[i] = float32(tc.p)
		}
		if err := AddPoissonNoise(img, tc.i0, rng); err != nil {
			t.Fatal(err)
		}
		var sum, sq float64
		for _, v := range img {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean := sum / n
		variance := sq/n - mean*mean
		want := 1 / (tc.i0 * math.Exp(-tc.p))
		t.Logf("i0 %g p %g: mean %.5f, variance %.3g (predicted %.3g)", tc.i0, tc.p, mean, variance, want)
		if math.Abs(mean-tc.p) > 5*math.Sqrt(want) {
			t.Errorf("mean %g, want %g", mean, tc.p)
		}
		if math.Abs(variance/want-1) > 0.05 {
			t.Errorf("variance %g, want %g", variance, want)
		}
	}
	if err := AddPoissonNoise(make([]float32, 3), 0, rng); err == nil {
		t.Error("zero open-beam counts accepted")
	}
}

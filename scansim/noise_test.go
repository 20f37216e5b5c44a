package scansim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Noisy line integrals have the mean and variance Poisson counting predicts,
// for low and high counts (both branches of the sampler). With λ = i0·e^-p
// counts and δ = n/λ - 1, -log(n/i0) = p - δ + δ²/2 - δ³/3 + ..., so
// (Poisson moments) the mean is p + 1/(2λ) and the variance 1/λ + 1.5/λ²,
// up to O(1/λ³). The sample mean is held to five standard errors of the
// mean, sqrt(variance/n), not of one sample; the sample variance to five of
// its own standard errors, sqrt(2/n) relative, plus the 1.1/λ relative by
// which the normal-approximation branch's second-order term (rounding adds
// 1/12 count², and its third moment is zero) differs.
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
		lambda := tc.i0 * math.Exp(-tc.p)
		wantMean, wantVar := tc.p+1/(2*lambda), 1/lambda+1.5/(lambda*lambda)
		meanTol := 5*math.Sqrt(wantVar/n) + 1/(lambda*lambda)
		varTol := 5*math.Sqrt(2.0/n) + 1.1/lambda
		t.Logf("i0 %g p %g (λ %.0f): mean %.6f (predicted %.6f ± %.1e), variance %.4g (predicted %.4g ± %.2f %%)",
			tc.i0, tc.p, lambda, mean, wantMean, meanTol, variance, wantVar, 100*varTol)
		if !(math.Abs(mean-wantMean) <= meanTol) {
			t.Errorf("mean %.6f, want %.6f ± %.1e", mean, wantMean, meanTol)
		}
		if !(math.Abs(variance/wantVar-1) <= varTol) {
			t.Errorf("variance %.4g, want %.4g ± %.2f %%", variance, wantVar, 100*varTol)
		}
	}
	if err := AddPoissonNoise(make([]float32, 3), 0, rng); err == nil {
		t.Error("zero open-beam counts accepted")
	}
}

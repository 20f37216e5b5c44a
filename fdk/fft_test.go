package fdk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The FFT agrees with a direct O(n²) DFT, and its inverse returns n times
// the input, for every power of two up to 256.
func TestFFTMatchesDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for n := 2; n <= 256; n *= 2 {
		re, im := make([]float64, n), make([]float64, n)
		for i := range re {
			re[i], im[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		wantRe, wantIm := make([]float64, n), make([]float64, n)
		for k := range n {
			for j := range n {
				s, c := math.Sincos(-2 * math.Pi * float64(j*k) / float64(n))
				wantRe[k] += re[j]*c - im[j]*s
				wantIm[k] += re[j]*s + im[j]*c
			}
		}
		gotRe, gotIm := append([]float64(nil), re...), append([]float64(nil), im...)
		f := newFFT(n)
		f.transform(gotRe, gotIm, false)
		const tol = 1e-9
		for k := range n {
			if math.Abs(gotRe[k]-wantRe[k]) > tol*float64(n) || math.Abs(gotIm[k]-wantIm[k]) > tol*float64(n) {
				t.Fatalf("n=%d k=%d: got %g%+gi, want %g%+gi", n, k, gotRe[k], gotIm[k], wantRe[k], wantIm[k])
			}
		}
		f.transform(gotRe, gotIm, true)
		for j := range n {
			if math.Abs(gotRe[j]/float64(n)-re[j]) > 1e-12 || math.Abs(gotIm[j]/float64(n)-im[j]) > 1e-12 {
				t.Fatalf("n=%d: inverse does not return the input at %d", n, j)
			}
		}
	}
}

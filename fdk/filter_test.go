package fdk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// FilterRows equals the direct convolution Q(n) = τ Σ_k h(n-k) p(k) with
// Kak and Slaney's spatial ramp, for rows of several lengths, odd and
// even, so padding, scale and the pairing of rows in one complex FFT are
// all right (three rows: the last goes through with a zero partner).
func TestRampFilterMatchesDirectConvolution(t *testing.T) {
	filterTest(t, 41, func(t *testing.T, rng *rand.Rand, check checkFunc) {
		const tau = 0.7
		h := func(n int) float64 {
			switch {
			case n == 0:
				return 1 / (4 * tau * tau)
			case n%2 == 0:
				return 0
			}
			return -1 / (float64(n*n) * math.Pi * math.Pi * tau * tau)
		}
		for _, cols := range []int{2, 7, 37, 64, 1248} {
			f, err := NewRampFilter(cols, tau, RamLak, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			img := randomRows(rng, cols, 3, 0, 0)
			want := convolve(img, cols, func(d int) float64 { return tau * h(d) })
			f.FilterRows(img, cols)
			check(fmt.Sprintf("cols %d", cols), img, want)
		}
	})
}

// FilterRows equals the direct convolution with the taps of its own
// response, computed directly (g(d) = Σ_k H(k) cos(2πkd/n), H real and
// even), for every window and several cut-offs and paddings, rows of odd
// and even lengths, and rows widened with zeros on the left or right as a
// displaced detector's are: the convolution's tails, which fall on the
// zeros, are compared too.
func TestRampFilterMatchesTaps(t *testing.T) {
	filterTest(t, 43, func(t *testing.T, rng *rand.Rand, check checkFunc) {
		for i, cols := range []int{6, 7, 37, 100, 257} {
			pad := []float64{2, 2.5, 3}[i%3]
			for win := RamLak; win <= Hann; win++ {
				for _, cutoff := range []float64{1, 0.8, 0.5} {
					f, err := NewRampFilter(cols, 0.4, win, cutoff, pad)
					if err != nil {
						t.Fatal(err)
					}
					img := randomRows(rng, cols, 5, cols/3, cols/4)
					want := convolve(img, cols, responseTaps(f.Response()))
					f.FilterRows(img, cols)
					name := fmt.Sprintf("cols %d, pad %g, %s, cut-off %g", cols, pad, win, cutoff)
					check(name, img, want)
				}
			}
		}
	})
}

// bothPaths runs test with the Go FFT stages and, where the processor has
// AVX2 and FMA, with the vector ones.
func bothPaths(t *testing.T, test func(t *testing.T)) {
	vector := haveAVX2
	defer func() { haveAVX2 = vector }()
	for _, haveAVX2 = range []bool{false, vector} {
		t.Run(fmt.Sprintf("AVX2=%v", haveAVX2), test)
	}
}

// randomRows returns rows of cols normal samples; row 1 has its first
// left samples zero and row 2 its last right ones, as a detector widened
// to the left or the right.
func randomRows(rng *rand.Rand, cols, rows, left, right int) []float32 {
	img := make([]float32, cols*rows)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	if rows > 2 {
		clear(img[cols : cols+left])
		clear(img[3*cols-right : 3*cols])
	}
	return img
}

// convolve returns the linear convolution of each row of img with the taps
// g(d), d in (-cols, cols), in float64.
func convolve(img []float32, cols int, g func(d int) float64) []float64 {
	taps := make([]float64, 2*cols-1)
	for d := range taps {
		taps[d] = g(d - cols + 1)
	}
	out := make([]float64, len(img))
	for r := 0; r < len(img); r += cols {
		for n := range cols {
			for k, v := range img[r : r+cols] {
				out[r+n] += taps[n-k+cols-1] * float64(v)
			}
		}
	}
	return out
}

// responseTaps returns the spatial kernel of the real, even response h of
// length n: g(d) = Σ_k h(k) cos(2πkd/n), periodic in d.
func responseTaps(h []float64) func(d int) float64 {
	n := len(h)
	cos := make([]float64, n)
	for j := range cos {
		cos[j] = math.Cos(2 * math.Pi * float64(j) / float64(n))
	}
	return func(d int) float64 {
		d = (d%n + n) % n
		var sum float64
		for k, v := range h {
			sum += v * cos[k*d%n]
		}
		return sum
	}
}

// checkFunc compares filtered rows, got, with a float64 reference.
type checkFunc func(name string, got []float32, want []float64)

// filterTest runs test on both FFT paths (see bothPaths) with a random
// source seeded by seed, and a check that fails t when a filtered sample
// differs from the reference by more than rampTol relative to
// 1 + |reference|; it logs the worst such error.
func filterTest(t *testing.T, seed uint64, test func(t *testing.T, rng *rand.Rand, check checkFunc)) {
	bothPaths(t, func(t *testing.T) {
		worst := 0.0
		defer func() { t.Logf("worst |error|/(1+|want|) %.3g (bound %.0e)", worst, rampTol) }()
		test(t, rand.New(rand.NewPCG(seed, seed+1)), func(name string, got []float32, want []float64) {
			t.Helper()
			for i := range got {
				e := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
				worst = max(worst, e)
				if !(e <= rampTol) {
					t.Fatalf("%s: sample %d = %g, want %g", name, i, got[i], want[i])
				}
			}
		})
	})
}

// rampTol bounds the float32 ramp filter's error against the float64
// direct convolution, relative to 1 + |reference|: measured up to 3.7e-8,
// the rounding of the float32 result; the bound is about three float32
// ulps.
const rampTol = 2e-7

// filterPair, which filters two real rows as one complex row, gives for
// each row what the complex FFT gives for that row alone: transform of
// the zero-padded row, times the response, inverse (by swapping the parts
// around the forward transform, as TestFFTMatchesDFT checks).
func TestFilterPairMatchesComplexFFT(t *testing.T) {
	filterTest(t, 45, func(t *testing.T, rng *rand.Rand, check checkFunc) {
		for _, cols := range []int{2, 7, 37, 512, 1248} {
			f, err := NewRampFilter(cols, 0.3, SheppLogan, 0.9, 2)
			if err != nil {
				t.Fatal(err)
			}
			img := randomRows(rng, cols, 2, 0, 0)
			n := f.PaddedLength()
			want := make([]float64, 0, len(img))
			for r := range 2 {
				x := make([]complex128, n)
				for i, v := range img[r*cols : (r+1)*cols] {
					x[i] = complex(float64(v), 0)
				}
				x = f.fft.transform(x, make([]complex128, n))
				for k := range x {
					x[k] = swap(x[k] * complex(f.Response()[k], 0))
				}
				x = f.fft.transform(x, make([]complex128, n))
				for _, v := range x[:cols] {
					want = append(want, real(swap(v)))
				}
			}
			f.fft.filterPair(img[:cols], img[cols:], f.Response(), f.x, f.y)
			check(fmt.Sprintf("cols %d", cols), img, want)
		}
	})
}

// The response follows the continuous ramp |ν| at low frequencies, each
// window's gain at half the cut-off, and nothing passes above the cut-off.
func TestRampFilterResponse(t *testing.T) {
	const cols, tau = 256, 0.5
	gains := map[Window]float64{RamLak: 1, SheppLogan: math.Sin(math.Pi/4) / (math.Pi / 4),
		Cosine: math.Cos(math.Pi / 4), Hamming: 0.54, Hann: 0.5}
	for win, gain := range gains {
		f, err := NewRampFilter(cols, tau, win, 0.8, 2)
		if err != nil {
			t.Fatal(err)
		}
		n := f.PaddedLength()
		resp := f.Response()
		scale := float64(n)            // undo the 1/n of the inverse FFT; τ·Σh(n)e^(-2πikn/N) is |ν|
		k := int(0.4 * float64(n) / 2) // half the cut-off
		nu := float64(k) / (float64(n) * tau)
		got := resp[k] * scale
		t.Logf("%s: response at half the cut-off %.6g, ideal %.6g (%+.3f %%)", win, got, nu*gain, 100*(got/(nu*gain)-1))
		if math.Abs(got/(nu*gain)-1) > 0.02 {
			t.Errorf("%s: response at half the cut-off %g, want %g", win, got, nu*gain)
		}
		if math.Abs(resp[n-k]-resp[k]) > 1e-12*math.Abs(resp[k]) {
			t.Errorf("%s: response is not even", win)
		}
		for k := int(0.81*float64(n)/2) + 1; k <= n/2; k++ {
			if resp[k] != 0 {
				t.Fatalf("%s: response %g above the cut-off at %d", win, resp[k], k)
			}
		}
	}
	if _, err := ParseWindow("gauss"); err == nil {
		t.Error("unknown window accepted")
	}
	if _, err := NewRampFilter(64, 1, Hann, 1.5, 2); err == nil {
		t.Error("cut-off 1.5 accepted")
	}
	if _, err := NewRampFilter(64, 1, Hann, 1, 1); err == nil {
		t.Error("padding 1 accepted")
	}
}

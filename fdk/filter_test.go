package fdk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FilterRows equals the direct convolution Q(n) = τ Σ_k h(n-k) p(k) with
// Kak and Slaney's spatial ramp, for rows of several lengths, so padding,
// scale and the pairing of rows in one complex FFT are all right.
func TestRampFilterMatchesDirectConvolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	h := func(n int, tau float64) float64 {
		switch {
		case n == 0:
			return 1 / (4 * tau * tau)
		case n%2 == 0:
			return 0
		}
		return -1 / (float64(n*n) * math.Pi * math.Pi * tau * tau)
	}
	worst := 0.0
	defer func() { t.Logf("worst |error|/(1+|want|) %.3g (bound %.0e)", worst, rampTol) }()
	for _, cols := range []int{2, 7, 37, 64} {
		const rows, tau = 3, 0.7
		f, err := NewRampFilter(cols, tau, RamLak, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		img := make([]float32, cols*rows)
		for i := range img {
			img[i] = float32(rng.NormFloat64())
		}
		want := make([]float64, len(img))
		for r := range rows {
			for n := range cols {
				for k := range cols {
					want[r*cols+n] += tau * h(n-k, tau) * float64(img[r*cols+k])
				}
			}
		}
		f.FilterRows(img, cols)
		for i := range img {
			e := math.Abs(float64(img[i])-want[i]) / (1 + math.Abs(want[i]))
			worst = max(worst, e)
			if !(e <= rampTol) {
				t.Fatalf("cols %d: sample %d = %g, want %g", cols, i, img[i], want[i])
			}
		}
	}
}

// rampTol bounds the float32 ramp filter's error against the float64
// direct convolution, relative to 1 + |reference|: measured 2.6e-8, the
// rounding of the float32 result; the bound is about three float32 ulps.
const rampTol = 2e-7

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

package fdk

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// fftTol bounds the FFT's largest error against the direct DFT, relative
// to the input's L2 norm (by Parseval the size of a typical output):
// measured up to 2.1e-15 for the lengths below; about five times that.
const fftTol = 1e-14

// fftLengths are the lengths the tests transform: every radix alone and
// mixed (2, 3, 4, 5 in each position), the factor order of multiples of 4
// (2, the radices of n/4, 2), and the lengths the ramp filter chooses for
// RabbitCT's 1248 columns (2500 = 2²·5⁴), for the 512-column benchmark
// (1024), and neighbours with other radices (2560 = 2⁹·5, 2592 = 2⁵·3⁴,
// 2400 = 2⁵·3·5², 1536 = 2⁹·3).
var fftLengths = []int{1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 20, 24, 25, 27, 30, 32, 36, 40, 45, 48, 50, 60,
	64, 75, 80, 81, 90, 100, 108, 120, 125, 128, 144, 150, 180, 200, 240, 250, 256, 300, 320, 360, 400, 500,
	1024, 1536, 2400, 2500, 2560, 2592}

// dft returns the direct O(n²) discrete Fourier transform of x, with the
// exponentials from a table indexed by jk mod n so that their arguments
// are exact, and compensated sums: a plain sum of 2500 terms rounds more
// than the FFT does.
func dft(x []complex128) []complex128 {
	n := len(x)
	e := make([]complex128, n)
	for j := range e {
		e[j] = cmplx.Rect(1, -2*math.Pi*float64(j)/float64(n))
	}
	out := make([]complex128, n)
	for k := range out {
		var re, im kahan
		for j, v := range x {
			p := v * e[j*k%n]
			re.add(real(p))
			im.add(imag(p))
		}
		out[k] = complex(re.sum+re.c, im.sum+im.c)
	}
	return out
}

// kahan is Neumaier's compensated sum: sum + c.
type kahan struct{ sum, c float64 }

func (k *kahan) add(v float64) {
	t := k.sum + v
	if math.Abs(k.sum) >= math.Abs(v) {
		k.c += (k.sum - t) + v
	} else {
		k.c += (v - t) + k.sum
	}
	k.sum = t
}

func randomComplex(n int, rng *rand.Rand) []complex128 {
	x := make([]complex128, n)
	for i := range x {
		x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
	}
	return x
}

func norm(x []complex128) float64 {
	var s float64
	for _, v := range x {
		s += real(v)*real(v) + imag(v)*imag(v)
	}
	return math.Sqrt(s)
}

// The FFT agrees with a direct O(n²) DFT for every length in fftLengths,
// and swapping the real and imaginary parts on the way in and out of it
// gives n times the inverse (filterPair's inverse): applied to a
// transform, it returns n times the input. Both the Go stages and, where
// the processor has them, the AVX2 ones.
func TestFFTMatchesDFT(t *testing.T) { bothPaths(t, testFFTMatchesDFT) }

func testFFTMatchesDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	worstF, worstI := 0.0, 0.0
	defer func() {
		t.Logf("worst |error|/‖x‖: forward %.3g, inverse %.3g (bound %.0e)", worstF, worstI, fftTol)
	}()
	for _, n := range fftLengths {
		x := randomComplex(n, rng)
		want := dft(x)
		f := newFFT(n)
		got := f.transform(append([]complex128(nil), x...), make([]complex128, n))
		scale := norm(x)
		for k := range n {
			e := cmplx.Abs(got[k]-want[k]) / scale
			worstF = max(worstF, e)
			if !(e <= fftTol) {
				t.Fatalf("n=%d (radices %v) k=%d: got %g, want %g", n, radices(f), k, got[k], want[k])
			}
		}
		for k := range got {
			got[k] = swap(got[k])
		}
		back := f.transform(got, make([]complex128, n))
		for j := range n {
			e := cmplx.Abs(swap(back[j])/complex(float64(n), 0)-x[j]) / scale
			worstI = max(worstI, e)
			if !(e <= fftTol) {
				t.Fatalf("n=%d: the swapped transform does not invert at %d: %g, want %g", n, j, swap(back[j])/complex(float64(n), 0), x[j])
			}
		}
	}
}

func radices(f *fft) []int {
	var out []int
	for _, st := range f.stages {
		out = append(out, st.p)
	}
	return out
}

// fftLength is the smallest multiple of 4 from its argument up whose
// quarter has no prime factor above 5 (checked by trial division against
// every smaller multiple of 4), and multiples of 4 factor with radix 2 at
// both ends, as filterPair needs.
func TestFFTLength(t *testing.T) {
	prime5 := func(n int) bool { // no prime factor above 5, by trial division
		largest := 1
		for d := 2; d*d <= n; d++ {
			for n%d == 0 {
				largest, n = d, n/d
			}
		}
		return max(largest, n) <= 5
	}
	if got := fftLength(2 * 1248); got != 2500 {
		t.Errorf("fftLength(2496) = %d, want 2500", got)
	}
	for least := 1; least <= 3000; least++ {
		n := fftLength(least)
		if n < least || n%4 != 0 || !prime5(n/4) {
			t.Fatalf("fftLength(%d) = %d", least, n)
		}
		for m := (least + 3) / 4 * 4; m < n; m += 4 {
			if prime5(m / 4) {
				t.Fatalf("fftLength(%d) = %d, but %d will do", least, n, m)
			}
		}
		if r := radices(newFFT(n)); r[0] != 2 || r[len(r)-1] != 2 {
			t.Fatalf("length %d factored as %v", n, r)
		}
	}
}

package radiomics

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// TestFFTAgainstDFT compares the mixed-radix FFT with the direct sum for
// lengths made of every radix.
func TestFFTAgainstDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 4, 5, 6, 8, 9, 12, 15, 16, 25, 30, 60, 100, 120} {
		in := make([]complex128, n)
		for k := range in {
			in[k] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		out := make([]complex128, n)
		newFFTPlan(n).forward(out, in)
		for k := range n {
			var want complex128
			for j, x := range in {
				want += x * cmplx.Rect(1, -2*math.Pi*float64(j*k)/float64(n))
			}
			if cmplx.Abs(out[k]-want) > 1e-9*math.Sqrt(float64(n)) {
				t.Fatalf("n %d, bin %d: %v, want %v", n, k, out[k], want)
			}
		}
	}
	if got := fftSize(97); got != 100 {
		t.Errorf("fftSize(97) = %d, want 100", got)
	}
}

// TestAutocorrelationAgainstPairs compares the FFT sums of Moran's I and
// Geary's C with the direct sums over every pair of voxels, on a random
// ROI in an anisotropic grid.
func TestAutocorrelationAgainstPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := Grid{Size: [3]int{9, 7, 5}, Spacing: [3]float64{0.8, 1.1, 3}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for k := range img.Data {
		img.Data[k] = math.Round(100 * rng.NormFloat64())
		mask.Data[k] = rng.Float64() < 0.6
	}
	r, err := prepare(img, mask, nil, MustPreset("ibsi-phantom"))
	if err != nil {
		t.Fatal(err)
	}
	moran, geary := r.autocorrelation()
	var idx []int
	for n, in := range r.inten {
		if in {
			idx = append(idx, n)
		}
	}
	var mean float64
	for _, n := range idx {
		mean += r.x[n] / float64(len(idx))
	}
	var sumW, cross, diff2, dev2 float64
	for _, a := range idx {
		dev2 += sq(r.x[a] - mean)
		for _, b := range idx {
			if a != b {
				w := 1 / norm(sub(r.position(a), r.position(b)))
				sumW += w
				cross += w * (r.x[a] - mean) * (r.x[b] - mean)
				diff2 += w * sq(r.x[a]-r.x[b])
			}
		}
	}
	nv := float64(len(idx))
	wantMoran := nv / sumW * cross / dev2
	wantGeary := (nv - 1) / (2 * sumW) * diff2 / dev2
	if math.Abs(moran-wantMoran) > 1e-9 || math.Abs(geary-wantGeary) > 1e-9 {
		t.Errorf("Moran's I %v, Geary's C %v; pairs give %v, %v", moran, geary, wantMoran, wantGeary)
	}
}

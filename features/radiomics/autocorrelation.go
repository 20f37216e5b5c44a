package radiomics

import "math"

// autocorrelation returns Moran's I and Geary's C of the intensity mask's
// intensities, with weights w the inverse Euclidean distance (mm) between
// voxel centres (IBSI N365, NPT7).
//
// Both are sums over all pairs of voxels, O(N²): 10¹⁰ pairs for a tumour
// at CT resolution. With a the intensities less their mean and m the mask
// (both 0 outside), the sums are Σ w = Σ m (w∗m), Σ w a₁a₂ = Σ a (w∗a)
// and Σ w (a₁ − a₂)² = 2 Σ a² (w∗m) − 2 Σ a (w∗a), with ∗ the convolution
// (w(0) = 0 leaves out each voxel's pair with itself). Both convolutions
// are one FFT product: w is real and even, so its transform W is real and
// w ∗ (a + i·m) = w∗a + i·w∗m. The arrays are padded to avoid wrap-around.
func (r *roi) autocorrelation() (moran, geary float64) {
	nv := float64(len(r.values))
	if nv < 2 {
		return math.NaN(), math.NaN()
	}
	mean := 0.0
	for _, v := range r.values {
		mean += v
	}
	mean /= nv
	var dims [3]int
	for a := range 3 {
		dims[a] = fftSize(2*r.Size[a] - 1)
	}
	at := func(i, j, k int) int { return i + dims[0]*(j+dims[1]*k) }
	buf := make([]complex128, dims[0]*dims[1]*dims[2])
	// The kernel, offsets wrapped around the padded array.
	for k := -(r.Size[2] - 1); k < r.Size[2]; k++ {
		for j := -(r.Size[1] - 1); j < r.Size[1]; j++ {
			for i := -(r.Size[0] - 1); i < r.Size[0]; i++ {
				d := math.Sqrt(sq(float64(i)*r.Spacing[0]) + sq(float64(j)*r.Spacing[1]) + sq(float64(k)*r.Spacing[2]))
				if d > 0 {
					buf[at((i+dims[0])%dims[0], (j+dims[1])%dims[1], (k+dims[2])%dims[2])] = complex(1/d, 0)
				}
			}
		}
	}
	fft3(buf, dims, false)
	w := make([]float64, len(buf))
	for k, v := range buf {
		w[k] = real(v)
	}
	clear(buf)
	var dev2 float64
	for n, in := range r.inten {
		if in {
			i, j, k := r.coords(n)
			a := r.x[n] - mean
			buf[at(i, j, k)] = complex(a, 1)
			dev2 += a * a
		}
	}
	fft3(buf, dims, false)
	for k := range buf {
		buf[k] *= complex(w[k], 0)
	}
	fft3(buf, dims, true)
	var sumW, cross, spread float64
	for n, in := range r.inten {
		if in {
			i, j, k := r.coords(n)
			c := buf[at(i, j, k)]
			a := r.x[n] - mean
			sumW += imag(c)
			cross += a * real(c)
			spread += a * a * imag(c)
		}
	}
	diff2 := 2*spread - 2*cross
	return nv / sumW * cross / dev2, (nv - 1) / (2 * sumW) * diff2 / dev2
}

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
	var dev2 float64
	for n, in := range r.inten {
		if in {
			i, j, k := r.coords(n)
			a := r.x[n] - mean
			buf[at(i, j, k)] = complex(a, 1)
			dev2 += a * a
		}
	}
	fft3(buf, dims, r.Size, false)
	w, half := inverseDistanceSpectrum(r.Size, r.Spacing, dims)
	for k := range dims[2] {
		kk := min(k, dims[2]-k)
		for j := range dims[1] {
			jj := min(j, dims[1]-j)
			for i := range dims[0] {
				buf[at(i, j, k)] *= complex(w[min(i, dims[0]-i)+half[0]*(jj+half[1]*kk)], 0)
			}
		}
	}
	fft3(buf, dims, r.Size, true)
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

// inverseDistanceSpectrum returns the discrete Fourier transform, on an
// array of size dims, of the kernel w(d) = 1/|d| (mm; w(0) = 0) over the
// offsets d of a box of size n with that spacing. The kernel is even along
// each axis, so its transform is the product of cosine sums, computed axis
// by axis, and is even too: it is returned for frequencies 0..dims/2 along
// each axis (sizes half), for frequency k read at min(k, dims − k).
func inverseDistanceSpectrum(n [3]int, spacing [3]float64, dims [3]int) ([]float64, [3]int) {
	var half [3]int
	for a := range 3 {
		half[a] = dims[a]/2 + 1
	}
	// cosines[a][k*n[a]+d] = c(d)·cos(2πkd/dims[a]), c(0) = 1, c(d > 0) = 2:
	// the two offsets ±d of the even kernel.
	var cosines [3][]float64
	for a := range 3 {
		cosines[a] = make([]float64, half[a]*n[a])
		for k := range half[a] {
			for d := range n[a] {
				c := 2 * math.Cos(2*math.Pi*float64(k*d)/float64(dims[a]))
				if d == 0 {
					c = 1
				}
				cosines[a][k*n[a]+d] = c
			}
		}
	}
	// Kernel over non-negative offsets, then one axis at a time: the
	// array's shape turns from offsets to frequencies along x, y, z.
	size := n
	cur := make([]float64, n[0]*n[1]*n[2])
	for k := range n[2] {
		for j := range n[1] {
			for i := range n[0] {
				if d := math.Sqrt(sq(float64(i)*spacing[0]) + sq(float64(j)*spacing[1]) + sq(float64(k)*spacing[2])); d > 0 {
					cur[i+n[0]*(j+n[1]*k)] = 1 / d
				}
			}
		}
	}
	for a := range 3 {
		out := size
		out[a] = half[a]
		next := make([]float64, out[0]*out[1]*out[2])
		stride := [3]int{1, size[0], size[0] * size[1]}
		ostride := [3]int{1, out[0], out[0] * out[1]}
		b, c := (a+1)%3, (a+2)%3
		for y := range size[c] {
			for x := range size[b] {
				base, obase := x*stride[b]+y*stride[c], x*ostride[b]+y*ostride[c]
				for f := range half[a] {
					cs := cosines[a][f*n[a] : (f+1)*n[a]]
					var s float64
					for d, cd := range cs {
						s += cd * cur[base+d*stride[a]]
					}
					next[obase+f*ostride[a]] = s
				}
			}
		}
		cur, size = next, out
	}
	return cur, half
}

package radiomics

import (
	"math"
)

// Resample returns the image on IBSI's interpolation grid of the given
// spacing (mm; with inPlane, z is kept): ceil(n·s/s') voxels along each
// resampled axis, centred on the original grid (IBSI 3WE3), values beyond
// the original's edge taken from the edge. method is Nearest, Linear or
// Cubic (a cubic B-spline whose coefficients come from the image padded by
// its edge values). The grid sizes are computed as ceil(n·s/s' − 10⁻⁶) so
// that a ratio that is a whole number in decimal (60·3/3) is not rounded up
// by binary floating point.
func Resample(img *Image, spacing [3]float64, inPlane bool, method string) *Image {
	g, pos := resampledGrid(img.Grid, spacing, inPlane)
	data, size := img.Data, img.Size
	for a := range 3 {
		if pos[a] == nil {
			continue
		}
		data, size = resampleAxis(data, size, a, pos[a], method)
	}
	return &Image{Grid: g, Data: data}
}

// resampledGrid returns the interpolation grid and, per resampled axis, the
// positions of its voxels in the original grid's index coordinates (nil for
// an axis kept as it is).
func resampledGrid(g Grid, spacing [3]float64, inPlane bool) (Grid, [3][]float64) {
	var pos [3][]float64
	out := g
	axes := 3
	if inPlane {
		axes = 2
	}
	for a := range axes {
		na, sa, sb := g.Size[a], g.Spacing[a], spacing[a]
		nb := int(math.Ceil(float64(na)*sa/sb - 1e-6))
		nb = max(nb, 1)
		step := sb / sa
		x0 := (float64(na-1) - step*float64(nb-1)) / 2 // IBSI QCY4, grid coordinates
		pos[a] = make([]float64, nb)
		for m := range pos[a] {
			pos[a][m] = x0 + float64(m)*step
		}
		out.Size[a] = nb
		out.Spacing[a] = sb
		out.Origin[a] = g.Origin[a] + x0*sa
	}
	return out, pos
}

// splinePad is the number of edge values added at each end of a line before
// its B-spline coefficients are computed, as SciPy's map_coordinates does
// for mode "nearest": beyond it the pole's influence is below 10⁻⁶.
const splinePad = 12

// resampleAxis resamples every line of data along axis a at positions pos
// (index coordinates of the line) and returns the new data and size.
func resampleAxis(data []float64, size [3]int, a int, pos []float64, method string) ([]float64, [3]int) {
	n := size[a]
	pad := 0
	if method == Cubic {
		pad = splinePad
	}
	idx, w := taps(pos, n, pad, method)
	if a != 0 && pad == 0 {
		return resampleRows(data, size, a, idx, w, len(pos))
	}
	ntaps := len(w) / len(pos)
	out := size
	out[a] = len(pos)
	res := make([]float64, out[0]*out[1]*out[2])
	stride := [3]int{1, size[0], size[0] * size[1]}
	ostride := [3]int{1, out[0], out[0] * out[1]}
	line := make([]float64, n+2*pad)
	// The other two axes, b and c, enumerate the lines.
	b, c := (a+1)%3, (a+2)%3
	for j := range size[c] {
		for i := range size[b] {
			base := i*stride[b] + j*stride[c]
			obase := i*ostride[b] + j*ostride[c]
			if a == 0 && pad == 0 {
				line = data[base : base+n] // a row along x is in order already
			} else {
				for k := range n {
					line[pad+k] = data[base+k*stride[a]]
				}
			}
			if method == Cubic {
				for k := range pad {
					line[k] = line[pad]
					line[pad+n+k] = line[pad+n-1]
				}
				bsplineCoefficients(line)
			}
			for m := range pos {
				var v float64
				for t := m * ntaps; t < (m+1)*ntaps; t++ {
					v += w[t] * line[idx[t]]
				}
				res[obase+m*ostride[a]] = v
			}
		}
	}
	return res, out
}

// resampleRows is resampleAxis along axis a (y or z) for unpadded taps
// (Nearest, Linear): each output row along x is the weighted sum of the
// input rows at its taps, so that memory is read in order rather than
// across it. The sums are made in the same order as resampleAxis's, so
// the results are the same to the bit.
func resampleRows(data []float64, size [3]int, a int, idx []int, w []float64, npos int) ([]float64, [3]int) {
	ntaps := len(w) / npos
	out := size
	out[a] = npos
	res := make([]float64, out[0]*out[1]*out[2])
	nx := size[0]
	stride := [3]int{1, nx, nx * size[1]}
	ostride := [3]int{1, nx, nx * out[1]}
	c := 3 - a // the other axis of y and z
	for i := range size[c] {
		for m := range npos {
			row := res[i*ostride[c]+m*ostride[a]:][:nx]
			for t := m * ntaps; t < (m+1)*ntaps; t++ {
				src := data[i*stride[c]+idx[t]*stride[a]:][:nx]
				wt := w[t]
				for x, v := range src {
					row[x] += wt * v
				}
			}
		}
	}
	return res, out
}

// taps returns, for each position, the indices into a line of n values
// padded by pad at each end and their weights: one tap for Nearest, two for
// Linear, four for Cubic. Indices are clamped into the (padded) line, which
// extends it by its edge values.
func taps(pos []float64, n, pad int, method string) ([]int, []float64) {
	ntaps := map[string]int{Nearest: 1, Linear: 2, Cubic: 4}[method]
	idx := make([]int, 0, ntaps*len(pos))
	w := make([]float64, 0, ntaps*len(pos))
	last := n + 2*pad - 1
	clamp := func(k int) int { return min(max(k, 0), last) }
	for _, p := range pos {
		q := p + float64(pad)
		switch method {
		case Nearest:
			idx = append(idx, clamp(int(math.Floor(q+0.5))))
			w = append(w, 1)
		case Linear:
			f := math.Floor(q)
			t := q - f
			k := int(f)
			idx = append(idx, clamp(k), clamp(k+1))
			w = append(w, 1-t, t)
		case Cubic:
			f := math.Floor(q)
			t := q - f
			k := int(f)
			s := 1 - t
			idx = append(idx, clamp(k-1), clamp(k), clamp(k+1), clamp(k+2))
			w = append(w, s*s*s/6, 2.0/3-t*t+t*t*t/2, 2.0/3-s*s+s*s*s/2, t*t*t/6)
		}
	}
	return idx, w
}

// bsplineCoefficients replaces a line of samples by its cubic B-spline
// coefficients (Unser's recursive filter with mirror-symmetric boundaries;
// Thévenaz, Blu and Unser, IEEE TMI 2000), so that the spline through the
// coefficients interpolates the samples.
func bsplineCoefficients(c []float64) {
	n := len(c)
	if n < 2 {
		return
	}
	z := math.Sqrt(3) - 2
	const gain = 6 // (1 − z)(1 − 1/z)
	for k := range c {
		c[k] *= gain
	}
	c[0] = causalStart(c, z)
	for k := 1; k < n; k++ {
		c[k] += z * c[k-1]
	}
	c[n-1] = z / (z*z - 1) * (z*c[n-2] + c[n-1])
	for k := n - 2; k >= 0; k-- {
		c[k] = z * (c[k+1] - c[k])
	}
}

// causalStart is the first causal coefficient for mirror-symmetric
// boundaries: the sum truncated where z^k falls below 10⁻¹², or exact for a
// shorter line.
func causalStart(c []float64, z float64) float64 {
	n := len(c)
	horizon := int(math.Ceil(math.Log(1e-12) / math.Log(math.Abs(z))))
	if horizon < n {
		sum, zn := c[0], z
		for k := 1; k < horizon; k++ {
			sum += zn * c[k]
			zn *= z
		}
		return sum
	}
	zn := z
	iz := 1 / z
	z2n := math.Pow(z, float64(n-1))
	sum := c[0] + z2n*c[n-1]
	z2n *= z2n * iz
	for k := 1; k < n-1; k++ {
		sum += (zn + z2n) * c[k]
		zn *= z
		z2n *= iz
	}
	return sum / (1 - zn*zn)
}

package radiomics

import "math"

// autocorrelation returns Moran's I and Geary's C of the intensity mask's
// intensities, with weights the inverse Euclidean distance (mm) between
// voxel centres (IBSI N365, NPT7).
func (r *roi) autocorrelation() (moran, geary float64) {
	var idx []int
	for n, in := range r.inten {
		if in {
			idx = append(idx, n)
		}
	}
	nv := float64(len(idx))
	mean := 0.0
	for _, n := range idx {
		mean += r.x[n]
	}
	mean /= nv
	var sumW, cross, diff2, dev2 float64
	for a, n := range idx {
		pa := r.position(n)
		xa := r.x[n] - mean
		dev2 += xa * xa
		for _, m := range idx[a+1:] {
			w := 1 / norm(sub(pa, r.position(m)))
			xb := r.x[m] - mean
			sumW += 2 * w
			cross += 2 * w * xa * xb
			diff2 += 2 * w * (xa - xb) * (xa - xb)
		}
	}
	moran = nv / sumW * cross / dev2
	geary = (nv - 1) / (2 * sumW) * diff2 / dev2
	if nv < 2 {
		return math.NaN(), math.NaN()
	}
	return moran, geary
}

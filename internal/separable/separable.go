// Package separable filters 3-D volumes one axis at a time, line by line:
// the Gaussian smoothing of the bins a decomposition may take and the box
// means of its guided filter, its air test and the segmentation's map
// rules all run along lines.
package separable

import "github.com/ctrecon/ctrecon/internal/parallel"

// Lines calls fn once for every line of voxels along axis (0 for x, 1 for
// y, 2 for z) of a volume of dim voxels stored x fastest, on up to threads
// goroutines: start is the index of the line's first voxel and step the
// index distance between neighbours along it. Lines are handed out one at
// a time, so fn may write its own line in place.
func Lines(dim [3]int, axis, threads int, fn func(start, step int)) {
	stride := [3]int{1, dim[0], dim[0] * dim[1]}
	parallel.For(dim[0]*dim[1]*dim[2]/dim[axis], threads, func(l int) {
		var idx [3]int
		for a := range 3 {
			if a == axis {
				continue
			}
			idx[a] = l % dim[a]
			l /= dim[a]
		}
		fn(idx[0]*stride[0]+idx[1]*stride[1]+idx[2]*stride[2], stride[axis])
	})
}

// BoxMean returns the mean of v (a volume of dim voxels, x fastest) over
// the box of half-widths r voxels around every voxel, the box cut at the
// volume's faces: a running sum along each axis in turn, so that its
// cost per voxel does not depend on r.
func BoxMean(dim [3]int, v []float32, r [3]int, threads int) []float32 {
	out := append([]float32(nil), v...)
	for axis := range 3 {
		n, h := dim[axis], r[axis]
		if h == 0 {
			continue
		}
		Lines(dim, axis, threads, func(start, step int) {
			line := make([]float64, n)
			for i := range line {
				line[i] = float64(out[start+i*step])
			}
			sum := 0.0
			for k := range min(h, n) {
				sum += line[k]
			}
			for i := range n {
				if k := i + h; k < n {
					sum += line[k]
				}
				if k := i - h - 1; k >= 0 {
					sum -= line[k]
				}
				out[start+i*step] = float32(sum / float64(min(n-1, i+h)-max(0, i-h)+1))
			}
		})
	}
	return out
}

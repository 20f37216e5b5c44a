// Package separable filters 3-D volumes one axis at a time, line by line:
// the Gaussian smoothing of the bins a decomposition may take and the box
// means of its guided filter, its air test and the segmentation's map
// rules all run along lines.
package separable

import "github.com/ctrecon/ctrecon/internal/parallel"

// linesPerTask is how many lines Lines hands a goroutine at a time, which
// share one line buffer.
const linesPerTask = 64

// Lines calls fn once for every line of voxels along axis (0 for x, 1 for
// y, 2 for z) of v, a volume of dim voxels stored x fastest, on up to
// threads goroutines: line holds the line's values as they were before
// fn (a buffer fn may overwrite, reused for the next line), start is the
// index of its first voxel in v and step the index distance between
// neighbours along it. fn may write its own line of v in place.
func Lines(dim [3]int, axis, threads int, v []float32, fn func(line []float64, start, step int)) {
	stride := [3]int{1, dim[0], dim[0] * dim[1]}
	n, step := dim[axis], stride[axis]
	lines := dim[0] * dim[1] * dim[2] / n
	parallel.For((lines+linesPerTask-1)/linesPerTask, threads, func(task int) {
		line := make([]float64, n)
		for l := task * linesPerTask; l < min(lines, (task+1)*linesPerTask); l++ {
			var idx [3]int
			for a, rest := 0, l; a < 3; a++ {
				if a != axis {
					idx[a], rest = rest%dim[a], rest/dim[a]
				}
			}
			start := idx[0]*stride[0] + idx[1]*stride[1] + idx[2]*stride[2]
			for i := range line {
				line[i] = float64(v[start+i*step])
			}
			fn(line, start, step)
		}
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
		Lines(dim, axis, threads, out, func(line []float64, start, step int) {
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

package phantom

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/fdk"
)

// Project fills dst with the exact projection of p through m:
// dst[row·det.Cols+col] is the line integral along the line from m's source
// through pixel (col, row), pixel centres at integer indices. The source must
// lie outside the phantom (the whole line is integrated). It returns an error
// when len(dst) is not det.Pixels(), or one wrapping [fdk.ErrSingular] when m
// has no source.
func (p Phantom) Project(dst []float32, m *fdk.Matrix, det fdk.Detector) error {
	if len(dst) != det.Pixels() {
		return fmt.Errorf("phantom: projection buffer holds %d values, a %dx%d detector needs %d",
			len(dst), det.Cols, det.Rows, det.Pixels())
	}
	src, err := m.Source()
	if err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	for row := range det.Rows {
		for col := range det.Cols {
			// Ray inverts the same block as Source, so it cannot fail here.
			dir, _ := m.Ray(float64(col), float64(row))
			dst[row*det.Cols+col] = float32(p.LineIntegral(src, dir))
		}
	}
	return nil
}

// ProjectGeometry returns the exact projections of p for every view of g, in
// view order, computed in parallel over views on threads goroutines
// (threads <= 0: runtime.NumCPU()). It returns g's validation error, if any.
func (p Phantom) ProjectGeometry(g *fdk.Geometry, threads int) ([][]float32, error) {
	views, err := g.Views()
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(views))
	errs := make([]error, len(views))
	parallel(len(views), threads, func(i int) {
		out[i] = make([]float32, g.Pixels())
		errs[i] = p.Project(out[i], &views[i].P, g.Detector)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Sample writes p's density at the voxel centres of dst.Grid into dst.Data,
// in parallel over z slices. With super > 1 each voxel instead holds the mean
// of super³ points on a regular lattice inside it (the centres of its
// sub-voxels), which approximates the voxel's mean density where edges cut
// it.
func (p Phantom) Sample(dst *fdk.Volume, super int) {
	g := dst.Grid
	n := max(super, 1)
	nx, ny := g.Dim[0], g.Dim[1]
	parallel(g.Dim[2], 0, func(k int) {
		for j := range ny {
			for i := range nx {
				dst.Data[i+nx*(j+ny*k)] = float32(p.voxelMean(g.Position(i, j, k), g.Spacing, n))
			}
		}
	})
}

// voxelMean averages p over the n³ sub-voxel centres of the voxel of size sp
// centred at c.
func (p Phantom) voxelMean(c fdk.Vec3, sp [3]float64, n int) float64 {
	at := func(a, k int) float64 { return c[k] + ((float64(a)+0.5)/float64(n)-0.5)*sp[k] }
	sum := 0.0
	for a := range n {
		for b := range n {
			for e := range n {
				sum += p.Value(fdk.Vec3{at(e, 0), at(b, 1), at(a, 2)})
			}
		}
	}
	return sum / float64(n*n*n)
}

// parallel calls fn(i) for every i in [0, n) on up to threads goroutines
// (threads <= 0: runtime.NumCPU()), handing out indices one at a time so that
// uneven work balances.
func parallel(n, threads int, fn func(i int)) {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

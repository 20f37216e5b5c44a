package fdk

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Grid is the reconstruction volume's voxel lattice, axis-aligned with the
// world frame.
type Grid struct {
	Dim     [3]int     `json:"dim"`
	Spacing [3]float64 `json:"spacing_mm"`
	// Origin is the world position of the centre of voxel (0, 0, 0).
	Origin Vec3 `json:"origin_mm"`
}

// CenteredGrid returns a grid of dim voxels of the given spacing whose centre
// lies at offset from the isocentre (the region-of-interest offset).
func CenteredGrid(dim [3]int, spacing [3]float64, offset Vec3) Grid {
	g := Grid{Dim: dim, Spacing: spacing}
	for k := range 3 {
		g.Origin[k] = offset[k] - float64(dim[k]-1)/2*spacing[k]
	}
	return g
}

// Voxels returns the number of voxels.
func (g Grid) Voxels() int { return g.Dim[0] * g.Dim[1] * g.Dim[2] }

// Validate reports a grid with no voxels or non-positive spacing.
func (g Grid) Validate() error {
	for k, name := range []string{"x", "y", "z"} {
		if g.Dim[k] < 1 {
			return fmt.Errorf("%w: volume dim %s = %d, must be at least 1", ErrGeometry, name, g.Dim[k])
		}
		if !(g.Spacing[k] > 0) || !finite(g.Spacing[k]) {
			return fmt.Errorf("%w: voxel spacing %s = %g, must be positive", ErrGeometry, name, g.Spacing[k])
		}
		if !finite(g.Origin[k]) {
			return fmt.Errorf("%w: volume origin %s is not finite", ErrGeometry, name)
		}
	}
	if g.Voxels() > 1<<34 {
		return fmt.Errorf("%w: volume of %d voxels is too large", ErrGeometry, g.Voxels())
	}
	return nil
}

// Position returns the world position of voxel (i, j, k).
func (g Grid) Position(i, j, k int) Vec3 {
	return Vec3{g.Origin[0] + float64(i)*g.Spacing[0],
		g.Origin[1] + float64(j)*g.Spacing[1],
		g.Origin[2] + float64(k)*g.Spacing[2]}
}

// IndexMatrix returns m composed with the voxel-index-to-world map, so that
// it takes voxel indices instead of millimetres.
func (g Grid) IndexMatrix(m Matrix) Matrix {
	return m.mul([3][4]float64{
		{g.Spacing[0], 0, 0, g.Origin[0]},
		{0, g.Spacing[1], 0, g.Origin[1]},
		{0, 0, g.Spacing[2], g.Origin[2]},
	})
}

// Volume is a float32 image on a grid, x fastest.
type Volume struct {
	Grid Grid
	Data []float32
}

// NewVolume allocates a zero volume.
func NewVolume(g Grid) *Volume { return &Volume{Grid: g, Data: make([]float32, g.Voxels())} }

// At returns voxel (i, j, k).
func (v *Volume) At(i, j, k int) float32 {
	return v.Data[i+v.Grid.Dim[0]*(j+v.Grid.Dim[1]*k)]
}

// FOVReport says how much of a volume every view sees.
type FOVReport struct {
	Voxels  int // voxels tested (a coarse lattice of the volume)
	Outside int // of those, voxels that leave the detector in at least one view
	// Example is one voxel centre outside the field of view, in mm.
	Example Vec3
	// WorstView is the view that misses the most tested voxels.
	WorstView int
}

// Complete reports whether every tested voxel is seen by every view.
func (r FOVReport) Complete() bool { return r.Outside == 0 }

func (r FOVReport) String() string {
	if r.Complete() {
		return "volume inside the field of view of every view"
	}
	return fmt.Sprintf("%.1f%% of the volume leaves the detector in some views (e.g. voxel at %.1f,%.1f,%.1f mm; worst view %d): reconstruct a smaller volume or expect truncation artefacts there",
		100*float64(r.Outside)/float64(r.Voxels), r.Example[0], r.Example[1], r.Example[2], r.WorstView)
}

// CheckFOV projects a lattice of at most 17³ voxels through every view and
// counts those whose projection misses the detector.
func CheckFOV(views []View, det Detector, g Grid) FOVReport {
	var rep FOVReport
	miss := make([]int, len(views))
	samples := func(n int) []int {
		m := min(n, 17)
		out := make([]int, m)
		for i := range out {
			if m > 1 {
				out[i] = int(math.Round(float64(i) * float64(n-1) / float64(m-1)))
			}
		}
		return out
	}
	for _, k := range samples(g.Dim[2]) {
		for _, j := range samples(g.Dim[1]) {
			for _, i := range samples(g.Dim[0]) {
				rep.Voxels++
				x := g.Position(i, j, k)
				out := false
				for v := range views {
					c, r, w := views[v].P.Project(x)
					if w <= 0 || c < -0.5 || c > float64(det.Cols)-0.5 || r < -0.5 || r > float64(det.Rows)-0.5 {
						miss[v]++
						out = true
					}
				}
				if out {
					if rep.Outside == 0 {
						rep.Example = x
					}
					rep.Outside++
				}
			}
		}
	}
	for v := range miss {
		if miss[v] > miss[rep.WorstView] {
			rep.WorstView = v
		}
	}
	return rep
}

// rowSpan returns the voxels x0..x1 of row (y, z) that m, a voxel-index
// matrix, projects in front of the source into the pixel rectangle
// [u0, u1] x [v0, v1]. Each bound is a linear inequality in x because w > 0
// there, so the row is clipped exactly instead of testing each voxel.
func rowSpan(m *Matrix, y, z, nx int, u0, u1, v0, v1 float64) (x0, x1 int) {
	lo, hi := 0.0, float64(nx-1)
	// Each constraint reads c0·x + c1 >= 0.
	clip := func(c0, c1 float64) {
		// Plain comparisons: math.Max and Min handle NaN and signed zeros,
		// which cannot occur here, at four times the cost.
		switch {
		case c0 > 0:
			if b := -c1 / c0; b > lo {
				lo = b
			}
		case c0 < 0:
			if b := -c1 / c0; b < hi {
				hi = b
			}
		case c1 < 0:
			hi = -1
		}
	}
	lin := func(r int) (float64, float64) {
		return m[r][0], m[r][1]*float64(y) + m[r][2]*float64(z) + m[r][3]
	}
	u, ub := lin(0)
	v, vb := lin(1)
	w, wb := lin(2)
	clip(w, wb-1e-6)
	clip(u-u0*w, ub-u0*wb)
	clip(u1*w-u, u1*wb-ub)
	clip(v-v0*w, vb-v0*wb)
	clip(v1*w-v, v1*wb-vb)
	if lo > hi {
		// Also when a coefficient that rounding left at 1e-17 instead of 0
		// put a bound at 1e19, which would not convert to an int.
		return 0, -1
	}
	return int(math.Ceil(lo)), int(math.Floor(hi))
}

// FOV is the field of view of a set of views on a grid: for each volume row
// (y, z), the voxels whose centres every view projects onto the detector.
// Outside it FDK has only part of the data and returns values that mean
// nothing, so the reconstructor zeroes them, and back-projectors that
// implement FOVLimiter do not compute them at all.
type FOV struct {
	grid  Grid
	spans [][2]int32 // by row z·ny + y: first and last voxel, empty when first > last
}

// NewFOV computes the field of view of views on g.
func NewFOV(views []View, det Detector, g Grid) *FOV {
	nx, ny := g.Dim[0], g.Dim[1]
	f := &FOV{grid: g, spans: make([][2]int32, ny*g.Dim[2])}
	ms := make([]Matrix, len(views))
	for i := range views {
		ms[i] = g.IndexMatrix(views[i].P)
	}
	parallel(g.Dim[2], func(z int) {
		for y := range ny {
			x0, x1 := 0, nx-1
			for i := range ms {
				a, b := rowSpan(&ms[i], y, z, nx, -0.5, float64(det.Cols)-0.5, -0.5, float64(det.Rows)-0.5)
				x0, x1 = max(x0, a), min(x1, b)
			}
			f.spans[z*ny+y] = [2]int32{int32(x0), int32(x1)}
		}
	})
	return f
}

// Grid returns the grid the field of view was computed on.
func (f *FOV) Grid() Grid { return f.grid }

// Span returns the voxels x0..x1 of row r = z·ny + y inside the field of
// view; x0 > x1 when there are none.
func (f *FOV) Span(r int) (x0, x1 int) { return int(f.spans[r][0]), int(f.spans[r][1]) }

// Mask sets every voxel of v outside the field of view to zero, a plane
// per core at a time.
func (f *FOV) Mask(v *Volume) {
	nx, ny := f.grid.Dim[0], f.grid.Dim[1]
	parallel(f.grid.Dim[2], func(z int) {
		for r := z * ny; r < (z+1)*ny; r++ {
			row := v.Data[r*nx : (r+1)*nx]
			x0, x1 := f.Span(r)
			if x0 > x1 {
				clear(row)
				continue
			}
			clear(row[:x0])
			clear(row[x1+1:])
		}
	})
}

// FOVLimiter is implemented by accumulators that can leave out the voxels
// outside a field of view, which the reconstructor zeroes anyway: on a
// cube around a circular orbit that is a third of the work or more.
type FOVLimiter interface {
	LimitFOV(f *FOV)
}

// parallel calls fn(i) for i in [0, n) on all cores.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

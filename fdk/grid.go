package fdk

import (
	"fmt"
	"math"
	"runtime"
	"slices"
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
	// slab is set on a grid cut from a larger one by Slab.
	slab slabOf
}

// slabOf places a slab in the grid it was cut from: the index of its first
// slice there and that grid's z origin. The CPU back-projector and the field
// of view compute voxel positions from them, in the whole grid's float32
// arithmetic, so that a slab's voxels equal the whole grid's bit for bit.
type slabOf struct {
	cut     bool
	first   int
	originZ float64
}

// Slab returns slices z0 ≤ k < z1 of g as a grid of its own, for one task of
// a reconstruction split along z: its Origin is that of slice z0, and on
// the CPU back-projector its voxels are bit for bit the same as those
// slices of g's reconstruction (not merely equal to rounding). Marshalled to
// JSON a slab loses that link and becomes an ordinary grid; send the whole
// grid and the range instead. It fails for a range outside g or empty.
func (g Grid) Slab(z0, z1 int) (Grid, error) {
	if z0 < 0 || z1 > g.Dim[2] || z0 >= z1 {
		return Grid{}, fmt.Errorf("%w: slab of slices [%d, %d) of a grid of %d slices", ErrGeometry, z0, z1, g.Dim[2])
	}
	first, originZ := g.inWhole()
	s := g
	s.Dim[2] = z1 - z0
	s.Origin[2] = g.Origin[2] + float64(z0)*g.Spacing[2]
	s.slab = slabOf{cut: true, first: first + z0, originZ: originZ}
	return s, nil
}

// inWhole returns the index of g's first slice in the whole grid it was cut
// from and that grid's z origin: 0 and g's own for a whole grid.
func (g Grid) inWhole() (first int, originZ float64) {
	if !g.slab.cut {
		return 0, g.Origin[2]
	}
	return g.slab.first, g.slab.originZ
}

// wholeIndexMatrix returns m composed with the index-to-world map of the
// whole grid g was cut from, and the index there of g's first slice: row
// (y, z) of g is row (y, z + first) of the whole grid.
func (g Grid) wholeIndexMatrix(m Matrix) (Matrix, int) {
	first, originZ := g.inWhole()
	w := g
	w.Origin[2] = originZ
	w.slab = slabOf{}
	return w.IndexMatrix(m), first
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

// NewGrid returns geom's volume grid of dim voxels of voxel mm centred at
// offset from the isocentre (the region-of-interest offset), where zero
// dimensions or voxel sizes are chosen from geom's field of view as
// Cylinder.Grid does. It fails for a grid Validate refuses, and when
// something is to be chosen but geom has no field of view.
func NewGrid(geom *Geometry, dim [3]int, voxel [3]float64, offset Vec3) (Grid, error) {
	if zeros := slices.Index(dim[:], 0) >= 0; zeros && dim != ([3]int{}) {
		return Grid{}, fmt.Errorf("%w: volume dim %dx%dx%d: give all three dimensions, or none to cover the field of view", ErrGeometry, dim[0], dim[1], dim[2])
	}
	if dim[0] == 0 || slices.Contains(voxel[:], 0) {
		fov, err := FieldOfView(geom)
		if err != nil {
			return Grid{}, fmt.Errorf("choosing the volume grid: %w", err)
		}
		g := fov.Grid(dim, voxel, offset, geom.PitchU*geom.SID/geom.SDD)
		return g, g.Validate()
	}
	g := CenteredGrid(dim, voxel, offset)
	return g, g.Validate()
}

// MaxChosenDim is the most voxels along an axis of a grid whose dimensions
// and voxel size are both chosen: a 512x512 slice, as a CT image has.
const MaxChosenDim = 512

// Grid returns a grid centred at offset that fills in what dim and voxel
// leave zero so that it covers the field of view c: spans its diameter in
// x and y and its height in z.
//
//   - Voxel size zero, dimensions given: square voxels in x and y that make
//     the larger of nx and ny span the diameter; in z the same, unless nz of
//     them are taller than the cylinder: then nz slices spread over its
//     height. --dim 96,96,48 on the simulated MARS scan (a cylinder 37.7 mm
//     across and 9.4 mm high) gives 0.393 x 0.393 x 0.196 mm.
//   - Dimensions zero (all three), voxel size given: enough voxels along
//     each axis to cover the cylinder.
//   - Neither: cubic voxels of finest mm (the detector pitch at the
//     isocentre, the finest the projections resolve), coarser where needed
//     to keep every axis at most MaxChosenDim voxels, covering the
//     cylinder: 512x512x128 of 0.0737 mm on the simulated MARS scan.
//
// A voxel size zero on some axes only takes the chosen size there.
func (c Cylinder) Grid(dim [3]int, voxel [3]float64, offset Vec3, finest float64) Grid {
	ext := c.extent()
	var chosen [3]float64
	if dim == ([3]int{}) {
		v := max(finest, max(ext[0], ext[1], ext[2])/MaxChosenDim)
		chosen = [3]float64{v, v, v}
	} else {
		v := max(ext[0]/float64(dim[0]), ext[1]/float64(dim[1]))
		chosen = [3]float64{v, v, min(v, ext[2]/float64(dim[2]))}
	}
	for k := range voxel {
		if voxel[k] == 0 {
			voxel[k] = chosen[k]
		}
	}
	if dim == ([3]int{}) {
		for k := range dim {
			// Capped so that a tiny voxel makes a grid Validate refuses
			// instead of overflowing.
			dim[k] = int(max(1, min(1<<30, math.Ceil(ext[k]/voxel[k]-1e-9))))
		}
	}
	return CenteredGrid(dim, voxel, offset)
}

// String gives the dimensions, the voxel size and the extent in mm, as
// the command line prints the grid it chose.
func (g Grid) String() string {
	d, s := g.Dim, g.Spacing
	size := fmt.Sprintf("%.4g", s[0])
	if s[1] != s[0] || s[2] != s[0] {
		size = fmt.Sprintf("%.4g x %.4g x %.4g", s[0], s[1], s[2])
	}
	return fmt.Sprintf("%dx%dx%d voxels of %s mm (%.1f x %.1f x %.1f mm)", d[0], d[1], d[2], size,
		float64(d[0])*s[0], float64(d[1])*s[1], float64(d[2])*s[2])
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
	// Counted in float64: the product of three large dimensions overflows.
	if n := float64(g.Dim[0]) * float64(g.Dim[1]) * float64(g.Dim[2]); n > 1<<34 {
		return fmt.Errorf("%w: volume of %dx%dx%d = %.3g voxels is too large", ErrGeometry, g.Dim[0], g.Dim[1], g.Dim[2], n)
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
	// Beyond is how many of the Outside voxels are not in a corner: a
	// volume that spans FieldOfView across (in x and y) has voxels outside
	// it in the corners of the cylinder's bounding box, as every CT image
	// has outside its reconstruction circle; every other voxel outside,
	// and every voxel that does not overlap that box, is beyond the field
	// of view.
	Beyond int
	// FieldOfView is the largest cylinder about the axis that every view
	// sees; zero when there is none (then every voxel outside is beyond).
	FieldOfView Cylinder
	// Example is one voxel centre beyond the field of view, or if there is
	// none, outside it, in mm.
	Example Vec3
	// WorstView is the view that misses the most tested voxels.
	WorstView int
	// Circle is how many tested voxels lie in the volume's reconstruction
	// cylinder, the one inscribed in its x-y extent (what a CT viewer
	// shows of an axial image); CircleOutside of them leave the detector
	// in some view.
	Circle, CircleOutside int
}

// CircleSeen is the fraction, 0 to 1, of the volume's reconstruction
// cylinder that every view sees (1 when no tested voxel lies in it).
func (r FOVReport) CircleSeen() float64 {
	if r.Circle == 0 {
		return 1
	}
	return 1 - float64(r.CircleOutside)/float64(r.Circle)
}

// Complete reports whether every tested voxel is seen by every view.
func (r FOVReport) Complete() bool { return r.Outside == 0 }

// Fits reports whether the volume stays within the field of view, but for
// the corners of a volume that spans it. Such a volume is worth no
// warning; the voxels outside are set to zero.
func (r FOVReport) Fits() bool { return r.Beyond == 0 }

func (r FOVReport) String() string {
	pct := func(n int) float64 { return 100 * float64(n) / float64(r.Voxels) }
	switch {
	case r.Complete():
		return "volume inside the field of view of every view"
	case r.Fits():
		return fmt.Sprintf("volume within the field of view (%v); %.1f%% of it, in the corners outside the cylinder, is set to zero", r.FieldOfView, pct(r.Outside))
	}
	return fmt.Sprintf("%.1f%% of the volume leaves the detector in some views (e.g. voxel at %.1f,%.1f,%.1f mm; worst view %d), beyond the field of view, %v: reconstruct a smaller volume or expect truncation artefacts there",
		pct(r.Outside), r.Example[0], r.Example[1], r.Example[2], r.WorstView, r.FieldOfView)
}

// CheckFOV projects a lattice of at most 17³ voxels through every view and
// counts those whose projection misses the detector, and of those the ones
// beyond the field of view's bounds.
func CheckFOV(views []View, det Detector, g Grid) FOVReport {
	var rep FOVReport
	fov, err := fieldOfView(views, det)
	if err == nil {
		rep.FieldOfView = fov
	}
	corners := err == nil && g.spans(fov)
	px := det.pixels()
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
				inCircle := g.inCircle(x)
				if inCircle {
					rep.Circle++
				}
				out := false
				for v := range views {
					c, r, w := views[v].P.Project(x)
					if w <= 0 || c < px.u0 || c > px.u1 || r < px.v0 || r > px.v1 {
						miss[v]++
						out = true
					}
				}
				if !out {
					continue
				}
				if inCircle {
					rep.CircleOutside++
				}
				beyond := !corners || !fov.overlaps(x, g.Spacing)
				if rep.Outside == 0 || beyond && rep.Beyond == 0 {
					rep.Example = x
				}
				rep.Outside++
				if beyond {
					rep.Beyond++
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

// inCircle reports whether x (mm) lies in g's reconstruction cylinder:
// the one inscribed in g's x-y extent, voxels to their outer edges.
func (g Grid) inCircle(x Vec3) bool {
	var d2, r float64
	for k := range 2 {
		half := float64(g.Dim[k]) * g.Spacing[k] / 2
		c := g.Origin[k] - g.Spacing[k]/2 + half
		d2 += (x[k] - c) * (x[k] - c)
		if k == 0 || half < r {
			r = half
		}
	}
	return d2 <= r*r
}

// spans reports whether g, voxels to their outer edges, covers the
// cylinder c across, in x and y, to a micrometre.
func (g Grid) spans(c Cylinder) bool {
	const tol = 1e-3 // mm
	for k := range 2 {
		lo := g.Origin[k] - g.Spacing[k]/2
		if lo > -c.Radius+tol || lo+float64(g.Dim[k])*g.Spacing[k] < c.Radius-tol {
			return false
		}
	}
	return true
}

// rowSpan returns the voxels x0..x1 of row (y, z) that m, a voxel-index
// matrix, projects in front of the source into the pixel rectangle px.
func rowSpan(m *Matrix, y, z, nx int, px rect) (x0, x1 int) {
	lo, hi := lineSpan(m, Vec3{0, float64(y), float64(z)}, Vec3{1, 0, 0}, 0, float64(nx-1), px)
	if lo > hi {
		// Also when a coefficient that rounding left at 1e-17 instead of 0
		// put a bound at 1e19, which would not convert to an int.
		return 0, -1
	}
	return int(math.Ceil(lo)), int(math.Floor(hi))
}

// rect is a rectangle of detector pixel coordinates: columns u0..u1, rows
// v0..v1.
type rect struct{ u0, u1, v0, v1 float64 }

// pixels returns the rectangle the detector's pixels cover, to their outer
// edges.
func (d Detector) pixels() rect {
	return rect{-0.5, float64(d.Cols) - 0.5, -0.5, float64(d.Rows) - 0.5}
}

// lineSpan returns the part lo..hi of t0..t1 for which m projects the
// point a + t·d in front of the source into the pixel rectangle px; lo > hi
// when there is none. Each bound is a linear inequality in t because w > 0
// there, so the line is clipped exactly instead of testing points. The
// bounds may be infinite.
func lineSpan(m *Matrix, a, d Vec3, t0, t1 float64, px rect) (lo, hi float64) {
	lo, hi = t0, t1
	// Each constraint reads c0·t + c1 >= 0.
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
			lo, hi = math.Inf(1), math.Inf(-1)
		}
	}
	lin := func(r int) (float64, float64) {
		return m[r][0]*d[0] + m[r][1]*d[1] + m[r][2]*d[2], m[r][0]*a[0] + m[r][1]*a[1] + m[r][2]*a[2] + m[r][3]
	}
	u, ub := lin(0)
	v, vb := lin(1)
	w, wb := lin(2)
	clip(w, wb-1e-6)
	clip(u-px.u0*w, ub-px.u0*wb)
	clip(px.u1*w-u, px.u1*wb-ub)
	clip(v-px.v0*w, vb-px.v0*wb)
	clip(px.v1*w-v, px.v1*wb-vb)
	return lo, hi
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
	var first int
	for i := range views {
		ms[i], first = g.wholeIndexMatrix(views[i].P)
	}
	px := det.pixels()
	parallel(g.Dim[2], func(z int) {
		for y := range ny {
			x0, x1 := 0, nx-1
			for i := range ms {
				a, b := rowSpan(&ms[i], y, z+first, nx, px)
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

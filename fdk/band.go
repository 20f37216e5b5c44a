package fdk

import (
	"fmt"
	"math"
)

// RowBand is a band of detector rows, First to First+Count-1: the part of
// each projection that a slab of the volume reads, so that a volume larger
// than memory can be reconstructed a slab at a time from only those rows
// of every image. The zero RowBand means the whole detector.
type RowBand struct {
	First int `json:"first"`
	Count int `json:"count"`
}

// End returns the row after the band.
func (b RowBand) End() int { return b.First + b.Count }

func (b RowBand) String() string { return fmt.Sprintf("detector rows %d-%d", b.First, b.End()-1) }

// whole returns b, or for the zero band all rows of det.
func (b RowBand) whole(det Detector) RowBand {
	if b == (RowBand{}) {
		return RowBand{0, det.Rows}
	}
	return b
}

// covers reports whether b holds every row of c.
func (b RowBand) covers(c RowBand) bool { return b.First <= c.First && c.End() <= b.End() }

// NeededRows returns the band of geom's detector rows that the voxels of
// grid (a whole grid or a Slab) read in any view: what a reconstruction of
// it given Options.Rows needs of every projection.
func NeededRows(geom *Geometry, grid Grid) (RowBand, error) {
	views, err := geom.Views()
	if err != nil {
		return RowBand{}, err
	}
	if err := grid.Validate(); err != nil {
		return RowBand{}, err
	}
	ms := wholeMatrices(views, grid)
	first, _ := grid.inWhole()
	return BoxRows(ms, grid.Dim[0], grid.Dim[1], first, first+grid.Dim[2], geom.Rows), nil
}

// wholeMatrices returns the voxel-index matrices of views on the whole
// grid g was cut from.
func wholeMatrices(views []View, g Grid) []Matrix {
	ms := make([]Matrix, len(views))
	for i := range views {
		ms[i], _ = g.wholeIndexMatrix(views[i].P)
	}
	return ms
}

// BoxRows returns the detector rows that voxels (0..nx-1, 0..ny-1, z0..z1-1)
// read through the voxel-index matrices ms (Grid.IndexMatrix of each
// view's), of a detector of rows rows: a slab's band. The image of
// a box under a projection with w > 0 is the convex hull of its corners'
// images, so the corners bound it; each side gains a row for the bilinear
// neighbour and one for float32 rounding, and the band starts and ends at
// an even row. If a corner lies behind a source, every row is needed.
func BoxRows(ms []Matrix, nx, ny, z0, z1, rows int) RowBand {
	lo, hi := math.MaxInt, math.MinInt
	for i := range ms {
		m := &ms[i]
		for c := range 8 {
			x := float64((nx - 1) * (c & 1))
			y := float64((ny - 1) * (c >> 1 & 1))
			z := float64(z0 + (z1-1-z0)*(c>>2&1))
			w := m[2][0]*x + m[2][1]*y + m[2][2]*z + m[2][3]
			if !(w > 0) {
				return RowBand{0, rows}
			}
			v := math.Floor((m[1][0]*x + m[1][1]*y + m[1][2]*z + m[1][3]) / w)
			lo, hi = min(lo, int(max(v-1, -1))), max(hi, int(min(v+2, float64(rows))))
		}
	}
	// Even bounds: the ramp filter transforms rows two at a time (one as
	// the real, one as the imaginary part), and a row's rounding depends
	// on its partner, so a band keeps the whole image's pairs.
	lo, end := max(lo, 0)&^1, min(hi+1+(hi+1)&1, rows)
	if lo >= end { // the box misses the detector: any two rows will do
		lo = min(lo, rows-1) &^ 1
		end = min(lo+2, rows)
	}
	return RowBand{lo, end - lo}
}

// CropRows returns rows b of img, a row-major image cols wide, as a new
// image: what a reader that can only read whole images (a spectral scan's
// pre-processing) hands a reconstruction given Options.Rows, so that the
// whole image can be collected.
func CropRows(img []float32, cols int, b RowBand) []float32 {
	out := make([]float32, cols*b.Count)
	copy(out, img[b.First*cols:b.End()*cols])
	return out
}

// BandBackprojector is a Backprojector that back-projects images holding
// only a band of the detector's rows, reading them where the whole
// detector's images would be read, so that its volumes are bit for bit
// those of the whole images (the CPU). For other back-projectors the
// Reconstructor shifts the matrices to the band instead (equal to
// rounding).
type BandBackprojector interface {
	Backprojector
	// StartBand is Start for images of band's rows of det, row-major
	// det.Cols x band.Count.
	StartBand(views []View, det Detector, band RowBand, grid Grid, bins int) (Accumulator, error)
}

// StartBand implements BandBackprojector.
func (c CPU) StartBand(views []View, det Detector, band RowBand, grid Grid, bins int) (Accumulator, error) {
	acc, err := c.Start(views, det, grid, bins)
	if err != nil {
		return nil, err
	}
	acc.(*cpuAccumulator).band = band
	return acc, nil
}

// startBand starts bp on images of band's rows: through StartBand where bp
// has it, else on a detector of band.Count rows whose matrices read row
// v - band.First for row v.
func startBand(bp Backprojector, views []View, det Detector, band RowBand, grid Grid, bins int) (Accumulator, error) {
	if bb, ok := bp.(BandBackprojector); ok {
		return bb.StartBand(views, det, band, grid, bins)
	}
	shifted := make([]View, len(views))
	for i, v := range views {
		for k := range 4 {
			v.P[1][k] -= float64(band.First) * v.P[2][k]
		}
		v.PrincipalV -= float64(band.First)
		shifted[i] = v
	}
	det.Rows = band.Count
	return bp.Start(shifted, det, grid, bins)
}

package fdk

import (
	"errors"
	"fmt"
	"github.com/dustin/go-humanize"
)

// ErrMemory is wrapped by PlanSlabs' error when even one slice per slab
// does not fit the budget.
var ErrMemory = errors.New("memory budget too small")

// Slab is one part of a volume split along z: slices Z0 to Z1-1 of the
// whole grid (Grid.Slab), and the band of detector rows they read.
type Slab struct {
	Z0, Z1 int
	Rows   RowBand
}

// SlabPlan is a volume cut into slabs that are reconstructed in turn, each
// within a memory budget.
type SlabPlan struct {
	Slabs []Slab
	// Memory is the estimate for the largest slab.
	Memory Memory
}

// Memory is what one reconstruction (a slab) holds, in bytes, by part.
// With B bins, a slab of nx·ny·nz voxels, a detector of C columns and Rows
// rows (C' once widened for a displaced detector), V views, a band of R
// rows, K = Options.Batch views per batch, H views read ahead by the
// caller, T = Options.Threads and an FFT of n points:
//
//	Volume       4·B·nx·ny·nz           one float32 volume per bin
//	FOV          8·ny·nz                the field of view's span per voxel row (none with KeepOutsideFOV)
//	Projections  4·B·(K+H)·C·R          the band images in the pending batch and read ahead
//	           + 4·B·K·C'·R             widened copies (a displaced detector only)
//	           + 4·B·K·(C'+2)·(R+2)     the CPU back-projector's zero-bordered copies
//	Filter       T·(48·n + 4·C')        each filtering thread's FFT buffers, response and twiddles
//	Weights      4·C·Rows + 4·C·V + 200·V   cosine image, column weights, the views' matrices
type Memory struct {
	Volume, FOV, Projections, Filter, Weights int64
}

// Total is the sum of the parts.
func (m Memory) Total() int64 { return m.Volume + m.FOV + m.Projections + m.Filter + m.Weights }

func (m Memory) String() string {
	b := func(n int64) string { return humanize.IBytes(uint64(n)) }
	return fmt.Sprintf("%s (volume %s, field of view %s, projections %s, filter %s, weights %s)",
		b(m.Total()), b(m.Volume), b(m.FOV), b(m.Projections), b(m.Filter), b(m.Weights))
}

// Reserve is what PlanSlabs leaves of a budget for what Memory does not
// count: the Go runtime, code and stacks, the garbage collector's slack
// above the live heap (run the job under debug.SetMemoryLimit(budget)),
// and the output being encoded: 64 MiB and an eighth of the budget.
func Reserve(budget int64) int64 { return 64<<20 + budget/8 }

// PlanSlabs cuts grid into the fewest slabs (of as near equal thickness as
// can be) whose reconstruction for bins energy bins with opts, reading
// ahead views more images than the batch, fits budget bytes less
// Reserve(budget). It fails wrapping ErrMemory, saying what one slice
// needs, when even slabs of one slice do not fit.
func PlanSlabs(geom *Geometry, grid Grid, bins int, opts Options, ahead int, budget int64) (SlabPlan, error) {
	opts.defaults()
	views, w, err := weighted(geom, grid)
	if err != nil {
		return SlabPlan{}, err
	}
	left, right := w.Extension()
	bpDet, _ := Widen(geom.Detector, views, left, right)
	ramp, err := NewRampFilter(bpDet.Cols, geom.PitchU*geom.SID/geom.SDD, opts.Window, opts.Cutoff, opts.Padding)
	if err != nil {
		return SlabPlan{}, err
	}
	est := estimate{geom: geom, grid: grid, bins: int64(bins), opts: opts, ahead: int64(ahead), views: int64(len(views)),
		wideCols: int64(bpDet.Cols), displaced: left+right > 0, fftLen: int64(ramp.PaddedLength())}
	slices := sliceRows(wholeMatrices(views, grid), grid, geom.Rows)
	nz := grid.Dim[2]
	usable := budget - Reserve(budget)
	var p SlabPlan
	for n := 1; n <= nz; n++ {
		p = cut(slices, grid, n)
		p.Memory = est.largest(p)
		if p.Memory.Total() <= usable {
			return p, nil
		}
	}
	// the least budget whose usable part holds p: b − 64 MiB − b/8 ≥ need
	least := (64<<20 + p.Memory.Total()) * 8 / 7
	return SlabPlan{}, fmt.Errorf("%w: %s leaves %s after the %s kept for the runtime (64 MiB and an eighth of the budget), less than a slab of one slice of %v needs, %v: give at least %s",
		ErrMemory, humanize.IBytes(uint64(budget)), humanize.IBytes(uint64(max(usable, 0))), humanize.IBytes(uint64(Reserve(budget))),
		grid, p.Memory, humanize.IBytes(uint64(least+1<<20)))
}

// sliceRows returns the rows each slice of grid reads (BoxRows): a slab's
// are their union, as the corners of its end slices are its corners.
func sliceRows(ms []Matrix, grid Grid, rows int) []RowBand {
	first, _ := grid.inWhole()
	out := make([]RowBand, grid.Dim[2])
	parallel(len(out), func(z int) {
		out[z] = BoxRows(ms, grid.Dim[0], grid.Dim[1], first+z, first+z+1, rows)
	})
	return out
}

// cut splits the slices into n slabs, thicknesses differing by at most one.
func cut(slices []RowBand, grid Grid, n int) SlabPlan {
	nz := grid.Dim[2]
	p := SlabPlan{Slabs: make([]Slab, n)}
	for i := range p.Slabs {
		z0, z1 := i*nz/n, (i+1)*nz/n
		lo, hi := slices[z0].First, slices[z0].End()
		for _, b := range slices[z0+1 : z1] {
			lo, hi = min(lo, b.First), max(hi, b.End())
		}
		p.Slabs[i] = Slab{Z0: z0, Z1: z1, Rows: RowBand{lo, hi - lo}}
	}
	return p
}

// estimate computes Memory (see there for the formula).
type estimate struct {
	geom                                 *Geometry
	grid                                 Grid
	opts                                 Options
	bins, ahead, views, wideCols, fftLen int64
	displaced                            bool
}

// largest returns the Memory of p's slab that needs the most.
func (e estimate) largest(p SlabPlan) Memory {
	var worst Memory
	for _, s := range p.Slabs {
		if m := e.slab(int64(s.Z1-s.Z0), int64(s.Rows.Count)); m.Total() > worst.Total() {
			worst = m
		}
	}
	return worst
}

// slab returns the Memory of a slab of nz slices reading rows rows.
func (e estimate) slab(nz, rows int64) Memory {
	nx, ny := int64(e.grid.Dim[0]), int64(e.grid.Dim[1])
	cols, k := int64(e.geom.Cols), int64(e.opts.Batch)
	m := Memory{
		Volume:      4 * e.bins * nx * ny * nz,
		Projections: 4*e.bins*(k+e.ahead)*cols*rows + 4*e.bins*k*(e.wideCols+2)*(rows+2),
		Filter:      int64(e.opts.Threads) * (48*e.fftLen + 4*e.wideCols),
		Weights:     4*cols*int64(e.geom.Rows) + 4*cols*e.views + 200*e.views,
	}
	if !e.opts.KeepOutsideFOV {
		m.FOV = 8 * ny * nz
	}
	if e.displaced {
		m.Projections += 4 * e.bins * k * e.wideCols * rows
	}
	return m
}

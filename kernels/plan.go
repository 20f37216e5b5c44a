package kernels

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
)

// texelMatrix returns the matrix the kernel reads for voxel-index matrix m
// in a slab whose first plane is z0 and whose band of detector rows starts
// at row0: it maps (x, y, z-z0, 1) to (s·w, t·w, w) with s = u + 0.5 and
// t = v - row0 + 0.5, texels being addressed at their centres.
func texelMatrix(m fdk.Matrix, z0, row0 int) [12]float32 {
	for r := range 3 {
		m[r][3] += float64(z0) * m[r][2]
	}
	var out [12]float32
	for k := range 4 {
		out[k] = float32(m[0][k] + 0.5*m[2][k])
		out[4+k] = float32(m[1][k] + (0.5-float64(row0))*m[2][k])
		out[8+k] = float32(m[2][k])
	}
	return out
}

// rowBand returns the detector rows lo..hi that the voxels of planes
// z0..z1-1 read in any view (fdk.BoxRows).
func rowBand(ms []fdk.Matrix, nx, ny, z0, z1, rows int) (lo, hi int) {
	b := fdk.BoxRows(ms, nx, ny, z0, z1, rows)
	return b.First, b.End() - 1
}

// slab is a run of z-planes reconstructed together, and the first detector
// row of the band staged for it.
type slab struct {
	z0, nz int
	row0   int
}

// plan says how a volume is cut into slabs that fit the device.
type plan struct {
	slabs []slab
	// band is the number of detector rows staged per image, the same for
	// every slab so that the arrays are allocated once.
	band int
	// bytes is the device memory the plan needs.
	bytes int64
}

// footprint gives the device memory an accumulation needs for slabs of
// planes z-planes whose band has rows detector rows.
type footprint func(planes, rows int) int64

// makePlan cuts the volume into the fewest slabs whose footprint fits
// budget, each at most maxPlanes planes thick when maxPlanes > 0. Slabs
// differ in thickness by at most one plane. Thinner slabs never need more
// rows, so the footprint falls with the slab count and a binary search
// finds the fewest.
func makePlan(ms []fdk.Matrix, grid fdk.Grid, rows int, need footprint, budget int64, maxPlanes int) (plan, error) {
	nz := grid.Dim[2]
	try := func(n int) plan {
		p := slabPlan(ms, grid, rows, n)
		p.bytes = need(ceilDiv(nz, n), p.band)
		return p
	}
	lo := 1
	if maxPlanes > 0 {
		lo = ceilDiv(nz, maxPlanes)
	}
	if p := try(lo); p.bytes <= budget {
		return p, nil
	}
	best := try(nz)
	if best.bytes > budget {
		return plan{}, fmt.Errorf("kernels: even one z-plane per slab needs %d MiB of device memory, the budget is %d MiB", best.bytes>>20, budget>>20)
	}
	for hi := nz; hi-lo > 1; { // try(lo) does not fit, try(hi) = best does
		mid := (lo + hi) / 2
		if p := try(mid); p.bytes <= budget {
			hi, best = mid, p
		} else {
			lo = mid
		}
	}
	return best, nil
}

// slabPlan cuts nz planes into n slabs and finds their row bands.
func slabPlan(ms []fdk.Matrix, grid fdk.Grid, rows, n int) plan {
	nz := grid.Dim[2]
	p := plan{slabs: make([]slab, n)}
	lo := make([]int, n)
	for i := range p.slabs {
		z0, z1 := i*nz/n, (i+1)*nz/n
		var hi int
		lo[i], hi = rowBand(ms, grid.Dim[0], grid.Dim[1], z0, z1, rows)
		p.slabs[i] = slab{z0: z0, nz: z1 - z0}
		p.band = max(p.band, hi-lo[i]+1)
	}
	// The band keeps its height for every slab; where it would run off the
	// detector's last row it starts earlier instead, so that every staged
	// row is a real one and the texture's zero border lies exactly at the
	// detector's edge.
	for i := range p.slabs {
		p.slabs[i].row0 = min(lo[i], rows-p.band)
	}
	return p
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

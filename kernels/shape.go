package kernels

import (
	"fmt"
	"slices"
)

// LaunchShape is how the kernels split the work. Every field's zero value
// means its default; DefaultShape holds the defaults, tuned on an NVIDIA
// H200 with bench/cuda_test.go's BenchmarkCUDATune (bench/RESULTS.md).
type LaunchShape struct {
	// ViewsPerLaunch is the number of views one back-projection launch
	// sums in registers before it reads and writes the volume, 1 to
	// maxProjPerLaunch. More views move fewer volume bytes per view but
	// make each upload slot larger.
	ViewsPerLaunch int
	// VoxelsPerThread is the number of voxels along z each thread
	// back-projects, sharing the x and y terms of the matrix: 4, 8 or 16.
	VoxelsPerThread int
	// BlockX and BlockY are the back-projection block's threads along x and
	// y; their product is at most maxThreads. A multiple of 32 along x keeps
	// a warp's volume reads and writes in one row, coalesced.
	BlockX, BlockY int
	// FilterTile is the filter's outputs per block and row (its threads),
	// FilterRows the rows one block filters with the same staged taps.
	FilterTile, FilterRows int
}

// DefaultShape is the launch shape used where Options.Shape leaves a field
// zero.
//
// Measured with BenchmarkCUDATune on an NVIDIA H200 (driver 580.159.04,
// CUDA 13.0) for RabbitCT (512³ from 496 views of 1248 x 960): every
// back-projection shape with 32 views and 8 voxels per thread and a block
// of 256 threads ran within 0.2 % of 752 GUPS, 4 or 16 voxels per thread
// and 16 or 64 views up to 5 % slower (the kernel waits on the texture
// units, not on its arithmetic); filter tiles of 256 outputs by 16 rows
// took 63.5 ms against 70.9 ms for 128 by 8. bench/RESULTS.md has the
// sweep.
var DefaultShape = LaunchShape{ViewsPerLaunch: 32, VoxelsPerThread: 8, BlockX: 32, BlockY: 8, FilterTile: 256, FilterRows: 16}

// Limits the kernels are compiled for; a test checks them against the
// #defines and template instances in the .cu files.
const (
	maxProjPerLaunch = 64 // MAX_PROJ_PER_LAUNCH
	matrixSlots      = 2  // MATRIX_SLOTS
	maxBinsPerPass   = 4  // MAX_BINS
	maxThreads       = 256
	maxGridY         = 65535 // the y and z grid dimensions' hardware limit
)

// Template instances in backproject.cu and filter.cu.
var (
	voxelsPerThreadChoices = []int{4, 8, 16}
	filterTileChoices      = []int{64, 128, 256}
	filterRowsChoices      = []int{4, 8, 16}
)

// withDefaults fills zero fields from DefaultShape and reports a field the
// compiled kernels cannot run.
func (s LaunchShape) withDefaults() (LaunchShape, error) {
	d := DefaultShape
	for _, f := range []struct{ v, def *int }{
		{&s.ViewsPerLaunch, &d.ViewsPerLaunch}, {&s.VoxelsPerThread, &d.VoxelsPerThread},
		{&s.BlockX, &d.BlockX}, {&s.BlockY, &d.BlockY}, {&s.FilterTile, &d.FilterTile}, {&s.FilterRows, &d.FilterRows},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	switch {
	case s.ViewsPerLaunch < 1 || s.ViewsPerLaunch > maxProjPerLaunch:
		return s, fmt.Errorf("kernels: launch shape: ViewsPerLaunch %d: want 1 to %d", s.ViewsPerLaunch, maxProjPerLaunch)
	case !slices.Contains(voxelsPerThreadChoices, s.VoxelsPerThread):
		return s, fmt.Errorf("kernels: launch shape: VoxelsPerThread %d: want one of %v", s.VoxelsPerThread, voxelsPerThreadChoices)
	case s.BlockX < 1 || s.BlockY < 1 || s.BlockX*s.BlockY > maxThreads:
		return s, fmt.Errorf("kernels: launch shape: block %dx%d: want at least 1x1 and at most %d threads", s.BlockX, s.BlockY, maxThreads)
	case !slices.Contains(filterTileChoices, s.FilterTile):
		return s, fmt.Errorf("kernels: launch shape: FilterTile %d: want one of %v", s.FilterTile, filterTileChoices)
	case !slices.Contains(filterRowsChoices, s.FilterRows):
		return s, fmt.Errorf("kernels: launch shape: FilterRows %d: want one of %v", s.FilterRows, filterRowsChoices)
	}
	return s, nil
}

// backprojectKernel returns the kernel that back-projects bins energy bins
// (1 to maxBinsPerPass) in one pass, vpt voxels per thread.
func backprojectKernel(bins, vpt int) string { return fmt.Sprintf("backproject_b%d_z%d", bins, vpt) }

// filterKernel returns the ramp filter kernel of tile outputs per block and
// rows rows.
func filterKernel(tile, rows int) string { return fmt.Sprintf("rampFilter_t%d_r%d", tile, rows) }

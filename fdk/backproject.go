package fdk

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Filtered is one view's weighted and filtered projection, one image per
// energy bin, each row-major Cols x Rows.
type Filtered struct {
	View int
	Bins [][]float32
}

// Backprojector starts accumulations of filtered projections into volumes.
// A CUDA implementation satisfies it as well as the CPU one; jobs running
// concurrently each get their own Accumulator.
type Backprojector interface {
	// Name says which device does the work, for job reports.
	Name() string
	// Start begins back-projecting views onto grid for bins energy bins.
	Start(views []View, det Detector, grid Grid, bins int) (Accumulator, error)
}

// Accumulator sums back-projected views into one volume per energy bin.
// Views may arrive in any order and in batches of any size, so a worker can
// back-project each projection as soon as it is filtered.
type Accumulator interface {
	// Add back-projects a batch of views. The images may be reused by the
	// caller once Add returns.
	Add(batch []Filtered) error
	// Finish returns the volumes, one per bin, and releases the accumulator.
	Finish() ([]*Volume, error)
	// Abort releases the accumulator without finishing it, so that a job
	// that fails or is cancelled mid-way holds no device memory. It is safe
	// after Finish and after a failed Add, and more than once.
	Abort()
}

// DeviceTimer is implemented by accumulators whose Add returns once the
// work is queued on a device (a GPU), so that the host's clock times only
// the queueing: they time each stage on the device instead (CUDA events).
type DeviceTimer interface {
	// DeviceTimes is complete once Finish has returned.
	DeviceTimes() DeviceTimes
}

// DeviceTimes is the device time of each stage of an accumulation. The
// stages overlap on the device (uploads run beside the kernels), so they
// need not add up to the wall time.
type DeviceTimes struct {
	Upload      time.Duration // projections and matrices, host to device
	Filter      time.Duration // weighting and ramp filter on the device
	Backproject time.Duration // the back-projection kernels
	Download    time.Duration // the volume, device to host
}

// ErrUnsupported is wrapped by a FilteringBackprojector's errors about a
// geometry whose weights or filter it cannot apply: the caller filters on
// the host instead.
var ErrUnsupported = errors.New("not supported by this back-projector")

// FilteringBackprojector is a Backprojector that can also weight and
// ramp-filter raw line integrals next to the back-projection (a GPU), so
// that only raw images cross to the device and the host does no filtering.
type FilteringBackprojector interface {
	Backprojector
	// StartFiltering is Start for images that are raw line integrals of
	// pre.Geometry's detector, pre.Geometry.Cols wide: views and det are
	// the back-projected (possibly widened) ones, and pre says how to
	// weight and filter. Errors wrapping ErrUnsupported mean the caller
	// should filter on the host and call Start.
	StartFiltering(views []View, det Detector, grid Grid, bins int, pre Prefilter) (Accumulator, error)
}

// Prefilter is the weighting and filtering stage of a reconstruction, for
// a FilteringBackprojector to apply.
type Prefilter struct {
	Geometry *Geometry
	Views    []View // the geometry's views, before widening
	Weights  *Weights
	Ramp     *RampFilter // filters rows of the widened detector
	// PadLeft is the number of zero columns added on the left of each raw
	// row before filtering (a displaced detector; see Weights.Extension).
	PadLeft int
}

// CPU back-projects with bilinear detector interpolation and 1/w² distance
// weighting on all cores, voxel-driven.
type CPU struct {
	// Threads is the number of goroutines; 0 means runtime.NumCPU().
	Threads int
}

// Name implements Backprojector.
func (c CPU) Name() string { return fmt.Sprintf("cpu (%d threads)", c.threads()) }

func (c CPU) threads() int {
	if c.Threads > 0 {
		return c.Threads
	}
	return runtime.NumCPU()
}

// Start implements Backprojector.
func (c CPU) Start(views []View, det Detector, grid Grid, bins int) (Accumulator, error) {
	if err := grid.Validate(); err != nil {
		return nil, err
	}
	if bins < 1 {
		return nil, fmt.Errorf("backproject: %d energy bins, need at least 1", bins)
	}
	a := &cpuAccumulator{views: views, det: det, grid: grid, threads: c.threads()}
	for range bins {
		a.vols = append(a.vols, NewVolume(grid))
	}
	return a, nil
}

type cpuAccumulator struct {
	views   []View
	det     Detector
	grid    Grid
	threads int
	band    RowBand         // the rows the images hold; zero: all (StartBand)
	fov     *FOV            // if set, voxels outside it are skipped
	ctx     context.Context // if set, Add stops once it ends
	vols    []*Volume
	padded  [][]float32 // reused padded copies of a batch's images
}

// The detector images are copied into buffers with a border of one zero
// pixel on every side. Bilinear reads at (i, i+1) then stay inside the
// buffer for every ray that touches the detector, so the inner loop needs
// neither a bounds branch nor a clamp, and the detector's edge fades to zero
// over one pixel as it would for a real ray. An image of a band of rows
// (StartBand) is padded the same way; its matrices stay the whole
// detector's, and the inner loop subtracts the band's offset from the
// index it computes, so that every voxel reads the same values with the
// same weights as from the whole image.
const border = 1

// paddedView is one view ready for the inner loop.
type paddedView struct {
	m     [3][4]float32 // voxel index -> padded pixel of the whole detector, depth-normalised
	m64   Matrix        // m in float64, for clipping rows
	first int           // m's z index of the grid's first slice (Grid.Slab)
	bins  [][]float32   // padded images of the band's rows
	skip  int           // index in the whole padded image of bins' first element
}

// Add implements Accumulator.
func (a *cpuAccumulator) Add(batch []Filtered) error {
	if len(batch) == 0 {
		return nil
	}
	pv, err := a.prepare(batch)
	if err != nil {
		return err
	}
	nx, ny, nz := a.grid.Dim[0], a.grid.Dim[1], a.grid.Dim[2]
	rows := ny * nz
	const chunk = 4
	var stop <-chan struct{} // nil, never ready, without a context
	if a.ctx != nil {
		stop = a.ctx.Done()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range a.threads {
		wg.Go(func() {
			acc := make([][]float32, len(a.vols))
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= rows {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				for r := start; r < min(start+chunk, rows); r++ {
					y, z := r%ny, r/ny
					for b := range acc {
						acc[b] = a.vols[b].Data[r*nx : (r+1)*nx]
					}
					for i := range pv {
						a.row(&pv[i], acc, r, y, z)
					}
				}
			}
		})
	}
	wg.Wait()
	if a.ctx != nil {
		return a.ctx.Err()
	}
	return nil
}

// interruptBy makes Add stop within a chunk of rows once ctx ends.
func (a *cpuAccumulator) interruptBy(ctx context.Context) { a.ctx = ctx }

// prepare validates a batch and pads its images.
func (a *cpuAccumulator) prepare(batch []Filtered) ([]paddedView, error) {
	band := a.band.whole(a.det)
	w, h := a.det.Cols+2*border, band.Count+2*border
	need := 0
	for _, f := range batch {
		if f.View < 0 || f.View >= len(a.views) {
			return nil, fmt.Errorf("backproject: view %d out of range [0, %d)", f.View, len(a.views))
		}
		if len(f.Bins) != len(a.vols) {
			return nil, fmt.Errorf("backproject: view %d has %d bins, want %d", f.View, len(f.Bins), len(a.vols))
		}
		need += len(f.Bins)
	}
	for len(a.padded) < need {
		a.padded = append(a.padded, make([]float32, w*h))
	}
	out := make([]paddedView, len(batch))
	k := 0
	for i, f := range batch {
		out[i].m, out[i].first = a.voxelMatrix(f.View)
		out[i].skip = band.First * w
		for r := range 3 {
			for k := range 4 {
				out[i].m64[r][k] = float64(out[i].m[r][k])
			}
		}
		for b, img := range f.Bins {
			if len(img) != a.det.Cols*band.Count {
				return nil, fmt.Errorf("backproject: view %d bin %d has %d pixels, want %d", f.View, b, len(img), a.det.Cols*band.Count)
			}
			dst := a.padded[k][:w*h]
			k++
			for r := range band.Count {
				copy(dst[(r+border)*w+border:], img[r*a.det.Cols:(r+1)*a.det.Cols])
			}
			out[i].bins = append(out[i].bins, dst)
		}
	}
	return out, nil
}

// voxelMatrix maps voxel indices to padded pixel coordinates of view v,
// indices of the whole grid a slab was cut from, whose first slice is
// slice first there.
func (a *cpuAccumulator) voxelMatrix(v int) (out [3][4]float32, first int) {
	m, first := a.grid.wholeIndexMatrix(a.views[v].P)
	for k := range 4 {
		out[0][k] = float32(m[0][k] + border*m[2][k])
		out[1][k] = float32(m[1][k] + border*m[2][k])
		out[2][k] = float32(m[2][k])
	}
	return out, first
}

// xRange returns the voxels x0..x1 of row (y, z) whose projections land in
// the padded image (of the band's rows) with room for the bilinear
// neighbour. It clips with the float32 matrix the inner loop uses, widened
// to float64.
func (a *cpuAccumulator) xRange(p *paddedView, y, z int) (x0, x1 int) {
	const margin = 1e-3 // keeps float32 rounding inside the padded image
	band := a.band.whole(a.det)
	return rowSpan(&p.m64, y, z+p.first, a.grid.Dim[0], rect{0, float64(a.det.Cols+2*border-1) - margin,
		float64(band.First), float64(band.End()+2*border-1) - margin})
}

// LimitFOV implements FOVLimiter.
func (a *cpuAccumulator) LimitFOV(f *FOV) { a.fov = f }

// row back-projects one padded view into voxel row r = (y, z) of every bin.
func (a *cpuAccumulator) row(p *paddedView, acc [][]float32, r, y, z int) {
	x0, x1 := a.xRange(p, y, z)
	if a.fov != nil {
		f0, f1 := a.fov.Span(r)
		x0, x1 = max(x0, f0), min(x1, f1)
	}
	if x0 > x1 {
		return
	}
	m := &p.m
	fy, fz := float32(y), float32(z+p.first)
	bu := m[0][1]*fy + m[0][2]*fz + m[0][3]
	bv := m[1][1]*fy + m[1][2]*fz + m[1][3]
	bw := m[2][1]*fy + m[2][2]*fz + m[2][3]
	au, av, aw := m[0][0], m[1][0], m[2][0]
	stride := a.det.Cols + 2*border
	// Each bin takes its own pass along the row: recomputing u, v and w per
	// bin costs less than giving up the vector loop, which handles one image.
	for b, img := range p.bins {
		bilinearRow(acc[b][x0:x1+1], img, stride, p.skip, float32(x0), au, bu, av, bv, aw, bw)
	}
}

// bilinearRow is the inner loop: dst[i] gets the view's value at voxel
// x = x0 + i, read at index iv·stride + iu - skip of img (skip: where the
// band img holds starts in the whole padded image).
//
// It reads img through unsafe pointers: the four bounds checks per voxel
// cost a fifth of the loop's time, and xRange already guarantees that every
// (iu, iv) and its bilinear neighbours lie inside the padded image
// (TestRowSpanStaysInside checks that guarantee on random geometries).
func bilinearRow(dst, img []float32, stride, skip int, x0, au, bu, av, bv, aw, bw float32) {
	done := bilinearRowVector(dst, img, stride, skip, x0, au, bu, av, bv, aw, bw)
	dst = dst[done:]
	x0 += float32(done)
	base := unsafe.Pointer(unsafe.SliceData(img))
	down := uintptr(stride) * 4
	fx := x0
	for i := range dst {
		iw := 1 / (aw*fx + bw)
		u, v := (au*fx+bu)*iw, (av*fx+bv)*iw
		iu, iv := int(u), int(v)
		fu, fv := u-float32(iu), v-float32(iv)
		p := unsafe.Add(base, (iv*stride+iu-skip)*4)
		p00, p01 := *(*float32)(p), *(*float32)(unsafe.Add(p, 4))
		p10, p11 := *(*float32)(unsafe.Add(p, down)), *(*float32)(unsafe.Add(p, down+4))
		top := p00 + fu*(p01-p00)
		bot := p10 + fu*(p11-p10)
		dst[i] += (top + fv*(bot-top)) * iw * iw
		fx++
	}
}

// Finish implements Accumulator.
func (a *cpuAccumulator) Finish() ([]*Volume, error) {
	v := a.vols
	a.vols, a.padded = nil, nil
	return v, nil
}

// Abort implements Accumulator; the memory is the garbage collector's.
func (a *cpuAccumulator) Abort() { a.vols, a.padded = nil, nil }

package kernels

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
)

// accumulator streams batches of views to the GPU and back-projects them
// into the slab volumes in device memory.
//
// Two upload slots alternate. Each has a page-locked staging buffer, a
// layered CUDA array with its texture, and a set of matrices in constant
// memory. While the compute stream back-projects one slot's views, the
// host copies the next views into the other slot's staging buffer and the
// upload stream sends them to its array (for raw images, weighting and
// filtering them on the way). Two events per slot order the streams: the
// upload stream waits until the slot's previous launch has consumed the
// array, the compute stream until the slot's upload has arrived. Every
// copy a kernel reads is queued on the kernel's stream or ordered before
// it by such an event; fakedriver_test.go checks that on every call.
//
// A volume that fits the memory budget is one slab: it stays on the device
// and each batch is back-projected as it arrives. Otherwise Add keeps
// copies of the images and Finish runs every view through every slab,
// staging only the band of detector rows each slab's voxels read.
type accumulator struct {
	c      *CUDA
	dev    *device
	shape  LaunchShape
	views  []fdk.View
	det    fdk.Detector // the back-projected detector: the arrays' width
	grid   fdk.Grid
	bins   int
	inCols int // width of the images Add receives
	pre    *Prefilter
	ms     []fdk.Matrix // voxel-index matrices
	plan   plan
	// reserved is the part of the device's budget this accumulation holds.
	reserved int64
	// binStride is the floats between two bins' slab volumes, sized for the
	// thickest slab.
	binStride int

	gpu   gpuState
	slots [2]slot
	timer stageTimer
	cur   int  // slot being filled
	slab  int  // slab being reconstructed
	first bool // the slab's next launch stores instead of adding
	kept  []fdk.Filtered
	vols  []*fdk.Volume
	// faulted is done once prefault has mapped the volumes' memory.
	faulted sync.WaitGroup
	times   fdk.DeviceTimes
	// err is the first device failure; after it the device state is unknown
	// and the accumulator only reports it.
	err      error
	done     bool
	released bool
}

func newAccumulator(c *CUDA, views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int, p *Prefilter) *accumulator {
	a := &accumulator{c: c, dev: c.dev, shape: c.opts.Shape, views: views, det: det, grid: grid, bins: bins, inCols: det.Cols, pre: p}
	if p != nil {
		a.inCols = p.Cols
	}
	a.timer.dev = c.dev
	a.ms = make([]fdk.Matrix, len(views))
	for i := range views {
		a.ms[i] = grid.IndexMatrix(views[i].P)
	}
	return a
}

// footprint is the device memory for slabs of planes z-planes and bands of
// rows detector rows, in bytes.
func (a *accumulator) footprint(planes, rows int) int64 {
	nx, ny := int64(a.grid.Dim[0]), int64(a.grid.Dim[1])
	p := int64(a.shape.ViewsPerLaunch)
	layers := p * int64(a.bins)
	n := int64(a.bins)*nx*ny*int64(planes) + 2*layers*int64(a.det.Cols*rows)
	if a.pre != nil {
		n += layers*int64((a.inCols+a.det.Cols)*rows) + int64(a.inCols*a.det.Rows) +
			p*int64(a.inCols) + int64(2*a.det.Cols-1)
	}
	return 4 * n
}

// allocate plans the slabs against the device's budget and creates every
// device resource; on failure it releases what it made.
func (a *accumulator) allocate() error {
	var err error
	a.reserved, err = a.c.budget.take(func(free int64) (int64, error) {
		a.plan, err = makePlan(a.ms, a.grid, a.det.Rows, a.footprint, free, a.c.opts.SlabPlanes)
		return a.plan.bytes, err
	})
	if err != nil {
		return errors.Join(err, a.release())
	}
	if err := a.checkPlan(); err != nil {
		return errors.Join(err, a.release())
	}
	thickest := ceilDiv(a.grid.Dim[2], len(a.plan.slabs))
	a.binStride = a.grid.Dim[0] * a.grid.Dim[1] * thickest
	if err := a.dev.th.do(a.create); err != nil {
		return errors.Join(err, a.release())
	}
	data := make([][]float32, a.bins)
	for b := range data {
		a.vols = append(a.vols, fdk.NewVolume(a.grid))
		data[b] = a.vols[b].Data
	}
	a.faulted.Go(func() { prefault(data) })
	if len(a.plan.slabs) > 1 {
		return nil
	}
	if err := a.beginSlab(0); err != nil {
		return errors.Join(err, a.release())
	}
	return nil
}

// checkPlan reports a plan the hardware's limits cannot launch.
func (a *accumulator) checkPlan() error {
	if a.plan.band > int(a.dev.maxTex[1]) {
		return fmt.Errorf("kernels: %d detector rows exceed the device's layered texture height %d", a.plan.band, a.dev.maxTex[1])
	}
	if a.pre != nil && ceilDiv(a.shape.ViewsPerLaunch*a.bins*a.plan.band, a.shape.FilterRows) > maxGridY {
		return fmt.Errorf("kernels: %d bins of %d rows are too many rows for one filter launch", a.bins, a.plan.band)
	}
	return nil
}

// Add implements fdk.Accumulator.
func (a *accumulator) Add(batch []fdk.Filtered) error {
	if a.err != nil {
		return a.err
	}
	if a.done {
		return errors.New("kernels: Add after Finish or Abort")
	}
	if err := a.check(batch); err != nil {
		return err
	}
	if len(a.plan.slabs) > 1 {
		a.keep(batch)
		return nil
	}
	return a.fail(a.stageAll(batch))
}

// check validates a batch before any of it is used, so that a bad view
// changes nothing.
func (a *accumulator) check(batch []fdk.Filtered) error {
	for _, f := range batch {
		if f.View < 0 || f.View >= len(a.views) {
			return fmt.Errorf("kernels: view %d out of range [0, %d)", f.View, len(a.views))
		}
		if len(f.Bins) != a.bins {
			return fmt.Errorf("kernels: view %d has %d bins, want %d", f.View, len(f.Bins), a.bins)
		}
		for b, img := range f.Bins {
			if len(img) != a.inCols*a.det.Rows {
				return fmt.Errorf("kernels: view %d bin %d has %d pixels, want %dx%d", f.View, b, len(img), a.inCols, a.det.Rows)
			}
		}
	}
	return nil
}

// keep copies a batch for the slab passes of Finish: the caller may reuse
// its images once Add returns.
func (a *accumulator) keep(batch []fdk.Filtered) {
	for _, f := range batch {
		c := fdk.Filtered{View: f.View}
		for _, img := range f.Bins {
			c.Bins = append(c.Bins, append([]float32(nil), img...))
		}
		a.kept = append(a.kept, c)
	}
}

// fail records a device error and releases the device resources: after it
// only Finish, which reports it, is meaningful.
func (a *accumulator) fail(err error) error {
	if err == nil || a.err != nil {
		return err
	}
	a.err = errors.Join(err, a.release())
	return a.err
}

// stageAll copies the batch into upload slots, submitting each as it fills.
func (a *accumulator) stageAll(batch []fdk.Filtered) error {
	for len(batch) > 0 {
		s := &a.slots[a.cur]
		if err := a.reclaim(s); err != nil {
			return err
		}
		k := min(len(batch), a.shape.ViewsPerLaunch-s.n)
		a.stage(s, batch[:k])
		batch = batch[k:]
		if s.n == a.shape.ViewsPerLaunch {
			if err := a.submit(); err != nil {
				return err
			}
		}
	}
	return nil
}

// reclaim waits, before a slot is refilled, until its last upload has read
// the staging buffer.
func (a *accumulator) reclaim(s *slot) error {
	if !s.inFlight {
		return nil
	}
	s.inFlight = false
	return a.dev.th.do(func() error { return a.dev.waitHost(s.uploaded) })
}

// stage copies views into slot s: the band of rows of each image, the
// view's matrix and its column weights. The images go in chunks of
// stageChunk floats spread over the cores, since one core copying into
// page-locked memory cannot keep up with the bus.
func (a *accumulator) stage(s *slot, views []fdk.Filtered) {
	sl := a.plan.slabs[a.slab]
	size := a.plan.band * a.inCols
	first := sl.row0 * a.inCols
	var wg sync.WaitGroup
	for i, f := range views {
		n := s.n + i
		m := texelMatrix(a.ms[f.View], sl.z0, sl.row0)
		copy(s.mats[12*n:], m[:])
		if a.pre != nil {
			copy(s.cols[n*a.inCols:], a.pre.Weights.Column(f.View))
		}
		for b, img := range f.Bins {
			dst, src := s.images[(n*a.bins+b)*size:][:size], img[first:][:size]
			for off := 0; off < size; off += stageChunk {
				end := min(off+stageChunk, size)
				wg.Go(func() { copy(dst[off:end], src[off:end]) })
			}
		}
	}
	wg.Wait()
	s.n += len(views)
}

// stageChunk is 1 MiB of floats: large enough that a goroutine per chunk
// costs nothing next to the copy.
const stageChunk = 1 << 18

// submit queues the current slot's upload and launches and switches slots.
func (a *accumulator) submit() error {
	s := &a.slots[a.cur]
	if s.n == 0 {
		return nil
	}
	k, accumulate := a.cur, !a.first
	err := a.dev.th.do(func() error { return a.enqueue(s, k, accumulate) })
	s.inFlight, s.n = true, 0
	a.first = false
	a.cur ^= 1
	return err
}

// enqueue runs on the device thread: the upload stream fills slot k, the
// compute stream back-projects it.
func (a *accumulator) enqueue(s *slot, k int, accumulate bool) error {
	d, g := a.dev, &a.gpu
	if err := d.wait(g.upload, s.consumed); err != nil {
		return err
	}
	if err := a.uploadImages(s, k); err != nil {
		return err
	}
	if err := d.record(s.uploaded, g.upload); err != nil {
		return err
	}
	if err := d.wait(g.compute, s.uploaded); err != nil {
		return err
	}
	err := a.timer.span(stageBackproject, g.compute, func() error { return a.backproject(s, k, accumulate) })
	if err != nil {
		return err
	}
	return d.record(s.consumed, g.compute)
}

// uploadImages fills slot s's array and matrix slot k on the upload
// stream, through the weighting and ramp filter for raw images.
func (a *accumulator) uploadImages(s *slot, k int) error {
	d, g := a.dev, &a.gpu
	band, layers := a.plan.band, s.n*a.bins
	staged := s.images[:layers*a.inCols*band]
	off := devPtr(k * maxProjPerLaunch * 3 * 16)
	err := a.timer.span(stageUpload, g.upload, func() error {
		if err := d.uploadAsync(g.matrices+off, s.mats[:12*s.n], g.upload); err != nil {
			return err
		}
		if a.pre == nil {
			return d.copyToArray(s.array, staged, 0, a.det.Cols, band, layers, g.upload)
		}
		if err := d.uploadAsync(g.raw, staged, g.upload); err != nil {
			return err
		}
		return d.uploadAsync(g.col, s.cols[:s.n*a.inCols], g.upload)
	})
	if err != nil || a.pre == nil {
		return err
	}
	return a.timer.span(stageFilter, g.upload, func() error {
		sh := a.shape
		grid := [3]uint32{uint32(ceilDiv(a.det.Cols, sh.FilterTile)), uint32(ceilDiv(layers*band, sh.FilterRows)), 1}
		if err := d.launch(g.filter, grid, [3]uint32{uint32(sh.FilterTile), 1, 1}, g.upload, a.filterArgs(layers)...); err != nil {
			return err
		}
		return d.copyToArray(s.array, nil, g.filtered, a.det.Cols, band, layers, g.upload)
	})
}

// filterArgs are rampFilter's parameters for layers images of the current
// slab's band.
func (a *accumulator) filterArgs(layers int) []any {
	g := &a.gpu
	return []any{g.filtered, g.raw, g.pix, g.col, g.taps, int32(a.inCols), int32(a.det.Cols), int32(a.plan.band),
		int32(layers), int32(a.bins), int32(a.pre.PadLeft), int32(a.plan.slabs[a.slab].row0)}
}

// backproject launches slot s's views, in passes of at most
// maxBinsPerPass bins.
func (a *accumulator) backproject(s *slot, k int, accumulate bool) error {
	sh := a.shape
	nx, ny, nz := a.grid.Dim[0], a.grid.Dim[1], a.plan.slabs[a.slab].nz
	grid := [3]uint32{uint32(ceilDiv(nx, sh.BlockX)), uint32(ceilDiv(ny, sh.BlockY)), uint32(ceilDiv(nz, sh.VoxelsPerThread))}
	block := [3]uint32{uint32(sh.BlockX), uint32(sh.BlockY), 1}
	for b0 := 0; b0 < a.bins; b0 += maxBinsPerPass {
		nb := min(maxBinsPerPass, a.bins-b0)
		err := a.dev.launch(a.gpu.kernels[nb-1], grid, block, a.gpu.compute, a.backprojectArgs(s, k, b0, accumulate)...)
		if err != nil {
			return err
		}
	}
	return nil
}

// backprojectArgs are backprojectB's parameters for slot s (matrix slot
// k) and the bins from b0 on.
func (a *accumulator) backprojectArgs(s *slot, k, b0 int, accumulate bool) []any {
	acc := int32(0)
	if accumulate {
		acc = 1
	}
	return []any{a.gpu.vol + devPtr(4*b0*a.binStride), int64(a.binStride), s.tex, int32(k), int32(s.n),
		int32(a.bins), int32(b0), int32(a.grid.Dim[0]), int32(a.grid.Dim[1]), int32(a.plan.slabs[a.slab].nz), acc}
}

// beginSlab starts reconstructing slab i.
func (a *accumulator) beginSlab(i int) error {
	a.slab, a.first = i, true
	if !a.c.poison {
		return nil
	}
	return a.dev.th.do(func() error {
		return a.dev.fill(a.gpu.vol, float32(math.NaN()), a.bins*a.binStride, a.gpu.compute)
	})
}

// endSlab submits what is staged and copies the slab into the volumes.
func (a *accumulator) endSlab() error {
	if err := a.submit(); err != nil {
		return err
	}
	sl := a.plan.slabs[a.slab]
	plane := a.grid.Dim[0] * a.grid.Dim[1]
	return a.dev.th.do(func() error {
		if a.first { // no view reached this slab
			if err := a.dev.fill(a.gpu.vol, 0, a.bins*a.binStride, a.gpu.compute); err != nil {
				return err
			}
		}
		if err := a.dev.sync(a.gpu.compute); err != nil {
			return err
		}
		if err := a.timer.collect(&a.times); err != nil {
			return err
		}
		a.faulted.Wait()
		start := time.Now()
		for b, v := range a.vols {
			dst := v.Data[sl.z0*plane : (sl.z0+sl.nz)*plane]
			if err := a.dev.download(dst, a.gpu.vol+devPtr(4*b*a.binStride)); err != nil {
				return err
			}
		}
		a.times.Download += time.Since(start) // a synchronous copy: the host's clock is the device's
		return nil
	})
}

// Finish implements fdk.Accumulator. It releases the device resources
// whatever happens.
func (a *accumulator) Finish() ([]*fdk.Volume, error) {
	if a.done {
		return nil, errors.New("kernels: Finish after Finish or Abort")
	}
	a.done = true
	if a.err != nil {
		return nil, a.err
	}
	err := a.finish()
	if rerr := a.release(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return a.vols, nil
}

// Abort implements fdk.Accumulator: it waits for the queued work and
// releases every device resource.
func (a *accumulator) Abort() {
	a.done = true
	a.kept = nil
	a.release() // a failure here has nobody to report to; Close still ends the context
}

// DeviceTimes implements fdk.DeviceTimer: the device time of each stage,
// from CUDA events, complete after Finish. The stages overlap, so they do
// not add up to the wall time.
func (a *accumulator) DeviceTimes() fdk.DeviceTimes { return a.times }

func (a *accumulator) finish() error {
	if len(a.plan.slabs) == 1 {
		return a.endSlab()
	}
	for i := range a.plan.slabs {
		if err := a.beginSlab(i); err != nil {
			return err
		}
		if err := a.stageAll(a.kept); err != nil {
			return err
		}
		if err := a.endSlab(); err != nil {
			return err
		}
	}
	a.kept = nil
	return nil
}

package kernels

import (
	"errors"
	"fmt"
)

// gpuState is what an accumulation holds on the device.
type gpuState struct {
	kernels  [maxBinsPerPass]function
	filter   function
	matrices devPtr // viewMatrix[matrixSlots][maxProjPerLaunch][3] float4
	upload   uintptr
	compute  uintptr
	vol      devPtr
	// Prefilter buffers: a batch of raw and of filtered images, the shared
	// pixel weights, the batch's column weights, the filter taps.
	raw, filtered, pix, col, taps devPtr
	// undo releases everything above in reverse order of creation.
	undo []func() error
}

// slot is one of the two upload buffers.
type slot struct {
	host     []float32 // page-locked: images, then matrices, then column weights
	images   []float32
	mats     []float32
	cols     []float32
	n        int  // views staged
	inFlight bool // an upload from host may still be reading
	array    uintptr
	tex      texObject
	uploaded uintptr // event: the slot's array and matrices are on the device
	consumed uintptr // event: the slot's launches have finished
}

// create runs on the device thread.
func (a *accumulator) create() error {
	if err := a.createKernels(); err != nil {
		return err
	}
	d, g := a.dev, &a.gpu
	var err error
	for _, s := range []*uintptr{&g.upload, &g.compute} {
		if *s, err = d.stream(); err != nil {
			return err
		}
		g.undo = append(g.undo, func() error { return d.destroyStream(*s) })
	}
	if g.vol, err = a.deviceBuffer(a.bins * a.binStride); err != nil {
		return err
	}
	for i := range a.slots {
		if err := a.createSlot(&a.slots[i]); err != nil {
			return err
		}
	}
	if a.pre != nil {
		return a.createPrefilter()
	}
	return nil
}

// createKernels loads the modules. Each accumulation loads its own, so its
// matrices in constant memory are its alone.
func (a *accumulator) createKernels() error {
	d, g := a.dev, &a.gpu
	mod, err := d.loadModule(backprojectPTX)
	if err != nil {
		return err
	}
	g.undo = append(g.undo, func() error { return d.unload(mod) })
	for b := range g.kernels {
		if g.kernels[b], err = d.function(mod, backprojectKernel(b+1, a.shape.VoxelsPerThread)); err != nil {
			return err
		}
	}
	var size int
	if g.matrices, size, err = d.global(mod, matrixSymbol); err != nil {
		return err
	}
	if want := matrixSlots * maxProjPerLaunch * 3 * 16; size != want {
		return fmt.Errorf("kernels: %s is %d bytes in %s, the Go side expects %d: rebuild with `make kernels`", matrixSymbol, size, backprojectPTX, want)
	}
	if a.pre == nil {
		return nil
	}
	fmod, err := d.loadModule(filterPTX)
	if err != nil {
		return err
	}
	g.undo = append(g.undo, func() error { return d.unload(fmod) })
	g.filter, err = d.function(fmod, filterKernel(a.shape.FilterTile, a.shape.FilterRows))
	return err
}

// deviceBuffer allocates n float32s that release frees.
func (a *accumulator) deviceBuffer(n int) (devPtr, error) {
	p, err := a.dev.alloc(4 * n)
	if err == nil {
		a.gpu.undo = append(a.gpu.undo, func() error { return a.dev.free(p) })
	}
	return p, err
}

// createSlot allocates one upload slot.
func (a *accumulator) createSlot(s *slot) error {
	d, g := a.dev, &a.gpu
	p := a.shape.ViewsPerLaunch
	band, layers := a.plan.band, p*a.bins
	nImg, nCols := layers*a.inCols*band, 0
	if a.pre != nil {
		nCols = p * a.inCols
	}
	var err error
	if s.host, err = a.pinnedBuffer(nImg + 12*p + nCols); err != nil {
		return err
	}
	s.images, s.mats, s.cols = s.host[:nImg], s.host[nImg:nImg+12*p], s.host[nImg+12*p:]
	if s.array, err = d.layeredArray(a.det.Cols, band, layers); err != nil {
		return err
	}
	g.undo = append(g.undo, func() error { return d.destroyArray(s.array) })
	if s.tex, err = d.bilinearTexture(s.array); err != nil {
		return err
	}
	g.undo = append(g.undo, func() error { return d.destroyTexture(s.tex) })
	for _, e := range []*uintptr{&s.uploaded, &s.consumed} {
		if *e, err = d.event(); err != nil {
			return err
		}
		g.undo = append(g.undo, func() error { return d.destroyEvent(*e) })
	}
	return nil
}

// createPrefilter allocates the filter's buffers and queues the upload of
// the shared pixel weights and the taps on the upload stream, which runs
// the filter: an upload from page-locked memory on the filter's own stream
// is ordered before it, where a synchronous copy from pageable memory on
// the default stream is not ordered with a non-blocking stream at all.
func (a *accumulator) createPrefilter() error {
	d, g := a.dev, &a.gpu
	layers := a.shape.ViewsPerLaunch * a.bins
	var err error
	bufs := []struct {
		p *devPtr
		n int
	}{
		{&g.raw, layers * a.inCols * a.plan.band}, {&g.filtered, layers * a.det.Cols * a.plan.band},
		{&g.pix, a.inCols * a.det.Rows}, {&g.col, a.shape.ViewsPerLaunch * a.inCols}, {&g.taps, 2*a.det.Cols - 1},
	}
	for _, b := range bufs {
		if *b.p, err = a.deviceBuffer(b.n); err != nil {
			return err
		}
	}
	pix, taps := a.pre.Weights.Pixel(), rampTaps(a.pre.Ramp, a.det.Cols)
	host, err := a.pinnedBuffer(len(pix) + len(taps))
	if err != nil {
		return err
	}
	copy(host, pix)
	copy(host[len(pix):], taps)
	if err := d.uploadAsync(g.pix, host[:len(pix)], g.upload); err != nil {
		return err
	}
	return d.uploadAsync(g.taps, host[len(pix):], g.upload)
}

// pinnedBuffer returns n float32s of page-locked host memory, from the
// device's pool or newly allocated, that release gives back to the pool.
func (a *accumulator) pinnedBuffer(n int) ([]float32, error) {
	h := a.c.pinned.get(n)
	if h == nil {
		var err error
		if h, err = a.dev.hostAlloc(n); err != nil {
			return nil, err
		}
	}
	a.gpu.undo = append(a.gpu.undo, func() error {
		if a.c.pinned.put(h) {
			return nil
		}
		return a.dev.hostFree(h)
	})
	return h, nil
}

// release waits for the streams, frees every device resource in reverse
// order of creation on the device thread, and gives the accumulation's
// memory back to the device's budget. Only its first call does anything.
func (a *accumulator) release() error {
	if a.released {
		return nil
	}
	a.released = true
	a.faulted.Wait()
	defer a.c.active.Done()
	defer a.c.budget.give(a.reserved)
	return a.dev.th.do(func() error {
		var errs []error
		for _, s := range []uintptr{a.gpu.upload, a.gpu.compute} {
			if s != 0 {
				errs = append(errs, a.dev.sync(s))
			}
		}
		errs = append(errs, a.timer.release())
		for i := len(a.gpu.undo) - 1; i >= 0; i-- {
			errs = append(errs, a.gpu.undo[i]())
		}
		a.gpu.undo = nil
		return errors.Join(errs...)
	})
}

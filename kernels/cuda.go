package kernels

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctrecon/ctrecon/fdk"
)

// Options choose the device and bound its memory use.
type Options struct {
	// Device is the CUDA device ordinal.
	Device int
	// MemoryBudget caps the device memory of all accumulations together, in
	// bytes: workers sharing one CUDA share it, and an accumulation waits
	// for others to finish when the rest of the budget cannot hold even its
	// thinnest slabs. 0 means the memory free at Open, less a reserve of a
	// tenth (at least 512 MiB) for the driver, the JIT cache and CUDA
	// arrays' padding.
	MemoryBudget int64
	// SlabPlanes, if positive, caps the z-planes reconstructed at once.
	// Volumes that do not fit the budget are cut into slabs anyway; tests
	// set this to exercise the slab path on small volumes.
	SlabPlanes int
	// Shape is the kernels' launch shape; zero fields take DefaultShape's.
	Shape LaunchShape
}

// Requirements of the embedded PTX and of a useful accumulation: Open
// refuses a device below them with an error wrapping ErrNoDevice, so that
// `--device auto` falls back to the CPU instead of failing every job.
const (
	// minComputeMajor: the PTX is compute_80, which the driver cannot
	// compile for GPUs before Ampere.
	minComputeMajor = 8
	// minFreeMemory is the least free device memory worth starting with:
	// the driver's reserve plus a small volume.
	minFreeMemory = 1 << 30
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("kernels: CUDA device closed")

// CUDA back-projects on an NVIDIA GPU through the driver API. It
// implements fdk.Backprojector; accumulations may run concurrently, each
// with its own module, streams and buffers, their calls serialised on the
// device's one OS thread, their memory drawn from one budget.
type CUDA struct {
	dev    *device
	opts   Options
	budget *budget
	pinned pinnedPool
	// active counts accumulations not yet released; Close waits for them.
	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
	// poison fills each slab with NaN before its first launch, so that a
	// voxel no kernel writes shows up in tests.
	poison bool
}

// Open loads the driver and makes device opts.Device's primary context
// current on a thread of its own. It returns an error wrapping ErrNoDriver
// when libcuda.so.1 cannot be loaded and ErrNoDevice when the driver finds
// no usable GPU (none, a compute capability below 8.0, or less than 1 GiB
// free): `--device auto` falls back to the CPU on either, with the reason.
func Open(opts Options) (*CUDA, error) {
	drv, err := loadDriver(libcuda)
	if err != nil {
		return nil, err
	}
	return open(drv, opts)
}

// open starts a device on drv, the real driver or a test's fake.
func open(drv *driver, opts Options) (*CUDA, error) {
	var err error
	if opts.Shape, err = opts.Shape.withDefaults(); err != nil {
		return nil, err
	}
	d := &device{drv: drv, th: startThread()}
	var free int64
	err = d.th.do(func() error {
		if err := d.init(opts.Device); err != nil {
			return err
		}
		if err := d.usable(); err != nil {
			return errors.Join(err, d.release())
		}
		free, err = d.freeMemory()
		return err
	})
	if err != nil {
		d.th.stop()
		return nil, err
	}
	total := opts.MemoryBudget
	if total <= 0 {
		total = free - max(free/10, 512<<20)
	}
	return &CUDA{dev: d, opts: opts, budget: newBudget(total)}, nil
}

// Close waits for every accumulation to finish or be aborted, then
// releases the primary context and ends the device's thread. Start fails
// with ErrClosed from the moment Close is called.
func (c *CUDA) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.active.Wait()
	err := c.dev.th.do(func() error {
		var errs []error
		for _, h := range c.pinned.drain() {
			errs = append(errs, c.dev.hostFree(h))
		}
		return errors.Join(append(errs, c.dev.release())...)
	})
	c.dev.th.stop()
	return err
}

// Name implements fdk.Backprojector.
func (c *CUDA) Name() string {
	d := c.dev
	return fmt.Sprintf("cuda (%s, sm_%d%d, %d SMs, driver CUDA %d.%d)", d.name, d.cc[0], d.cc[1], d.sms, d.version/1000, d.version%1000/10)
}

// Start implements fdk.Backprojector: the views' images arrive weighted and
// filtered, det.Cols x det.Rows each, as fdk.Reconstructor prepares them.
func (c *CUDA) Start(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int) (fdk.Accumulator, error) {
	return c.start(views, det, grid, bins, nil)
}

// StartFDK is Start for raw line integrals: the GPU weights and
// ramp-filters each image (p.Cols x det.Rows) before back-projecting it onto
// the views of det, so only the raw images cross the bus. The field-of-view
// mask is left to the caller.
func (c *CUDA) StartFDK(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int, p Prefilter) (fdk.Accumulator, error) {
	if err := p.validate(det); err != nil {
		return nil, err
	}
	return c.start(views, det, grid, bins, &p)
}

// StartFiltering implements fdk.FilteringBackprojector: the GPU weights and
// filters the raw images (StartFDK). Weights that differ per view beyond
// column factors (a moving principal point) give an error wrapping
// fdk.ErrUnsupported, and fdk filters on the host instead.
func (c *CUDA) StartFiltering(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int, pre fdk.Prefilter) (fdk.Accumulator, error) {
	sw, err := SeparableWeights(pre.Weights, pre.Geometry, pre.Views)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", fdk.ErrUnsupported, err)
	}
	return c.StartFDK(views, det, grid, bins, Prefilter{Weights: sw, Ramp: pre.Ramp, Cols: pre.Geometry.Cols, PadLeft: pre.PadLeft})
}

func (c *CUDA) start(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int, p *Prefilter) (*accumulator, error) {
	if err := grid.Validate(); err != nil {
		return nil, err
	}
	layers := c.opts.Shape.ViewsPerLaunch * bins
	switch {
	case bins < 1:
		return nil, fmt.Errorf("kernels: %d energy bins, need at least 1", bins)
	case len(views) == 0:
		return nil, fmt.Errorf("kernels: no views")
	case det.Cols < 1 || det.Rows < 1:
		return nil, fmt.Errorf("kernels: detector of %dx%d pixels", det.Cols, det.Rows)
	case det.Cols > int(c.dev.maxTex[0]) || layers > int(c.dev.maxTex[2]):
		return nil, fmt.Errorf("kernels: %d columns x %d layers exceed the device's layered textures (%d x %d)",
			det.Cols, layers, c.dev.maxTex[0], c.dev.maxTex[2])
	}
	if err := c.enter(); err != nil {
		return nil, err
	}
	a := newAccumulator(c, views, det, grid, bins, p)
	if err := a.allocate(); err != nil { // allocate's release has left the device
		return nil, err
	}
	return a, nil
}

// enter registers an accumulation, unless the device is closing.
func (c *CUDA) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.active.Add(1)
	return nil
}

package kernels

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
)

// Options choose the device and bound its memory use.
type Options struct {
	// Device is the CUDA device ordinal.
	Device int
	// MemoryBudget caps the device memory of one accumulation, in bytes.
	// 0 means the memory free when it starts, less a reserve of a tenth (at
	// least 512 MiB) for the driver, the JIT cache and CUDA arrays' padding.
	MemoryBudget int64
	// SlabPlanes, if positive, caps the z-planes reconstructed at once.
	// Volumes that do not fit the budget are cut into slabs anyway; tests
	// set this to exercise the slab path on small volumes.
	SlabPlanes int
}

// CUDA back-projects on an NVIDIA GPU through the driver API. It
// implements fdk.Backprojector; accumulations may run concurrently, each
// with its own module, streams and buffers, their calls serialised on the
// device's one OS thread.
type CUDA struct {
	dev  *device
	opts Options
	// poison fills each slab with NaN before its first launch, so that a
	// voxel no kernel writes shows up in tests.
	poison bool
}

// Open loads the driver and makes device opts.Device's primary context
// current on a thread of its own. It returns an error wrapping ErrNoDriver
// when libcuda.so.1 cannot be loaded and ErrNoDevice when the driver finds
// no usable GPU: `--device auto` falls back to the CPU on either.
func Open(opts Options) (*CUDA, error) { return open(libcuda, opts) }

func open(lib string, opts Options) (*CUDA, error) {
	drv, err := loadDriver(lib)
	if err != nil {
		return nil, err
	}
	d := &device{drv: drv, th: startThread()}
	if err := d.th.do(func() error { return d.init(opts.Device) }); err != nil {
		d.th.stop()
		return nil, err
	}
	return &CUDA{dev: d, opts: opts}, nil
}

// Close releases the primary context and ends the device's thread. Every
// accumulation must have finished.
func (c *CUDA) Close() error {
	err := c.dev.th.do(c.dev.release)
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

func (c *CUDA) start(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int, p *Prefilter) (*accumulator, error) {
	if err := grid.Validate(); err != nil {
		return nil, err
	}
	switch {
	case bins < 1:
		return nil, fmt.Errorf("kernels: %d energy bins, need at least 1", bins)
	case len(views) == 0:
		return nil, fmt.Errorf("kernels: no views")
	case det.Cols < 1 || det.Rows < 1:
		return nil, fmt.Errorf("kernels: detector of %dx%d pixels", det.Cols, det.Rows)
	case det.Cols > int(c.dev.maxTex[0]) || projPerLaunch*bins > int(c.dev.maxTex[2]):
		return nil, fmt.Errorf("kernels: %d columns x %d layers exceed the device's layered textures (%d x %d)",
			det.Cols, projPerLaunch*bins, c.dev.maxTex[0], c.dev.maxTex[2])
	}
	a := newAccumulator(c, views, det, grid, bins, p)
	if err := a.allocate(); err != nil {
		return nil, err
	}
	return a, nil
}

// budget returns the device memory an accumulation may use.
func (c *CUDA) budget() (int64, error) {
	if c.opts.MemoryBudget > 0 {
		return c.opts.MemoryBudget, nil
	}
	var free int64
	err := c.dev.th.do(func() (err error) {
		free, err = c.dev.freeMemory()
		return err
	})
	return free - max(free/10, 512<<20), err
}

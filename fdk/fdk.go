package fdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a reconstruction. The zero value is a Ram-Lak filter with the
// full bandwidth, padding 2 and the CPU back-projector on all cores.
type Options struct {
	Window Window
	// Cutoff is the fraction of the Nyquist frequency kept (0 means 1).
	Cutoff float64
	// Padding is the zero-padded row length as a multiple of the detector
	// width (0 means 2).
	Padding float64
	// Backprojector does the back-projection (nil means CPU on all cores).
	Backprojector Backprojector
	// Threads bounds the goroutines that weight and filter (0: all cores).
	Threads int
	// Batch is the number of views filtered and back-projected together
	// (0 means 16). Larger batches pass over the volume less often.
	Batch int
	// KeepOutsideFOV keeps the values of voxels that some view does not see,
	// which are otherwise set to zero.
	KeepOutsideFOV bool
	// HostFilter weights and filters on the host even when the
	// back-projector could do it (a FilteringBackprojector).
	HostFilter bool
	// Rows, when not zero, is the band of detector rows that Add takes of
	// every projection (row-major Cols x Rows.Count images): a slab of a
	// volume larger than memory reads only the rows its voxels project onto
	// (NeededRows), which the band must cover. On the CPU the volume is bit
	// for bit that of whole images when the band starts and ends at even
	// rows (or the last), as NeededRows' does: the filter transforms rows
	// in pairs. The weighting and filtering are done on the host.
	Rows RowBand
	// Progress, if set, is called after each back-projected batch with the
	// number of views done and the total.
	Progress func(done, total int)
	// Context, if set, stops the reconstruction when it ends: Add and
	// Finish then return its error, the CPU back-projector within a few
	// rows of the volume, not at the end of its batch.
	Context context.Context
}

func (o *Options) defaults() {
	if o.Cutoff == 0 {
		o.Cutoff = 1
	}
	if o.Padding == 0 {
		o.Padding = 2
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Backprojector == nil {
		o.Backprojector = CPU{Threads: o.Threads}
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
}

// ErrProjection is wrapped by errors about a projection's data.
var ErrProjection = errors.New("invalid projection")

// Reconstructor runs FDK on projections as they arrive, in any order: each
// is weighted, filtered and back-projected once a batch is full. Parker
// weights need the whole arc, which the geometry states up front.
type Reconstructor struct {
	geom    *Geometry
	grid    Grid
	views   []View
	weights *Weights
	// The back-projected detector: geom's, widened by padLeft and padRight
	// zero columns for a displaced detector (see Weights.Extension).
	bpDet             Detector
	bpViews           []View
	padLeft, padRight int
	filter            *RampFilter
	acc               Accumulator
	opts              Options
	bins              int

	fov *FOV // nil when the caller keeps what is outside it
	// fovReady is done once fov is computed.
	fovReady sync.WaitGroup
	// deviceFilter: the accumulator weights and filters the raw images.
	deviceFilter bool
	pending      []Filtered
	seen         []bool
	done         int
	timings      Timings
}

// Timings splits a reconstruction's wall time by stage. With a
// back-projector on a device, Backproject is the time the host spent
// handing it the views and waiting for the volumes (filtering included
// when the device filters), and Device the device's own times.
type Timings struct {
	Setup       time.Duration // New: weights, filter design, starting the back-projector
	Filter      time.Duration // weighting and ramp filtering on the host
	Backproject time.Duration
	Mask        time.Duration // field-of-view mask
	Device      DeviceTimes   // zero unless the accumulator is a DeviceTimer
}

// Plus returns the stage times of t and u together: a volume
// reconstructed in slabs.
func (t Timings) Plus(u Timings) Timings {
	d := DeviceTimes{t.Device.Upload + u.Device.Upload, t.Device.Filter + u.Device.Filter,
		t.Device.Backproject + u.Device.Backproject, t.Device.Download + u.Device.Download}
	return Timings{t.Setup + u.Setup, t.Filter + u.Filter, t.Backproject + u.Backproject, t.Mask + u.Mask, d}
}

// New prepares a reconstruction of geom's projections onto grid, for bins
// energy bins at once.
func New(geom *Geometry, grid Grid, bins int, opts Options) (*Reconstructor, error) {
	start := time.Now()
	opts.defaults()
	views, w, err := weighted(geom, grid)
	if err != nil {
		return nil, err
	}
	r := &Reconstructor{geom: geom, grid: grid, views: views, weights: w, opts: opts, bins: bins, seen: make([]bool, len(views))}
	r.padLeft, r.padRight = w.Extension()
	r.bpDet, r.bpViews = Widen(geom.Detector, views, r.padLeft, r.padRight)
	if err := r.checkBand(); err != nil {
		return nil, err
	}
	tau := geom.PitchU * geom.SID / geom.SDD
	if r.filter, err = NewRampFilter(r.bpDet.Cols, tau, opts.Window, opts.Cutoff, opts.Padding); err != nil {
		return nil, err
	}
	if err := r.start(grid); err != nil {
		return nil, fmt.Errorf("start %s back-projection: %w", opts.Backprojector.Name(), err)
	}
	if !opts.KeepOutsideFOV {
		r.maskFOV(grid)
	}
	r.timings.Setup = time.Since(start)
	return r, nil
}

// maskFOV computes the field of view for Finish to mask with. An
// accumulator that can skip the voxels outside needs it now; for others
// (a GPU's) it is computed on the host's cores while the device works,
// since for RabbitCT's 512³ from 496 views it takes a quarter of a second.
func (r *Reconstructor) maskFOV(grid Grid) {
	if l, ok := r.acc.(FOVLimiter); ok {
		r.fov = NewFOV(r.bpViews, r.bpDet, grid)
		l.LimitFOV(r.fov)
		return
	}
	r.fovReady.Go(func() { r.fov = NewFOV(r.bpViews, r.bpDet, grid) })
}

// checkBand refuses a row band off the detector or one that misses rows
// the grid's voxels read.
func (r *Reconstructor) checkBand() error {
	b := r.opts.Rows
	if b == (RowBand{}) {
		return nil
	}
	if b.First < 0 || b.Count < 1 || b.End() > r.geom.Rows {
		return fmt.Errorf("%w: %v of a detector of %d rows", ErrGeometry, b, r.geom.Rows)
	}
	first, _ := r.grid.inWhole()
	need := BoxRows(wholeMatrices(r.bpViews, r.grid), r.grid.Dim[0], r.grid.Dim[1], first, first+r.grid.Dim[2], r.geom.Rows)
	if !b.covers(need) {
		return fmt.Errorf("%w: %v given, but the grid's voxels read %v", ErrGeometry, b, need)
	}
	return nil
}

// rows returns the band of rows the images hold.
func (r *Reconstructor) rows() RowBand { return r.opts.Rows.whole(r.geom.Detector) }

// start begins the accumulation: on a FilteringBackprojector with the raw
// images, unless it cannot filter this geometry, the images are a band of
// rows, or the options say not to.
func (r *Reconstructor) start(grid Grid) error {
	if r.opts.Rows != (RowBand{}) {
		var err error
		r.acc, err = startBand(r.opts.Backprojector, r.bpViews, r.bpDet, r.opts.Rows, grid, r.bins)
		r.interruptible()
		return err
	}
	if fb, ok := r.opts.Backprojector.(FilteringBackprojector); ok && !r.opts.HostFilter {
		pre := Prefilter{Geometry: r.geom, Views: r.views, Weights: r.weights, Ramp: r.filter, PadLeft: r.padLeft}
		acc, err := fb.StartFiltering(r.bpViews, r.bpDet, grid, r.bins, pre)
		if err == nil {
			r.acc, r.deviceFilter = acc, true
			return nil
		}
		if !errors.Is(err, ErrUnsupported) {
			return err
		}
	}
	var err error
	r.acc, err = r.opts.Backprojector.Start(r.bpViews, r.bpDet, grid, r.bins)
	r.interruptible()
	return err
}

// interruptible makes the accumulator stop part-way once the options'
// context ends, where it can.
func (r *Reconstructor) interruptible() {
	if c, ok := r.acc.(interruptible); ok && r.opts.Context != nil {
		c.interruptBy(r.opts.Context)
	}
}

// interruptible is an Accumulator whose Add stops part-way, returning the
// context's error, once the context ends.
type interruptible interface{ interruptBy(context.Context) }

// Widen returns the detector and views widened by left and right zero
// columns, as the reconstructor does for a displaced detector (see
// Weights.Extension).
func Widen(det Detector, views []View, left, right int) (Detector, []View) {
	if left == 0 && right == 0 {
		return det, views
	}
	det.Cols += left + right
	out := make([]View, len(views))
	for i, v := range views {
		for k := range 4 {
			v.P[0][k] += float64(left) * v.P[2][k]
		}
		v.PrincipalU += float64(left)
		out[i] = v
	}
	return det, out
}

// Weights returns the weighting stage, for reports of the scan it found.
func (r *Reconstructor) Weights() *Weights { return r.weights }

// Views returns the per-view matrices.
func (r *Reconstructor) Views() []View { return r.views }

// CheckFOV reports how much of the volume leaves the field of view of the
// views as they are back-projected: for a displaced (half-fan) detector,
// widened by zero columns to be symmetric about the rotation axis, since
// the opposite views supply what its short side misses. CheckFOV on the
// measured detector would report most of a half-fan volume as truncated.
// The mask that Finish applies is this field of view.
func (r *Reconstructor) CheckFOV() FOVReport { return CheckFOV(r.bpViews, r.bpDet, r.grid) }

// Add takes view v's line integrals, one row-major image per bin. The
// reconstructor keeps the slices until the batch is back-projected: the
// caller must not reuse them. A view given twice, of the wrong size or with
// a non-finite value is rejected and changes nothing.
func (r *Reconstructor) Add(v int, bins [][]float32) error {
	if err := r.check(v, bins); err != nil {
		return err
	}
	r.seen[v] = true
	r.pending = append(r.pending, Filtered{View: v, Bins: bins})
	if len(r.pending) >= r.opts.Batch {
		return r.flush()
	}
	return nil
}

func (r *Reconstructor) check(v int, bins [][]float32) error {
	if v < 0 || v >= len(r.views) {
		return fmt.Errorf("%w: view %d out of range [0, %d)", ErrProjection, v, len(r.views))
	}
	if r.seen[v] {
		return fmt.Errorf("%w: view %d given twice", ErrProjection, v)
	}
	if len(bins) != r.bins {
		return fmt.Errorf("%w: view %d has %d energy bins, want %d", ErrProjection, v, len(bins), r.bins)
	}
	band := r.rows()
	for b, img := range bins {
		if len(img) != r.geom.Cols*band.Count {
			return fmt.Errorf("%w: view %d bin %d has %d pixels, want %dx%d", ErrProjection, v, b, len(img), r.geom.Cols, band.Count)
		}
		if i := firstNonFinite(img, r.opts.Threads); i >= 0 {
			return fmt.Errorf("%w: view %d bin %d: non-finite value at column %d row %d", ErrProjection, v, b, i%r.geom.Cols, band.First+i/r.geom.Cols)
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in img, or
// -1. A large image is scanned in chunks on up to threads cores: scanning
// 5 MB on one core took longer than a GPU needs to filter and back-project
// the view.
func firstNonFinite(img []float32, threads int) int {
	const chunk = 1 << 16
	n := (len(img) + chunk - 1) / chunk
	found := make([]int, n)
	scan := func(c int) {
		found[c] = -1
		for i, x := range img[c*chunk : min((c+1)*chunk, len(img))] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				found[c] = c*chunk + i
				return
			}
		}
	}
	if n == 1 || threads <= 1 {
		for c := range n {
			if scan(c); found[c] >= 0 {
				return found[c]
			}
		}
		return -1
	}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Go(func() {
			for c := int(next.Add(1) - 1); c < n; c = int(next.Add(1) - 1) {
				scan(c)
			}
		})
	}
	wg.Wait()
	for _, i := range found {
		if i >= 0 {
			return i
		}
	}
	return -1
}

// flush weights, filters and back-projects the pending views.
func (r *Reconstructor) flush() error {
	if len(r.pending) == 0 {
		return nil
	}
	if ctx := r.opts.Context; ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if !r.deviceFilter {
		start := time.Now()
		r.filterPending()
		r.timings.Filter += time.Since(start)
	}
	mid := time.Now()
	if err := r.acc.Add(r.pending); err != nil {
		return err
	}
	r.timings.Backproject += time.Since(mid)
	r.done += len(r.pending)
	r.pending = r.pending[:0]
	if r.opts.Progress != nil {
		r.opts.Progress(r.done, len(r.views))
	}
	return nil
}

// filterPending weights, widens and filters the pending views' images on
// the host's cores.
func (r *Reconstructor) filterPending() {
	type job struct{ v, b int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range min(r.opts.Threads, len(r.pending)*r.bins) {
		f := r.filter.Clone()
		wg.Go(func() {
			for j := range jobs {
				img := r.pending[j.v].Bins[j.b]
				r.weights.ApplyRows(r.pending[j.v].View, img, r.rows().First)
				img = r.widen(img)
				f.FilterRows(img, r.bpDet.Cols)
				r.pending[j.v].Bins[j.b] = img
			}
		})
	}
	for i := range r.pending {
		for b := range r.bins {
			jobs <- job{i, b}
		}
	}
	close(jobs)
	wg.Wait()
}

// widen returns img with the zero columns of the back-projected detector.
func (r *Reconstructor) widen(img []float32) []float32 {
	if r.bpDet.Cols == r.geom.Cols {
		return img
	}
	out := make([]float32, r.bpDet.Cols*r.rows().Count)
	for row := range r.rows().Count {
		copy(out[row*r.bpDet.Cols+r.padLeft:], img[row*r.geom.Cols:(row+1)*r.geom.Cols])
	}
	return out
}

// Finish back-projects what is pending and returns one volume per bin. It
// fails if any view never arrived, naming the first missing one.
func (r *Reconstructor) Finish() ([]*Volume, error) {
	if err := r.flush(); err != nil {
		return nil, err
	}
	for v, ok := range r.seen {
		if !ok {
			return nil, fmt.Errorf("%w: view %d of %d never arrived", ErrProjection, v, len(r.seen))
		}
	}
	start := time.Now()
	vols, err := r.acc.Finish()
	r.timings.Backproject += time.Since(start)
	if dt, ok := r.acc.(DeviceTimer); ok {
		r.timings.Device = dt.DeviceTimes()
	}
	if err != nil {
		return nil, err
	}
	start = time.Now()
	r.fovReady.Wait()
	if r.fov != nil {
		for _, v := range vols {
			r.fov.Mask(v)
		}
	}
	r.timings.Mask = time.Since(start)
	return vols, nil
}

// Abort releases the back-projector's resources (a GPU's memory) of a
// reconstruction that will not be finished. It is safe after Finish.
func (r *Reconstructor) Abort() {
	r.fovReady.Wait()
	r.acc.Abort()
	r.pending = nil
}

// FOV returns the field of view whose outside Finish sets to zero, or nil
// when Options.KeepOutsideFOV keeps it: for writers that mark those voxels
// (DICOM's PixelPaddingValue).
func (r *Reconstructor) FOV() *FOV {
	r.fovReady.Wait()
	return r.fov
}

// Timings returns the time spent so far in each stage.
func (r *Reconstructor) Timings() Timings { return r.timings }

// Reconstruct is FDK in one call for a single bin: projections[v] is view v's
// line-integral image. The images are overwritten.
func Reconstruct(geom *Geometry, grid Grid, projections [][]float32, opts Options) (*Volume, error) {
	r, err := New(geom, grid, 1, opts)
	if err != nil {
		return nil, err
	}
	defer r.Abort()
	return r.single(projections)
}

// single adds every view's image of a single bin and finishes.
func (r *Reconstructor) single(projections [][]float32) (*Volume, error) {
	if len(projections) != len(r.views) {
		return nil, fmt.Errorf("%w: %d projections for %d views", ErrProjection, len(projections), len(r.views))
	}
	for v, p := range projections {
		if err := r.Add(v, [][]float32{p}); err != nil {
			return nil, err
		}
	}
	vols, err := r.Finish()
	if err != nil {
		return nil, err
	}
	return vols[0], nil
}

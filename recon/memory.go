package recon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/sinogram"
)

// A job with max_memory_bytes whose volume does not fit is reconstructed in
// z-slabs (fdk.PlanSlabs), one after another: each from only the detector
// rows its voxels read, each written as it finishes (the DICOM slices of
// every bin, or the next part of a plastimatch folder's .mha), so that no
// more than one slab's volumes and one batch of row bands is ever held. A
// spectral scan's frames are pre-processed whole, one at a time, for the
// first slab, and kept on disk (lineCache), from which each slab reads its
// rows; a plastimatch folder's .pfm files are read only in the slab's
// rows. What needs the whole volume is refused once the
// plan is made, before the reconstruction (a water region, materials, a
// calibration, write_mha, a plastimatch folder's png) or skipped with a warning in the report (the
// previews and montage, feature records). A volume that fits in one slab
// runs as without the bound.

// planSlabs plans the job's slabs for bins energy bins of geometry g onto
// grid. A budget under one slice is a FieldError on max_memory_bytes that
// says what a slice needs.
func (j *Job) planSlabs(g *fdk.Geometry, grid fdk.Grid, bins int, bp fdk.Backprojector) (fdk.SlabPlan, error) {
	p, err := fdk.PlanSlabs(g, grid, bins, j.options(bp), 0, j.MaxMemoryBytes)
	if errors.Is(err, fdk.ErrMemory) {
		return p, jobErr("max_memory_bytes", "%v", err)
	}
	return p, err
}

// refuseWhole refuses the fields whose work needs the whole volume, for a
// job of n slabs.
func (j *Job) refuseWhole(n int) error {
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"water_roi", j.WaterROI != nil}, {"materials", len(j.Materials) > 0}, {"make_calibration", j.MakeCalibration},
		{"write_mha", j.WriteMHA}, {"png", j.PNG != ""},
	} {
		if f.set {
			return jobErr(f.field, "needs the whole volume, which max_memory_bytes (%s) splits into %d slabs: raise the bound or leave the field out",
				humanize.IBytes(uint64(j.MaxMemoryBytes)), n)
		}
	}
	return nil
}

// boundHeap sets the Go runtime's soft memory limit to the job's bound, so
// that the collector keeps the heap within it, and returns what restores
// the previous limit.
func (j *Job) boundHeap() func() {
	old := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(old, j.MaxMemoryBytes))
	return func() { debug.SetMemoryLimit(old) }
}

// planSlabs is the step after the check of a job with max_memory_bytes: it
// adds the steps of a volume held whole when it fits one slab, else those
// of a volume in slabs. A split job of auto slabs gets one task per slab
// of the plan, and runs as one that is not split when there is one.
func (r *runner) planSlabs(context.Context) error {
	plan, err := r.job.planSlabs(&r.scan.Geometry, r.grid, len(r.bins), r.opts.Backprojector)
	if err != nil {
		return err
	}
	if r.job.Slabs == SlabsAuto {
		r.tasks = planRanges(&plan)
		if len(plan.Slabs) == 1 {
			r.opts.split = nil
		}
	}
	if len(plan.Slabs) == 1 {
		r.steps = append(r.steps, r.wholeStages()...)
		return nil
	}
	if err := r.job.refuseWhole(len(plan.Slabs)); err != nil {
		return err
	}
	r.slabs = &plan
	r.steps = append(r.steps, step{"calibrate", r.calibrate}, step{"reconstruct", r.reconstructSlabs}, step{"features", r.noFeatures})
	r.warn("the volume was reconstructed and written in %d parts within max_memory_bytes %s (each about %s to hold) and never held whole: no previews, montage or feature records",
		len(plan.Slabs), humanize.IBytes(uint64(r.job.MaxMemoryBytes)), humanize.IBytes(uint64(plan.Memory.Total())))
	return nil
}

// planRanges returns the slices z0 ≤ z < z1 of each of plan's slabs.
func planRanges(plan *fdk.SlabPlan) [][2]int {
	out := make([][2]int, len(plan.Slabs))
	for i, s := range plan.Slabs {
		out[i] = [2]int{s.Z0, s.Z1}
	}
	return out
}

// reconstructSlabs reconstructs the slabs of every bin in turn, or has a
// split job's slab tasks make them and reads their volumes a slab of the
// plan at a time, and writes each bin's DICOM slices as its slab comes.
func (r *runner) reconstructSlabs(ctx context.Context) error {
	st := dicomStudy(r.scan, &r.job)
	r.rep.StudyInstanceUID = st.StudyInstanceUID
	opts := dicomOptions(r.scan, &r.job, nil)
	opts.Padded = !r.job.KeepOutsideFOV // each slab's field of view
	writers := make([]*dicomio.SeriesWriter, len(r.bins))
	for i, b := range r.bins {
		w, err := dicomio.NewSeriesWriter(filepath.Join(r.dir, "dicom"), st, r.dicomBin(i, b), r.grid, opts)
		if err != nil {
			return err
		}
		defer w.Abort()
		writers[i] = w
	}
	write := func(vols []*fdk.Volume, fov *fdk.FOV) error {
		for i, w := range writers {
			if err := w.WriteSlab(vols[i], fov); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if r.opts.split != nil {
		err = r.readSplit(ctx, planRanges(r.slabs), write)
	} else if err = r.prepare(); err == nil {
		err = r.inTurn(ctx, r.slabs, write)
		r.clampedWarning()
	}
	if err != nil {
		return err
	}
	for i, w := range writers {
		s, err := w.Close()
		if err != nil {
			return err
		}
		r.addSeries(i, s)
	}
	return nil
}

// inTurn reconstructs plan's slabs in turn, the first from the scan's
// frames as they arrive and the others from those on disk by then, and
// hands each slab's volumes and field of view to done. The first slab
// pre-processes every view, counted in the report, and keeps its line
// integrals in a lineCache in r.dir, from which the others read their
// rows; without one (it could not be made or written: a warning) they
// pre-process every view again.
func (r *runner) inTurn(ctx context.Context, plan *fdk.SlabPlan, done func(vols []*fdk.Volume, fov *fdk.FOV) error) error {
	g := &r.scan.Geometry
	slab := 0
	var cache *lineCache
	if len(plan.Slabs) > 1 {
		var err error
		if cache, err = newLineCache(r.dir, g, len(r.bins)); err != nil {
			r.warn("%v: every slab pre-processes every view", err)
		}
	}
	defer func() { cache.remove() }()
	views := func(fn func(v int) error) error {
		if slab == 0 { // the scan's frames as they arrive
			return r.src.views(ctx, fn)
		}
		return eachView(ctx, g, fn) // all on disk since the first slab
	}
	read := func(v int, rows fdk.RowBand) ([][]float32, error) {
		if slab > 0 && cache != nil {
			return cache.band(v, rows)
		}
		imgs, err := r.lineIntegrals(v, slab == 0)
		if err != nil {
			return nil, err
		}
		if slab == 0 && cache != nil {
			if err := cache.put(v, imgs); err != nil {
				r.warn("%v: every slab pre-processes every view", err)
				cache.remove()
				cache = nil
			}
		}
		for i, img := range imgs {
			imgs[i] = fdk.CropRows(img, g.Cols, rows)
		}
		return imgs, nil
	}
	return r.job.eachSlab(ctx, g, plan, len(r.bins), r.opts, r.rep, views, read, func(vols []*fdk.Volume, fov *fdk.FOV) error {
		slab++
		return done(vols, fov)
	})
}

// eachSlab reconstructs plan's slabs of the report's grid in turn, for
// bins energy bins of g: views calls its function with every view, read
// gives a view's images of a band of rows, one per bin, and done takes a
// slab's volumes and field of view before the next slab starts. The
// report gets the geometry's notes (once, for the whole grid), each slab
// and the summed stage times.
func (j *Job) eachSlab(ctx context.Context, g *fdk.Geometry, plan *fdk.SlabPlan, bins int, opts Options, rep *Report,
	views func(fn func(v int) error) error, read func(v int, rows fdk.RowBand) ([][]float32, error),
	done func(vols []*fdk.Volume, fov *fdk.FOV) error) error {
	var t fdk.Timings
	for i, s := range plan.Slabs {
		start := time.Now()
		timings, err := j.oneSlab(ctx, g, plan, i, bins, opts, rep, views, read, done)
		if err != nil {
			return err
		}
		t = t.Plus(timings)
		// The slab just written is garbage now, but the collector would
		// free it only after the next slab's volume is allocated beside it,
		// doubling the resident size the budget bounds; a collection here
		// (a fraction of a second against minutes a slab) frees it first.
		debug.FreeOSMemory()
		rows := s.Rows
		rep.Slabs = append(rep.Slabs, SlabReport{Index: i, Slices: [2]int{s.Z0, s.Z1}, Rows: &rows, Seconds: time.Since(start).Seconds()})
	}
	rep.addTimings(t, bins)
	return nil
}

// oneSlab reconstructs slab i of plan for eachSlab and hands it to done,
// and gives its reconstructor back before returning, so that no more than
// one slab's is held at a time.
func (j *Job) oneSlab(ctx context.Context, g *fdk.Geometry, plan *fdk.SlabPlan, i, bins int, opts Options, rep *Report,
	views func(fn func(v int) error) error, read func(v int, rows fdk.RowBand) ([][]float32, error),
	done func(vols []*fdk.Volume, fov *fdk.FOV) error) (fdk.Timings, error) {
	s := plan.Slabs[i]
	grid, err := rep.Grid.Slab(s.Z0, s.Z1)
	if err != nil {
		return fdk.Timings{}, err
	}
	rec, err := j.newReconstructor(ctx, g, grid, s.Rows, bins, opts)
	if err != nil {
		return fdk.Timings{}, err
	}
	defer rec.Abort() // a failed slab gives a GPU's memory back
	if i == 0 {
		left, right := rec.Weights().Extension()
		det, vs := fdk.Widen(g.Detector, rec.Views(), left, right)
		rep.noteGeometry(rec, fdk.CheckFOV(vs, det, rep.Grid), opts.Log)
	}
	n, added := g.NumViews(), 0
	err = views(func(v int) error {
		imgs, err := read(v, s.Rows)
		if err != nil {
			return err
		}
		if err := rec.Add(v, imgs); err != nil {
			return err
		}
		if added++; opts.Progress != nil {
			opts.Progress("reconstruct", i*n+added, len(plan.Slabs)*n)
		}
		return nil
	})
	if err != nil {
		return fdk.Timings{}, fmt.Errorf("slab %d (slices %d-%d): %w", i, s.Z0, s.Z1-1, err)
	}
	vols, err := rec.Finish()
	if err != nil {
		return fdk.Timings{}, fmt.Errorf("slab %d (slices %d-%d): %w", i, s.Z0, s.Z1-1, err)
	}
	return rec.Timings(), done(vols, rec.FOV())
}

// reconstructFolderSlabs reconstructs a plastimatch folder in plan's
// slabs, reading each .pfm only in a slab's rows, into the MetaImage
// job.Output, written a slab at a time.
func reconstructFolderSlabs(ctx context.Context, job *Job, opts Options, folder *sinogram.Folder, plan *fdk.SlabPlan, rep *Report) error {
	g := &folder.Geometry
	views := func(fn func(v int) error) error { return eachView(ctx, g, fn) }
	read := func(v int, rows fdk.RowBand) ([][]float32, error) {
		img, err := folder.ProjectionRows(v, rows)
		return [][]float32{img}, err
	}
	return writeAtomicWith(job.Output, func(w io.Writer) error {
		if err := metaimage.EncodeHeader(w, rep.Grid); err != nil {
			return err
		}
		return job.eachSlab(ctx, g, plan, 1, opts, rep, views, read, func(vols []*fdk.Volume, _ *fdk.FOV) error {
			return metaimage.EncodeData(w, vols[0].Data)
		})
	})
}

// dicomBin is bin b's DICOM series description, the i-th of the job's.
func (r *runner) dicomBin(i, b int) dicomio.Bin {
	bin := r.scan.Bins[b]
	return dicomio.Bin{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: r.mus[i],
		SeriesInstanceUID: scanUID(r.scan, "series", r.job.ID, strconv.Itoa(b), r.job.pixelSettings(r.grid))}
}

// noFeatures writes an empty FeaturesName where the options ask for
// features, which need the whole volume: the job has no records to
// publish, and says why in its warnings.
func (r *runner) noFeatures(context.Context) error {
	if !r.opts.Features {
		return nil
	}
	return os.WriteFile(filepath.Join(r.dir, FeaturesName), nil, 0o644)
}

// eachView calls fn with every view of g in order, until ctx ends.
func eachView(ctx context.Context, g *fdk.Geometry, fn func(v int) error) error {
	for v := range g.NumViews() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

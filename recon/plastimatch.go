package recon

import (
	"context"
	"errors"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/preview"
	"github.com/ctrecon/ctrecon/sinogram"
)

// isSpectral reports whether dir is a spectral scan (it has a manifest);
// any other folder is read as a plastimatch projection folder.
func isSpectral(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, sinogram.ManifestName))
	return err == nil
}

// checkInput fails, naming the input field, unless dir is a folder that
// holds a scan of either kind: scan.json, or plastimatch projections.
func checkInput(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return jobErr("input", "%s: no such folder", dir)
	case err != nil:
		return jobErr("input", "%v", err)
	case !fi.IsDir():
		return jobErr("input", "%s is a file, not a scan folder", dir)
	case !isSpectral(dir) && !isPlastimatch(dir):
		return jobErr("input", "%s holds neither a spectral scan (%s) nor plastimatch projections (*.pfm and *.txt)", dir, sinogram.ManifestName)
	}
	return nil
}

// isPlastimatch reports whether dir holds plastimatch projections.
func isPlastimatch(dir string) bool {
	names, _ := filepath.Glob(filepath.Join(dir, "*.pfm"))
	return len(names) > 0
}

// errSpectralPNG refuses png for a spectral scan, which draws its previews
// into its output folder.
var errSpectralPNG = jobErr("png", "only a plastimatch folder's volume is drawn to a picture of its own; a spectral scan's job writes preview_bin<k>.png per bin into its output folder")

// checkPlastimatch refuses what a plastimatch folder's job cannot do: the
// fields only a spectral scan uses (it has one bin, no water calibration
// and no patient or study, and becomes a volume, not DICOM), and an output
// or a picture that is not a .mha or a .png, or that exists already.
func (j *Job) checkPlastimatch() error {
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"id", j.ID != ""}, {"bins", len(j.Bins) > 0}, {"water_roi", j.WaterROI != nil}, {"pacs", j.PACS != ""},
		{"patient_name", j.PatientName != ""}, {"patient_id", j.PatientID != ""}, {"study_id", j.StudyID != ""},
		{"study_description", j.StudyDesc != ""}, {"write_mha", j.WriteMHA}, {"materials", len(j.Materials) > 0},
		{"make_calibration", j.MakeCalibration},
	} {
		if f.set {
			return jobErr(f.field, "only a spectral scan (scan.json) takes it; %s is a plastimatch projection folder", j.Input)
		}
	}
	if !strings.EqualFold(filepath.Ext(j.Output), ".mha") {
		return jobErr("output", "%s: a plastimatch projection folder reconstructs into one MetaImage volume, OUT.mha", j.Output)
	}
	if j.PNG != "" && !strings.EqualFold(filepath.Ext(j.PNG), ".png") {
		return jobErr("png", "%s: want a .png file", j.PNG)
	}
	for _, f := range []struct{ field, path string }{{"output", j.Output}, {"png", j.PNG}} {
		if _, err := os.Lstat(f.path); f.path != "" && err == nil {
			return jobErr(f.field, "%s exists: a new file is written, never one replaced; remove it or give another name", f.path)
		}
	}
	return nil
}

// runPlastimatch reconstructs the plastimatch folder job.Input into the
// MetaImage job.Output, and draws its three central slices into job.PNG
// when given. The outputs are checked (writable, room for them) before the
// reconstruction, and each is written next to its place and renamed into
// it, so none is ever half written. There is no report file: the report
// is returned.
func runPlastimatch(ctx context.Context, job Job, opts Options) (*Report, error) {
	if err := job.checkPlastimatch(); err != nil {
		return nil, err
	}
	start := time.Now()
	folder, err := sinogram.OpenPlastimatch(job.Input)
	if err != nil {
		return nil, err
	}
	rep := &Report{Job: job, Device: opts.Backprojector.Name(), Seconds: map[string]float64{}}
	if err := rep.setGeometry(&job, &folder.Geometry); err != nil {
		return nil, err
	}
	rep.Seconds["read"] = time.Since(start).Seconds()
	for _, out := range []struct {
		path string
		size float64
	}{{job.Output, 4 * float64(rep.Grid.Voxels())}, {job.PNG, 0}} {
		if out.path != "" {
			if err := checkSpace(filepath.Dir(out.path), out.size+1<<20); err != nil {
				return nil, err
			}
		}
	}
	start = time.Now()
	if job.MaxMemoryBytes > 0 {
		defer job.boundHeap()()
		plan, err := job.planSlabs(&folder.Geometry, rep.Grid, 1, opts.Backprojector)
		if err != nil {
			return nil, err
		}
		if len(plan.Slabs) > 1 {
			if err := job.refuseWhole(len(plan.Slabs)); err != nil {
				return nil, err
			}
			err := reconstructFolderSlabs(ctx, &job, opts, folder, &plan, rep)
			rep.Seconds["reconstruct"] = time.Since(start).Seconds()
			return rep, err
		}
	}
	vol, err := reconstructFolder(ctx, &job, opts, folder, rep)
	if err != nil {
		return nil, err
	}
	rep.Seconds["reconstruct"] = time.Since(start).Seconds()
	start = time.Now()
	err = writeAtomicWith(job.Output, func(w io.Writer) error { return metaimage.Encode(w, vol) })
	if err == nil && job.PNG != "" {
		img := preview.Render(preview.Volume{Volume: vol}, preview.Window{})
		err = writeAtomicWith(job.PNG, func(w io.Writer) error { return png.Encode(w, img) })
	}
	rep.Seconds["write"] = time.Since(start).Seconds()
	return rep, err
}

// reconstructFolder reconstructs the folder's views as they are read: a
// goroutine reads ahead, so that reading the next views overlaps filtering
// and back-projecting the last ones.
func reconstructFolder(ctx context.Context, job *Job, opts Options, folder *sinogram.Folder, rep *Report) (*fdk.Volume, error) {
	g := &folder.Geometry
	rec, err := job.reconstructor(ctx, g, 1, opts, rep)
	if err != nil {
		return nil, err
	}
	defer rec.Abort() // a failure part-way gives a GPU's memory back
	type view struct {
		img []float32
		err error
	}
	n := g.NumViews()
	views := make(chan view, 2*max(job.Batch, 16)+1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for v := range n {
			img, err := folder.Projection(v)
			select {
			case views <- view{img, err}:
			case <-stop:
				return
			}
		}
	}()
	for v := range n {
		var in view
		select {
		case in = <-views:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if in.err != nil {
			return nil, in.err
		}
		if err := rec.Add(v, [][]float32{in.img}); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress("reconstruct", v+1, n)
		}
	}
	vols, err := rec.Finish()
	if err != nil {
		return nil, err
	}
	rep.addTimings(rec.Timings(), 1)
	return vols[0], nil
}

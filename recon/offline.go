package recon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/preview"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Report is the JSON job report written next to the series.
type Report struct {
	JobID            string             `json:"job_id"`
	Job              Job                `json:"job"`
	ScanID           string             `json:"scan_id"`
	Device           string             `json:"device"`
	StudyInstanceUID string             `json:"study_instance_uid"`
	Grid             fdk.Grid           `json:"grid"`
	Views            int                `json:"views"`
	Bins             []BinReport        `json:"bins"`
	Preprocessing    sinogram.Report    `json:"preprocessing"`
	Seconds          map[string]float64 `json:"seconds"` // by stage
	GUPS             float64            `json:"gups"`    // back-projection voxel updates per second / 1e9
	Warnings         []string           `json:"warnings,omitempty"`
	PACS             *UploadReport      `json:"pacs,omitempty"`
}

// BinReport is what happened to one energy bin.
type BinReport struct {
	Index             int     `json:"index"`
	LowKeV            float64 `json:"low_kev"`
	HighKeV           float64 `json:"high_kev"`
	MuWater           float64 `json:"mu_water_per_mm"`
	MuWaterFrom       string  `json:"mu_water_from"` // "scan.json" or "water_roi"
	SeriesInstanceUID string  `json:"series_instance_uid"`
	Dir               string  `json:"dir"`
	Files             int     `json:"files"`
	ClampedVoxels     int     `json:"clamped_voxels"`
	Preview           string  `json:"preview"`
}

// UploadReport says what reached the PACS.
type UploadReport struct {
	URL    string   `json:"url"`
	Stored int      `json:"stored"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"`
}

// Options are how a job runs, as opposed to what it computes.
type Options struct {
	// Backprojector does the back-projection (nil: the CPU).
	Backprojector fdk.Backprojector
	// Progress, if set, is called as each stage advances.
	Progress func(stage string, done, total int)
	// Log receives warnings (nil: slog.Default()).
	Log *slog.Logger
	// Features, if set, receives each bin's HU histograms (per volume and
	// per slice) for the search index.
	Features func(ctx context.Context, v []features.Vector) error
}

// Run reconstructs job: reads and checks the scan, turns counts into line
// integrals, reconstructs every selected bin in one pass over the geometry,
// writes a DICOM series and a PNG preview per bin and the report, and
// uploads to the PACS when asked. A failed upload is in the report and the
// returned error; the series on disk are kept.
func Run(ctx context.Context, job Job, opts Options) (*Report, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	if job.Input == "" {
		return nil, jobErr("input", "Run reads a scan folder; a streamed scan needs a Worker")
	}
	if job.Output == "" {
		return nil, jobErr("output", "required")
	}
	return run(ctx, job, opts, folderSource{job.Input})
}

// run carries a job through every stage, its views coming from src.
func run(ctx context.Context, job Job, opts Options, src source) (*Report, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Backprojector == nil {
		opts.Backprojector = fdk.CPU{}
	}
	r := &runner{job: job, opts: opts, src: src, rep: &Report{JobID: job.ID, Job: job, Seconds: map[string]float64{}}}
	steps := []struct {
		stage string
		fn    func(context.Context) error
	}{
		{"read", r.read}, {"reconstruct", r.reconstruct}, {"calibrate", r.calibrate},
		{"dicom", r.writeSeries}, {"preview", r.writePreviews}, {"features", r.publishFeatures},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("job %s: %s: %w", job.ID, s.stage, err)
		}
		r.rep.Seconds[s.stage] += time.Since(start).Seconds()
	}
	var upErr error
	if job.PACS != "" {
		start := time.Now()
		upErr = r.upload(ctx)
		r.rep.Seconds["pacs"] = time.Since(start).Seconds()
	}
	if err := r.writeReport(); err != nil {
		return r.rep, err
	}
	return r.rep, upErr
}

// runner carries one job's state from stage to stage.
type runner struct {
	job  Job
	opts Options
	src  source
	rep  *Report

	scan   *sinogram.Scan
	pre    *sinogram.Preprocessor
	bins   []int
	grid   fdk.Grid
	vols   []*fdk.Volume
	mus    []float64
	series []dicomio.Series
}

func (r *runner) warn(msg string, args ...any) {
	r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf(msg, args...))
	r.opts.Log.Warn(fmt.Sprintf(msg, args...), "job", r.job.ID)
}

// read opens the scan and calibrates the detector.
func (r *runner) read(ctx context.Context) error {
	scan, err := r.src.open(ctx)
	if err != nil {
		return err
	}
	r.scan, r.rep.ScanID, r.rep.Views = scan, scan.ScanID, scan.Geometry.NumViews()
	r.bins = r.job.Bins
	if len(r.bins) == 0 {
		for b := range scan.Bins {
			r.bins = append(r.bins, b)
		}
	}
	for i, b := range r.bins {
		if b >= len(scan.Bins) {
			return jobErr(fmt.Sprintf("bins[%d]", i), "bin %d does not exist: the scan has %d", b, len(scan.Bins))
		}
	}
	r.pre, err = sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
	if err != nil {
		return err
	}
	r.grid = r.job.grid(&scan.Geometry)
	r.rep.Grid = r.grid
	return os.MkdirAll(r.job.Output, 0o755)
}

// reconstruct streams every view's line integrals of the selected bins
// into one reconstructor.
func (r *runner) reconstruct(ctx context.Context) error {
	g := &r.scan.Geometry
	rec, err := fdk.New(g, r.grid, len(r.bins), r.job.options(r.opts.Backprojector))
	if err != nil {
		return err
	}
	if rep := rec.CheckFOV(); !rep.Complete() {
		r.warn("field of view: %s", rep)
	}
	_, warnings := rec.Weights().Notes()
	for _, m := range warnings {
		r.warn("%s", m)
	}
	n := g.NumViews()
	var prep time.Duration
	done := 0
	err = r.src.views(ctx, func(v int) error {
		start := time.Now()
		imgs := make([][]float32, len(r.bins))
		for i, b := range r.bins {
			img, rep, err := r.pre.LineIntegrals(v, b)
			if err != nil {
				return err
			}
			r.rep.Preprocessing.Add(rep)
			imgs[i] = img
		}
		prep += time.Since(start)
		if err := rec.Add(v, imgs); err != nil {
			return err
		}
		if done++; r.opts.Progress != nil {
			r.opts.Progress("reconstruct", done, n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.vols, err = rec.Finish(); err != nil {
		return err
	}
	t := rec.Timings()
	r.rep.Device = r.opts.Backprojector.Name()
	r.rep.Seconds["preprocess"] = prep.Seconds()
	r.rep.Seconds["filter"] = t.Filter.Seconds()
	r.rep.Seconds["backproject"] = t.Backproject.Seconds()
	r.rep.GUPS = float64(r.grid.Voxels()) * float64(n) * float64(len(r.bins)) / t.Backproject.Seconds() / 1e9
	if c := r.rep.Preprocessing.Clamped; c > 0 {
		r.warn("%d pixels counted nothing or less than the dark field; clamped before the logarithm", c)
	}
	return nil
}

// calibrate finds each bin's water attenuation: measured in the job's water
// region, or the manifest's calibration.
func (r *runner) calibrate(context.Context) error {
	r.mus = make([]float64, len(r.bins))
	for i, b := range r.bins {
		bin := r.scan.Bins[b]
		br := BinReport{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: bin.MuWater, MuWaterFrom: "scan.json"}
		if roi := r.job.WaterROI; roi != nil {
			mu, n := sphereMean(r.vols[i], *roi)
			if n == 0 {
				return jobErr("water_roi", "the sphere holds no voxel of the volume")
			}
			br.MuWater, br.MuWaterFrom = mu, "water_roi"
		}
		if !(br.MuWater > 0) {
			return fmt.Errorf("bin %d (%g-%g keV): no water calibration in scan.json and no water_roi in the job", b, bin.LowKeV, bin.HighKeV)
		}
		r.mus[i] = br.MuWater
		r.rep.Bins = append(r.rep.Bins, br)
	}
	return nil
}

// sphereMean returns the mean of v over the voxels whose centres lie in s.
func sphereMean(v *fdk.Volume, s Sphere) (float64, int) {
	g := v.Grid
	var sum float64
	n := 0
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				p := g.Position(i, j, k)
				if math.Hypot(math.Hypot(p[0]-s.CenterMM[0], p[1]-s.CenterMM[1]), p[2]-s.CenterMM[2]) <= s.RadiusMM {
					sum += float64(v.At(i, j, k))
					n++
				}
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// study returns the DICOM study of the job: the manifest's identifiers,
// overridden by the job's, with new UIDs where the manifest has none.
func (r *runner) study() dicomio.Study {
	s := r.scan
	st := dicomio.Study{PatientName: s.Patient.Name, PatientID: s.Patient.ID, PatientBirthDate: s.Patient.BirthDate,
		PatientSex: s.Patient.Sex, StudyID: s.Study.ID, StudyDescription: s.Study.Description,
		StudyInstanceUID: s.Study.InstanceUID, FrameOfReferenceUID: dicomio.NewUID(),
		StudyTime: time.Now(), Manufacturer: "MARS Bioimaging", Model: "MARS spectral CT", SoftwareVersion: "ctrecon"}
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&st.PatientName, r.job.PatientName)
	override(&st.PatientID, r.job.PatientID)
	override(&st.StudyID, r.job.StudyID)
	override(&st.StudyDescription, r.job.StudyDesc)
	if st.StudyInstanceUID == "" {
		st.StudyInstanceUID = dicomio.NewUID()
	}
	return st
}

// writeSeries writes one DICOM series per bin into the output folder.
func (r *runner) writeSeries(context.Context) error {
	st := r.study()
	r.rep.StudyInstanceUID = st.StudyInstanceUID
	dir := filepath.Join(r.job.Output, "dicom")
	g := &r.scan.Geometry
	for i, b := range r.bins {
		bin := r.scan.Bins[b]
		s, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: r.mus[i]},
			r.vols[i], dicomio.Options{KVP: r.scan.Tube.KVp, SourceToIsocentre: g.SID, SourceToDetector: g.SDD, Filter: r.job.filterWindow()})
		if err != nil {
			return err
		}
		r.series = append(r.series, s)
		br := &r.rep.Bins[i]
		br.SeriesInstanceUID, br.Dir, br.Files, br.ClampedVoxels = s.SeriesInstanceUID, s.Dir, len(s.Instances), s.Clamped
		if s.Clamped > 0 {
			r.warn("bin %d: %d voxels outside the int16 HU range were clamped", b, s.Clamped)
		}
	}
	return nil
}

// writePreviews writes the three central slices of each bin, windowed from
// -1000 to +1000 HU so that air, water and bone are all told apart, and the
// volumes themselves when the job asks.
func (r *runner) writePreviews(context.Context) error {
	for i, b := range r.bins {
		if r.job.WriteMHA {
			if err := metaimage.Write(filepath.Join(r.job.Output, fmt.Sprintf("volume_bin%d.mha", b)), r.vols[i]); err != nil {
				return err
			}
		}
		path := filepath.Join(r.job.Output, fmt.Sprintf("preview_bin%d.png", b))
		mu := r.mus[i]
		if err := preview.WritePNG(path, r.vols[i], preview.Window{Lo: 0, Hi: 2 * mu}); err != nil {
			return err
		}
		r.rep.Bins[i].Preview = path
	}
	return nil
}

// upload sends every series to the job's PACS.
func (r *runner) upload(ctx context.Context) error {
	var all []pacs.Instance
	for _, s := range r.series {
		for _, in := range s.Instances {
			all = append(all, pacs.Instance{Path: in.Path, SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	c := &pacs.Client{BaseURL: r.job.PACS}
	res, err := c.Store(ctx, all)
	up := &UploadReport{URL: r.job.PACS, Stored: len(res.Stored), Failed: len(res.Failed)}
	for i, f := range res.Failed {
		if i == 10 {
			up.Errors = append(up.Errors, fmt.Sprintf("... and %d more", len(res.Failed)-10))
			break
		}
		up.Errors = append(up.Errors, f.Instance.Path+": "+f.Reason)
	}
	r.rep.PACS = up
	if err != nil {
		r.warn("%v", err)
	}
	return err
}

// publishFeatures computes each bin's HU histograms and hands them on.
func (r *runner) publishFeatures(ctx context.Context) error {
	if r.opts.Features == nil {
		return nil
	}
	for i, s := range r.series {
		vs, err := features.Histograms(r.vols[i], r.mus[i], features.IDs{StudyUID: s.StudyInstanceUID, SeriesUID: s.SeriesInstanceUID, Bin: r.bins[i]})
		if err != nil {
			return err
		}
		if err := r.opts.Features(ctx, vs); err != nil {
			return err
		}
	}
	return nil
}

// writeReport writes report.json into the output folder.
func (r *runner) writeReport() error {
	data, err := json.MarshalIndent(r.rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.job.Output, "report.json"), data, 0o644)
}

package recon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/material"
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
	FieldOfView      *fdk.Cylinder      `json:"field_of_view,omitempty"` // every view sees it; zero outside (nil: none)
	Views            int                `json:"views"`
	Detector         fdk.Detector       `json:"detector"`
	Bins             []BinReport        `json:"bins"`
	Preprocessing    sinogram.Report    `json:"preprocessing"`
	Seconds          map[string]float64 `json:"seconds"` // by stage
	// DeviceSeconds are the device's own times of the back-projector's
	// stages (upload, filter, backproject, download) when it times them
	// (fdk.DeviceTimes: a GPU).
	DeviceSeconds map[string]float64 `json:"device_seconds,omitempty"`
	// GUPS is voxel updates (voxels × views × bins) per second of
	// back-projection / 1e9: of the device's kernels when it times them,
	// else of the host's back-projection stage.
	GUPS     float64       `json:"gups"`
	Montage  string        `json:"montage"` // the central axial slice of every bin, one window
	Warnings []string      `json:"warnings,omitempty"`
	PACS     *UploadReport `json:"pacs,omitempty"`
	// Materials is the material decomposition, when the job asks for one.
	Materials *MaterialsReport `json:"materials,omitempty"`
	// Filter is the ramp filter the bins were reconstructed with, and why
	// when ctrecon chose it (a spectral scan's job).
	Filter *FilterReport `json:"filter,omitempty"`
	// Calibration is the material calibration a make_calibration job
	// fitted.
	Calibration *CalibrationReport `json:"calibration,omitempty"`
	// Slabs are the slabs of a job reconstructed in slabs, in order:
	// across workers (Job.Slabs), with the worker of each, or in turn
	// within max_memory_bytes (memory.go).
	Slabs []SlabReport `json:"slabs,omitempty"`
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
	// Instances are the series' files, in Dir, with their SOP Instance
	// UIDs: what an upload to the PACS sends.
	Instances []InstanceReport `json:"instances"`
}

// InstanceReport is one DICOM file of a series.
type InstanceReport struct {
	File           string `json:"file"` // name in the series folder
	SOPInstanceUID string `json:"sop_instance_uid"`
}

// UploadReport says what reached the PACS, at the latest upload.
type UploadReport struct {
	URL    string   `json:"url"`
	Stored int      `json:"stored"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"`
}

// uploaded reports whether an earlier upload stored every instance at the
// job's PACS, so that publishing the output again need not send them.
func (rep *Report) uploaded() bool {
	return rep.PACS != nil && rep.PACS.URL == rep.Job.PACS && rep.PACS.Stored > 0 && rep.PACS.Failed == 0
}

// repeatWarning adds warning text to the report once: when an earlier
// attempt at the job (a redelivery, which publishes the same committed
// output) warned the same, that warning says how many attempts did,
// "text (in N attempts)", instead of being listed again.
func (rep *Report) repeatWarning(text string) {
	for i, w := range rep.Warnings {
		n := 0
		if w == text {
			n = 1
		} else if rest, ok := strings.CutPrefix(w, text+" (in "); ok {
			fmt.Sscanf(rest, "%d attempts)", &n)
		}
		if n > 0 {
			rep.Warnings[i] = fmt.Sprintf("%s (in %d attempts)", text, n+1)
			return
		}
	}
	rep.Warnings = append(rep.Warnings, text)
}

// Options are how a job runs, as opposed to what it computes.
type Options struct {
	// Backprojector does the back-projection (nil: the CPU).
	Backprojector fdk.Backprojector
	// Progress, if set, is called as each stage advances.
	Progress func(stage string, done, total int)
	// Log receives warnings (nil: slog.Default()).
	Log *slog.Logger
	// Features, if set, also extracts every feature kind of each bin and
	// object (extract.Scan) and writes the records to FeaturesName, and
	// one Parquet file per kind into FeaturesDir, in the output folder.
	Features bool
	// PseudonymKey is the deployment's key (bus.Bus.PseudonymKey) under
	// which the records name the patient (records.Pseudonymise); without
	// one they name no patient.
	PseudonymKey []byte

	// split, if set, has the slabs of a split job made by workers
	// (Worker.splitStep) instead of the reconstruction, and returns their
	// volumes, slice after slice (slabObjects).
	split func(context.Context, *runner) (io.ReadCloser, error)
}

// FeaturesName is the file of an output folder that holds the feature
// records of the job, one JSON record (records.Marshal) per line.
const FeaturesName = "features.jsonl"

// FeaturesDir is the folder of an output folder that holds the feature
// records as Parquet files, one per kind (KIND-vVERSION.parquet).
const FeaturesDir = "features"

// Run reconstructs job's input folder, whichever kind it is: a spectral
// scan (a folder with scan.json) or a plastimatch projection folder
// (.pfm and .txt files), on the job's device given the one in opts (see
// OpenDevice). A plastimatch folder becomes one MetaImage volume, the job's
// output (OUT.mha), and a picture of its central slices when the job gives
// png; the fields only a spectral scan has (bins, water_roi, pacs, the
// identifiers) are refused for it, naming the field.
//
// A spectral scan's job reads and checks the scan, turns counts into line
// integrals, reconstructs every selected bin in one pass over the geometry,
// writes a DICOM series and a PNG preview per bin and the report, and
// uploads to the PACS when asked. The output folder must not exist or be
// empty: everything is written next to it first and renamed into place
// when complete, so a failed run leaves nothing behind and never touches a
// folder it did not make. A failed upload is in the report and the
// returned error; the series on disk are kept.
//
// A job without an ID gets one derived from what it computes (OfflineID),
// so that the same reconstruction run again writes the same DICOM UIDs.
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
	if job.split() {
		return nil, jobErr("slabs", "a job split into slabs runs on workers (ctrecon submit); Run reconstructs in one piece")
	}
	bp, err := job.backprojector(opts.Backprojector)
	if err != nil {
		return nil, err
	}
	opts.Backprojector = bp
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.Log = opts.Log.With("job", job.ID) // a worker's log has it already
	if err := checkInput(job.Input); err != nil {
		return nil, err
	}
	if !isSpectral(job.Input) {
		return runPlastimatch(ctx, job, opts)
	}
	if job.ID == "" {
		job.ID = job.OfflineID()
	}
	done, err := checkOutput(job.Output, job.ID)
	if err != nil {
		return nil, err
	}
	if done {
		return nil, jobErr("output", "%s holds the output of an earlier run: give a new or empty folder", job.Output)
	}
	staging, err := stage(job.Output, job.ID, newAttempt(0))
	if err != nil {
		return nil, err
	}
	if job.MaxMemoryBytes > 0 {
		defer job.boundHeap()()
	}
	rep, err := run(ctx, job, opts, folderSource{job.Input}, staging)
	if err != nil {
		discard(staging, job.ID)
		return nil, err
	}
	adopted, err := commit(staging, job.Output, job.ID)
	if err != nil {
		return nil, err
	}
	if adopted {
		return nil, jobErr("output", "%s: another run of job %s wrote it meanwhile", job.Output, job.ID)
	}
	return rep, upload(ctx, job.Output, rep, opts)
}

// run carries a job through every stage, its views coming from src, and
// writes everything into the staging folder dir; the report names the
// files where they will be once dir is renamed to job.Output.
func run(ctx context.Context, job Job, opts Options, src source, dir string) (*Report, error) {
	defer src.close()
	r := newRunner(job, opts, src, dir)
	r.steps = r.stages()
	for i := 0; i < len(r.steps); i++ { // planSlabs adds the steps after it
		s := r.steps[i]
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("job %s: %s: %w", job.ID, s.stage, err)
		}
		r.rep.Seconds[s.stage] += time.Since(start).Seconds()
	}
	return r.rep, writeReport(dir, r.rep)
}

// step is one stage of a job, named for the report's seconds.
type step struct {
	stage string
	fn    func(context.Context) error
}

// stages returns the steps of r's job. A job bounded by
// max_memory_bytes plans its slabs after the check, and that step adds
// the rest (planSlabs).
func (r *runner) stages() []step {
	first := []step{{"read", r.read}, {"check", r.check}}
	if r.job.MaxMemoryBytes > 0 {
		return append(first, step{"plan", r.planSlabs})
	}
	return append(first, r.wholeStages()...)
}

// wholeStages are the steps after the check of a volume held whole.
func (r *runner) wholeStages() []step {
	return []step{{"reconstruct", r.reconstruct}, {"beam_hardening", r.correctHardening}, {"calibrate", r.calibrate}, {"dicom", r.writeSeries},
		{"preview", r.writePreviews}, {"materials", r.writeMaterials}, {"features", r.writeFeatures}}
}

// runner carries one job's state from stage to stage.
type runner struct {
	job  Job
	opts Options
	src  source
	dir  string // where the files go: a staging folder, later job.Output
	rep  *Report

	scan    *sinogram.Scan
	pre     *sinogram.Preprocessor
	lin     *material.Linearization // for a material job (see waterLinearization)
	bins    []int
	grid    fdk.Grid
	fov     *fdk.FOV // outside it the volumes are zero
	vols    []*fdk.Volume
	mus     []float64
	series  []dicomio.Series
	decomp  *material.Decomposer // the job's decomposition, nil without materials
	cal     *material.Calibration
	maps    []segment.Map // the maps that make objects of their own (keepMaps)
	objects objectRules   // the kept maps' object rules (keepMaps)
	slabs   *fdk.SlabPlan // the volume's slabs under max_memory_bytes (memory.go)
	tasks   [][2]int      // the slices of a split job's slab tasks, when auto (slabs.go)
	steps   []step
}

// newRunner starts a job's runner, with opts' defaults filled in.
func newRunner(job Job, opts Options, src source, dir string) *runner {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Backprojector == nil {
		opts.Backprojector = fdk.CPU{}
	}
	return &runner{job: job, opts: opts, src: src, dir: dir,
		rep: &Report{JobID: job.ID, Job: job, Device: opts.Backprojector.Name(), Seconds: map[string]float64{}}}
}

func (r *runner) warn(msg string, args ...any) {
	r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf(msg, args...))
	r.opts.Log.Warn(fmt.Sprintf(msg, args...))
}

// read opens the scan and finds the bins and the grid.
func (r *runner) read(ctx context.Context) error {
	scan, err := r.src.open(ctx)
	if err != nil {
		return err
	}
	r.scan, r.rep.ScanID = scan, scan.ScanID
	r.bins = r.job.Bins
	if len(r.bins) == 0 {
		for b := range scan.Bins {
			r.bins = append(r.bins, b)
		}
	}
	if err := r.rep.setGeometry(&r.job, &scan.Geometry); err != nil {
		return err
	}
	r.grid = r.rep.Grid
	r.chooseFilter()
	// Here, not in prepare: a split job's coordinator prepares no line
	// integrals (its slabs do) but corrects the beam hardening.
	r.lin, err = r.job.waterLinearization(scan)
	return err
}

// setGeometry puts what job makes of geometry g in the report: the views,
// the detector and the job's grid (Job.Grid, which chooses what the job
// leaves zero from g's field of view). Both kinds of input get their grid
// here.
func (rep *Report) setGeometry(job *Job, g *fdk.Geometry) error {
	grid, err := job.Grid(g)
	if err != nil {
		return err
	}
	rep.Grid, rep.Views, rep.Detector = grid, g.NumViews(), g.Detector
	return nil
}

// final returns where path, in the staging folder, will be once the folder
// is committed.
func (r *runner) final(path string) string {
	rel, err := filepath.Rel(r.dir, path)
	if err != nil {
		return path
	}
	return filepath.Join(r.job.Output, rel)
}

// reconstruct calibrates the detector from the flats and darks, then
// streams every view's line integrals of the selected bins into one
// reconstructor; or, for a job split into slabs, has them made
// (Options.split).
func (r *runner) reconstruct(ctx context.Context) error {
	if r.opts.split != nil {
		return r.readSplit(ctx, [][2]int{{0, r.grid.Dim[2]}}, func(vols []*fdk.Volume, fov *fdk.FOV) error {
			r.vols, r.fov = vols, fov
			return nil
		})
	}
	if err := r.prepare(); err != nil {
		return err
	}
	g := &r.scan.Geometry
	rec, err := r.job.reconstructor(ctx, g, len(r.bins), r.opts, r.rep)
	if err != nil {
		return err
	}
	defer rec.Abort() // a failed or cancelled job gives a GPU's memory back
	n := g.NumViews()
	done := 0
	err = r.src.views(ctx, func(v int) error {
		imgs, err := r.lineIntegrals(v, true)
		if err != nil {
			return err
		}
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
	r.fov = rec.FOV()
	r.rep.addTimings(rec.Timings(), len(r.bins))
	r.clampedWarning()
	return nil
}

// prepare calibrates the detector from the flats and darks.
func (r *runner) prepare() error {
	start := time.Now()
	var err error
	if r.pre, err = sinogram.NewPreprocessor(r.scan, preprocessing); err != nil {
		return err
	}
	r.rep.Seconds["preprocess"] += time.Since(start).Seconds()
	return nil
}

// lineIntegrals returns view v's line integrals of the selected bins,
// counting the pre-processing in the report when count is set (a view
// pre-processed again for another slab is counted once).
func (r *runner) lineIntegrals(v int, count bool) ([][]float32, error) {
	start := time.Now()
	defer func() { r.rep.Seconds["preprocess"] += time.Since(start).Seconds() }()
	imgs := make([][]float32, len(r.bins))
	for i, b := range r.bins {
		img, rep, err := r.pre.LineIntegrals(v, b)
		if err != nil {
			return nil, err
		}
		if count {
			r.rep.Preprocessing.Add(rep)
		}
		if r.lin != nil {
			r.lin.Apply(b, img)
		}
		imgs[i] = img
	}
	return imgs, nil
}

// clampedWarning warns of pixels clamped before the logarithm.
func (r *runner) clampedWarning() {
	if c := r.rep.Preprocessing.Clamped; c > 0 {
		r.warn("%d pixels counted nothing or less than the dark field; clamped before the logarithm", c)
	}
}

// reconstructor starts the job's reconstruction of g's views onto the
// report's grid for bins energy bins, on opts' back-projector, and says
// what the geometry makes of the scan: the grid and its classes to
// opts.Log; where it lacks data, and a grid that reaches beyond the field
// of view (not the corners of one that spans it: FOVReport.Fits), to the
// report's warnings and the log. The report gets the field of view. The
// reconstruction stops, mid-batch on the CPU, when ctx ends.
func (j *Job) reconstructor(ctx context.Context, g *fdk.Geometry, bins int, opts Options, rep *Report) (*fdk.Reconstructor, error) {
	rec, err := j.newReconstructor(ctx, g, rep.Grid, fdk.RowBand{}, bins, opts)
	if err != nil {
		return nil, err
	}
	rep.noteGeometry(rec, rec.CheckFOV(), opts.Log)
	return rec, nil
}

// newReconstructor starts the job's reconstruction of g's views onto grid
// (a whole grid or a slab) from rows of every image (zero: all), for bins
// energy bins on opts' back-projector; it stops, mid-batch on the CPU,
// when ctx ends.
func (j *Job) newReconstructor(ctx context.Context, g *fdk.Geometry, grid fdk.Grid, rows fdk.RowBand, bins int, opts Options) (*fdk.Reconstructor, error) {
	o := j.options(opts.Backprojector)
	o.Context = ctx // a cancelled job stops mid-batch
	o.Rows = rows
	return fdk.New(g, grid, bins, o)
}

// noteGeometry says what rec's geometry makes of the scan and fov, the
// field of view of the report's grid: see Job.reconstructor.
func (rep *Report) noteGeometry(rec *fdk.Reconstructor, fov fdk.FOVReport, log *slog.Logger) {
	warn := func(m string) {
		rep.Warnings = append(rep.Warnings, m)
		log.Warn(m) // a worker's names the job already
	}
	log.Info("volume grid "+rep.Grid.String(), "field_of_view", fov.FieldOfView.String(),
		"seen_by_every_view", fmt.Sprintf("%.0f%% of its reconstruction cylinder", 100*fov.CircleSeen()))
	if fov.FieldOfView != (fdk.Cylinder{}) {
		rep.FieldOfView = &fov.FieldOfView
	}
	if !fov.Fits() {
		warn("field of view: " + fov.String())
	}
	info, warnings := rec.Weights().Notes()
	for _, m := range info {
		log.Info(m)
	}
	for _, m := range warnings {
		warn(m)
	}
}

// addTimings puts a reconstruction's stage times in the report, and its
// speed in GUPS for bins energy bins (see Report.GUPS).
func (rep *Report) addTimings(t fdk.Timings, bins int) {
	rep.Seconds["filter"] = t.Filter.Seconds()
	rep.Seconds["backproject"] = t.Backproject.Seconds()
	bp := t.Backproject
	if d := t.Device; d != (fdk.DeviceTimes{}) {
		rep.DeviceSeconds = map[string]float64{"upload": d.Upload.Seconds(), "filter": d.Filter.Seconds(),
			"backproject": d.Backproject.Seconds(), "download": d.Download.Seconds()}
		if d.Backproject > 0 {
			bp = d.Backproject
		}
	}
	rep.GUPS = float64(rep.Grid.Voxels()) * float64(rep.Views) * float64(bins) / bp.Seconds() / 1e9
}

// Summary is the reconstruction in one line: the grid (dimensions, voxel
// size and extent: fdk.Grid.String), the views and the detector, the bins
// when more than one, the time of the reconstruction stage and of its
// filter and back-projection, the kernels' time when the device reports
// it, the speed in GUPS and the device.
func (rep *Report) Summary() string {
	det := rep.Detector
	bins := ""
	if len(rep.Bins) > 1 {
		bins = fmt.Sprintf(" in %d bins", len(rep.Bins))
	}
	bp := fmt.Sprintf("back-projection %.2f s", rep.Seconds["backproject"])
	if k := rep.DeviceSeconds["backproject"]; k > 0 {
		bp += fmt.Sprintf(", kernels %.3f s", k)
	}
	return fmt.Sprintf("reconstructed %v%s from %d views of %dx%d in %.2f s (filter %.2f s, %s = %.3f GUPS) on %s",
		rep.Grid, bins, rep.Views, det.Cols, det.Rows, rep.Seconds["reconstruct"], rep.Seconds["filter"], bp, rep.GUPS, rep.Device)
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

// OfflineID returns an ID for a job run without one: "offline-" and a hash
// of what the job computes (bins, grid, filter, device, identifiers, water
// region), leaving out where the scan is read from, where the results go
// and how the work is split (threads, batch, slabs). The same reconstruction gets
// the same ID, another one another ID: the filter's defaults are filled in
// (naming Ram-Lak at full band is not naming a filter) but for a job whose
// filter is chosen on its grid (choosesFilter).
func (j *Job) OfflineID() string {
	what := *j
	what.ID, what.Input, what.Output, what.PACS, what.WriteMHA = "", "", "", "", false
	what.Threads, what.Batch, what.PNG, what.Slabs = 0, 0, "", 0
	what.Filter.Padding = j.padding()
	if !j.choosesFilter() {
		what.Filter.Window, what.Filter.Cutoff = j.filterWindow(), j.cutoff()
	}
	data, _ := json.Marshal(what) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return "offline-" + hex.EncodeToString(sum[:8])
}

// scanUID derives one of a job's DICOM UIDs from the scan's identity, then
// more (dicomio.DeriveUID), so that a job done again (another delivery, a
// rerun into another folder) writes the same UIDs and a PACS keeps one copy
// of each instance:
//
//	frame of reference  the scan: every bin and every job of one acquisition
//	study               scan.json's study.instance_uid, else the scan and the job ID
//	series              the scan, the job ID, the bin and the settings that
//	                    make its pixels (Job.pixelSettings)
//	SOP instance        the series and the slice (dicomio.WriteSeries)
func scanUID(scan *sinogram.Scan, kind string, more ...string) string {
	return dicomio.DeriveUID(append(append([]string{kind}, scan.Identity()...), more...)...)
}

// preprocessing is how every job turns counts into line integrals.
var preprocessing = sinogram.PreprocessOptions{}

// pixelSettings returns a hash (16 hex digits of SHA-256) of everything
// besides the scan and the bin that makes the pixels of a series of the job
// on grid: the grid itself, the filter (window, cut-off, padding, defaults
// filled in), what happens outside the field of view, the water region and
// the pre-processing. Its series UIDs derive from it, so that the same job
// done again writes the same UIDs and the same job ID with other settings
// (a finer voxel) writes other series, not other images under the same
// UIDs. Where the work is done (device, threads, batch) is left out.
func (j *Job) pixelSettings(grid fdk.Grid) string {
	// plain data: Marshal cannot fail
	data, _ := json.Marshal(struct {
		Grid           fdk.Grid
		Window         string
		Cutoff         float64
		Padding        float64
		KeepOutsideFOV bool
		WaterROI       *Sphere
		Preprocessing  sinogram.PreprocessOptions
	}{grid, j.filterWindow(), j.cutoff(), j.padding(), j.KeepOutsideFOV, j.WaterROI, preprocessing})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// dicomStudy returns the DICOM study of job on scan: the manifest's
// identifiers, overridden by the job's, with derived UIDs where the
// manifest has none. Its date and time are the scan's (acquired, or
// study.date alone), never the clock's.
func dicomStudy(scan *sinogram.Scan, job *Job) dicomio.Study {
	s := scan
	st := dicomio.Study{PatientName: s.Patient.Name, PatientID: s.Patient.ID, PatientBirthDate: s.Patient.BirthDate,
		PatientSex: s.Patient.Sex, StudyID: s.Study.ID, StudyDescription: s.Study.Description,
		StudyInstanceUID: s.Study.InstanceUID, FrameOfReferenceUID: scanUID(scan, "frame-of-reference"),
		StudyDate: s.Study.Date, Manufacturer: "MARS Bioimaging", Model: "MARS spectral CT", SoftwareVersion: "ctrecon"}
	st.StudyTime, _ = s.AcquisitionTime()
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&st.PatientName, job.PatientName)
	override(&st.PatientID, job.PatientID)
	override(&st.StudyID, job.StudyID)
	override(&st.StudyDescription, job.StudyDesc)
	if st.StudyInstanceUID == "" {
		st.StudyInstanceUID = scanUID(scan, "study", job.ID)
	}
	return st
}

// dicomOptions returns what the series say about the acquisition and the
// reconstruction; fov is the reconstruction's field of view (nil before
// there is one).
func dicomOptions(scan *sinogram.Scan, job *Job, fov *fdk.FOV) dicomio.Options {
	g := &scan.Geometry
	return dicomio.Options{KVP: scan.Tube.KVp, SourceToIsocentre: g.SID, SourceToDetector: g.SDD, Filter: job.filterWindow(),
		PatientPosition: scan.Patient.Position, FOV: fov}
}

// writeSeries writes one DICOM series per bin into the output folder.
func (r *runner) writeSeries(context.Context) error {
	st := dicomStudy(r.scan, &r.job)
	r.rep.StudyInstanceUID = st.StudyInstanceUID
	dir := filepath.Join(r.dir, "dicom")
	for i, b := range r.bins {
		s, err := dicomio.WriteSeries(dir, st, r.dicomBin(i, b), r.vols[i], dicomOptions(r.scan, &r.job, r.fov))
		if err != nil {
			return err
		}
		r.addSeries(i, s)
	}
	return nil
}

// addSeries puts the series written of the i-th bin in the report.
func (r *runner) addSeries(i int, s dicomio.Series) {
	r.series = append(r.series, s)
	br := &r.rep.Bins[i]
	br.SeriesInstanceUID, br.Dir, br.Files, br.ClampedVoxels = s.SeriesInstanceUID, r.final(s.Dir), len(s.Instances), s.Clamped
	for _, in := range s.Instances {
		br.Instances = append(br.Instances, InstanceReport{File: filepath.Base(in.Path), SOPInstanceUID: in.SOPInstanceUID})
	}
	if s.Clamped > 0 {
		r.warn("bin %d: %d voxels outside the int16 HU range were clamped", br.Index, s.Clamped)
	}
}

// previewWindow is the HU window of the previews and the montage: air
// black, fat dark, water a quarter grey, 10 mg/ml iodine or gadolinium
// (200-700 HU) lighter, bone mineral near white; wide enough that the few
// hundred HU of a photon-counting bin's noise do not saturate it.
var previewWindow = preview.Window{Lo: -500, Hi: 1500}

// binTitle names an energy bin in pictures, e.g. "bin 2  33.5-50.5 keV".
func binTitle(index int, lowKeV, highKeV float64) string {
	return fmt.Sprintf("bin %d  %g-%g keV", index, lowKeV, highKeV)
}

// writePreviews writes the three central slices of each bin, the montage of
// the central axial slice of every bin in one window, and the volumes
// themselves when the job asks.
func (r *runner) writePreviews(context.Context) error {
	vols := make([]preview.Volume, len(r.bins))
	for i, b := range r.bins {
		if r.job.WriteMHA {
			if err := metaimage.Write(filepath.Join(r.dir, fmt.Sprintf("volume_bin%d.mha", b)), r.vols[i]); err != nil {
				return err
			}
		}
		bin := r.scan.Bins[b]
		vols[i] = preview.Volume{Volume: r.vols[i], MuWater: r.mus[i], Title: binTitle(b, bin.LowKeV, bin.HighKeV)}
		path := filepath.Join(r.dir, fmt.Sprintf("preview_bin%d.png", b))
		if err := preview.WritePNG(path, preview.Render(vols[i], previewWindow)); err != nil {
			return err
		}
		r.rep.Bins[i].Preview = r.final(path)
	}
	montage, err := preview.Montage(vols, previewWindow)
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, "montage.png")
	r.rep.Montage = r.final(path)
	return preview.WritePNG(path, montage)
}

// upload sends every series of the committed output folder dir to the
// job's PACS, if it has one, and rewrites the report with what the PACS
// stored; a failed upload is a warning of the report, once however many
// attempts gave it (repeatWarning). Sending the same instances again
// stores the same study again.
// The upload's progress goes to opts.Progress (stage "upload", instances)
// and each retry of a request that failed transiently to opts.Log.
func upload(ctx context.Context, dir string, rep *Report, opts Options) error {
	if rep.Job.PACS == "" {
		return nil
	}
	start := time.Now()
	var all []pacs.Instance
	for _, b := range rep.Bins {
		for _, in := range b.Instances {
			all = append(all, pacs.Instance{Path: filepath.Join(dir, "dicom", filepath.Base(b.Dir), in.File), SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	all = append(all, rep.materialInstances(dir)...)
	c := &pacs.Client{BaseURL: rep.Job.PACS, RetryBudget: time.Duration(rep.Job.PACSTimeoutS * float64(time.Second)),
		OnRetry: func(r pacs.Retry) { opts.Log.Warn("PACS upload: retrying", "url", rep.Job.PACS, "state", r.String()) }}
	if opts.Progress != nil {
		c.Progress = func(sent, total int) { opts.Progress("upload", sent, total) }
	}
	res, err := c.Store(ctx, all)
	up := &UploadReport{URL: rep.Job.PACS, Stored: len(res.Stored), Failed: len(res.Failed)}
	for i, f := range res.Failed {
		if i == 10 {
			up.Errors = append(up.Errors, fmt.Sprintf("... and %d more", len(res.Failed)-10))
			break
		}
		up.Errors = append(up.Errors, f.Instance.Path+": "+f.Reason)
	}
	rep.PACS = up
	if err != nil {
		rep.repeatWarning(err.Error())
	}
	rep.Seconds["pacs"] = time.Since(start).Seconds()
	return errors.Join(err, writeReport(dir, rep))
}

// writeFeatures extracts every feature kind of the bins (and, for a job
// that decomposes, each object's materials, materialRecords) and writes the
// records, one per line, to FeaturesName and as Parquet into FeaturesDir,
// when the options ask for them.
func (r *runner) writeFeatures(context.Context) error {
	if !r.opts.Features {
		return nil
	}
	bins := make([]segment.Bin, len(r.bins))
	series := make([]string, len(r.bins))
	for i, b := range r.bins {
		bin := r.scan.Bins[b]
		bins[i] = segment.Bin{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: r.mus[i], Volume: r.vols[i]}
		series[i] = r.series[i].SeriesInstanceUID
	}
	st := dicomStudy(r.scan, &r.job)
	ids := extract.IDs{ScanID: r.scan.ScanID, JobID: r.job.ID, StudyUID: st.StudyInstanceUID,
		Patient: records.Pseudonymise(r.opts.PseudonymKey, st.PatientID)}
	res, err := extract.Scan(bins, series, ids, r.scanSettings(), r.maps...)
	if err != nil {
		return err
	}
	mres, err := r.materialRecords(res.Segmentation, bins, series[0], ids)
	if err != nil {
		return fmt.Errorf("%s: %w", KindMaterials, err)
	}
	results := []*extract.Result{res}
	if mres != nil {
		results = append(results, mres)
	}
	var buf bytes.Buffer
	for _, res := range results {
		for i := range res.Records {
			data, err := records.Marshal(&res.Records[i])
			if err != nil {
				return err
			}
			buf.Write(data)
			buf.WriteByte('\n')
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, FeaturesName), buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(r.dir, FeaturesDir), 0o755); err != nil {
		return err
	}
	for _, res := range results {
		if _, err := res.WriteParquet(filepath.Join(r.dir, FeaturesDir)); err != nil {
			return err
		}
	}
	return nil
}

// writeReport writes the report into dir through a temporary file, so a
// reader never sees half a report.
func writeReport(dir string, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ReportName), data)
}

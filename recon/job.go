// Package recon runs reconstruction jobs: a spectral projection set in, one
// DICOM CT series per energy bin out, on disk and optionally in a PACS, with
// a JSON report of what was done and how long each stage took.
package recon

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/pacs"
)

// Job is what a physicist submits, as JSON or as command-line flags.
type Job struct {
	ID string `json:"id"`
	// The projection set is one of: Input, a folder with scan.json that
	// the worker can read; ScanID, a scan streamed on the bus by the
	// acquisition host; Folder, a scan folder put in the bus's object store.
	Input  string `json:"input,omitempty"`
	ScanID string `json:"scan_id,omitempty"`
	Folder string `json:"folder,omitempty"`
	// ScanWaitS is how many seconds a job for a streamed scan waits for
	// the scan to send anything new (calibration, manifest, next frame)
	// before it fails naming the scan and the scans on the bus (0:
	// DefaultScanWait).
	ScanWaitS float64 `json:"scan_wait_s,omitempty"`
	// Bins are the energy bins to reconstruct, by index; empty means all.
	Bins   []int      `json:"bins,omitempty"`
	Volume VolumeSpec `json:"volume"`
	Filter FilterSpec `json:"filter"`
	// Device is auto, cpu or cuda.
	Device string `json:"device,omitempty"`
	// Threads bounds the job's CPU threads: weighting and filtering, and
	// back-projection on the CPU (0: the worker's, or all cores).
	Threads int `json:"threads,omitempty"`
	// Batch is how many views are filtered and back-projected together
	// (0: 16); larger batches pass over the volume less often.
	Batch int `json:"batch,omitempty"`
	// Slabs splits the volume along z into this many slabs of whole
	// slices, each a task on the work queue that any worker takes, and a
	// finishing step assembles them into the series one worker would have
	// written (0 or 1: one piece). At most one slab per slice. "auto"
	// (SlabsAuto), with MaxMemoryBytes, makes one task per slab of the
	// memory budget's plan (fdk.PlanSlabs).
	Slabs SlabCount `json:"slabs,omitempty"`
	// KeepOutsideFOV keeps the voxels some view does not see, which are
	// otherwise zero (and DICOM padding).
	KeepOutsideFOV bool `json:"keep_outside_fov,omitempty"`
	// Output is the folder that receives the DICOM series, previews and
	// the report. A worker uses a folder of its own, named for the job,
	// when it is empty. It must not exist, be empty, or hold this job's
	// output (MarkerName): a job never writes into or removes a folder it
	// did not make. For a plastimatch folder (Run only) it is the .mha
	// file the volume goes to.
	Output string `json:"output,omitempty"`
	// PACS is a DICOMweb root to upload the series to, e.g.
	// http://pacs:8042/dicom-web.
	PACS string `json:"pacs,omitempty"`
	// PACSTimeoutS is how many seconds the upload may spend retrying
	// requests that failed transiently, in all (0:
	// pacs.DefaultRetryBudget); a PACS that does not answer at all fails
	// the job before it reconstructs.
	PACSTimeoutS float64 `json:"pacs_timeout_s,omitempty"`
	// Patient and study identifiers override the manifest's when set.
	PatientName string `json:"patient_name,omitempty"`
	PatientID   string `json:"patient_id,omitempty"`
	StudyID     string `json:"study_id,omitempty"`
	StudyDesc   string `json:"study_description,omitempty"`
	// WriteMHA also writes each bin's attenuation volume (1/mm, float32) as
	// MetaImage, for quantitative work beyond what int16 HU holds.
	WriteMHA bool `json:"write_mha,omitempty"`
	// PNG, for a plastimatch folder, is where to draw the volume's three
	// central slices. A spectral scan's job draws a preview per bin into
	// its output folder instead, and refuses png.
	PNG string `json:"png,omitempty"`
	// WaterROI, if set, measures each bin's water attenuation as the mean
	// inside this sphere of the reconstruction, instead of taking it from
	// the manifest's calibration.
	WaterROI *Sphere `json:"water_roi,omitempty"`
	// Materials, if set, decomposes the bins into a map per material
	// (water, lipid, ha, iodine, gadolinium; package material): a DICOM
	// series each, in mg/mL or volume fraction, and a colour overlay.
	Materials []string `json:"materials,omitempty"`
	// Calibration is the material calibration file to decompose with
	// (ctrecon calibrate); empty: computed from the spectrum (physics).
	Calibration string `json:"calibration,omitempty"`
	// MaterialSmoothMM is the standard deviation, mm, of a Gaussian that
	// smooths the bins before the decomposition (0: none).
	MaterialSmoothMM float64 `json:"material_smooth_mm,omitempty"`
	// MaterialVoxelwise decomposes every voxel from its own bins alone
	// (plain non-negative least squares), without the local prior along
	// the nearly dependent materials (material.Decomposer.PriorMM) that
	// keeps the maps' means unbiased in noisy scans.
	MaterialVoxelwise bool `json:"material_voxelwise,omitempty"`
	// MakeCalibration fits a material calibration to the scan's vials
	// (scan.json's vials) and writes it to the output folder as
	// CalibrationName.
	MakeCalibration bool `json:"make_calibration,omitempty"`
	// MaxMemoryBytes bounds what the job holds (volumes, projections,
	// buffers: fdk.Memory) when not 0: the volume is reconstructed in
	// z-slabs that fit, one after another, each from only the detector
	// rows it reads, and written as it finishes (see memory.go). Each
	// slab task of a split job holds to it too (see slabs.go).
	MaxMemoryBytes int64 `json:"max_memory_bytes,omitempty"`
}

// VolumeSpec is the reconstruction grid. What is zero is chosen to cover
// the scan's field of view (fdk.Cylinder.Grid): no voxel size, voxels that
// make the dimensions span it; no dimensions (all three zero), enough
// voxels of the given size to cover it; neither, the detector pitch at the
// isocentre, coarser where needed to stay within 512 voxels an axis.
type VolumeSpec struct {
	Dim      Triple[int]     `json:"dim"`
	VoxelMM  Triple[float64] `json:"voxel_mm"`
	OffsetMM Triple[float64] `json:"offset_mm"`
}

// Triple is a value per axis, x, y and z. In JSON it is an array of three
// numbers, or one number for all three axes, as the command line's --dim,
// --voxel and --offset take it: "voxel_mm": 0.5 is isotropic, "dim": 256 a
// cube. An array of another length is an error, not zero-filled.
type Triple[T int | float64] [3]T

// UnmarshalJSON takes one number or an array of three. Its errors are
// *json.UnmarshalTypeError, so that the decoder names the field.
func (t *Triple[T]) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var one T
	if json.Unmarshal(data, &one) == nil {
		*t = Triple[T]{one, one, one}
		return nil
	}
	var three []T
	if json.Unmarshal(data, &three) == nil && len(three) == 3 {
		*t = Triple[T](three)
		return nil
	}
	return &json.UnmarshalTypeError{Value: firstChars(data, 40), Type: reflect.TypeFor[Triple[T]]()}
}

// FilterSpec is the ramp filter: window name, cut-off (fraction of Nyquist,
// 0 means 1) and padding factor (0 means 2).
type FilterSpec struct {
	Window  string  `json:"window"`
	Cutoff  float64 `json:"cutoff,omitempty"`
	Padding float64 `json:"padding,omitempty"`
}

// Sphere is a region of the volume in millimetres.
type Sphere struct {
	CenterMM [3]float64 `json:"center_mm"`
	RadiusMM float64    `json:"radius_mm"`
}

// ErrJob is wrapped by every error about a malformed job.
var ErrJob = errors.New("invalid job")

// FieldError is an error about one field of a job. It wraps ErrJob.
type FieldError struct {
	// Field is the field's JSON path: volume.voxel_mm[0], bins[1],
	// water_roi.radius_mm. A command line that set the field from a flag
	// names the flag instead.
	Field string
	// Problem says what is wrong with the value.
	Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%v: %s: %s", ErrJob, e.Field, e.Problem) }
func (e *FieldError) Unwrap() error { return ErrJob }

func jobErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ParseJob decodes a JSON job spec, rejecting unknown fields (a misspelt
// field would otherwise be silently ignored) and anything after the job's
// object, and validates it. A value of the wrong type is a *FieldError
// naming the field and the type wanted; a syntax error names its line and
// column.
func ParseJob(data []byte) (*Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return nil, decodeErr(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more after the job's JSON object (at byte %d)", ErrJob, dec.InputOffset())
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return &j, nil
}

// decodeErr says where and what: the field and the type it wants, or the
// line and column of a syntax error.
func decodeErr(data []byte, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return jobErr(typeErr.Field, "got %s, want %s", typeErr.Value, jsonType(typeErr.Type))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		at := max(0, min(int(syntaxErr.Offset)-1, len(data))) // the offending byte
		line := bytes.Count(data[:at], []byte("\n")) + 1
		col := at - bytes.LastIndexByte(data[:at], '\n')
		return fmt.Errorf("%w: line %d, column %d: %v", ErrJob, line, col, err)
	}
	return fmt.Errorf("%w: %v", ErrJob, err)
}

// jsonType describes the JSON that decodes into t.
func jsonType(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Triple[int]]():
		return "a whole number or an array of 3"
	case reflect.TypeFor[Triple[float64]]():
		return "a number or an array of 3"
	case reflect.TypeFor[SlabCount]():
		return `a whole number or "auto"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return "an object"
}

// firstChars returns the first n bytes of data for a message, a character
// cut there replaced by "?".
func firstChars(data []byte, n int) string {
	if len(data) > n {
		return strings.ToValidUTF8(string(data[:n]), "?") + "..."
	}
	return string(data)
}

// ReadJob reads and parses a JSON job spec file.
func ReadJob(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := ParseJob(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return j, nil
}

// Validate reports the first field that makes the job impossible. It does
// not look at the input: ReadScan does that.
func (j *Job) Validate() error {
	sources := 0
	for _, s := range []string{j.Input, j.ScanID, j.Folder} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return jobErr("input", "give exactly one of input (a folder), scan_id (a streamed scan) or folder (in the object store)")
	}
	for k, d := range j.Volume.Dim {
		if d < 1 && j.Volume.Dim != (Triple[int]{}) {
			return jobErr(fmt.Sprintf("volume.dim[%d]", k), "must be at least 1, got %d (or all three 0: cover the field of view)", d)
		}
		if v := j.Volume.VoxelMM[k]; v < 0 || !finite(v) {
			return jobErr(fmt.Sprintf("volume.voxel_mm[%d]", k), "must be positive (0: chosen to cover the field of view), got %g", v)
		}
		if !finite(j.Volume.OffsetMM[k]) {
			return jobErr(fmt.Sprintf("volume.offset_mm[%d]", k), "not a finite number")
		}
	}
	if w := j.ScanWaitS; w < 0 || !finite(w) {
		return jobErr("scan_wait_s", "must be positive (0: %v), got %g", DefaultScanWait, w)
	}
	if w := j.PACSTimeoutS; w < 0 || !finite(w) {
		return jobErr("pacs_timeout_s", "must be positive (0: %v), got %g", pacs.DefaultRetryBudget, w)
	}
	if j.PACSTimeoutS != 0 && j.PACS == "" {
		return jobErr("pacs_timeout_s", "only a job that uploads to a PACS (pacs) has it")
	}
	if j.ScanWaitS != 0 && j.ScanID == "" {
		return jobErr("scan_wait_s", "only a job for a streamed scan (scan_id) waits for it")
	}
	if err := j.checkGrid(); err != nil {
		return err
	}
	if _, err := fdk.ParseWindow(j.filterWindow()); err != nil {
		return jobErr("filter.window", "%v", err)
	}
	if c := j.Filter.Cutoff; c < 0 || c > 1 || !finite(c) {
		return jobErr("filter.cutoff", "must be in (0, 1], got %g", c)
	}
	if p := j.Filter.Padding; p != 0 && (p < 2 || !finite(p)) {
		return jobErr("filter.padding", "must be at least 2, got %g", p)
	}
	if !slices.Contains([]string{"", "auto", "cpu", "cuda"}, j.Device) {
		return jobErr("device", "%q: want auto, cpu or cuda", j.Device)
	}
	if j.Threads < 0 {
		return jobErr("threads", "must be positive (0: all cores), got %d", j.Threads)
	}
	if j.MaxMemoryBytes < 0 {
		return jobErr("max_memory_bytes", "must be positive (0: no bound), got %d", j.MaxMemoryBytes)
	}
	if j.Batch < 0 {
		return jobErr("batch", "must be positive (0: 16), got %d", j.Batch)
	}
	if err := j.checkSlabs(j.Volume.Dim[2]); err != nil {
		return err
	}
	if j.PNG != "" && j.Input == "" {
		return errSpectralPNG
	}
	if len(j.Bins) > maxBins {
		return jobErr("bins", "%d bins; a scan has at most %d", len(j.Bins), maxBins)
	}
	for i, b := range j.Bins {
		if b < 0 {
			return jobErr(fmt.Sprintf("bins[%d]", i), "negative bin index %d", b)
		}
		if slices.Index(j.Bins, b) != i {
			return jobErr(fmt.Sprintf("bins[%d]", i), "bin %d listed twice", b)
		}
	}
	if r := j.WaterROI; r != nil && (!(r.RadiusMM > 0) || !finite(r.RadiusMM)) {
		return jobErr("water_roi.radius_mm", "must be positive, got %g", r.RadiusMM)
	}
	if err := j.validateMaterials(); err != nil {
		return err
	}
	return j.validateDICOM()
}

// validateDICOM checks the job's fields that reach the DICOM files against
// their value representations, so that a value no DICOM file can hold is
// refused at submit, not after the reconstruction.
func (j *Job) validateDICOM() error {
	for _, f := range []struct{ name, vr, v string }{
		{"patient_name", "PN", j.PatientName},
		{"patient_id", "LO", j.PatientID},
		{"study_id", "SH", j.StudyID},
		{"study_description", "LO", j.StudyDesc},
	} {
		if err := dicomio.CheckValue(f.vr, f.v); err != nil {
			return jobErr(f.name, "DICOM %s: %v", f.vr, err)
		}
	}
	return nil
}

// maxBins is the most energy bins a scan has (sinogram's limit: a
// Medipix3RX pixel has eight counters).
const maxBins = 8

// checkGrid refuses a volume fdk would refuse whatever the detector (what
// is chosen from the field of view, zero, stands in as 1 voxel of 1 mm),
// counting voxels without overflow: a job that cannot run must fail when
// it is submitted, not on a worker after the scan has been read.
func (j *Job) checkGrid() error {
	d := j.Volume.Dim
	if n := float64(d[0]) * float64(d[1]) * float64(d[2]); n > maxVoxels {
		return jobErr("volume.dim", "%d x %d x %d is %.3g voxels, at most %d", d[0], d[1], d[2], n, maxVoxels)
	}
	vox := j.Volume.VoxelMM
	for k := range 3 {
		d[k] = max(d[k], 1)
		if vox[k] == 0 {
			vox[k] = 1
		}
	}
	if err := fdk.CenteredGrid(d, vox, fdk.Vec3(j.Volume.OffsetMM)).Validate(); err != nil {
		return jobErr("volume", "%v", err)
	}
	return nil
}

// minAcross is the fewest voxels a grid may have across the diameter of
// the field of view: fewer image nothing.
const minAcross = 8

// checkVoxel refuses a voxel size that gives no useful grid on geometry g:
// fewer than minAcross voxels across the field of view's diameter (x or
// y), or, with the dimensions left to cover the field of view, more than
// maxVoxels voxels in all. Errors are *FieldError naming
// volume.voxel_mm and the field of view in mm.
func (j *Job) checkVoxel(g *fdk.Geometry) error {
	vox := j.Volume.VoxelMM
	if vox == (Triple[float64]{}) || g == nil {
		return nil
	}
	fov, err := fdk.FieldOfView(g)
	if err != nil || fov == (fdk.Cylinder{}) {
		return nil // fdk.NewGrid reports a geometry without one
	}
	ext := [3]float64{2 * fov.Radius, 2 * fov.Radius, fov.ZMax - fov.ZMin}
	for k := range 2 {
		if vox[k] > 0 && ext[k]/vox[k] < minAcross {
			return jobErr(fmt.Sprintf("volume.voxel_mm[%d]", k), "%g mm is %.2g voxels across the field of view (%v): give at most %.3g mm, for %d voxels across",
				vox[k], ext[k]/vox[k], fov, ext[k]/minAcross, minAcross)
		}
	}
	if j.Volume.Dim != (Triple[int]{}) {
		return nil
	}
	n, finest := 1.0, math.Inf(1)
	for k := range 3 {
		if vox[k] > 0 {
			finest = min(finest, vox[k])
			n *= math.Ceil(ext[k] / vox[k])
		} else {
			n *= fdk.MaxChosenDim
		}
	}
	if n > maxVoxels {
		return jobErr("volume.voxel_mm", "%g mm needs %.3g voxels to cover the field of view (%v), at most %d: give a coarser voxel, or dimensions and an offset for a region",
			finest, n, fov, int64(maxVoxels))
	}
	return nil
}

// maxVoxels is fdk.Grid's limit on a volume: 2^34 voxels, 64 GiB of float32.
const maxVoxels = 1 << 34

// filterWindow returns the job's window, Ram-Lak when it names none (a
// job that calibrates or decomposes has had one chosen: chooseFilter).
func (j *Job) filterWindow() string {
	if j.Filter.Window == "" {
		return "ram-lak"
	}
	return j.Filter.Window
}

// cutoff returns the job's filter cut-off, fdk's default 1 when it names
// none.
func (j *Job) cutoff() float64 { return cmp.Or(j.Filter.Cutoff, 1) }

// padding returns the job's filter padding, fdk's default 2 when it
// names none.
func (j *Job) padding() float64 { return cmp.Or(j.Filter.Padding, 2) }

// scanWait returns how long the job waits for its streamed scan.
func (j *Job) scanWait() time.Duration {
	if j.ScanWaitS == 0 {
		return DefaultScanWait
	}
	return time.Duration(j.ScanWaitS * float64(time.Second))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// options returns the fdk options of the job.
func (j *Job) options(bp fdk.Backprojector) fdk.Options {
	w, _ := fdk.ParseWindow(j.filterWindow()) // checked by Validate
	return fdk.Options{Window: w, Cutoff: j.Filter.Cutoff, Padding: j.Filter.Padding, Backprojector: bp,
		Threads: j.Threads, Batch: j.Batch, KeepOutsideFOV: j.KeepOutsideFOV}
}

// Grid returns the grid the job reconstructs on geometry g, choosing what
// the job leaves zero from g's field of view (see VolumeSpec). Errors are
// *FieldError naming the volume.
func (j *Job) Grid(g *fdk.Geometry) (fdk.Grid, error) {
	if err := j.checkVoxel(g); err != nil {
		return fdk.Grid{}, err
	}
	grid, err := fdk.NewGrid(g, j.Volume.Dim, j.Volume.VoxelMM, fdk.Vec3(j.Volume.OffsetMM))
	if err != nil {
		return fdk.Grid{}, jobErr("volume", "%v", err)
	}
	return grid, j.checkSlabs(grid.Dim[2])
}

// checkSlabs refuses a negative number of slabs, more slabs than the
// volume's slices (0: not known yet, chosen from the field of view), and
// auto without a memory budget to choose them from.
func (j *Job) checkSlabs(slices int) error {
	switch {
	case j.Slabs == SlabsAuto && j.MaxMemoryBytes == 0:
		return jobErr("slabs", "auto chooses the slabs from the memory budget (max_memory_bytes, --max-memory), which the job does not give")
	case j.Slabs < 0 && j.Slabs != SlabsAuto:
		return jobErr("slabs", "must be at least 1 (0: one piece), got %d", j.Slabs)
	case slices > 0 && int(j.Slabs) > slices:
		return jobErr("slabs", "%d slabs of a volume of %d slices: at most one slab per slice", j.Slabs, slices)
	}
	return nil
}

// split reports whether the job is split into slab tasks across workers.
func (j *Job) split() bool { return j.Slabs > 1 || j.Slabs == SlabsAuto }

// SlabCount is a job's number of slabs, or SlabsAuto. In JSON it is a
// number or "auto".
type SlabCount int

// SlabsAuto chooses a job's slabs from its memory budget: one task per
// slab of fdk.PlanSlabs. Its value is no count a job file can hold, so
// that "slabs": -1 is refused as negative, not taken for "auto".
const SlabsAuto SlabCount = math.MinInt32

// ParseSlabCount reads a number of slabs or "auto"; it checks no range.
func ParseSlabCount(s string) (SlabCount, error) {
	if s == "auto" {
		return SlabsAuto, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number of slabs or auto", s)
	}
	return SlabCount(n), nil
}

func (n SlabCount) String() string {
	if n == SlabsAuto {
		return "auto"
	}
	return strconv.Itoa(int(n))
}

// MarshalJSON writes auto as "auto", any other count as a number.
func (n SlabCount) MarshalJSON() ([]byte, error) {
	if n == SlabsAuto {
		return []byte(`"auto"`), nil
	}
	return []byte(strconv.Itoa(int(n))), nil
}

// UnmarshalJSON reads a number or "auto". Its errors are
// *json.UnmarshalTypeError, so that the decoder names the field.
func (n *SlabCount) UnmarshalJSON(data []byte) error {
	var i int
	if json.Unmarshal(data, &i) == nil {
		*n = SlabCount(i)
		return nil
	}
	if string(data) == `"auto"` {
		*n = SlabsAuto
		return nil
	}
	return &json.UnmarshalTypeError{Value: firstChars(data, 40), Type: reflect.TypeFor[SlabCount]()}
}

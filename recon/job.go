// Package recon runs reconstruction jobs: a spectral projection set in, one
// DICOM CT series per energy bin out, on disk and optionally in a PACS, with
// a JSON report of what was done and how long each stage took.
package recon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
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
	// Bins are the energy bins to reconstruct, by index; empty means all.
	Bins   []int      `json:"bins,omitempty"`
	Volume VolumeSpec `json:"volume"`
	Filter FilterSpec `json:"filter"`
	// Device is auto, cpu or cuda.
	Device string `json:"device,omitempty"`
	// Output is the folder that receives the DICOM series, previews and
	// the report. A worker uses a folder of its own, named for the job,
	// when it is empty.
	Output string `json:"output,omitempty"`
	// PACS is a DICOMweb root to upload the series to, e.g.
	// http://pacs:8042/dicom-web.
	PACS string `json:"pacs,omitempty"`
	// Patient and study identifiers override the manifest's when set.
	PatientName string `json:"patient_name,omitempty"`
	PatientID   string `json:"patient_id,omitempty"`
	StudyID     string `json:"study_id,omitempty"`
	StudyDesc   string `json:"study_description,omitempty"`
	// WriteMHA also writes each bin's attenuation volume (1/mm, float32) as
	// MetaImage, for quantitative work beyond what int16 HU holds.
	WriteMHA bool `json:"write_mha,omitempty"`
	// WaterROI, if set, measures each bin's water attenuation as the mean
	// inside this sphere of the reconstruction, instead of taking it from
	// the manifest's calibration.
	WaterROI *Sphere `json:"water_roi,omitempty"`
}

// VolumeSpec is the reconstruction grid. A zero voxel size means the
// detector pitch scaled to the isocentre.
type VolumeSpec struct {
	Dim      [3]int     `json:"dim"`
	VoxelMM  [3]float64 `json:"voxel_mm"`
	OffsetMM [3]float64 `json:"offset_mm"`
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

func jobErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrJob, field, fmt.Sprintf(format, args...))
}

// ParseJob decodes a JSON job spec, rejecting unknown fields (a misspelt
// field would otherwise be silently ignored), and validates it.
func ParseJob(data []byte) (*Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJob, err)
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return &j, nil
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
		if d < 1 {
			return jobErr(fmt.Sprintf("volume.dim[%d]", k), "must be at least 1, got %d", d)
		}
		if v := j.Volume.VoxelMM[k]; v < 0 || !finite(v) {
			return jobErr(fmt.Sprintf("volume.voxel_mm[%d]", k), "must be positive (0: the detector pitch at the isocentre), got %g", v)
		}
		if !finite(j.Volume.OffsetMM[k]) {
			return jobErr(fmt.Sprintf("volume.offset_mm[%d]", k), "not a finite number")
		}
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
	return nil
}

// maxBins is the most energy bins a scan has (sinogram's limit: a
// Medipix3RX pixel has eight counters).
const maxBins = 8

// checkGrid refuses a volume fdk would refuse whatever the detector (a
// zero voxel size, which takes the detector's pitch, stands in as 1 mm),
// counting voxels without overflow: a job that cannot run must fail when
// it is submitted, not on a worker after the scan has been read.
func (j *Job) checkGrid() error {
	d := j.Volume.Dim
	if n := float64(d[0]) * float64(d[1]) * float64(d[2]); n > maxVoxels {
		return jobErr("volume.dim", "%d x %d x %d is %.3g voxels, at most %d", d[0], d[1], d[2], n, maxVoxels)
	}
	vox := j.Volume.VoxelMM
	for k := range vox {
		if vox[k] == 0 {
			vox[k] = 1
		}
	}
	if err := fdk.CenteredGrid(d, vox, fdk.Vec3(j.Volume.OffsetMM)).Validate(); err != nil {
		return jobErr("volume", "%v", err)
	}
	return nil
}

// maxVoxels is fdk.Grid's limit on a volume: 2^34 voxels, 64 GiB of float32.
const maxVoxels = 1 << 34

func (j *Job) filterWindow() string {
	if j.Filter.Window == "" {
		return "ram-lak"
	}
	return j.Filter.Window
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// options returns the fdk options of the job.
func (j *Job) options(bp fdk.Backprojector) fdk.Options {
	w, _ := fdk.ParseWindow(j.filterWindow()) // checked by Validate
	return fdk.Options{Window: w, Cutoff: j.Filter.Cutoff, Padding: j.Filter.Padding, Backprojector: bp}
}

// grid returns the job's volume grid for geometry g.
func (j *Job) grid(g *fdk.Geometry) fdk.Grid {
	vox := j.Volume.VoxelMM
	for k := range vox {
		if vox[k] == 0 {
			vox[k] = g.PitchU * g.SID / g.SDD
		}
	}
	return fdk.CenteredGrid(j.Volume.Dim, vox, fdk.Vec3(j.Volume.OffsetMM))
}

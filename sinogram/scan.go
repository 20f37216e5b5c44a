package sinogram

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
)

// The native projection-set format: a folder with scan.json (a Scan) and
// little-endian frames, one file per projection per energy bin per camera
// position. docs/FORMATS.md is its specification; this file implements it.

// ManifestName is the manifest's file name inside a scan folder.
const ManifestName = "scan.json"

// FormatName and FormatVersion identify the manifest's layout.
const (
	FormatName    = "ctrecon-spectral-scan"
	FormatVersion = 1
)

// Errors wrapped by the errors of ReadScan, Scan.Validate and the frame
// readers, so that callers can tell them apart with errors.Is.
var (
	// ErrManifest: scan.json is unreadable or contradicts itself.
	ErrManifest = errors.New("invalid scan manifest")
	// ErrIncomplete: a frame the manifest promises is missing.
	ErrIncomplete = errors.New("incomplete projection set")
	// ErrCalibration: the flat or dark frames cannot normalise the counts.
	ErrCalibration = errors.New("unusable flat or dark frames")
)

// Counting modes of a Medipix3RX energy threshold.
const (
	ChargeSumming = "charge-summing" // charge shared between pixels is summed and given to one
	SinglePixel   = "single-pixel"   // each pixel counts its own charge
)

// Count data types of the frames, little endian.
const (
	Uint16  = "uint16"
	Uint32  = "uint32"
	Float32 = "float32"
)

// Medipix3RX is the one chip the format describes. Its pixel matrix is
// 256x256 at 55 µm (fine-pitch mode) or 128x128 at 110 µm (spectroscopic
// mode, 2x2 pixels bonded as one with up to eight thresholds).
const Medipix3RX = "medipix3rx"

// Scan is scan.json: identifiers, geometry, energy bins, detector layout and
// the names of every frame. See docs/FORMATS.md for each field.
type Scan struct {
	Format  string  `json:"format"`
	Version int     `json:"version"`
	ScanID  string  `json:"scan_id"`
	Patient Patient `json:"patient"`
	Study   Study   `json:"study"`
	// Acquired is when the scan started: RFC 3339 with the scanner's UTC
	// offset, e.g. "2026-01-15T10:42:07+13:00". The DICOM study date and
	// time are taken from it, and it is part of the scan's identity
	// (Identity).
	Acquired string `json:"acquired,omitempty"`
	Tube     Tube   `json:"tube"`
	// Geometry describes the virtual detector: every camera position's
	// chips stitched, with their gaps, into one image.
	Geometry fdk.Geometry `json:"geometry"`
	// Views is the number of projections; the geometry's angles (or
	// matrices) must list exactly as many.
	Views  int         `json:"views"`
	Bins   []EnergyBin `json:"energy_bins"`
	Layout Layout      `json:"detector_layout"`
	// Cameras are the positions of a camera translated sideways between
	// passes; empty means one position with no shift.
	Cameras []Camera `json:"camera_positions,omitempty"`
	Counts  Counts   `json:"counts"`
	Flats   int      `json:"flats"` // open-beam frames per bin per camera position
	Darks   int      `json:"darks"` // frames without beam per bin per camera position
	Files   Files    `json:"files"`
	// BadPixelMask names an optional file of one byte per pixel of a raw
	// frame, nonzero for a pixel known to be bad.
	BadPixelMask string `json:"bad_pixel_mask,omitempty"`
	// Vials, for a calibration or test phantom, state what each vial
	// holds: material.Calibrate fits attenuation per unit concentration
	// over them, and tests compare decomposed concentrations with them.
	Vials []Vial `json:"vials,omitempty"`

	dir string // the folder the scan was read from, or written to
}

// Patient identifies the scanned subject.
type Patient struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`       // DICOM person name, "Family^Given"
	BirthDate string `json:"birth_date,omitempty"` // YYYYMMDD
	Sex       string `json:"sex,omitempty"`        // M, F or O
	// Position is how a patient lay in the scanner, as DICOM's
	// PatientPosition (HFS, HFP, HFDR, HFDL, FFS, FFP, FFDR, FFDL); empty
	// for a specimen or phantom. It says which world axis is the patient's
	// left, posterior and superior (docs/FORMATS.md).
	Position string `json:"position,omitempty"`
}

// Study identifies the study the scan belongs to.
type Study struct {
	InstanceUID string `json:"instance_uid,omitempty"` // DICOM UID
	ID          string `json:"id,omitempty"`
	Description string `json:"description,omitempty"`
	Date        string `json:"date,omitempty"` // YYYYMMDD
}

// Tube describes the x-ray source's settings.
type Tube struct {
	KVp             float64 `json:"kvp"`
	CurrentUA       float64 `json:"current_ua,omitempty"`
	FiltrationMMAl  float64 `json:"filtration_mm_al,omitempty"`
	FocalSpotMicron float64 `json:"focal_spot_um,omitempty"`
}

// EnergyBin is one counter of the detector: photons between LowKeV and
// HighKeV. MuWater, when positive, is the linear attenuation of water this
// bin sees, in 1/mm: a reconstruction converts to Hounsfield units with it.
type EnergyBin struct {
	LowKeV  float64 `json:"low_kev"`
	HighKeV float64 `json:"high_kev"`
	Mode    string  `json:"mode"`
	MuWater float64 `json:"mu_water_per_mm,omitempty"`
}

// HU converts a reconstructed attenuation mu (1/mm) to Hounsfield units with
// the bin's water calibration: 1000·(mu - μ_water)/μ_water. It fails when the
// bin has none.
func (b EnergyBin) HU(mu float64) (float64, error) {
	if !(b.MuWater > 0) {
		return 0, fmt.Errorf("energy bin %g-%g keV has no water calibration", b.LowKeV, b.HighKeV)
	}
	return 1000 * (mu - b.MuWater) / b.MuWater, nil
}

// Vial is a cylinder of known content along the rotation axis (z) of a
// phantom: its centre (x, y) in mm, its radius in mm, and what it holds,
// by material name (water, lipid, ha, iodine, gadolinium): solutes in
// mg/mL, base materials as volume fractions (0 to 1). What a vial does not
// list, it does not hold; the volume its solutes do not take is the base
// materials'.
type Vial struct {
	Name           string             `json:"name"`
	CenterMM       [2]float64         `json:"center_mm"`
	RadiusMM       float64            `json:"radius_mm"`
	MgPerML        map[string]float64 `json:"mg_per_ml,omitempty"`
	VolumeFraction map[string]float64 `json:"volume_fraction,omitempty"`
}

// Layout places the Medipix3RX chips of one camera: ChipsX across by ChipsY
// down, GapX empty pixel columns between neighbouring chips in a row and
// GapY empty pixel rows between chip rows. A raw frame holds the chips'
// pixels side by side with no gaps; the virtual detector puts the gaps in.
type Layout struct {
	Chip       string  `json:"chip"`
	ChipPixels int     `json:"chip_pixels"` // per side: 256 or 128
	Pitch      float64 `json:"pitch_mm"`    // 0.055 or 0.110
	ChipsX     int     `json:"chips_x"`
	ChipsY     int     `json:"chips_y"`
	GapX       int     `json:"gap_x_pixels"`
	GapY       int     `json:"gap_y_pixels"`
}

// RawCols and RawRows are the size of a raw frame: the chips without gaps.
func (l Layout) RawCols() int { return l.ChipsX * l.ChipPixels }

// RawRows is the number of rows of a raw frame.
func (l Layout) RawRows() int { return l.ChipsY * l.ChipPixels }

// CameraCols and CameraRows are the size of one camera position on the
// virtual detector: the chips with their gaps.
func (l Layout) CameraCols() int { return l.RawCols() + (l.ChipsX-1)*l.GapX }

// CameraRows is the number of virtual detector rows one camera covers.
func (l Layout) CameraRows() int { return l.RawRows() + (l.ChipsY-1)*l.GapY }

// virtualCol and virtualRow map a raw frame's column and row to the camera's
// virtual detector, skipping the gaps.
func (l Layout) virtualCol(x int) int { return x + x/l.ChipPixels*l.GapX }
func (l Layout) virtualRow(y int) int { return y + y/l.ChipPixels*l.GapY }

// Camera is one position of a camera translated sideways: its raw column 0
// lands on virtual detector column ShiftPixels (whole pixels, along +u).
type Camera struct {
	ShiftPixels int `json:"shift_pixels"`
}

// Counts describes the frames' pixel values.
type Counts struct {
	Dtype string `json:"dtype"` // uint16, uint32 or float32
	// ExposureMS and FlatExposureMS, when both given, are the acquisition
	// times of a projection and of a flat; the flats are scaled by their
	// ratio. Both absent means equal exposures.
	ExposureMS     float64 `json:"exposure_ms,omitempty"`
	FlatExposureMS float64 `json:"flat_exposure_ms,omitempty"`
}

// Files are the name templates of the frames, relative to the scan folder.
// A template holds placeholders {view}, {bin}, {cam} and {index} (the flat or
// dark number), each optionally zero-padded to a width: {view:4} is 0007 for
// view 7. Numbers start at 0.
type Files struct {
	Projection string `json:"projection"`
	Flat       string `json:"flat"`
	Dark       string `json:"dark,omitempty"`
}

// DefaultFiles are the templates scansim.Simulate writes and docs/FORMATS.md
// suggests.
var DefaultFiles = Files{
	Projection: "proj/v{view:4}_b{bin}_c{cam}.raw",
	Flat:       "flat/b{bin}_c{cam}_{index:2}.raw",
	Dark:       "dark/b{bin}_c{cam}_{index:2}.raw",
}

// AcquisitionTime returns Acquired as a time in the scanner's UTC offset,
// and false when the manifest does not say when the scan started.
func (s *Scan) AcquisitionTime() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s.Acquired)
	return t, err == nil
}

// Identity returns what tells this acquisition from every other: the scan
// ID and, when given, the time it started (in UTC, so that one instant
// written in two offsets is one scan). DICOM identifiers derived from it
// are the same for every reconstruction of the scan.
func (s *Scan) Identity() []string {
	if t, ok := s.AcquisitionTime(); ok {
		return []string{s.ScanID, t.UTC().Format(time.RFC3339Nano)}
	}
	return []string{s.ScanID}
}

// Dir returns the folder the scan was read from or last written to.
func (s *Scan) Dir() string { return s.dir }

// SetDir sets the folder frame paths are relative to, for a Scan built in
// memory.
func (s *Scan) SetDir(dir string) { s.dir = dir }

// CameraPositions returns the camera positions, one unshifted position when
// the manifest lists none.
func (s *Scan) CameraPositions() []Camera {
	if len(s.Cameras) == 0 {
		return []Camera{{}}
	}
	return s.Cameras
}

// VirtualDetector returns the size of the stitched detector the camera
// positions cover: what the geometry's detector must be.
func (s *Scan) VirtualDetector() (cols, rows int) {
	maxShift := 0
	for _, c := range s.CameraPositions() {
		maxShift = max(maxShift, c.ShiftPixels)
	}
	return s.Layout.CameraCols() + maxShift, s.Layout.CameraRows()
}

// Frame kinds, for FramePath.
const (
	ProjectionFrame = "projection"
	FlatFrame       = "flat"
	DarkFrame       = "dark"
)

// FramePath returns the path of a frame: kind is ProjectionFrame (index
// ignored), FlatFrame or DarkFrame (view ignored). It panics when the
// scan's file templates are invalid: call it on a validated scan.
func (s *Scan) FramePath(kind string, view, bin, cam, index int) string {
	path, err := s.framePath(kind, view, bin, cam, index)
	if err != nil {
		panic("sinogram: FramePath on an invalid scan: " + err.Error())
	}
	return path
}

func (s *Scan) framePath(kind string, view, bin, cam, index int) (string, error) {
	var tmpl string
	switch kind {
	case ProjectionFrame:
		tmpl = s.Files.Projection
	case FlatFrame:
		tmpl = s.Files.Flat
	case DarkFrame:
		tmpl = s.Files.Dark
	default:
		return "", fmt.Errorf("unknown frame kind %q", kind)
	}
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("%w: files.%s: %w", ErrManifest, kind, err)
	}
	name := t.format(map[string]int{"view": view, "bin": bin, "cam": cam, "index": index})
	return filepath.Join(s.dir, filepath.FromSlash(name)), nil
}

// frame is one file the manifest promises.
type frame struct {
	name string // relative, with / separators
	what string // for messages: "view 3 bin 1 camera 0"
	bin  int
}

// frames lists every frame of the scan: projections, flats, darks.
func (s *Scan) frames() []frame {
	var out []frame
	cams := len(s.CameraPositions())
	pt, _ := parseTemplate(s.Files.Projection)
	ft, _ := parseTemplate(s.Files.Flat)
	dt, _ := parseTemplate(s.Files.Dark)
	for b := range s.Bins {
		for c := range cams {
			for i := range s.Flats {
				out = append(out, frame{ft.format(map[string]int{"bin": b, "cam": c, "index": i}), describeFrame(FlatFrame, 0, b, c, i), b})
			}
			for i := range s.Darks {
				out = append(out, frame{dt.format(map[string]int{"bin": b, "cam": c, "index": i}), describeFrame(DarkFrame, 0, b, c, i), b})
			}
		}
	}
	for v := range s.Views {
		for b := range s.Bins {
			for c := range cams {
				out = append(out, frame{pt.format(map[string]int{"view": v, "bin": b, "cam": c}), describeFrame(ProjectionFrame, v, b, c, 0), b})
			}
		}
	}
	return out
}

// FrameBytes is the size of one frame file.
func (s *Scan) FrameBytes() int {
	n, _ := dtypeSize(s.Counts.Dtype)
	return n * s.Layout.RawCols() * s.Layout.RawRows()
}

// ReadScan reads dir/scan.json (see ReadManifest) and checks that every
// frame it names exists with the size its dtype and layout give, and that
// the bad-pixel mask, if any, has one byte per pixel. It reads no pixel
// values: the frame readers check those. Errors wrap ErrManifest,
// ErrIncomplete (a missing frame, naming its view, bin and camera) or
// ErrFormat (a frame of the wrong size, naming its file).
func ReadScan(dir string) (*Scan, error) {
	s, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := s.checkFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadManifest reads and validates dir/scan.json alone, for a scan whose
// frames are still to come. Unknown fields are errors, so that a misspelt
// field is not silently ignored.
func ReadManifest(dir string) (*Scan, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	s, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.dir = dir
	return s, nil
}

// ParseManifest decodes and validates a scan.json held in memory, such as
// a manifest on the bus; the Scan has no folder (see SetDir). Errors wrap
// ErrManifest.
func ParseManifest(data []byte) (*Scan, error) {
	s := &Scan{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkFiles stats every frame and the mask.
func (s *Scan) checkFiles() error {
	want := int64(s.FrameBytes())
	frames := s.frames()
	for _, f := range frames {
		path := filepath.Join(s.dir, filepath.FromSlash(f.name))
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return s.missingErr(frames, f, err)
			}
			return fmt.Errorf("%s: %w", f.what, err)
		}
		if st.Size() != want {
			return fmt.Errorf("%w: %s: %s is %d bytes, want %d for a %dx%d %s frame", ErrFormat, f.what, path, st.Size(), want,
				s.Layout.RawCols(), s.Layout.RawRows(), s.Counts.Dtype)
		}
	}
	if s.BadPixelMask != "" {
		if _, err := s.ReadBadPixelMask(); err != nil {
			return err
		}
	}
	return nil
}

// missingErr describes a missing frame, and says so when its whole energy
// bin is missing.
func (s *Scan) missingErr(frames []frame, missing frame, err error) error {
	total, found := 0, 0
	for _, f := range frames {
		if f.bin != missing.bin {
			continue
		}
		total++
		if _, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(f.name))); err == nil {
			found++
		}
	}
	if found == 0 {
		b := s.Bins[missing.bin]
		return fmt.Errorf("%w: energy bin %d (%g-%g keV): none of its %d frames exist (%s: %w)", ErrIncomplete, missing.bin, b.LowKeV, b.HighKeV, total, missing.what, err)
	}
	return fmt.Errorf("%w: %s missing: %w", ErrIncomplete, missing.what, err)
}

// WriteManifest validates s and writes it as dir/scan.json; frame paths are
// relative to dir from then on.
func (s *Scan) WriteManifest(dir string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), append(data, '\n'), 0o644); err != nil {
		return err
	}
	s.dir = dir
	return nil
}

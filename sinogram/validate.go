package sinogram

import (
	"fmt"
	"math"
	"strings"

	"github.com/ctrecon/ctrecon/dicomio"
)

func manifestErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrManifest, field, fmt.Sprintf(format, args...))
}

// Validate reports the first field of the manifest that is missing, out of
// range or contradicts another. It reads no frames. Errors wrap ErrManifest
// (and fdk.ErrGeometry for the geometry's own checks).
func (s *Scan) Validate() error {
	if s.Format != FormatName {
		return manifestErr("format", "%q, want %q", s.Format, FormatName)
	}
	if s.Version != FormatVersion {
		return manifestErr("version", "%d, this reader knows version %d", s.Version, FormatVersion)
	}
	if strings.TrimSpace(s.ScanID) == "" {
		return manifestErr("scan_id", "missing")
	}
	for _, check := range []func() error{s.validateIDs, s.validateLayout, s.validateGeometry, s.validateBins,
		s.validateCounts, s.validateFiles, s.validateVials} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// dicomFields are the manifest's fields that reach DICOM files, with their
// value representations, so that a value no DICOM file can hold is refused
// when the manifest is read, not when the reconstruction is written.
func (s *Scan) dicomFields() []struct{ name, vr, v string } {
	return []struct{ name, vr, v string }{
		{"patient.id", "LO", s.Patient.ID},
		{"patient.name", "PN", s.Patient.Name},
		{"patient.birth_date", "DA", s.Patient.BirthDate},
		{"study.instance_uid", "UI", s.Study.InstanceUID},
		{"study.id", "SH", s.Study.ID},
		{"study.description", "LO", s.Study.Description},
		{"study.date", "DA", s.Study.Date},
	}
}

func (s *Scan) validateIDs() error {
	for _, f := range s.dicomFields() {
		if err := dicomio.CheckValue(f.vr, f.v); err != nil {
			return manifestErr(f.name, "DICOM %s: %v", f.vr, err)
		}
	}
	if p := s.Patient.Position; p != "" {
		if err := dicomio.CheckPatientPosition(p); err != nil {
			return manifestErr("patient.position", "%v", err)
		}
	}
	if s.Acquired != "" {
		t, ok := s.AcquisitionTime()
		if !ok {
			return manifestErr("acquired", "%q is not an RFC 3339 time with its UTC offset (2026-01-15T10:42:07+13:00)", s.Acquired)
		}
		if d := s.Study.Date; d != "" && d != t.Format("20060102") {
			return manifestErr("study.date", "%s, but the scan was acquired on %s", d, t.Format("20060102"))
		}
	}
	switch s.Patient.Sex {
	case "", "M", "F", "O":
	default:
		return manifestErr("patient.sex", "%q, want M, F or O", s.Patient.Sex)
	}
	t := s.Tube
	if !(t.KVp > 0 && t.KVp <= 1000) {
		return manifestErr("tube.kvp", "%g, must be positive", t.KVp)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"tube.current_ua", t.CurrentUA}, {"tube.filtration_mm_al", t.FiltrationMMAl}, {"tube.focal_spot_um", t.FocalSpotMicron}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return manifestErr(f.name, "%g, must be zero or positive", f.v)
		}
	}
	return nil
}

func (s *Scan) validateLayout() error {
	l := s.Layout
	if l.Chip != Medipix3RX {
		return manifestErr("detector_layout.chip", "%q, want %q", l.Chip, Medipix3RX)
	}
	switch {
	case l.ChipPixels == 256 && math.Abs(l.Pitch-0.055) < 1e-9:
	case l.ChipPixels == 128 && math.Abs(l.Pitch-0.110) < 1e-9:
	default:
		return manifestErr("detector_layout", "%d pixels per chip side at %g mm: a Medipix3RX is 256 at 0.055 mm or 128 at 0.110 mm", l.ChipPixels, l.Pitch)
	}
	if l.ChipsX < 1 || l.ChipsY < 1 || l.ChipsX > 64 || l.ChipsY > 64 || l.ChipsX*l.ChipsY > 64 {
		return manifestErr("detector_layout", "%d x %d chips, want 1 to 64 chips", l.ChipsX, l.ChipsY)
	}
	if l.GapX < 0 || l.GapY < 0 || l.GapX > l.ChipPixels || l.GapY > l.ChipPixels {
		return manifestErr("detector_layout", "gaps %d x %d pixels, want 0 to %d", l.GapX, l.GapY, l.ChipPixels)
	}
	if n := len(s.Cameras); n > maxCameras {
		return manifestErr("camera_positions", "%d positions, at most %d", n, maxCameras)
	}
	// The camera positions must tile the virtual detector without a hole:
	// sorted by shift, each starts at or before the previous one's end.
	seen := map[int]int{}
	covered := 0
	for _, c := range sortedCameras(s.CameraPositions()) {
		if c.cam.ShiftPixels < 0 {
			return manifestErr(fmt.Sprintf("camera_positions[%d].shift_pixels", c.index), "%d, must be zero or positive", c.cam.ShiftPixels)
		}
		if prev, dup := seen[c.cam.ShiftPixels]; dup {
			return manifestErr("camera_positions", "positions %d and %d have the same shift %d", prev, c.index, c.cam.ShiftPixels)
		}
		seen[c.cam.ShiftPixels] = c.index
		if c.cam.ShiftPixels > covered {
			return manifestErr(fmt.Sprintf("camera_positions[%d].shift_pixels", c.index),
				"%d leaves virtual detector columns %d-%d without a camera (each position covers %d columns)",
				c.cam.ShiftPixels, covered, c.cam.ShiftPixels-1, l.CameraCols())
		}
		covered = max(covered, c.cam.ShiftPixels+l.CameraCols())
	}
	return nil
}

// maxCameras bounds the camera positions of a scan.
const maxCameras = 32

type indexedCamera struct {
	index int
	cam   Camera
}

func sortedCameras(cams []Camera) []indexedCamera {
	out := make([]indexedCamera, len(cams))
	for i, c := range cams {
		out[i] = indexedCamera{i, c}
	}
	for i := 1; i < len(out); i++ { // insertion sort: a handful of positions
		for j := i; j > 0 && out[j].cam.ShiftPixels < out[j-1].cam.ShiftPixels; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (s *Scan) validateGeometry() error {
	g := &s.Geometry
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: geometry: %w", ErrManifest, err)
	}
	if s.Views < 1 {
		return manifestErr("views", "%d, need at least 1", s.Views)
	}
	if len(g.Matrices) > 0 && len(g.Matrices) != s.Views {
		return manifestErr("geometry.matrices", "%d matrices for %d views", len(g.Matrices), s.Views)
	}
	if (len(g.Matrices) == 0 || len(g.Angles) > 0) && len(g.Angles) != s.Views {
		return manifestErr("geometry.angles_rad", "%d angles for %d views", len(g.Angles), s.Views)
	}
	cols, rows := s.VirtualDetector()
	if g.Cols != cols || g.Rows != rows {
		shifts := ""
		if n := len(s.CameraPositions()); n > 1 {
			shifts = fmt.Sprintf(" at %d camera positions shifted up to %d pixels", n, cols-s.Layout.CameraCols())
		}
		return manifestErr("geometry.detector", "%dx%d pixels, but %d x %d chips of %d pixels with gaps of %d columns and %d rows%s make a %dx%d virtual detector",
			g.Cols, g.Rows, s.Layout.ChipsX, s.Layout.ChipsY, s.Layout.ChipPixels, s.Layout.GapX, s.Layout.GapY, shifts, cols, rows)
	}
	if math.Abs(g.PitchU-s.Layout.Pitch) > 1e-6*s.Layout.Pitch || math.Abs(g.PitchV-s.Layout.Pitch) > 1e-6*s.Layout.Pitch {
		return manifestErr("geometry.detector", "pitch %g x %g mm, but the chips' pitch is %g mm", g.PitchU, g.PitchV, s.Layout.Pitch)
	}
	return nil
}

func (s *Scan) validateBins() error {
	if len(s.Bins) == 0 {
		return manifestErr("energy_bins", "none")
	}
	if len(s.Bins) > 8 {
		return manifestErr("energy_bins", "%d bins; a Medipix3RX pixel has at most 8 counters", len(s.Bins))
	}
	for i, b := range s.Bins {
		field := fmt.Sprintf("energy_bins[%d]", i)
		switch {
		case !(b.LowKeV > 0) || math.IsInf(b.LowKeV, 0):
			return manifestErr(field+".low_kev", "%g, must be positive", b.LowKeV)
		case !(b.HighKeV > b.LowKeV) || math.IsInf(b.HighKeV, 0):
			return manifestErr(field+".high_kev", "%g, must exceed low_kev %g", b.HighKeV, b.LowKeV)
		case b.LowKeV >= s.Tube.KVp:
			return manifestErr(field+".low_kev", "%g keV, but the tube's kVp is %g: the bin counts nothing", b.LowKeV, s.Tube.KVp)
		case b.Mode != ChargeSumming && b.Mode != SinglePixel:
			return manifestErr(field+".mode", "%q, want %q or %q", b.Mode, ChargeSumming, SinglePixel)
		case !(b.MuWater >= 0) || math.IsInf(b.MuWater, 0):
			return manifestErr(field+".mu_water_per_mm", "%g, must be zero (none) or positive", b.MuWater)
		}
		if i > 0 {
			p := s.Bins[i-1]
			if b.LowKeV <= p.LowKeV || b.HighKeV < p.HighKeV {
				return manifestErr(field, "%g-%g keV after %g-%g keV: bins must be listed in increasing energy", b.LowKeV, b.HighKeV, p.LowKeV, p.HighKeV)
			}
		}
	}
	return nil
}

func (s *Scan) validateCounts() error {
	if _, err := dtypeSize(s.Counts.Dtype); err != nil {
		return manifestErr("counts.dtype", "%v", err)
	}
	e, f := s.Counts.ExposureMS, s.Counts.FlatExposureMS
	if !(e >= 0 && f >= 0) || math.IsInf(e, 0) || math.IsInf(f, 0) || (e > 0) != (f > 0) {
		return manifestErr("counts", "exposure_ms %g and flat_exposure_ms %g: give both (positive) or neither", e, f)
	}
	if s.Flats < 1 || s.Flats > maxCalibrationFrames {
		return manifestErr("flats", "%d; 1 to %d flat (open-beam) frames per bin and camera position are needed", s.Flats, maxCalibrationFrames)
	}
	if s.Darks < 0 || s.Darks > maxCalibrationFrames {
		return manifestErr("darks", "%d, must be 0 to %d", s.Darks, maxCalibrationFrames)
	}
	if n := len(s.Bins) * len(s.CameraPositions()) * (s.Views + s.Flats + s.Darks); n > maxFrames {
		return manifestErr("views", "%d views, %d flats and %d darks for %d bins at %d camera positions make %d frames, at most %d",
			s.Views, s.Flats, s.Darks, len(s.Bins), len(s.CameraPositions()), n, maxFrames)
	}
	return nil
}

// maxCalibrationFrames bounds the flats and the darks per bin and camera
// position, and maxFrames all the frames of a scan: validation lists every
// frame's name, so a manifest must not ask for billions. A MARS scan of 720
// views in 8 bins at 4 camera positions has about 24 000.
const (
	maxCalibrationFrames = 1024
	maxFrames            = 1 << 20
)

func dtypeSize(dtype string) (int, error) {
	switch dtype {
	case Uint16:
		return 2, nil
	case Uint32, Float32:
		return 4, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want %s, %s or %s)", dtype, Uint16, Uint32, Float32)
}

func (s *Scan) validateFiles() error {
	multiCam := len(s.CameraPositions()) > 1
	checks := []struct {
		field, tmpl string
		need        []string
		used        bool
	}{
		{"files.projection", s.Files.Projection, []string{"view", "bin"}, true},
		{"files.flat", s.Files.Flat, []string{"bin"}, true},
		{"files.dark", s.Files.Dark, []string{"bin"}, s.Darks > 0},
	}
	for i := range checks {
		if multiCam {
			checks[i].need = append(checks[i].need, "cam")
		}
	}
	checks[1].need = appendIf(checks[1].need, s.Flats > 1, "index")
	checks[2].need = appendIf(checks[2].need, s.Darks > 1, "index")
	for _, c := range checks {
		if !c.used {
			continue
		}
		t, err := parseTemplate(c.tmpl)
		if err != nil {
			return manifestErr(c.field, "%v", err)
		}
		for _, n := range c.need {
			if !t.has(n) {
				return manifestErr(c.field, "%q lacks {%s}, so two frames would share a file", c.tmpl, n)
			}
		}
	}
	if m := s.BadPixelMask; m != "" {
		if err := checkRelPath(m); err != nil {
			return manifestErr("bad_pixel_mask", "%v", err)
		}
	}
	// The three templates must not name the same file.
	names := map[string]string{}
	for _, f := range s.frames() {
		if prev, dup := names[f.name]; dup {
			return manifestErr("files", "%s and %s are both %s", prev, f.what, f.name)
		}
		names[f.name] = f.what
	}
	return nil
}

func appendIf(s []string, cond bool, v string) []string {
	if cond {
		return append(s, v)
	}
	return s
}

// validateVials checks that each vial has a place, a size and contents
// that are amounts: finite, not negative, fractions at most 1.
func (s *Scan) validateVials() error {
	for i, v := range s.Vials {
		field := fmt.Sprintf("vials[%d]", i)
		if !(v.RadiusMM > 0) || math.IsInf(v.RadiusMM, 0) || math.IsNaN(v.CenterMM[0]+v.CenterMM[1]) || math.IsInf(v.CenterMM[0]+v.CenterMM[1], 0) {
			return manifestErr(field, "%q: centre %v mm, radius %g mm: want a finite centre and a positive radius", v.Name, v.CenterMM, v.RadiusMM)
		}
		for name, c := range v.MgPerML {
			if !(c >= 0) || math.IsInf(c, 0) {
				return manifestErr(field+".mg_per_ml."+name, "%g, must be zero or positive", c)
			}
		}
		for name, f := range v.VolumeFraction {
			if !(f >= 0 && f <= 1) {
				return manifestErr(field+".volume_fraction."+name, "%g, must be in [0, 1]", f)
			}
		}
	}
	return nil
}

package dicomio

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
)

// CTSeries is a CT series read from any writer's files: the voxels in
// Hounsfield units on the grid the slices lie on, and the identifiers a
// feature record needs.
type CTSeries struct {
	// Grid has x along the columns, y along the rows and z across the
	// slices, in increasing ImagePositionPatient z; Origin is the first
	// slice's ImagePositionPatient (patient frame, mm).
	Grid fdk.Grid
	// HU holds every voxel, x fastest: stored value × RescaleSlope +
	// RescaleIntercept.
	HU []float64
	// Padding marks the voxels, x fastest, whose stored value is the
	// series' PixelPaddingValue (outside the field of view); nil when the
	// series declares none.
	Padding           []bool
	StudyInstanceUID  string
	SeriesInstanceUID string
	SeriesDescription string
	PatientID         string
}

// EnergyBin returns the energy bin's number that the SeriesDescription of
// a series WriteSeries wrote names ("Bin 2: 35-50 keV"), and false for
// any other description.
func (c *CTSeries) EnergyBin() (int, bool) {
	var n int
	var rest string
	if k, err := fmt.Sscanf(c.SeriesDescription, "Bin %d: %s", &n, &rest); err != nil || k != 2 || n < 0 {
		return 0, false
	}
	return n, true
}

// ReadCTSeries reads the single-frame axial CT images (*.dcm, or every
// file when there is none) of folder dir: one series, slices evenly spaced
// along z, axial orientation (ImageOrientationPatient 1\0\0\0\1\0), 8 or 16
// bits stored, any transfer syntax the DICOM library decodes natively.
// Errors name the folder or the file and the attribute at fault; a panic
// of the DICOM library on a malformed file is returned as an error.
func ReadCTSeries(dir string) (*CTSeries, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err == nil && len(paths) == 0 {
		paths, err = filepath.Glob(filepath.Join(dir, "*"))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	var slices []*ctSlice
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		s, err := readCTSlice(p)
		if err != nil {
			return nil, err
		}
		slices = append(slices, s)
	}
	if len(slices) == 0 {
		return nil, fmt.Errorf("%s: no DICOM files", dir)
	}
	return stack(dir, slices)
}

// ctSlice is one image of a series.
type ctSlice struct {
	path                     string
	pos                      [3]float64
	pixel                    [2]float64 // row spacing, column spacing
	cols, rows               int
	hu                       []float64
	padding                  []bool // nil without PixelPaddingValue
	study, series, patientID string
	description              string
}

// stack sorts the slices by z and checks that they form one grid.
func stack(dir string, slices []*ctSlice) (*CTSeries, error) {
	sort.Slice(slices, func(a, b int) bool { return slices[a].pos[2] < slices[b].pos[2] })
	first := slices[0]
	dz := sliceSpacing(slices)
	out := &CTSeries{
		Grid: fdk.Grid{Dim: [3]int{first.cols, first.rows, len(slices)},
			Spacing: [3]float64{first.pixel[1], first.pixel[0], dz},
			Origin:  fdk.Vec3{first.pos[0], first.pos[1], first.pos[2]}},
		StudyInstanceUID: first.study, SeriesInstanceUID: first.series, SeriesDescription: first.description,
		PatientID: first.patientID,
	}
	for k := 1; k < len(slices) && dz <= 0; k++ {
		if a, b := slices[k-1], slices[k]; b.pos[2] <= a.pos[2] {
			return nil, fmt.Errorf("%s: %s and %s lie at the same z %g", dir, a.path, b.path, b.pos[2])
		}
	}
	out.HU = make([]float64, 0, out.Grid.Voxels())
	for k, s := range slices {
		if err := onGrid(first, k, s, slices, dz); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		out.HU = append(out.HU, s.hu...)
		if s.padding != nil && out.Padding == nil {
			out.Padding = make([]bool, k*len(s.hu), out.Grid.Voxels())
		}
		if out.Padding != nil {
			out.Padding = append(out.Padding, s.padding...)
			out.Padding = out.Padding[:len(out.HU)] // a slice without padding: none padded
		}
	}
	return out, nil
}

// sliceSpacing returns the step from the first sorted slice to the second
// (1 for one slice, 0 when they share a z), or the smallest step between
// two slices when the first is not within 1e-3 of it (a slice missing
// there), so that a missing slice shows as a step of twice the spacing.
func sliceSpacing(slices []*ctSlice) float64 {
	if len(slices) < 2 {
		return 1
	}
	dz := slices[1].pos[2] - slices[0].pos[2]
	least := dz
	for k := 2; k < len(slices); k++ {
		least = min(least, slices[k].pos[2]-slices[k-1].pos[2])
	}
	if dz-least > 1e-3*least {
		return least
	}
	return dz
}

// onGrid reports slice k, s, of the sorted slices when it is not of first's
// series and size or not one step dz above slice k−1: sharing its z, a
// slice missing between them, or off the grid.
func onGrid(first *ctSlice, k int, s *ctSlice, slices []*ctSlice, dz float64) error {
	switch {
	case s.series != first.series:
		return fmt.Errorf("%s is of series %s, %s of %s: one series per folder", s.path, s.series, first.path, first.series)
	case s.cols != first.cols || s.rows != first.rows:
		return fmt.Errorf("%s is %dx%d, %s %dx%d", s.path, s.cols, s.rows, first.path, first.cols, first.rows)
	case s.pos[0] != first.pos[0] || s.pos[1] != first.pos[1]:
		return fmt.Errorf("%s at ImagePositionPatient %v is not on the grid of %s (x, y %g, %g)", s.path, s.pos, first.path, first.pos[0], first.pos[1])
	case k == 0:
		return nil
	}
	prev := slices[k-1]
	step := s.pos[2] - prev.pos[2]
	tol := 1e-3 * dz
	switch n := math.Round(step / dz); {
	case math.Abs(step-dz) <= tol:
		return nil
	case n >= 2 && math.Abs(step-n*dz) <= n*tol:
		return fmt.Errorf("%g slice(s) missing between %s (z %g mm) and %s (z %g mm): the slices are %g mm apart elsewhere",
			n-1, prev.path, prev.pos[2], s.path, s.pos[2], dz)
	default:
		return fmt.Errorf("%s at ImagePositionPatient %v is not on the grid of %s (slice spacing %g mm)", s.path, s.pos, first.path, dz)
	}
}

// readCTSlice reads one image in HU.
func readCTSlice(path string) (s *ctSlice, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%s: the DICOM parser failed: %v", path, r)
		}
	}()
	if err := checkDICM(path); err != nil {
		return nil, err
	}
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable DICOM file: %w", path, err)
	}
	a := attributes{path: path, ds: &ds}
	s = &ctSlice{path: path, study: a.text(tag.StudyInstanceUID), series: a.text(tag.SeriesInstanceUID),
		patientID: a.optional(tag.PatientID), description: a.optional(tag.SeriesDescription)}
	pos, pixel, orient := a.numbers(tag.ImagePositionPatient, 3), a.numbers(tag.PixelSpacing, 2), a.numbers(tag.ImageOrientationPatient, 6)
	slope, intercept := a.numbers(tag.RescaleSlope, 1), a.numbers(tag.RescaleIntercept, 1)
	signed := a.numbers(tag.PixelRepresentation, 1)
	if a.err != nil {
		return nil, a.err
	}
	copy(s.pos[:], pos)
	copy(s.pixel[:], pixel)
	if orient[0] != 1 || orient[4] != 1 {
		return nil, fmt.Errorf("%s: ImageOrientationPatient %v: want an axial slice (1\\0\\0\\0\\1\\0)", path, orient)
	}
	if pixel[0] <= 0 || pixel[1] <= 0 {
		return nil, fmt.Errorf("%s: PixelSpacing %v: want positive spacings", path, pixel)
	}
	var pad *float64
	if _, err := ds.FindElementByTag(tag.PixelPaddingValue); err == nil {
		pad = &a.numbers(tag.PixelPaddingValue, 1)[0]
		if a.err != nil {
			return nil, a.err
		}
	}
	s.hu, s.padding, s.cols, s.rows, err = pixelsHU(path, &ds, signed[0] == 1, slope[0], intercept[0], pad)
	return s, err
}

// checkDICM reports a file that is not a DICOM file: DICOM Part 10 files
// hold "DICM" after a 128-byte preamble.
func checkDICM(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 132)
	if _, err := io.ReadFull(f, head); err != nil || string(head[128:]) != "DICM" {
		return fmt.Errorf("%s is not a DICOM file (no \"DICM\" after the 128-byte preamble): keep only the series' images in the folder", path)
	}
	return nil
}

// pixelsHU returns the first frame's pixels rescaled to HU, and, when pad
// is not nil, which of them store the value *pad (PixelPaddingValue).
func pixelsHU(path string, ds *dicom.Dataset, signed bool, slope, intercept float64, pad *float64) ([]float64, []bool, int, int, error) {
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%s: PixelData: %w", path, err)
	}
	info, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || len(info.Frames) != 1 || info.Frames[0].Encapsulated {
		return nil, nil, 0, 0, fmt.Errorf("%s: PixelData: want one native (uncompressed) frame", path)
	}
	nd := info.Frames[0].NativeData
	cols, rows := nd.Cols(), nd.Rows()
	var hu []float64
	var padded []bool
	switch raw := nd.RawDataSlice().(type) {
	case []uint16:
		hu, padded = rescale(raw, func(v uint16) float64 {
			if signed {
				return float64(int16(v))
			}
			return float64(v)
		}, slope, intercept, pad)
	case []int16:
		hu, padded = rescale(raw, func(v int16) float64 { return float64(v) }, slope, intercept, pad)
	case []uint8:
		hu, padded = rescale(raw, func(v uint8) float64 {
			if signed {
				return float64(int8(v))
			}
			return float64(v)
		}, slope, intercept, pad)
	default:
		return nil, nil, 0, 0, fmt.Errorf("%s: PixelData: %T samples: want 8 or 16 bits", path, raw)
	}
	if len(hu) != cols*rows || nd.SamplesPerPixel() != 1 {
		return nil, nil, 0, 0, fmt.Errorf("%s: PixelData: %d samples for %dx%d, want one per pixel", path, len(hu), cols, rows)
	}
	return hu, padded, cols, rows, nil
}

// rescale returns the stored values raw (value converts one) in HU, and,
// when pad is not nil, which of them store *pad.
func rescale[T any](raw []T, value func(T) float64, slope, intercept float64, pad *float64) ([]float64, []bool) {
	out := make([]float64, len(raw))
	var padded []bool
	if pad != nil {
		padded = make([]bool, len(raw))
	}
	for i, v := range raw {
		x := value(v)
		out[i] = x*slope + intercept
		if pad != nil {
			padded[i] = x == *pad
		}
	}
	return out, padded
}

// attributes reads a dataset's attributes, keeping the first error.
type attributes struct {
	path string
	ds   *dicom.Dataset
	err  error
}

func (a *attributes) fail(tg tag.Tag, format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%s: %s: %s", a.path, tag.DebugString(tg), fmt.Sprintf(format, args...))
	}
}

// optional returns a text attribute, or "" when absent.
func (a *attributes) optional(tg tag.Tag) string {
	e, err := a.ds.FindElementByTag(tg)
	if err != nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimSpace(strings.Join(v, `\`))
	}
	return ""
}

// text returns a required text attribute.
func (a *attributes) text(tg tag.Tag) string {
	s := a.optional(tg)
	if s == "" {
		a.fail(tg, "missing or empty")
	}
	return s
}

// numbers returns a required numeric attribute of n values (DS, IS or US).
func (a *attributes) numbers(tg tag.Tag, n int) []float64 {
	out := make([]float64, n)
	e, err := a.ds.FindElementByTag(tg)
	if err != nil {
		a.fail(tg, "missing")
		return out
	}
	var vals []float64
	switch v := e.Value.GetValue().(type) {
	case []string:
		for _, s := range v {
			for _, f := range strings.Split(s, `\`) {
				x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil {
					a.fail(tg, "%q is not a number", f)
					return out
				}
				vals = append(vals, x)
			}
		}
	case []int:
		for _, x := range v {
			vals = append(vals, float64(x))
		}
	default:
		a.fail(tg, "unexpected value %T", v)
		return out
	}
	if len(vals) != n {
		a.fail(tg, "%d values, want %d", len(vals), n)
		return out
	}
	return vals
}

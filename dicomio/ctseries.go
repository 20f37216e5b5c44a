package dicomio

import (
	"fmt"
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
	HU                []float64
	StudyInstanceUID  string
	SeriesInstanceUID string
	PatientID         string
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
	study, series, patientID string
}

// stack sorts the slices by z and checks that they form one grid.
func stack(dir string, slices []*ctSlice) (*CTSeries, error) {
	sort.Slice(slices, func(a, b int) bool { return slices[a].pos[2] < slices[b].pos[2] })
	first := slices[0]
	dz := 1.0
	if len(slices) > 1 {
		dz = slices[1].pos[2] - first.pos[2]
	}
	out := &CTSeries{
		Grid: fdk.Grid{Dim: [3]int{first.cols, first.rows, len(slices)},
			Spacing: [3]float64{first.pixel[1], first.pixel[0], dz},
			Origin:  fdk.Vec3{first.pos[0], first.pos[1], first.pos[2]}},
		StudyInstanceUID: first.study, SeriesInstanceUID: first.series, PatientID: first.patientID,
	}
	if dz <= 0 {
		return nil, fmt.Errorf("%s: %s and %s lie at the same z %g", dir, first.path, slices[1].path, first.pos[2])
	}
	out.HU = make([]float64, 0, out.Grid.Voxels())
	for k, s := range slices {
		switch {
		case s.series != first.series:
			return nil, fmt.Errorf("%s: %s is of series %s, %s of %s: one series per folder", dir, s.path, s.series, first.path, first.series)
		case s.cols != first.cols || s.rows != first.rows:
			return nil, fmt.Errorf("%s: %s is %dx%d, %s %dx%d", dir, s.path, s.cols, s.rows, first.path, first.cols, first.rows)
		case math.Abs(s.pos[2]-first.pos[2]-float64(k)*dz) > 1e-3*math.Abs(dz) || s.pos[0] != first.pos[0] || s.pos[1] != first.pos[1]:
			return nil, fmt.Errorf("%s: %s at ImagePositionPatient %v is not on the grid of %s (slice spacing %g mm)", dir, s.path, s.pos, first.path, dz)
		}
		out.HU = append(out.HU, s.hu...)
	}
	return out, nil
}

// readCTSlice reads one image in HU.
func readCTSlice(path string) (s *ctSlice, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%s: the DICOM parser failed: %v", path, r)
		}
	}()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a := attributes{path: path, ds: &ds}
	s = &ctSlice{path: path, study: a.text(tag.StudyInstanceUID), series: a.text(tag.SeriesInstanceUID), patientID: a.optional(tag.PatientID)}
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
	s.hu, s.cols, s.rows, err = pixelsHU(path, &ds, signed[0] == 1, slope[0], intercept[0])
	return s, err
}

// pixelsHU returns the first frame's pixels rescaled to HU.
func pixelsHU(path string, ds *dicom.Dataset, signed bool, slope, intercept float64) ([]float64, int, int, error) {
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: PixelData: %w", path, err)
	}
	info, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || len(info.Frames) != 1 || info.Frames[0].Encapsulated {
		return nil, 0, 0, fmt.Errorf("%s: PixelData: want one native (uncompressed) frame", path)
	}
	nd := info.Frames[0].NativeData
	cols, rows := nd.Cols(), nd.Rows()
	var hu []float64
	switch raw := nd.RawDataSlice().(type) {
	case []uint16:
		hu = rescale(raw, func(v uint16) float64 {
			if signed {
				return float64(int16(v))
			}
			return float64(v)
		}, slope, intercept)
	case []int16:
		hu = rescale(raw, func(v int16) float64 { return float64(v) }, slope, intercept)
	case []uint8:
		hu = rescale(raw, func(v uint8) float64 {
			if signed {
				return float64(int8(v))
			}
			return float64(v)
		}, slope, intercept)
	default:
		return nil, 0, 0, fmt.Errorf("%s: PixelData: %T samples: want 8 or 16 bits", path, raw)
	}
	if len(hu) != cols*rows || nd.SamplesPerPixel() != 1 {
		return nil, 0, 0, fmt.Errorf("%s: PixelData: %d samples for %dx%d, want one per pixel", path, len(hu), cols, rows)
	}
	return hu, cols, rows, nil
}

func rescale[T any](raw []T, value func(T) float64, slope, intercept float64) []float64 {
	out := make([]float64, len(raw))
	for i, v := range raw {
		out[i] = value(v)*slope + intercept
	}
	return out
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

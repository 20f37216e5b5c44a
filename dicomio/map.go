package dicomio

import (
	"fmt"
	"math"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
)

// Units of a Map, as DICOM's Rescale Type defines them (PS3.3
// C.11.1.1.2): milligrams per millilitre, and percent (a volume fraction
// times 100).
const (
	UnitMgPerML  = "MGML"
	UnitPercent  = "PCT"
	percentScale = 100
)

// Map is a parametric map derived from a spectral reconstruction, such as
// one material's amount per voxel: written as a CT series of its own, in
// the study and frame of reference of the bins it was derived from.
type Map struct {
	// Name names the map in its folder (material_<name>) and description.
	Name string
	// Unit is UnitMgPerML or UnitPercent. A volume's values are mg/mL for
	// the first and volume fractions (0 to 1) for the second, written as
	// percent.
	Unit string
	// Slope is the unit per stored value (RescaleSlope, intercept 0):
	// 0.01 mg/mL holds 0 to 327 mg/mL; 0.1 for denser materials.
	Slope float64
	// Comment says how the map was made (ImageComments, LT).
	Comment string
	// SeriesInstanceUID is generated when empty; SeriesNumber is required.
	SeriesInstanceUID string
	SeriesNumber      int
}

// checkMap reports a map that cannot be written.
func checkMap(m Map) error {
	switch {
	case m.Name == "" || strings.ContainsAny(m.Name, `/\`):
		return inputErr("Map.Name", "%q: want a name that can be a folder's", m.Name)
	case m.Unit != UnitMgPerML && m.Unit != UnitPercent:
		return inputErr("Map.Unit", "%q: want %s or %s", m.Unit, UnitMgPerML, UnitPercent)
	case !(m.Slope > 0) || math.IsInf(m.Slope, 1):
		return inputErr("Map.Slope", "%g: must be positive", m.Slope)
	case m.SeriesNumber < 1 || m.SeriesNumber > math.MaxInt32:
		return inputErr("Map.SeriesNumber", "%d is not a series number", m.SeriesNumber)
	case m.SeriesInstanceUID != "" && !ValidUID(m.SeriesInstanceUID):
		return inputErr("Map.SeriesInstanceUID", "%q is not a UID", m.SeriesInstanceUID)
	}
	return nil
}

// WriteMap writes vol, the map's values on its grid, as a derived CT
// series (ImageType DERIVED\SECONDARY\AXIAL) in a new folder
// material_<name> under dir, with RescaleType the map's unit and its
// slope, otherwise as WriteSeries writes a bin: the same study, frame of
// reference, orientation and padding. opts.Windows are in the map's unit
// (nil: one window from 0 to 327.67 stored values' worth, the range a
// slope of 0.01 holds).
func WriteMap(dir string, st Study, m Map, vol *fdk.Volume, opts Options) (Series, error) {
	if err := checkMap(m); err != nil {
		return Series{}, err
	}
	unit, scale := "mg/mL", 1.0
	if m.Unit == UnitPercent {
		unit, scale = "% of volume", percentScale
	}
	if opts.Windows == nil {
		opts.Windows = []Window{{Center: 16384 * m.Slope, Width: 32768 * m.Slope, Explanation: "FULL RANGE"}}
	}
	c := content{folder: "material_" + m.Name, description: fmt.Sprintf("%s (%s)", m.Name, unit), comment: m.Comment,
		uid: m.SeriesInstanceUID, number: m.SeriesNumber, imageType: []string{"DERIVED", "SECONDARY", "AXIAL"},
		scale: scale, slope: m.Slope, rescaleType: m.Unit}
	return writeContent(dir, st, c, vol, opts)
}

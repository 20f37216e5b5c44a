package material

import (
	"encoding/json"
	"fmt"
)

// RecordKind is the kind (with its version) of the per-object material
// records of a job that decomposes: one per object of the job's feature
// extraction, its values the object's mean amount of each material in the
// order of its RecordData's Materials (mg/mL; water and lipid as volume
// fractions, 0 to 1; NaN for an object whose mean attenuation is air's).
// The search names a record's values by its data, so that a filter can
// ask for "gadolinium > 1" (mg/mL).
const RecordKind = "materials-v1"

// RecordData is a RecordKind record's data (JSON).
//
// A record's amounts are the decomposition of the object's mean
// attenuation in each bin (over its interior, Voxels), not the means of
// the material maps over the same voxels, and the two differ: each voxel
// of a map is solved with every amount held at zero or above, which
// clips that voxel's noise, so a map's mean over a region is not the
// decomposition of the region's mean. A material absent from the region
// reads a positive mean in its map (the README's test scan: 3.8 % lipid
// in the water cylinder, whose record reads 0.000), and the others' means
// shift by the attenuation it took (the gadolinium 3.9 mg/mL vial's map
// averages 3.80 over its core, its record 3.91). The mean
// attenuation's noise is averaged out before it is decomposed, so the
// record is the unbiased reading (up to the calibration's own bias); an
// ROI mean read off the DICOM maps is not.
type RecordData struct {
	// Materials names the record's values, Units gives each one's unit
	// (Material.Unit).
	Materials []string `json:"materials"`
	Units     []string `json:"units"`
	// Calibration is the calibration file's name, or "physics", and
	// CalibrationSHA256 the file's SHA-256 (as the job's report states
	// it), or that of the physics calibration's JSON.
	Calibration       string `json:"calibration"`
	CalibrationSHA256 string `json:"calibration_sha256,omitempty"`
	// Voxels is how many of the object's voxels the means are over
	// (those of its interior inside the field of view: recon measures
	// an object one voxel in from its edge).
	Voxels int `json:"voxels"`
	// StandardError is each amount's standard error, in its unit, from
	// the amounts' spread between the object's slices (recon decomposes
	// each slice's mean alone): the noise of the object's mean, and any
	// change of its content along z. Absent for an object of one slice
	// and for air.
	StandardError []float64 `json:"standard_error,omitempty"`
}

// RecordNames returns the names of a RecordKind record's n values from
// its data. It returns an error when the data is not RecordData JSON or
// names another number of values.
func RecordNames(data []byte, n int) ([]string, error) {
	var d RecordData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s data: %w", RecordKind, err)
	}
	if len(d.Materials) != n {
		return nil, fmt.Errorf("%s data names %d materials for %d values", RecordKind, len(d.Materials), n)
	}
	return d.Materials, nil
}

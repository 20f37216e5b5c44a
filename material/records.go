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
type RecordData struct {
	// Materials names the record's values, Units gives each one's unit
	// (Material.Unit).
	Materials []string `json:"materials"`
	Units     []string `json:"units"`
	// Calibration is the calibration file's name, or "physics".
	Calibration string `json:"calibration"`
	// Voxels is how many of the object's voxels the means are over
	// (those of its interior inside the field of view: recon measures
	// an object one voxel in from its edge).
	Voxels int `json:"voxels"`
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

package recon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"

	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/material"
)

// KindMaterials is the kind of the per-object material records of a job
// that decomposes (material.RecordKind), filed under the first bin's
// series, as it spans them all (like spectral-v1).
const KindMaterials = material.RecordKind

// materialsSettings are what a materials record's amounts depend on,
// whose hash is the records' settings hash: the objects (the extraction's
// segmentation), the bins, the materials with their units, and the
// calibration's identity.
type materialsSettings struct {
	Objects   segment.Settings `json:"objects"`
	Bins      []material.Bin   `json:"bins"`
	Materials []string         `json:"materials"`
	Units     []string         `json:"units"`
	// Calibration is the calibration file's name, or "physics"; its
	// SHA-256 is that of the calibration's JSON as used (file or physics).
	Calibration       string `json:"calibration"`
	CalibrationSHA256 string `json:"calibration_sha256"`
	// Solve says how an object's amounts are measured.
	Solve string `json:"solve"`
}

// materialRecords measures each object of seg, the extraction's segmentation
// of bins (extract.Result.Segmentation), as a lab measures a vial: each
// bin's mean attenuation over the object, decomposed by the job's
// decomposer (material.Decomposer.Solve), which the non-negativity does
// not bias as it biases the maps' means. It returns the KindMaterials
// records, or nil for a job without materials.
func (r *runner) materialRecords(seg *segment.Segmentation, bins []segment.Bin, series string, ids extract.IDs) (*extract.Result, error) {
	if r.decomp == nil {
		return nil, nil
	}
	s := materialsSettings{Objects: extract.DefaultScanSettings().Objects, Calibration: r.rep.Materials.Calibration,
		Solve: "each bin's mean over the object, decomposed (non-negative least squares)"}
	if s.Calibration != material.SourcePhysics {
		s.Calibration = filepath.Base(s.Calibration)
	}
	calJSON, err := json.Marshal(r.cal)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(calJSON)
	s.CalibrationSHA256 = hex.EncodeToString(sum[:])
	for _, b := range bins {
		s.Bins = append(s.Bins, material.Bin{LowKeV: b.LowKeV, HighKeV: b.HighKeV})
	}
	for _, m := range r.decomp.Materials {
		s.Materials, s.Units = append(s.Materials, m.Name), append(s.Units, m.Unit)
	}
	hash, js, err := records.HashSettings(s)
	if err != nil {
		return nil, err
	}
	res := &extract.Result{Settings: js, SettingsHash: hash, Names: map[string][]string{KindMaterials: s.Materials}}
	means, err := objectMeans(seg, bins)
	if err != nil {
		return nil, err
	}
	kind, version, err := records.SplitKind(KindMaterials)
	if err != nil {
		return nil, err
	}
	for k, o := range seg.Objects {
		amounts, err := r.decomp.Solve(means[k].mu)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", o.Label, err)
		}
		rec := records.Record{ScanID: ids.ScanID, JobID: ids.JobID, Patient: ids.Patient, StudyUID: ids.StudyUID,
			SeriesUID: series, Bin: bins[0].Index, Slice: -1, Object: o.Label, Class: string(o.Class),
			Kind: kind, Version: version, Settings: hash, Values: make(records.Vector, len(s.Materials))}
		for j := range rec.Values {
			rec.Values[j] = float32(math.NaN())
			if amounts != nil {
				rec.Values[j] = float32(amounts[j])
			}
		}
		data := material.RecordData{Materials: s.Materials, Units: s.Units, Calibration: s.Calibration, Voxels: means[k].n}
		if rec.Data, err = json.Marshal(data); err != nil {
			return nil, err
		}
		res.Records = append(res.Records, rec)
	}
	return res, nil
}

// objectMean is one object's mean attenuation (1/mm) in each bin, over n
// voxels.
type objectMean struct {
	mu []float64
	n  int
}

// objectMeans returns each object's mean attenuation per bin, voxels
// outside the field of view (0) left out, from the statistics the
// segmentation already took (segment.Segmentation.StatsOf).
func objectMeans(seg *segment.Segmentation, bins []segment.Bin) ([]objectMean, error) {
	out := make([]objectMean, len(seg.Objects))
	for _, b := range bins {
		st, err := seg.StatsOf(b.Volume)
		if err != nil {
			return nil, fmt.Errorf("bin %d: %w", b.Index, err)
		}
		for k := range out {
			out[k].mu = append(out[k].mu, st[k].Mean)
			out[k].n = st[k].N
		}
	}
	return out, nil
}

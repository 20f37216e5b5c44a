package recon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/material"
)

// KindMaterials is the kind of the per-object material records of a job
// that decomposes (material.RecordKind), filed under the first bin's
// series, as it spans them all (like spectral-v1).
const KindMaterials = material.RecordKind

// mapFloors are the detection floors of the maps that make objects of
// their own in a job that decomposes (segment.MapRule.Floor), mg/mL: the
// contrast agents at the accuracy for them (0.5 mg/mL, so that
// an object found reads what a vial's mean is asked to tell apart from
// none); the mineral at its noise limit (material.NoiseLimit, 50 mg/mL),
// over what its map reads where there is none: where air's partial
// volume meets water at the body's surface, water, lipid and the mineral
// being nearly dependent in the bins, the README's test scan reads a ring
// of 15 to 32 mg/mL (0.5 mm voxels), and the HA map of water and lipid
// vials a few mg/mL; far below bone (trabecular 100 to 300, cortical over
// 1,000 mg/mL).
var mapFloors = map[string]float64{"iodine": 0.5, "gadolinium": 0.5, "ha": 50}

// The rest of the maps' object rules (segment.MapRule): a voxel shows a
// material at mapNoiseSDs times its map's noise per voxel (the report's
// noise_sd), where the map's own noise makes a false voxel a 1 in 3
// million event and the opening removes the rest, and an object's edge is
// cut at half its level (segment.Settings.EdgeFraction). The maps take
// voxels of tissue alone (mapClasses, segment.Settings.MapClasses), not
// the air, nor the partial volume between air and tissue.
const (
	mapNoiseSDs  = 5
	edgeFraction = 0.5
)

// mapClasses are the HU classes whose voxels the maps may take: tissue.
var mapClasses = []segment.Class{segment.Lipid, segment.Water, segment.Dense}

// lipidConfirm and lipidEdgeFraction are the rule by which a decomposing
// job draws the border between the lipid and water HU classes on its
// lipid map (segment.ConfirmRule): a voxel of lipid HU whose lipid map,
// averaged over its 3×3×3 neighbourhood, reads under 0.1 is water (its HU
// fell under −30 by noise or by air's partial volume, not by lipid); a
// lipid object grows over the voxels of either class that read 0.1 or
// more in that mean, connected to it, and keeps those whose map reads at
// least 0.4 of its level.
//
// On README's test scan (TestMaterialObjectsWholeVials' job) the mean
// reads at most 0.09 in 95 % (0.11 in 99 %) of the water voxels of lipid
// HU, 0.00 at the body's surface, and at least 0.21 in 95 % of the 28 %
// lipid vial's voxels (0.82 in the pure lipid vial's). By HU alone, water
// voxels joined the pure lipid vial's object to the surface (599 voxels
// for the vial's 440), and the water they cut off, 202 voxels at the
// surface, read 14 mg/mL of hydroxyapatite: a search for "ha > 10"
// returned it; and a vial whose lipid puts its HU near −30 was the voxels
// that noise put under it: seed 7's 25 % lipid vial read 0.61 of lipid
// and 16.7 mg/mL of hydroxyapatite (2 000 000 counts), 0.92 and 28.6 at
// 200 000. Drawn on the map, on seed 12's vials at 2 000 000 and
// 10 000 000 counts and seed 7's at 200 000 and 2 000 000: the pure
// lipid vials' objects hold 89 to 93 % of their voxels, the 25 and 28 %
// vials' 94 to 104 %, reading 0.26 to 0.31 of lipid and under 3.4 mg/mL
// of mineral, and no other object forms. An edge at half the level held
// 80 % of the pure vials (their maps' rims read 0.47 to 0.49 a voxel
// inside), and at 200 000 counts the 25 % vial read 0.58; at 0.3, that
// scan made a lipid object of noise reading 37 mg/mL of mineral.
const (
	lipidConfirm      = 0.1
	lipidEdgeFraction = 0.4
)

// keepMaps keeps the maps of d's materials other than water, in the
// decomposition's units (mg/mL; lipid's a volume fraction), with their
// noise per voxel from rep, for the extraction's objects (writeFeatures),
// when the job extracts features: the solutes' maps make objects of
// their own, lipid's confirms the lipid class (lipidConfirm).
func (r *runner) keepMaps(d *material.Decomposer, maps []*fdk.Volume, rep *MaterialsReport) {
	if !r.opts.Features {
		return
	}
	for j, m := range d.Materials {
		if _, ok := mapFloors[m.Name]; ok || m.Name == "lipid" {
			r.maps = append(r.maps, segment.Map{Material: m.Name, Volume: maps[j], NoiseSD: rep.Maps[j].NoiseSD})
		}
	}
}

// scanSettings returns the extraction's settings: extract's defaults,
// and for a job that decomposes, the rules by which its kept maps
// (keepMaps) make objects of their own or confirm the lipid class.
func (r *runner) scanSettings() extract.ScanSettings {
	s := extract.DefaultScanSettings()
	for _, m := range r.maps {
		if m.Material == "lipid" {
			s.Objects.Confirm = []segment.ConfirmRule{{Class: segment.Lipid, Material: m.Material,
				Unit: material.VolumeFraction, Min: lipidConfirm, EdgeFraction: lipidEdgeFraction, Else: segment.Water}}
			continue
		}
		s.Objects.Maps = append(s.Objects.Maps, segment.MapRule{Material: m.Material, Unit: material.MgPerML,
			NoiseSDs: mapNoiseSDs, Floor: mapFloors[m.Material]})
	}
	if len(s.Objects.Maps) > 0 {
		s.Objects.EdgeFraction, s.Objects.MapClasses = edgeFraction, mapClasses
	}
	return s
}

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
// bin's mean attenuation over the object's interior (interiorVoxels),
// decomposed by the job's decomposer (material.Decomposer.Solve), which
// the non-negativity does not bias as it biases the maps' means. It
// returns the KindMaterials records, or nil for a job without materials.
func (r *runner) materialRecords(seg *segment.Segmentation, bins []segment.Bin, series string, ids extract.IDs) (*extract.Result, error) {
	if r.decomp == nil {
		return nil, nil
	}
	s := materialsSettings{Objects: seg.Settings, Calibration: r.rep.Materials.Calibration,
		Solve: "each bin's mean over the object's interior (one erosion by the 6-connected cross; the whole object where none is left), decomposed (non-negative least squares)"}
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
	means, err := objectMeans(seg.Interior(interiorVoxels), bins)
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

// interiorVoxels is how far inside an object's edge (voxels, erosions by
// the 6-connected cross) its material amounts are measured
// (segment.Segmentation.Interior): the edge voxels hold the partial
// volume of the neighbours, which the reconstruction's blur spreads over
// about a voxel. Measured over whole vials of the README's test scan the
// amounts read 6 to 10 % low.
const interiorVoxels = 1

// objectMeans returns each object's mean attenuation per bin over seg's
// map, voxels outside the field of view (0) left out.
func objectMeans(seg *segment.Segmentation, bins []segment.Bin) ([]objectMean, error) {
	out := make([]objectMean, len(seg.Objects))
	for _, b := range bins {
		st, err := seg.Stats(b.Volume)
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

package recon

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

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

// lipidFloor, lipidNoiseSDs and lipidSurfaceVoxels are the rule by which
// a decomposing job draws the lipid class on its lipid map, not on the
// voxels' HU (segment.ConfirmRule, its edge cut at half an object's
// level, edgeFraction): on the map's mean over each voxel's 3×3×3
// neighbourhood, a lipid object shows at max(0.1, 6 × the lipid map's
// noise per voxel) (the larger of the report's noise_sd and
// slice_spread_sd; noise_sd is a lower bound there), not within 3 voxels
// of air, and its mean HU is at most lipidFloor's share of lipid's HU
// (−17 HU in the default bins: segment.ConfirmRule.MaxHU); every other
// voxel of lipid HU is water.
//
// The map's mean reads at most 0.087 in water at 2 000 000 counts on
// TestVials' seeds 4, 5, 7, 9 and 12 (64×64×8 voxels of 0.5 mm), 0.12
// to 0.17 at 400 000 (noise per voxel 5 to 6.3 %), higher at the
// phantom's centre, where FDK's noise is highest; the 22 to 28 % vials'
// cores read 0.19 to 0.28, the 49 % vial's 0.46, the pure vials' 0.92 to
// 0.96. On README's grid (76×76×12) with a vial calibration, at 4 times
// the noise and without the other two conditions, 1 to 5 lipid objects
// formed in every scan where there was no lipid: at the phantom's
// surface (1 to 1.5 mm in, where the blurred edge lowers the
// attenuation; their records read 0.00 to 0.37 of lipid), and at 400 000
// counts at its centre, reading 0.99 of lipid and 39.5 mg/mL of
// hydroxyapatite (water traded for both, which the bins cannot tell
// apart from water: its HU read 0.4); and a 22 % vial at the threshold,
// its object the voxels noise raised, read 0.43 of lipid and 10.1 mg/mL
// of mineral. Surface objects' HU read −6 to −28, real vials' −35 (25 %)
// to −155. With the three, on the trial's scans of seeds 4, 7, 9 and 12
// at 2 000 000 and 400 000 counts every lipid object is a lipid vial:
// all of them at 2 000 000 (threshold 0.15), the 49 % and pure vials at
// 400 000 (threshold 0.31 to 0.33, which the job warns of).
const (
	lipidFloor         = 0.1
	lipidNoiseSDs      = 6
	lipidSurfaceVoxels = 3
)

// objectRule returns the rule by which the named material's map makes
// objects of its own (mapFloors, mapNoiseSDs) or draws the lipid class
// (lipidFloor, lipidNoiseSDs), and whether it has one.
func objectRule(name string) (segment.MapRule, bool) {
	if name == "lipid" {
		return segment.MapRule{Material: name, Unit: material.VolumeFraction, NoiseSDs: lipidNoiseSDs, Floor: lipidFloor}, true
	}
	floor, ok := mapFloors[name]
	return segment.MapRule{Material: name, Unit: material.MgPerML, NoiseSDs: mapNoiseSDs, Floor: floor}, ok
}

// keepMaps keeps the maps of d's materials that make objects
// (objectRule), in the decomposition's units (mg/mL; lipid's a volume
// fraction), with their noise per voxel from rep, for the extraction's
// objects (writeFeatures), when the job extracts features. It states
// each one's detection threshold in rep (MapReport.ObjectThreshold) and
// warns of those over twice their floor: at the scan's noise, fainter
// objects of that material are not found.
func (r *runner) keepMaps(d *material.Decomposer, maps []*fdk.Volume, rep *MaterialsReport) error {
	if !r.opts.Features {
		return nil
	}
	var faint []string
	for j, m := range d.Materials {
		rule, ok := objectRule(m.Name)
		if !ok {
			continue
		}
		_, scale := mapUnit(m)
		mr := &rep.Maps[j]
		noise := mr.NoiseSD / float64(scale)
		if m.Name == "lipid" { // the local prior sets it: NoiseSD is a lower bound
			noise = max(mr.NoiseSD, mr.SliceSpreadSD) / float64(scale)
		}
		r.maps = append(r.maps, segment.Map{Material: m.Name, Volume: maps[j], NoiseSD: noise})
		if err := r.objects.add(rule, r.cal, materialBins(r.scan, r.bins)); err != nil {
			return err
		}
		thr := rule.Threshold(noise)
		mr.ObjectThreshold = thr * float64(scale)
		if thr > 2*rule.Floor {
			faint = append(faint, fmt.Sprintf("%s under %.3g %s (%g times its noise per voxel)", m.Name, mr.ObjectThreshold, mr.Unit, rule.NoiseSDs))
		}
	}
	if len(faint) > 0 {
		r.warn("objects of %s are not found at this noise (the maps' object_threshold): such voxels are read as their HU class, and a fainter vial or lesion makes no object, or one of the voxels that noise lifted over the threshold, reading high; scan with more photons or reconstruct larger voxels or a smoother filter",
			strings.Join(faint, ", "))
	}
	return nil
}

// objectRules are the rules by which a decomposing job's kept maps
// (keepMaps) make objects of their own or draw the lipid class, for the
// extraction's settings (scanSettings).
type objectRules struct {
	maps    []segment.MapRule
	confirm []segment.ConfirmRule
}

// add adds rule, of one kept map: lipid's draws the lipid class, its
// highest HU lipidFloor's share of lipid's in bins under cal
// (material.Calibration.BaseHU); the others make objects of their own.
func (o *objectRules) add(rule segment.MapRule, cal *material.Calibration, bins []material.Bin) error {
	if rule.Material != "lipid" {
		o.maps = append(o.maps, rule)
		return nil
	}
	hu, err := cal.BaseHU(rule.Material, bins)
	if err != nil {
		return err
	}
	o.confirm = append(o.confirm, segment.ConfirmRule{Class: segment.Lipid, MapRule: rule, EdgeFraction: edgeFraction,
		MaxHU: lipidFloor * hu, SurfaceVoxels: lipidSurfaceVoxels, Else: segment.Water})
	return nil
}

// scanSettings returns the extraction's settings: extract's defaults,
// and for a job that decomposes, the rules of its kept maps (keepMaps).
func (r *runner) scanSettings() extract.ScanSettings {
	s := extract.DefaultScanSettings()
	s.Objects.Maps, s.Objects.Confirm = r.objects.maps, r.objects.confirm
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
	perSlice := sliceMeans(seg.Interior(interiorVoxels), bins)
	var uncertain []string
	kind, version, err := records.SplitKind(KindMaterials)
	if err != nil {
		return nil, err
	}
	for k, o := range seg.Objects {
		mean := pooled(perSlice[k])
		amounts, err := r.decomp.Solve(mean.mu)
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
		data := material.RecordData{Materials: s.Materials, Units: s.Units, Calibration: s.Calibration,
			CalibrationSHA256: cmp.Or(r.rep.Materials.CalibrationSHA256, s.CalibrationSHA256), Voxels: mean.n}
		if amounts != nil {
			if data.StandardError, err = r.sliceError(perSlice[k], amounts); err != nil {
				return nil, fmt.Errorf("object %d: %w", o.Label, err)
			}
			uncertain = append(uncertain, r.uncertain(o, amounts, data.StandardError)...)
		}
		if rec.Data, err = json.Marshal(data); err != nil {
			return nil, err
		}
		res.Records = append(res.Records, rec)
	}
	if len(uncertain) > 0 {
		r.warn("%d amounts of the %s records have a standard error (their data's standard_error, from the spread between the object's slices) over half the accuracy asked of them (10 %% of the amount, and at least 0.1 of volume, 0.5 mg/mL of iodine or gadolinium, 10 mg/mL of hydroxyapatite): %s: read them with their standard error, or scan with more photons, reconstruct larger voxels or a smoother filter",
			len(uncertain), KindMaterials, strings.Join(uncertain[:min(len(uncertain), 6)], ", "))
	}
	return res, nil
}

// accuracyFloors are the least accuracy asked of a record's amount, in
// its unit: the 0.1 of volume for water and lipid and 0.5 mg/mL
// for the contrast agents; for hydroxyapatite, 10 mg/mL, the least
// mineral README's searches ask for ("ha > 10"). Over them, 10 % of the
// amount.
var accuracyFloors = map[string]float64{"water": 0.1, "lipid": 0.1, "iodine": 0.5, "gadolinium": 0.5, "ha": 10}

// uncertain lists, as "object 3 (lipid) lipid 0.344 ± 0.061", the
// amounts of object o whose standard errors se are over half their
// accuracy (accuracyFloors): at 400 000 photons, a fifth of README's
// test scan, the water and lipid of every vial's record (standard errors
// 0.04 to 0.07 of volume; none at 2 000 000).
func (r *runner) uncertain(o segment.Object, amounts, se []float64) []string {
	var out []string
	for j, m := range r.decomp.Materials {
		if se != nil && 2*se[j] > max(0.1*amounts[j], accuracyFloors[m.Name]) {
			out = append(out, fmt.Sprintf("object %d (%s) %s %.3g ± %.2g", o.Label, o.Class, m.Name, amounts[j], se[j]))
		}
	}
	return out
}

// sliceError returns the standard error of an object's amounts (the
// decomposition of its mean over all its slices) from their spread
// between its slices (slices, each slice's mean decomposed alone,
// weighted by its voxels): √(Σ nₖ(aₖ − a)² / ((K − 1) Σ nₖ)) over its K
// slices, as for K repeated measurements of nₖ voxels each. FDK's noise
// is independent from slice to slice (it filters the detector rows
// alone), so this is the noise of the object's mean, and any change of
// its content along z besides; not the calibration's bias
// (MapReport.CalibrationBiasSD), the same in every slice. Nil for an
// object of fewer than 2 slices.
func (r *runner) sliceError(slices []objectMean, amounts []float64) ([]float64, error) {
	ss := make([]float64, len(amounts))
	k, n := 0, 0
	for _, sl := range slices {
		if sl.n == 0 {
			continue
		}
		a, err := r.decomp.Solve(sl.mu)
		if err != nil || a == nil {
			return nil, err
		}
		for j := range ss {
			ss[j] += float64(sl.n) * (a[j] - amounts[j]) * (a[j] - amounts[j])
		}
		k, n = k+1, n+sl.n
	}
	if k < 2 {
		return nil, nil
	}
	for j := range ss {
		ss[j] = math.Sqrt(ss[j] / float64(k-1) / float64(n))
	}
	return ss, nil
}

// sliceMeans returns, per object of seg and per slice of its grid, the
// object's mean attenuation in each bin over its voxels in that slice,
// voxels outside the field of view (0 in some bin) left out.
func sliceMeans(seg *segment.Segmentation, bins []segment.Bin) [][]objectMean {
	g := seg.Grid
	plane := g.Dim[0] * g.Dim[1]
	out := make([][]objectMean, len(seg.Objects))
	for k := range out {
		out[k] = make([]objectMean, g.Dim[2])
		for z := range out[k] {
			out[k][z].mu = make([]float64, len(bins))
		}
	}
voxels:
	for i, l := range seg.Map {
		if l == 0 {
			continue
		}
		for _, b := range bins {
			if b.Volume.Data[i] == 0 {
				continue voxels
			}
		}
		m := &out[l-1][i/plane]
		for b, bin := range bins {
			m.mu[b] += float64(bin.Volume.Data[i])
		}
		m.n++
	}
	for k := range out {
		for z := range out[k] {
			for b := range out[k][z].mu {
				out[k][z].mu[b] /= float64(max(out[k][z].n, 1))
			}
		}
	}
	return out
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

// pooled returns an object's mean attenuation over all its slices from
// each slice's (sliceMeans): their mean weighted by their voxels.
func pooled(slices []objectMean) objectMean {
	out := objectMean{mu: make([]float64, len(slices[0].mu))}
	for _, sl := range slices {
		for b, m := range sl.mu {
			out.mu[b] += float64(sl.n) * m
		}
		out.n += sl.n
	}
	for b := range out.mu {
		out.mu[b] /= float64(max(out.n, 1))
	}
	return out
}

package recon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/preview"
	"github.com/ctrecon/ctrecon/sinogram"
)

// CalibrationName is the material calibration a job with make_calibration
// writes into its output folder.
const CalibrationName = "material_calibration.json"

// OverlayName is the colour overlay of a job's material maps.
const OverlayName = "materials.png"

// MaterialsReport is what a job's material decomposition made.
type MaterialsReport struct {
	// Calibration is the calibration file used, or "physics"; Source says
	// what it is (material.Calibration.Describe). CalibrationSHA256 is
	// the file's SHA-256 as the job read it, CalibrationScan the scan it
	// was fitted to as the file states (a file from before these were
	// kept: the scan ID alone); both absent for physics.
	Calibration       string                 `json:"calibration"`
	CalibrationSHA256 string                 `json:"calibration_sha256,omitempty"`
	CalibrationScan   *material.ScanIdentity `json:"calibration_scan,omitempty"`
	Source            string                 `json:"source"`
	ConditionNumber   float64                `json:"condition_number"`
	SmoothMM          float64                `json:"smooth_mm,omitempty"`
	// PriorMM is the radius of the local prior's guided filter along the
	// nearly dependent materials (material.Decomposer.PriorMM); absent
	// when every voxel was decomposed from its own bins alone
	// (material_voxelwise, or a set without such materials).
	PriorMM float64 `json:"prior_mm,omitempty"`
	// BinNoisePerMM is each decomposed bin's noise per voxel, 1/mm, in
	// the job's bin order (material.NoiseSD over the object); absent
	// where no voxel pair inside the object measured it.
	BinNoisePerMM []float64 `json:"bin_noise_sd_per_mm,omitempty"`
	// MisfitFraction is the fraction of the object's voxels whose
	// residual χ² per bin exceeds material.MisfitChi2 (the bins minus
	// the maps' attenuation, over BinNoisePerMM and the calibration's
	// model error; material.Decomposer.Misfit). Absent where the bins'
	// noise was not measured.
	MisfitFraction *float64 `json:"misfit_fraction,omitempty"`
	// MisfitRegionVoxels is the number of the object's voxels in regions
	// mostly misfit (material.Misfit.RegionVoxels), MisfitRegionMM3 their
	// volume, mm³; from material.MisfitRegionVoxels and MisfitRegionMM3
	// the job warns that a material missing from its list is the likely
	// cause. Absent with MisfitFraction.
	MisfitRegionVoxels *int     `json:"misfit_region_voxels,omitempty"`
	MisfitRegionMM3    *float64 `json:"misfit_region_mm3,omitempty"`
	// Maps are the materials' series, in the job's order.
	Maps    []MapReport `json:"maps"`
	Overlay string      `json:"overlay"`
}

// MapReport is one material's map.
type MapReport struct {
	Material          string           `json:"material"`
	Unit              string           `json:"unit"` // the maps' unit: mg/mL, or PercentOfVolume
	SeriesInstanceUID string           `json:"series_instance_uid"`
	Dir               string           `json:"dir"`
	Instances         []InstanceReport `json:"instances"`
	// NoiseSD is the noise per voxel the bins' noise (BinNoisePerMM)
	// puts into the map, in its unit (material.Decomposer.MapNoise,
	// which says what it ignores), and NoiseLimit the noise over which
	// the job warns that the map is dominated by noise
	// (material.NoiseLimit). Both absent where the bins' noise was not
	// measured.
	NoiseSD    float64 `json:"noise_sd,omitempty"`
	NoiseLimit float64 `json:"noise_sd_limit,omitempty"`
	// SpreadSD is the variation from voxel to voxel within the slices of
	// the amounts the decomposition solves for before the non-negativity
	// clips them (the unconstrained least squares whose noise NoiseSD
	// states), in the map's unit (material.Decomposer.DecomposeSpread): noise and
	// the artefacts the same on neighbouring slices (streaks) that
	// NoiseSD does not see, also in a map mostly zero (iodine,
	// gadolinium), where the map's own variation is clipped away. The
	// job warns where it exceeds NoiseLimit and 1.5 times the larger of
	// NoiseSD and SliceSpreadSD.
	SpreadSD float64 `json:"spread_sd,omitempty"`
	// SliceSpreadSD is the same amounts' variation between voxels a few
	// slices apart (material.Spread.Slices), in the map's unit: their
	// noise, without what neighbouring slices share. Where the local
	// prior sets water, lipid and the mineral it is measured where
	// NoiseSD, a model, is a lower bound (2 to 3 times under it on
	// white noise); the streak warning needs the in-plane spread over
	// 1.5 times the larger of the two. Absent on too few slices.
	SliceSpreadSD float64 `json:"slice_spread_sd,omitempty"`
	// ObjectThreshold is the least amount, in the map's unit, at which
	// the job's features make objects of this material (segment.MapRule's
	// threshold; lipid's on the map's 3×3×3 mean, segment.ConfirmRule):
	// its floor, or a few times the map's noise per voxel where that is
	// higher (see recon's mapNoiseSDs and lipidNoiseSDs). Absent where
	// the job extracts no features and for water.
	ObjectThreshold float64 `json:"object_threshold,omitempty"`
	// CalibrationBiasSD is the standard deviation of the bias the
	// calibration's own error (its fit's standard errors) puts into the
	// map, in its unit, in a voxel of pure water or pure lipid, whichever
	// is larger (material.Decomposer.CalibrationBias): the same in every
	// such voxel, so no average over a region lessens it. Absent for a
	// calibration without standard errors (physics, older files).
	CalibrationBiasSD float64 `json:"calibration_bias_sd,omitempty"`
}

// CalibrationReport is the calibration a make_calibration job fitted
// (material.Calibrate) and how good it is: the fit over the vials, and
// the bias its own error puts into every job that uses it.
type CalibrationReport struct {
	File  string `json:"file"`
	Vials int    `json:"vials"`
	// Missing are the known materials no vial holds, which the
	// calibration lacks.
	Missing []string `json:"missing_materials,omitempty"`
	// ConditionNumber is that of the vials' concentration matrix
	// (material.Fit.ConditionNumber); ResidualRMSPerMM the fit's residual
	// root mean square over the vials per bin, 1/mm, in Bins' order.
	ConditionNumber  float64        `json:"condition_number"`
	Bins             []material.Bin `json:"bins"`
	ResidualRMSPerMM []float64      `json:"residual_rms_per_mm"`
	// Materials are the calibrated materials, Bias their biases
	// (material.Calibration.SelfBias), both in the calibration's order;
	// Bias empty, with BiasUnassessed saying why, where its bins cannot
	// decompose into all of them.
	Materials      []string       `json:"materials"`
	Bias           []MaterialBias `json:"bias,omitempty"`
	BiasUnassessed string         `json:"bias_unassessed,omitempty"`
}

// MaterialBias is one calibrated material's bias: the standard
// deviation of what the calibration's own error puts into its map in a
// voxel of water or of lipid, whichever is larger, in the map's Unit
// (mg/mL, or PercentOfVolume).
type MaterialBias struct {
	Material string  `json:"material"`
	Unit     string  `json:"unit"`
	BiasSD   float64 `json:"bias_sd"`
}

// PercentOfVolume is the unit of the water and lipid maps a job writes
// (DICOM series, MetaImage volumes, the overlay's legend), as the DICOM
// series' description names it: the decomposition's volume fractions
// times 100. The per-object feature records keep volume fractions.
const PercentOfVolume = "% of volume"

// mapUnit returns the unit of m's written maps and what turns the
// decomposition's amounts into it.
func mapUnit(m material.Material) (unit string, scale float32) {
	if m.Base() {
		return PercentOfVolume, 100
	}
	return m.Unit, 1
}

// scaled returns vol times scale (vol itself for 1).
func scaled(vol *fdk.Volume, scale float32) *fdk.Volume {
	if scale == 1 {
		return vol
	}
	out := fdk.NewVolume(vol.Grid)
	for i, v := range vol.Data {
		out.Data[i] = v * scale
	}
	return out
}

// mapStyle is how a material's map is stored and drawn: its DICOM slope
// (unit per stored value: 0.01 mg/mL holds up to 327 mg/mL, 0.1 up to
// 3276 for bone mineral; 0.01 % for fractions), its viewing window, its
// overlay colour and the amount drawn in full colour (in the map's unit,
// mapUnit).
var mapStyle = map[string]struct {
	slope, lo, hi float64
	color         color.RGBA
	full          float64
}{
	"water":      {0.01, 0, 100, color.RGBA{0x30, 0x80, 0xff, 0xff}, 100},
	"lipid":      {0.01, 0, 100, color.RGBA{0xff, 0xd0, 0x00, 0xff}, 100},
	"ha":         {0.1, 0, 500, color.RGBA{0x20, 0xe0, 0x40, 0xff}, 400},
	"iodine":     {0.01, 0, 10, color.RGBA{0xff, 0x30, 0x30, 0xff}, 10},
	"gadolinium": {0.01, 0, 10, color.RGBA{0xd0, 0x40, 0xff, 0xff}, 10},
}

// validateMaterials checks the decomposition's fields on their own.
func (j *Job) validateMaterials() error {
	if len(j.Materials) > 0 {
		mats, err := material.ParseSet(j.Materials)
		if err != nil {
			return jobErr("materials", "%v", err)
		}
		if !slices.ContainsFunc(mats, func(m material.Material) bool { return m.Name == "water" }) {
			return jobErr("materials", "%s lacks water: every voxel's volume is water (or water and lipid) besides what the others displace, and without it the decomposition would explain water's attenuation with the other materials; list water (and lipid for fat)",
				strings.Join(j.Materials, ","))
		}
	}
	if j.Calibration != "" && len(j.Materials) == 0 {
		return jobErr("calibration", "a calibration is for a decomposition: give the materials to decompose into too (--materials, a job file's \"materials\")")
	}
	if s := j.MaterialSmoothMM; s < 0 || !finite(s) || s != 0 && len(j.Materials) == 0 {
		return jobErr("material_smooth_mm", "%g: must be zero or positive, and only with materials", s)
	}
	if j.MaterialVoxelwise && len(j.Materials) == 0 {
		return jobErr("material_voxelwise", "only with materials")
	}
	return nil
}

// checkMaterials reports before any work what would stop the job's
// decomposition or calibration on scan's bins: see decomposer, and vials
// that Calibrate cannot fit.
func (j *Job) checkMaterials(scan *sinogram.Scan, bins []int) error {
	if j.MakeCalibration {
		if err := material.CheckVials(scan.Vials); err != nil {
			return jobErr("make_calibration", "%v", err)
		}
	}
	_, _, err := j.decomposer(scan, bins)
	return err
}

// decomposer reads the job's calibration (or computes it from physics) and
// prepares the decomposition of scan's bins into the job's materials;
// nil without materials. Errors name the field.
func (j *Job) decomposer(scan *sinogram.Scan, bins []int) (*material.Decomposer, *material.Calibration, error) {
	if len(j.Materials) == 0 {
		return nil, nil, nil
	}
	mats, err := material.ParseSet(j.Materials)
	if err != nil {
		return nil, nil, jobErr("materials", "%v", err)
	}
	var cal *material.Calibration
	mb := materialBins(scan, bins)
	if j.Calibration != "" {
		if cal, err = material.Read(j.Calibration); err != nil {
			return nil, nil, jobErr("calibration", "%v", err)
		}
		if err := cal.CheckBins(mb); err != nil {
			return nil, nil, jobErr("calibration", "%s: %v", j.Calibration, err)
		}
	} else if cal, err = material.Physics(scan.Tube, scan.Bins); err != nil {
		return nil, nil, jobErr("materials", "%v", err)
	}
	d, err := material.NewDecomposer(cal, mb, mats)
	switch {
	case err == nil:
		return d, cal, nil
	case j.Calibration == "" || errors.Is(err, material.ErrTooManyMaterials):
		return nil, nil, jobErr("materials", "%v", err)
	case errors.Is(err, material.ErrNearlyDependent) && setNearlyDependent(scan, mb, mats):
		return nil, nil, jobErr("materials", "%v (with the attenuations of the calibration %s)", err, j.Calibration)
	default:
		return nil, nil, jobErr("calibration", "%s: %v", j.Calibration, err)
	}
}

// setNearlyDependent reports whether mats are too nearly dependent in bins
// (material.ErrNearlyDependent) under scan's physics calibration too: the
// set's fault, where a calibration file refused for it is not at fault
// (one whose vials made two materials alike is).
func setNearlyDependent(scan *sinogram.Scan, bins []material.Bin, mats []material.Material) bool {
	phys, err := material.Physics(scan.Tube, scan.Bins)
	if err != nil {
		return false
	}
	_, err = material.NewDecomposer(phys, bins, mats)
	return errors.Is(err, material.ErrNearlyDependent)
}

// materialBins returns the keV ranges of scan's bins, in bins' order.
func materialBins(scan *sinogram.Scan, bins []int) []material.Bin {
	mb := make([]material.Bin, len(bins))
	for i, b := range bins {
		mb[i] = material.Bin{LowKeV: scan.Bins[b].LowKeV, HighKeV: scan.Bins[b].HighKeV}
	}
	return mb
}

// aliasingBand is how many times the voxels' Nyquist frequency a
// calibrating or decomposing job's ramp filter may reach before the job
// warns (warnAliasing): a Hann window cut there leaves half its gain at
// the voxels' Nyquist frequency.
const aliasingBand = 2

// warnAliasing warns a job that calibrates or decomposes when its ramp
// filter passes frequencies far above what its voxels hold (detector
// pixels much finer than the voxels, at the isocentre): back-projected
// onto the coarse voxels they alias into them. The bins are then noisier
// than the voxels need (the decomposition's non-negativity turns the
// noise into bias in the maps' means) and biased where the vials' edges
// alias: on the simulated vial phantoms at 0.5 mm (0.073 mm pixels at
// the isocentre) the ramp filter at full band left 15 to 18 times the
// voxel noise of a Hann window cut at a quarter, and read a water vial 50
// to 64 HU low in the lowest bin, which a calibration fitted as 1.7 %
// less water and 3.8 % less lipid. A job that names no filter has the
// band's own (chooseFilter).
//
// A job that extracts features is warned too: its objects are segmented
// by HU classes some 170 HU wide, and on the spectral phantom at 64³
// voxels of 0.59 mm (60 views, Ram-Lak at full band) water voxels spread by
// 660 to 1150 HU (SD) per bin, so the objects found were noise at the phantom's rim
// and "air" inside it, not the vials, which a Hann window cut at 0.25
// found (trial 28). Such a job is warned, not given the band's filter
// (chooseFilter): its bins are the DICOM series a reader compares with
// other reconstructions (RTK, plastimatch: Ram-Lak at full band by
// default), and a changed default would change every worker's series.
func (r *runner) warnAliasing() {
	if !r.job.spectralMaterials() && !r.opts.Features {
		return
	}
	g := &r.scan.Geometry
	pixel, voxel := pixelAndVoxel(g, r.grid)
	cutoff, band := r.job.cutoff(), voxelBand(g, r.grid)
	if cutoff <= band+0.005 { // the cut-off suggested, to 2 decimals, passes
		return
	}
	harm, fix := "the material maps (and a calibration) take the aliased rest as noise and bias", "which a job naming neither gets"
	if !r.job.spectralMaterials() {
		harm, fix = "the aliased rest is noise in the bins, and the objects the features find may be noise too", "or finer voxels"
	}
	r.warn("filter: the %s window cut at %g passes up to %.2g cycles/mm, %.1f times the Nyquist frequency of the %.3g mm voxels: %s; reconstruct with a smooth window cut near the voxels' band, such as --filter hann --cutoff %.2f (filter.window, filter.cutoff), %s",
		r.job.filterWindow(), cutoff, cutoff/(2*pixel), cutoff*voxel/pixel, voxel, harm, band, fix)
}

// waterLinearization returns the water beam-hardening correction of
// scan's bins for a job that makes a calibration or decomposes, nil for
// others: a calibration and the decompositions made with it both see bins
// whose water reads the same at every depth, so that the position of a
// vial in its phantom does not move volume between water, lipid and
// hydroxyapatite (material.Linearization).
func (j *Job) waterLinearization(scan *sinogram.Scan) (*material.Linearization, error) {
	if !j.spectralMaterials() {
		return nil, nil
	}
	l, err := material.NewLinearization(scan.Tube, scan.Bins)
	if err != nil {
		return nil, jobErr("materials", "%v", err)
	}
	return l, nil
}

// correctHardening removes from a material job's bins the beam hardening
// by the materials other than water, which the water linearization
// leaves (material.Hardening), so that the bins the job writes,
// calibrates on and decomposes read every vial alike wherever it lies.
// Bins too few to tell the known materials apart keep it, with a
// warning.
func (r *runner) correctHardening(ctx context.Context) error {
	if r.lin == nil {
		return nil
	}
	h, err := material.NewHardening(r.lin, r.scan.Tube, r.scan.Bins, r.bins)
	if err != nil {
		r.warn("%v; so the bins keep the hardening by materials other than water", err)
		return nil
	}
	o := r.job.options(nil)
	o.Window, o.Cutoff, o.Context = fdk.Hann, 1, ctx // the correction is smooth on its coarse grid
	vols, err := h.Correct(&r.scan.Geometry, r.vols, o)
	if err != nil {
		return err
	}
	if r.fov != nil { // the correction's interpolation reaches past it
		for _, v := range vols {
			r.fov.Mask(v)
		}
	}
	r.vols = vols
	return nil
}

// writeMaterials fits the calibration when the job makes one, and
// decomposes the bins into the job's materials when it names some: per
// material a DICOM series in the bins' study, a MetaImage volume when the
// job writes them, and one colour overlay of all the maps.
func (r *runner) writeMaterials(context.Context) error {
	if r.job.MakeCalibration {
		if err := r.makeCalibration(); err != nil {
			return err
		}
	}
	d, cal, err := r.job.decomposer(r.scan, r.bins)
	if d == nil || err != nil {
		return err
	}
	// The job states its own maps' calibration bias (reportCalibrationBias)
	// rather than repeat the calibration's over all its materials, and
	// does not repeat what it has warned of itself (the same filter, the
	// same beam-hardening correction).
	inherited := slices.DeleteFunc(slices.Clone(cal.Warnings), func(w string) bool {
		return strings.HasPrefix(w, selfBiasWarning) || slices.Contains(r.rep.Warnings, w)
	})
	if len(inherited) > 0 {
		r.warn("calibration %s: made by a job that warned, and what went wrong there may bias these maps too: %s",
			r.job.Calibration, strings.Join(inherited, "; "))
	}
	threads := r.threads()
	vols := make([]*fdk.Volume, len(r.vols))
	for i, v := range r.vols {
		vols[i] = material.Smooth(v, r.job.MaterialSmoothMM, threads)
	}
	if !r.job.MaterialVoxelwise {
		d.PriorMM = material.DefaultPriorMM
	}
	g := vols[0].Grid
	maps, spread, err := d.DecomposeSpread(vols, material.SpreadLag(g.Spacing[0], r.job.MaterialSmoothMM, d.PriorMM),
		material.SpreadLag(g.Spacing[2], r.job.MaterialSmoothMM, d.PriorMM), threads)
	if err != nil {
		return err
	}
	rep := &MaterialsReport{Calibration: r.job.Calibration, CalibrationSHA256: cal.SHA256, CalibrationScan: cal.Scan(),
		Source: cal.Describe(), ConditionNumber: d.Condition, SmoothMM: r.job.MaterialSmoothMM}
	if d.Regularized() {
		rep.PriorMM = d.PriorMM
	}
	if rep.Calibration == "" {
		rep.Calibration = material.SourcePhysics
	}
	r.rep.Materials, r.decomp, r.cal = rep, d, cal
	// The series are written side by side: each is its own folder of
	// files, and encoding one is single-threaded.
	rep.Maps = make([]MapReport, len(d.Materials))
	errs := make([]error, len(d.Materials))
	parallel.For(len(d.Materials), threads, func(i int) {
		rep.Maps[i], errs[i] = r.writeMap(d.Materials[i], maps[i], rep)
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := r.reportNoise(d, vols, maps, spread, rep); err != nil {
		return err
	}
	if err := r.reportCalibrationBias(d, cal, rep); err != nil {
		return err
	}
	if err := r.keepMaps(d, maps, rep); err != nil {
		return err
	}
	return r.writeOverlay(d.Materials, maps, rep)
}

// makeCalibration fits the material calibration to the scan's vials,
// reports its fit (CalibrationReport) and writes it with the job's
// warnings, which include the calibration's own: known materials without
// vials, and a bias from its fit's error over material.NoiseLimit.
func (r *runner) makeCalibration() error {
	cal, err := material.Calibrate(r.scan, r.bins, r.vols)
	if err != nil {
		return err
	}
	cal.ScanAcquired, cal.ScanPatientID = r.scan.Acquired, r.scan.Patient.ID
	cal.ScanStudyInstanceUID = dicomStudy(r.scan, &r.job).StudyInstanceUID
	path := filepath.Join(r.dir, CalibrationName)
	rep := &CalibrationReport{File: r.final(path), Vials: cal.Fit.Vials, ConditionNumber: cal.Fit.ConditionNumber,
		Bins: cal.Bins, ResidualRMSPerMM: cal.Fit.ResidualRMSPerMM}
	r.rep.Calibration = rep
	for _, m := range cal.Materials {
		rep.Materials = append(rep.Materials, m.Name)
	}
	for _, m := range cal.Missing() {
		rep.Missing = append(rep.Missing, m.Name)
	}
	if len(rep.Missing) > 0 {
		r.warn("calibration: no vial of the calibration scan holds %s (scan.json's vials): the calibration has none, and no job can decompose into it with this calibration; calibrate on a scan with vials of it",
			strings.Join(rep.Missing, ", "))
	}
	r.reportSelfBias(cal, rep)
	cal.Warnings = slices.Clone(r.rep.Warnings)
	return cal.Write(path)
}

// selfBiasWarning begins the warning of a calibration's bias over all
// its materials (reportSelfBias), which the calibration file keeps.
const selfBiasWarning = "calibration: its fit is too uncertain"

// reportSelfBias records in rep the bias cal's own error puts into a
// decomposition into all its materials (material.Calibration.SelfBias),
// per material in its map's unit, and warns where it exceeds
// material.NoiseLimit: every job using cal carries that bias, whatever
// its dose. Bins that cannot decompose into all the materials (too few,
// nearly dependent) leave it unassessed, with the reason.
func (r *runner) reportSelfBias(cal *material.Calibration, rep *CalibrationReport) {
	mats, bias, err := cal.SelfBias()
	if err != nil {
		rep.BiasUnassessed = err.Error()
		return
	}
	sd, biased := overLimit(mats, bias)
	for j, m := range mats {
		unit, _ := mapUnit(m)
		rep.Bias = append(rep.Bias, MaterialBias{Material: m.Name, Unit: unit, BiasSD: sd[j]})
	}
	if len(biased) > 0 {
		r.warn(selfBiasWarning+": its attenuations' standard errors bias a decomposition into all its materials, in a voxel of water or lipid, by %s (one standard deviation; report.json calibration.bias), the same in every such voxel of every job that uses it, whatever that job's dose; calibrate on a scan of the vials with more photons (several times the dose of the scans it serves) or more vials",
			strings.Join(biased, ", "))
	}
}

// reportNoise measures the noise of the decomposed bins vols,
// propagates it through the calibration into each of d's maps
// (material.Decomposer.MapNoise), records both in rep, and warns, naming
// them, of the maps whose noise per voxel exceeds material.NoiseLimit: a
// user reading such a map sees noise, not amounts. Voxels every map
// leaves at zero (air, outside the field of view) are left out. It
// records each map's spread too (in-plane and between slices, in the
// decomposition's units: material.Decomposer.DecomposeSpread) and warns
// of the maps whose in-plane spread exceeds the limit and 1.5 times both
// the stated noise and the spread between slices: streaks, which
// neighbouring slices share.
func (r *runner) reportNoise(d *material.Decomposer, vols, maps []*fdk.Volume, spread material.Spread, rep *MaterialsReport) error {
	inside := make([]bool, len(maps[0].Data))
	for _, m := range maps {
		for i, v := range m.Data {
			inside[i] = inside[i] || v != 0
		}
	}
	g := vols[0].Grid
	lag := material.NoiseLagSlices(g.Spacing[2], r.job.MaterialSmoothMM)
	binSD := make([]float64, len(vols))
	for b, v := range vols {
		var pairs int
		if binSD[b], pairs = material.NoiseSD(v, inside, lag); pairs == 0 {
			return nil
		}
	}
	sd, err := d.MapNoise(binSD, g.Spacing)
	if err != nil {
		return err
	}
	rep.BinNoisePerMM = binSD
	noiseSD, _ := overLimit(d.Materials, sd)
	// The noise warning takes the larger of the stated noise and the
	// measured spread between slices: where the local prior sets water,
	// lipid and the mineral, the stated one is a lower bound
	// (material.TestSpread's white noise: water's a third of the
	// measured).
	if spread.Slices != nil {
		for j := range sd {
			sd[j] = max(sd[j], spread.Slices[j])
		}
	}
	_, noisy := overLimit(d.Materials, sd)
	var streaky []string
	for j, m := range d.Materials {
		_, scale := mapUnit(m)
		mr := &rep.Maps[j]
		mr.NoiseSD, mr.NoiseLimit = noiseSD[j], material.NoiseLimit(m)*float64(scale)
		if spread.InPlane != nil {
			mr.SpreadSD = spread.InPlane[j] * float64(scale)
		}
		if spread.Slices != nil {
			mr.SliceSpreadSD = spread.Slices[j] * float64(scale)
		}
		if mr.SpreadSD > mr.NoiseLimit && mr.SpreadSD > 1.5*max(mr.NoiseSD, mr.SliceSpreadSD) {
			between := "" // not measured on too few slices
			if mr.SliceSpreadSD > 0 {
				between = fmt.Sprintf(", between slices %.3g", mr.SliceSpreadSD)
			}
			streaky = append(streaky, fmt.Sprintf("%s %.3g %s (noise %.3g%s, limit %.3g)", m.Name, mr.SpreadSD, mr.Unit, mr.NoiseSD, between, mr.NoiseLimit))
		}
	}
	misfit, err := r.reportMisfit(d, vols, maps, inside, rep)
	if err != nil {
		return err
	}
	if len(streaky) > 0 {
		// A material the job does not list varies the maps within the
		// slices too (its vials read as others), which no blur mends.
		cause := "streaks the same on neighbouring slices (too few views, or a sharp filter on fine voxels) pass into the maps"
		if misfit {
			cause = "first decompose into the materials the misfit warning names, whose vials, read as other materials, vary the maps; else " + cause
		}
		r.warn("material maps vary within their slices far more than the bins' noise and than from slice to slice, per voxel standard deviation: %s: %s; reconstruct larger voxels with a smooth filter (--voxel, --filter hann --cutoff), scan more views, or blur the bins (%s)",
			strings.Join(streaky, ", "), cause, r.blurAdvice())
	}
	if len(noisy) > 0 {
		r.warn("material maps dominated by noise, per voxel standard deviation: %s: the bins' noise (%s per mm) is too high for these materials; scan with more photons (phantom --noise) or more views, reconstruct larger voxels or a smoother filter (--voxel, --filter hann --cutoff), blur the bins (%s), or decompose into fewer materials",
			strings.Join(noisy, ", "), formatList(binSD), r.blurAdvice())
	}
	return nil
}

// blurAdvice says how to blur the bins before the decomposition: with
// --material-smooth, or more than the job's blur where it has one.
func (r *runner) blurAdvice() string {
	if s := r.job.MaterialSmoothMM; s > 0 {
		return fmt.Sprintf("--material-smooth over the job's %g mm", s)
	}
	return "--material-smooth MM"
}

// reportCalibrationBias records in rep each map's bias from the
// calibration's own error (MapReport.CalibrationBiasSD) in voxels of pure
// water and pure lipid, the base materials every object is mostly made
// of, and warns of the maps where it exceeds material.NoiseLimit, the
// level at which a voxel's map tells little. Nothing in the decomposed
// scan's own maps shows this bias. README's test scan measured 36 % of
// volume for water and lipid with a calibration scanned at the
// simulator's default 20 000 counts (its maps read 0.14 to 0.22 of lipid
// in vials of none), 9.6 % at 200 000 and 6.1 % at 10 000 000, where the
// fit's residuals (what the linear model misses) rather than the
// calibration scan's noise set it.
func (r *runner) reportCalibrationBias(d *material.Decomposer, cal *material.Calibration, rep *MaterialsReport) error {
	bias, err := d.BaseBias(cal, materialBins(r.scan, r.bins))
	if err != nil {
		return err
	}
	sd, biased := overLimit(d.Materials, bias)
	for j, s := range sd {
		rep.Maps[j].CalibrationBiasSD = s
	}
	if len(biased) > 0 {
		r.warn("calibration %s: its fit is too uncertain for these maps: its attenuations' standard errors bias the maps in a voxel of water or lipid by %s (one standard deviation; report.json calibration_bias_sd), the same in every such voxel; calibrate on a scan of the vials with more photons (several times the dose of the scans it serves) or more vials",
			rep.Calibration, strings.Join(biased, ", "))
	}
	return nil
}

// overLimit returns the standard deviations sd of mats' amounts
// (material units; noise or bias) in their maps' units (mapUnit), and for
// each not under material.NoiseLimit a "name sd unit (limit L)" for a
// warning.
func overLimit(mats []material.Material, sd []float64) (inMapUnits []float64, over []string) {
	inMapUnits = make([]float64, len(mats))
	for j, m := range mats {
		unit, scale := mapUnit(m)
		inMapUnits[j] = sd[j] * float64(scale)
		if limit := material.NoiseLimit(m) * float64(scale); !(inMapUnits[j] <= limit) {
			over = append(over, fmt.Sprintf("%s %.3g %s (limit %.3g)", m.Name, inMapUnits[j], unit, limit))
		}
	}
	return inMapUnits, over
}

// misfitAdvice is what a job whose maps do not explain its bins advises:
// the materials to decompose into, no more than bins bins and volume
// conservation determine.
func misfitAdvice(bins int) string {
	if known := len(material.Known); known > bins+1 {
		return fmt.Sprintf("decompose into the materials the object may hold (of %s), at most %d with these %d bins and volume conservation, or scan with more energy bins", material.KnownNames(), bins+1, bins)
	}
	return fmt.Sprintf("decompose into every material the object may hold (of %s)", material.KnownNames())
}

// reportMisfit records in rep how many of the object's voxels inside
// the maps do not explain (material.Decomposer.Misfit, with rep's bin
// noise), and warns when misfit voxels lie together in regions large
// enough (material.Misfit.Warns): a material the object holds but the
// job does not list has its attenuation moved into the listed ones
// (hydroxyapatite read as iodine, lipid as water), with no other sign in
// the maps. It reports whether it warned.
func (r *runner) reportMisfit(d *material.Decomposer, vols, maps []*fdk.Volume, inside []bool, rep *MaterialsReport) (bool, error) {
	m, err := d.Misfit(vols, maps, inside, rep.BinNoisePerMM, r.threads())
	if err != nil || m.Inside == 0 {
		return false, err
	}
	rep.MisfitFraction, rep.MisfitRegionVoxels, rep.MisfitRegionMM3 = &m.Fraction, &m.RegionVoxels, &m.RegionMM3
	if !m.Warns() {
		return false, nil
	}
	var unlisted []string
	for _, k := range material.Known {
		if !slices.ContainsFunc(d.Materials, func(m material.Material) bool { return m.Name == k.Name }) {
			unlisted = append(unlisted, k.Name)
		}
	}
	r.warn("materials: the maps do not explain the bins: %d of the %d voxels inside the object (%.3g mm³) lie in regions where most voxels' residual chi-squared per bin (bins minus the maps' attenuation, over the bins' noise per voxel and the calibration's model error) exceeds %g (warning from %d voxels and %g mm³; report.json materials.misfit_region_voxels): a material the object holds but %s does not list (of %s) is the likely cause, its attenuation read as the listed materials'; %s",
		m.RegionVoxels, m.Inside, m.RegionMM3, float64(material.MisfitChi2), material.MisfitRegionVoxels, material.MisfitRegionMM3, strings.Join(r.job.Materials, ","), strings.Join(unlisted, ", "), misfitAdvice(len(vols)))
	return true, nil
}

// formatList writes values with three significant digits, comma-separated.
func formatList(values []float64) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = fmt.Sprintf("%.3g", v)
	}
	return strings.Join(s, ", ")
}

// mapSettings returns a hash (16 hex digits of SHA-256) of everything
// that makes a material map's pixels besides the scan and the job ID:
// the bins' (Job.pixelSettings), the calibration's SHA-256, the material
// set, the bins' blur and the local prior. A job run again under its ID
// with other settings writes other map series, as it writes other bin
// series, so that a PACS does not take the new maps for the old.
func (r *runner) mapSettings(rep *MaterialsReport) string {
	names := make([]string, len(r.decomp.Materials))
	for i, m := range r.decomp.Materials {
		names[i] = m.Name
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{r.job.pixelSettings(r.grid), rep.CalibrationSHA256,
		strings.Join(names, ","), fmt.Sprint(rep.SmoothMM), fmt.Sprint(rep.PriorMM)}, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// threads returns how many goroutines the job's material work runs on:
// the job's threads, or one per CPU.
func (r *runner) threads() int {
	if r.job.Threads == 0 {
		return runtime.NumCPU()
	}
	return r.job.Threads
}

// writeMap writes one material's map as a DICOM series (and a MetaImage
// volume when the job asks).
func (r *runner) writeMap(m material.Material, vol *fdk.Volume, rep *MaterialsReport) (MapReport, error) {
	style := mapStyle[m.Name]
	unit, scale := mapUnit(m)
	dm := dicomio.Map{Name: m.Name, Unit: dicomio.UnitMgPerML, Slope: style.slope,
		SeriesInstanceUID: scanUID(r.scan, "series", r.job.ID, "material", m.Name, r.mapSettings(rep)),
		SeriesNumber:      101 + slices.IndexFunc(material.Known, func(k material.Material) bool { return k.Name == m.Name }),
		Comment: fmt.Sprintf("Material decomposition: %s in %s. Calibration: %s (%s).",
			m.Name, unit, rep.Calibration, rep.Source)}
	if m.Base() {
		dm.Unit = dicomio.UnitPercent
	}
	opts := dicomOptions(r.scan, &r.job, r.fov)
	opts.Windows = []dicomio.Window{{Center: (style.lo + style.hi) / 2, Width: style.hi - style.lo, Explanation: m.Name}}
	s, err := dicomio.WriteMap(filepath.Join(r.dir, "dicom"), dicomStudy(r.scan, &r.job), dm, vol, opts)
	if err != nil {
		return MapReport{}, err
	}
	mr := MapReport{Material: m.Name, Unit: unit, SeriesInstanceUID: s.SeriesInstanceUID, Dir: r.final(s.Dir)}
	for _, in := range s.Instances {
		mr.Instances = append(mr.Instances, InstanceReport{File: filepath.Base(in.Path), SOPInstanceUID: in.SOPInstanceUID})
	}
	if r.job.WriteMHA {
		err = metaimage.Write(filepath.Join(r.dir, "material_"+m.Name+".mha"), scaled(vol, scale))
	}
	return mr, err
}

// writeOverlay draws every map but water's (the grey beneath) in its
// colour over the middle reconstructed bin.
func (r *runner) writeOverlay(mats []material.Material, maps []*fdk.Volume, rep *MaterialsReport) error {
	var layers []preview.Layer
	for i, m := range mats {
		if m.Name == "water" {
			continue
		}
		unit, scale := mapUnit(m)
		st := mapStyle[m.Name]
		layers = append(layers, preview.Layer{Volume: scaled(maps[i], scale), Name: m.Name, Unit: unit, Color: st.color, Full: st.full})
	}
	mid := len(r.bins) / 2
	bin := r.scan.Bins[r.bins[mid]]
	base := preview.Volume{Volume: r.vols[mid], MuWater: r.mus[mid], Title: "materials over " + binTitle(r.bins[mid], bin.LowKeV, bin.HighKeV)}
	img, err := preview.Overlay(base, previewWindow, layers)
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, OverlayName)
	rep.Overlay = r.final(path)
	return preview.WritePNG(path, img)
}

// materialInstances lists the material maps' files for an upload from the
// committed output folder dir.
func (rep *Report) materialInstances(dir string) []pacs.Instance {
	if rep.Materials == nil {
		return nil
	}
	var out []pacs.Instance
	for _, m := range rep.Materials.Maps {
		for _, in := range m.Instances {
			out = append(out, pacs.Instance{Path: filepath.Join(dir, "dicom", filepath.Base(m.Dir), in.File), SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	return out
}

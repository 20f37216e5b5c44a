package material

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Calibration file format name and version. Version 2 calibrations are
// fitted to water-linearized bins (Linearization), as every material job
// now reconstructs them; version 1 files were fitted to uncorrected bins,
// would misread the corrected ones, and are refused.
const (
	FormatName    = "ctrecon-material-calibration"
	FormatVersion = 2
)

// Sources of a calibration.
const (
	SourceVials   = "vials"   // measured on a calibration scan (Calibrate)
	SourcePhysics = "physics" // computed from the spectrum and NIST tables (Physics)
)

// MaxFitCondition is the largest condition number of the vials'
// (column-scaled) concentration matrix that Calibrate and Check accept:
// beyond it the vials cannot tell the materials apart, and counting noise
// in the vial means would swamp the fitted attenuations.
const MaxFitCondition = 1e3

// Bin is an energy bin a calibration holds for: photons from LowKeV to
// HighKeV.
type Bin struct {
	LowKeV  float64 `json:"low_kev"`
	HighKeV float64 `json:"high_kev"`
}

func (b Bin) String() string { return fmt.Sprintf("%g-%g keV", b.LowKeV, b.HighKeV) }

// binTolKeV is how far a calibration's bin edge may be from a scan's and
// still be the same bin: thresholds are set in steps far coarser.
const binTolKeV = 0.05

// same reports whether b and o are the same bin.
func (b Bin) same(o Bin) bool {
	return math.Abs(b.LowKeV-o.LowKeV) <= binTolKeV && math.Abs(b.HighKeV-o.HighKeV) <= binTolKeV
}

// Calibration is each material's attenuation per unit amount in each bin,
// as JSON in a calibration file.
type Calibration struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Source is SourceVials or SourcePhysics; ScanID the calibration scan,
	// ScanAcquired, ScanPatientID and ScanStudyInstanceUID its acquisition
	// time (scan.json's acquired), patient ID and the DICOM study its bins
	// were written in (files written before these were kept have the scan
	// ID alone).
	Source               string `json:"source"`
	ScanID               string `json:"scan_id,omitempty"`
	ScanAcquired         string `json:"scan_acquired,omitempty"`
	ScanPatientID        string `json:"scan_patient_id,omitempty"`
	ScanStudyInstanceUID string `json:"scan_study_instance_uid,omitempty"`
	// Bins are the bins the calibration holds for, in increasing energy.
	Bins      []Bin                `json:"bins"`
	Materials []CalibratedMaterial `json:"materials"`
	// NoisePerMM is each bin's noise: the standard deviation of a voxel's
	// attenuation in the calibration vials, 1/mm (physics: none). The
	// decomposition weights each bin's equation by its inverse.
	NoisePerMM []float64 `json:"noise_per_mm,omitempty"`
	// Fit is how well the vials fit (SourceVials only).
	Fit *Fit `json:"fit,omitempty"`
	// Warnings are those of the job that made the calibration (a ramp
	// filter that aliases, a noisy scan): a job decomposing with it warns
	// that they apply to its maps too, but for the warning of the fit's
	// bias over all its materials, which the job replaces with its own
	// maps' bias. Files written before these were kept have none.
	Warnings []string `json:"warnings,omitempty"`
	// SHA256 is the hex SHA-256 of the file Read read c from; empty for
	// a calibration made in memory.
	SHA256 string `json:"-"`
}

// ScanIdentity identifies the scan a vial calibration was fitted to, as
// its file states (Calibration.Scan).
type ScanIdentity struct {
	ScanID           string `json:"scan_id"`
	Acquired         string `json:"acquired,omitempty"`
	PatientID        string `json:"patient_id,omitempty"`
	StudyInstanceUID string `json:"study_instance_uid,omitempty"`
}

// Scan returns the identifiers of the scan c was fitted to, nil for a
// calibration from physics or one that names no scan.
func (c *Calibration) Scan() *ScanIdentity {
	if c.Source != SourceVials || c.ScanID == "" && c.ScanAcquired == "" && c.ScanStudyInstanceUID == "" {
		return nil
	}
	return &ScanIdentity{ScanID: c.ScanID, Acquired: c.ScanAcquired, PatientID: c.ScanPatientID, StudyInstanceUID: c.ScanStudyInstanceUID}
}

// CalibratedMaterial is one material's attenuation per unit amount.
type CalibratedMaterial struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// PerUnit is the attenuation per unit amount in each bin: 1/mm per
	// mg/mL, or 1/mm of the pure material for a volume fraction.
	PerUnit []float64 `json:"attenuation_per_mm_per_unit"`
}

// Fit is what the least-squares fit over the vials left.
type Fit struct {
	Vials int `json:"vials"`
	// ConditionNumber is that of the vials' concentration matrix with its
	// columns scaled to unit length.
	ConditionNumber float64 `json:"condition_number"`
	// ResidualRMSPerMM is the root mean square over the vials of measured
	// minus fitted attenuation, per bin, 1/mm.
	ResidualRMSPerMM []float64      `json:"residual_rms_per_mm"`
	Residuals        []VialResidual `json:"residuals"`
	// VialErrorCovariance is the covariance between the bins of a vial
	// mean's error, (1/mm)², bins × bins: the residuals' RᵀR over the
	// vials beyond the materials, its diagonal no less than the vials'
	// mean voxel variance over their voxels (see Calibrate).
	// AmountCovariance is (CᵀC)⁻¹ of the vials' amounts C, materials ×
	// materials in Materials' order: the fitted attenuations' errors
	// have the covariance AmountCovariance[j][k]·VialErrorCovariance
	// between material j in one bin and k in another (a linear model's
	// least-squares covariance with errors correlated between the
	// responses). Both absent in files written before they were kept.
	VialErrorCovariance [][]float64 `json:"vial_error_covariance,omitempty"`
	AmountCovariance    [][]float64 `json:"amount_covariance,omitempty"`
}

// VialResidual is one vial's measured minus fitted attenuation per bin.
type VialResidual struct {
	Vial  string    `json:"vial"`
	PerMM []float64 `json:"per_mm"`
}

// Read reads and checks a calibration file. Errors name the file and the
// field.
func Read(path string) (*Calibration, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("calibration: %w: make one with 'ctrecon calibrate' from a scan of the calibration phantom, or leave the calibration out to use the physics one", err)
	}
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Calibration
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("calibration %s: not a material calibration JSON (as 'ctrecon calibrate' writes): %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("calibration %s: more after the JSON object", path)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	c.SHA256 = hex.EncodeToString(sum[:])
	return &c, nil
}

// Write writes c to path as indented JSON.
func (c *Calibration) Write(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Check reports the first field that makes c unusable: another format,
// no bins, a material unknown or in the wrong unit, a value per bin
// missing, negative or not finite, a fit worse conditioned than MaxFitCondition.
func (c *Calibration) Check() error {
	switch {
	case c.Format != FormatName || c.Version != FormatVersion:
		return fmt.Errorf("format %q version %d, want %q version %d", c.Format, c.Version, FormatName, FormatVersion)
	case c.Source != SourceVials && c.Source != SourcePhysics:
		return fmt.Errorf("source %q, want %q or %q", c.Source, SourceVials, SourcePhysics)
	case len(c.Bins) == 0 || len(c.Materials) == 0:
		return fmt.Errorf("bins and materials: %d and %d, want at least one of each", len(c.Bins), len(c.Materials))
	case c.NoisePerMM != nil && len(c.NoisePerMM) != len(c.Bins):
		return fmt.Errorf("noise_per_mm: %d values for %d bins", len(c.NoisePerMM), len(c.Bins))
	}
	for i, b := range c.Bins {
		if !(b.LowKeV > 0 && b.HighKeV > b.LowKeV) || math.IsInf(b.HighKeV, 0) {
			return fmt.Errorf("bins[%d]: %v is not an energy range", i, b)
		}
	}
	for i, cm := range c.Materials {
		m, err := Lookup(cm.Name)
		if err != nil {
			return fmt.Errorf("materials[%d]: %w", i, err)
		}
		if cm.Unit != m.Unit {
			return fmt.Errorf("materials[%d] (%s): unit %q, want %q", i, cm.Name, cm.Unit, m.Unit)
		}
		if len(cm.PerUnit) != len(c.Bins) {
			return fmt.Errorf("materials[%d] (%s): attenuation_per_mm_per_unit holds %d values, want one for each of the %d bins", i, cm.Name, len(cm.PerUnit), len(c.Bins))
		}
		for b, v := range cm.PerUnit {
			// Every material attenuates: a negative value (an edited
			// file) would read its amounts as negative attenuation.
			if !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("materials[%d] (%s): attenuation_per_mm_per_unit[%d] (bin %v) is %g, must be finite and not negative", i, cm.Name, b, c.Bins[b], v)
			}
		}
	}
	for i, s := range c.NoisePerMM {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("noise_per_mm[%d]: %g, must be positive", i, s)
		}
	}
	if f := c.Fit; f != nil && !(f.ConditionNumber <= MaxFitCondition) {
		return fmt.Errorf("fit.condition_number %.3g exceeds %g: the vials do not tell the materials apart (%s): calibrate on vials that vary the materials independently",
			f.ConditionNumber, MaxFitCondition, c.materialNames())
	}
	if f := c.Fit; f != nil {
		if err := checkSquare("fit.vial_error_covariance", f.VialErrorCovariance, len(c.Bins)); err != nil {
			return err
		}
		return checkSquare("fit.amount_covariance", f.AmountCovariance, len(c.Materials))
	}
	return nil
}

// checkSquare reports a matrix m, named field, that is present but not
// n × n of finite values with a non-negative diagonal.
func checkSquare(field string, m [][]float64, n int) error {
	if m == nil {
		return nil
	}
	if len(m) != n {
		return fmt.Errorf("%s: %d rows, want %d", field, len(m), n)
	}
	for i, row := range m {
		if len(row) != n {
			return fmt.Errorf("%s[%d]: %d values, want %d", field, i, len(row), n)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) || (i == j && v < 0) {
				return fmt.Errorf("%s[%d][%d]: %g, want finite (and not negative on the diagonal)", field, i, j, v)
			}
		}
	}
	return nil
}

func (c *Calibration) materialNames() string {
	names := make([]string, len(c.Materials))
	for i, m := range c.Materials {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// binIndex returns the index in c.Bins of bin b, or an error that names
// the bins c holds for.
func (c *Calibration) binIndex(b Bin) (int, error) {
	i := slices.IndexFunc(c.Bins, b.same)
	if i < 0 {
		names := make([]string, len(c.Bins))
		for k, cb := range c.Bins {
			names[k] = cb.String()
		}
		return 0, fmt.Errorf("the calibration was made for the %d bins %s; the scan's bin %v is not among them: calibrate on a scan with the same thresholds and kVp", len(c.Bins), strings.Join(names, ", "), b)
	}
	return i, nil
}

// CheckBins reports, naming the bins, a bin that c was not made for: a
// calibration from other thresholds or another kVp cannot decompose it.
func (c *Calibration) CheckBins(bins []Bin) error {
	for _, b := range bins {
		if _, err := c.binIndex(b); err != nil {
			return err
		}
	}
	return nil
}

// BaseHU returns the mean over bins of the HU of a voxel wholly of the
// named base material (a volume fraction: water, lipid) under c,
// 1000 (μ/μ_water − 1) in each bin. Errors name a bin c was not made for,
// or the material or water that c lacks.
func (c *Calibration) BaseHU(name string, bins []Bin) (float64, error) {
	m, err := c.material(name)
	if err != nil {
		return 0, err
	}
	w, err := c.material("water")
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, b := range bins {
		i, err := c.binIndex(b)
		if err != nil {
			return 0, err
		}
		sum += 1000 * (m.PerUnit[i]/w.PerUnit[i] - 1)
	}
	return sum / float64(len(bins)), nil
}

// material returns c's attenuation per unit of the material named.
func (c *Calibration) material(name string) (CalibratedMaterial, error) {
	i := slices.IndexFunc(c.Materials, func(m CalibratedMaterial) bool { return m.Name == name })
	if i < 0 {
		return CalibratedMaterial{}, fmt.Errorf("the calibration has no %s (it has %s): leave %s out of the materials, or calibrate on a scan with vials of it", name, c.materialNames(), name)
	}
	return c.Materials[i], nil
}

// Describe says in a line what c is, for a job's report.
func (c *Calibration) Describe() string {
	if c.Source == SourcePhysics {
		return "the bins' share of the tube spectrum and NIST mass attenuation"
	}
	s := fmt.Sprintf("vials: %d vials", c.Fit.Vials)
	if c.ScanID != "" {
		s += " of scan " + c.ScanID
	}
	return s + fmt.Sprintf(", fit condition number %.3g", c.Fit.ConditionNumber)
}

// condition returns the condition number of a with its columns scaled to
// unit length: the ratio of its largest to smallest singular value, +Inf
// for a rank-deficient a. Column scaling makes it independent of the
// materials' units (A. van der Sluis, Numer. Math. 14, 14, 1969: within a
// factor √n of the best scaling).
func condition(a *mat.Dense) float64 {
	r, c := a.Dims()
	s := mat.NewDense(r, c, nil)
	for j := range c {
		n := mat.Norm(a.ColView(j), 2)
		if n == 0 {
			return math.Inf(1)
		}
		for i := range r {
			s.Set(i, j, a.At(i, j)/n)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(s, mat.SVDNone) {
		return math.Inf(1)
	}
	v := svd.Values(nil)
	if v[len(v)-1] == 0 {
		return math.Inf(1)
	}
	return v[0] / v[len(v)-1]
}

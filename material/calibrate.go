package material

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/sinogram"
)

// ROIFraction is the part of a vial's radius whose voxels are measured:
// the inner 60 %, clear of the partial-volume edge.
const ROIFraction = 0.6

// VialStats returns the mean and sample standard deviation of vol over the
// voxels whose centres lie within ROIFraction of vial v's radius of its
// axis, on every slice, and how many there are.
func VialStats(vol *fdk.Volume, v sinogram.Vial) (mean, sd float64, n int) {
	g := vol.Grid
	r := ROIFraction * v.RadiusMM
	var sum, sum2 float64
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				p := g.Position(i, j, k)
				x := float64(vol.At(i, j, k))
				if math.Hypot(p[0]-v.CenterMM[0], p[1]-v.CenterMM[1]) > r {
					continue
				}
				sum += x
				sum2 += x * x
				n++
			}
		}
	}
	if n < 2 {
		return sum, 0, n
	}
	mean = sum / float64(n)
	return mean, math.Sqrt(max(0, (sum2-sum*mean)/float64(n-1))), n
}

// RegionAmounts returns the amounts of d's materials in vial v of the
// bins' volumes vols (NewDecomposer's order): each bin's mean over the
// vial's region (VialStats) decomposed at once (Decomposer.Solve), nil
// where that is air.
func RegionAmounts(d *Decomposer, vols []*fdk.Volume, v sinogram.Vial) ([]float64, error) {
	mu := make([]float64, len(vols))
	for b, vol := range vols {
		var n int
		if mu[b], _, n = VialStats(vol, v); n == 0 {
			return nil, fmt.Errorf("material decomposition: vial %s at %v mm holds no voxel of the reconstruction", v.Name, v.CenterMM)
		}
	}
	return d.Solve(mu)
}

// Calibrate fits each material's attenuation per unit amount in each bin
// to the vials of scan (its scan.json's vials) as reconstructed in vols,
// one volume per bin: vols[i] is the scan's bin bins[i]. Per bin it
// solves the least-squares problem min ‖C a − μ‖ over the vials, where C
// holds each vial's amounts (one column per material the vials hold) and
// μ each vial's mean attenuation (VialStats), and reports the residuals
// and C's condition number. A fit worse conditioned than MaxFitCondition,
// fewer vials than materials, and a vial without voxels are errors naming
// what is wrong.
//
// The fitted attenuations carry the vial means' noise into every later
// decomposition, as a bias: scan the calibration phantom with several
// times the photons of the scans it will serve (a longer or repeated
// scan). At the same dose, the noise of hydroxyapatite's attenuation in
// the high bins alone moves up to 0.05 between water and lipid in a vial
// of 300 mg/mL (see the package's Beam hardening). The fit's error
// model is stored with it (Fit.VialErrorCovariance, Fit.AmountCovariance)
// for Decomposer.CalibrationBias: a vial mean's error covariance between
// the bins is estimated from the residuals, RᵀR/(vials − materials),
// which holds the voxels' correlated noise and what the linear model
// misses, alike in neighbouring bins; each bin's variance is no less
// than the vials' mean voxel variance over their voxels (a lower bound,
// the voxels' noise being correlated), which alone serves when there are
// no more vials than materials.
func Calibrate(scan *sinogram.Scan, bins []int, vols []*fdk.Volume) (*Calibration, error) {
	if err := CheckVials(scan.Vials); err != nil {
		return nil, err
	}
	mats, _ := vialMaterials(scan.Vials)
	nv, nm := len(scan.Vials), len(mats)
	c := concentrations(scan.Vials, mats)
	cal := &Calibration{Format: FormatName, Version: FormatVersion, Source: SourceVials, ScanID: scan.ScanID,
		Fit: &Fit{Vials: nv, ConditionNumber: condition(c)}}
	for _, m := range mats {
		cal.Materials = append(cal.Materials, CalibratedMaterial{Name: m.Name, Unit: m.Unit})
	}
	for _, v := range scan.Vials {
		cal.Fit.Residuals = append(cal.Fit.Residuals, VialResidual{Vial: v.Name})
	}
	unscaled, err := unscaledCovariance(c)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	floor := make([]float64, len(bins)) // per bin: the vials' mean voxel variance over their voxels
	for bi, b := range bins {
		bin := scan.Bins[b]
		cal.Bins = append(cal.Bins, Bin{bin.LowKeV, bin.HighKeV})
		y := mat.NewVecDense(nv, nil)
		var variance float64
		for i, v := range scan.Vials {
			mean, sd, n := VialStats(vols[bi], v)
			if n < 2 {
				return nil, fmt.Errorf("calibrate: vial %d (%s) at %v mm holds %d voxels of the reconstruction: reconstruct a grid that covers it", i, v.Name, v.CenterMM, n)
			}
			y.SetVec(i, mean)
			variance += sd * sd / float64(nv)
			floor[bi] += sd * sd / float64(n) / float64(nv)
		}
		var a mat.VecDense
		if err := a.SolveVec(c, y); err != nil {
			return nil, fmt.Errorf("calibrate: bin %d (%g-%g keV): %w", b, bin.LowKeV, bin.HighKeV, err)
		}
		var fitted mat.VecDense
		fitted.MulVec(c, &a)
		var ss float64
		for i := range nv {
			r := y.AtVec(i) - fitted.AtVec(i)
			cal.Fit.Residuals[i].PerMM = append(cal.Fit.Residuals[i].PerMM, r)
			ss += r * r
		}
		cal.Fit.ResidualRMSPerMM = append(cal.Fit.ResidualRMSPerMM, math.Sqrt(ss/float64(nv)))
		cal.NoisePerMM = append(cal.NoisePerMM, math.Sqrt(variance))
		for j := range mats {
			cal.Materials[j].PerUnit = append(cal.Materials[j].PerUnit, a.AtVec(j))
		}
	}
	cal.Fit.VialErrorCovariance = vialErrorCovariance(cal.Fit.Residuals, nm, floor)
	cal.Fit.AmountCovariance = rows(unscaled)
	if err := cal.negativeFit(); err != nil {
		return nil, err
	}
	return cal, cal.Check()
}

// vialErrorCovariance returns the covariance between the bins of a vial
// mean's error (see Calibrate): the residuals' RᵀR/(vials − materials),
// each diagonal element raised to floor's where that is larger.
func vialErrorCovariance(res []VialResidual, materials int, floor []float64) [][]float64 {
	nb := len(floor)
	cov := make([][]float64, nb)
	for b := range cov {
		cov[b] = make([]float64, nb)
		for c := range cov[b] {
			if dof := len(res) - materials; dof > 0 {
				for _, r := range res {
					cov[b][c] += r.PerMM[b] * r.PerMM[c] / float64(dof)
				}
			}
		}
		cov[b][b] = max(cov[b][b], floor[b])
	}
	return cov
}

// rows returns m's rows as slices.
func rows(m *mat.Dense) [][]float64 {
	r, _ := m.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = slices.Clone(m.RawRowView(i))
	}
	return out
}

// CheckVials reports what makes vials unusable for Calibrate before there
// is a reconstruction: no vials, an unknown material or one in the wrong
// unit, fewer vials than materials, and concentrations that do not tell
// the materials apart (their matrix's condition number over
// MaxFitCondition: vials that vary two materials only in proportion).
func CheckVials(vials []sinogram.Vial) error {
	mats, err := vialMaterials(vials)
	if err != nil {
		return err
	}
	if len(vials) < len(mats) {
		return fmt.Errorf("calibrate: %d vials for %d materials: need at least one vial per material", len(vials), len(mats))
	}
	if k := condition(concentrations(vials, mats)); !(k <= MaxFitCondition) {
		return fmt.Errorf("calibrate: the vials' concentration matrix (scan.json's vials) has condition number %.3g, over %g: they do not tell %s apart; use vials that vary each material on its own",
			k, MaxFitCondition, names(mats))
	}
	return nil
}

// concentrations returns the vials' amounts of mats (vials × materials,
// mg/mL or volume fraction): the matrix C of Calibrate's fit.
func concentrations(vials []sinogram.Vial, mats []Material) *mat.Dense {
	c := mat.NewDense(len(vials), len(mats), nil)
	for i, v := range vials {
		for j, m := range mats {
			c.Set(i, j, v.MgPerML[m.Name]+v.VolumeFraction[m.Name])
		}
	}
	return c
}

// vialMaterials returns the materials the vials hold, in Known's order.
func vialMaterials(vials []sinogram.Vial) ([]Material, error) {
	if len(vials) == 0 {
		return nil, fmt.Errorf("calibrate: the scan lists no vials (scan.json's vials): it is not a calibration scan")
	}
	held := map[string]bool{}
	for i, v := range vials {
		for _, name := range slices.Concat(slices.Collect(maps.Keys(v.MgPerML)), slices.Collect(maps.Keys(v.VolumeFraction))) {
			m, err := Lookup(name)
			if err != nil {
				return nil, fmt.Errorf("calibrate: vials[%d] (%s): %w", i, v.Name, err)
			}
			if _, solute := v.MgPerML[name]; solute == m.Base() {
				return nil, fmt.Errorf("calibrate: vials[%d] (%s): %s is given in the wrong unit: want %s", i, v.Name, name, m.Unit)
			}
			held[name] = true
		}
	}
	var mats []Material
	for _, m := range Known {
		if held[m.Name] {
			mats = append(mats, m)
		}
	}
	return mats, nil
}

func names(mats []Material) string {
	s := ""
	for i, m := range mats {
		if i > 0 {
			s += ", "
		}
		s += m.Name
	}
	return s
}

// unscaledCovariance returns (CᵀC)⁻¹, the covariance of the least-squares
// solution of C a = y per unit variance of y's elements.
func unscaledCovariance(c *mat.Dense) (*mat.Dense, error) {
	var ctc, inv mat.Dense
	ctc.Mul(c.T(), c)
	if err := inv.Inverse(&ctc); err != nil {
		return nil, fmt.Errorf("the vials' concentrations: %w", err)
	}
	return &inv, nil
}

// Missing returns the known materials c holds no attenuation for (a
// calibration scan without vials of them): no job can decompose into
// them with c.
func (c *Calibration) Missing() []Material {
	var out []Material
	for _, m := range Known {
		if !slices.ContainsFunc(c.Materials, func(cm CalibratedMaterial) bool { return cm.Name == m.Name }) {
			out = append(out, m)
		}
	}
	return out
}

// SelfBias returns c's materials and, per material in its unit, the
// bias c's own error puts into a decomposition of c's bins into all of
// them, in a voxel of water or of lipid (Decomposer.BaseBias): what c
// costs every job that uses it, whatever that job's dose. It fails where
// c's bins cannot decompose into all its materials (NewDecomposer's
// errors, ErrTooManyMaterials among them).
func (c *Calibration) SelfBias() ([]Material, []float64, error) {
	mats := make([]Material, len(c.Materials))
	for i, cm := range c.Materials {
		var err error
		if mats[i], err = Lookup(cm.Name); err != nil {
			return nil, nil, err
		}
	}
	d, err := NewDecomposer(c, c.Bins, mats)
	if err != nil {
		return nil, nil, err
	}
	bias, err := d.BaseBias(c, c.Bins)
	return mats, bias, err
}

// negativeFit reports a fitted attenuation below zero, which no material
// has: the vials' means were too noisy for the fit (a calibration scan at
// a low dose or with few views), and the error says so with the fit's
// standard error of that attenuation, rather than leaving Check to call
// the file's value invalid.
func (c *Calibration) negativeFit() error {
	for j, m := range c.Materials {
		for b, a := range m.PerUnit {
			if a >= 0 {
				continue
			}
			se := math.Sqrt(c.Fit.AmountCovariance[j][j] * c.Fit.VialErrorCovariance[b][b])
			return fmt.Errorf("calibrate: the fit gives %s a negative attenuation in bin %v (%.3g ± %.3g per mm per %s): the vials' means are too noisy for the fit; scan the calibration phantom with more photons (phantom --noise) or more views, or reconstruct it with larger voxels or a smoother filter",
				m.Name, c.Bins[b], a, se, m.Unit)
		}
	}
	return nil
}

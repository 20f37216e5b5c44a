package material

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// ErrTooManyMaterials is wrapped by NewDecomposer's error for a material
// set larger than the bins can determine: a fault of the set, not of the
// calibration.
var ErrTooManyMaterials = errors.New("too many materials")

// MaxCondition is the largest condition number of a decomposition's
// equations (each bin's in units of water's attenuation there, and the
// conservation equation; columns scaled to unit length) that
// NewDecomposer accepts. Noise in the bins is amplified by up to this
// factor into the amounts.
const MaxCondition = 2e3

// conservationTol is the volume fraction by which the conservation
// equation may be missed at the cost of one noise standard deviation in
// one bin: small, since the equation is exact.
const conservationTol = 1e-3

// physicsNoise is the noise assumed for a calibration without a measured
// one, as a fraction of water's attenuation in each bin.
const physicsNoise = 0.01

// modelError is how many times a calibration fit's residual in a bin is
// added, in quadrature, to the bin's noise to weight its equation: the
// residual is the linear model's own error there (the lowest bin's beam
// hardening is not linear in the amounts), which smoothing and averaging
// do not remove. Three times brought hydroxyapatite 300 mg/mL from 306 to
// 303 and its water fraction from 0.64 to 0.68 in TestAccuracy.
const modelError = 3

// airLevel is the mean attenuation, as a fraction of water's, under which
// a voxel is air (or outside the field of view) and left out.
const airLevel = 0.5

// Decomposer turns the bins' attenuations into amounts of its materials,
// voxel by voxel. It is safe for concurrent use.
type Decomposer struct {
	// Materials are the maps' materials, in the order Decompose returns
	// them.
	Materials []Material
	// Condition is the condition number of the equations (see
	// MaxCondition).
	Condition float64

	bins     int
	conserve bool
	weight   [maxRows]float64 // per bin: 1/noise (1/mm)⁻¹
	colScale [maxCols]float64 // amount = solution / colScale
	airRef   [maxRows]float64 // per bin: 1/(bins · water's attenuation); zero without water
	solver   *nnls
}

// NewDecomposer prepares the decomposition of a reconstruction's bins
// (their keV ranges, in the order Decompose gets the volumes) into mats
// under cal. It refuses, before any work and saying why, a bin cal was
// not made for, a material cal lacks, more materials than the bins and
// the conservation equation determine, and equations so nearly dependent
// that noise would swamp the amounts (MaxCondition).
func NewDecomposer(cal *Calibration, bins []Bin, mats []Material) (*Decomposer, error) {
	if len(bins) > maxRows-1 || len(mats) > maxCols {
		return nil, fmt.Errorf("material decomposition: %d bins and %d materials; at most %d and %d", len(bins), len(mats), maxRows-1, maxCols)
	}
	d := &Decomposer{Materials: mats, bins: len(bins)}
	for _, m := range mats {
		d.conserve = d.conserve || m.Base()
	}
	eqs := len(bins)
	if d.conserve {
		eqs++
	}
	if len(mats) > eqs {
		return nil, fmt.Errorf("material decomposition: %w: %d materials (%s) need %d independent equations, and %s give %d: choose at most %d materials or reconstruct more bins",
			ErrTooManyMaterials, len(mats), names(mats), len(mats), equationSources(len(bins), d.conserve), eqs, eqs)
	}
	perUnit, water, err := d.calibrated(cal, bins)
	if err != nil {
		return nil, err
	}
	// The equations in units of water's attenuation, for the condition
	// number; weighted by the noise, for the solve.
	rel, a := mat.NewDense(eqs, len(mats), nil), [maxRows][maxCols]float64{}
	for j, m := range mats {
		for b := range bins {
			rel.Set(b, j, perUnit[j][b]/water[b])
			a[b][j] = perUnit[j][b] * d.weight[b]
		}
		if d.conserve {
			rel.Set(len(bins), j, m.Displaced)
			a[len(bins)][j] = m.Displaced / conservationTol
		}
	}
	if d.Condition = condition(rel); !(d.Condition <= MaxCondition) {
		return nil, fmt.Errorf("material decomposition: the equations of %s in the bins %s are nearly dependent (condition number %.3g, over %g): noise would swamp the amounts; choose fewer materials, or bins either side of the contrast agents' K-edges",
			names(mats), binNames(bins), d.Condition, MaxCondition)
	}
	for j := range mats {
		n := 0.0
		for r := range eqs {
			n += a[r][j] * a[r][j]
		}
		d.colScale[j] = math.Sqrt(n)
		for r := range eqs {
			a[r][j] /= d.colScale[j]
		}
	}
	d.solver = newNNLS(a, eqs, len(mats))
	return d, nil
}

// calibrated returns each material's attenuation per unit in each of bins
// ([material][bin]) and a reference attenuation per bin (water's, or the
// largest material's where cal has no water), and sets the bins' weights
// and the air test.
func (d *Decomposer) calibrated(cal *Calibration, bins []Bin) (perUnit [][]float64, ref []float64, err error) {
	idx := make([]int, len(bins))
	for b, bin := range bins {
		if idx[b], err = cal.binIndex(bin); err != nil {
			return nil, nil, fmt.Errorf("material decomposition: %w", err)
		}
	}
	perUnit = make([][]float64, len(d.Materials))
	for j, m := range d.Materials {
		cm, err := cal.material(m.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("material decomposition: %w", err)
		}
		for _, i := range idx {
			perUnit[j] = append(perUnit[j], cm.PerUnit[i])
		}
	}
	water, noWater := cal.material("water")
	ref = make([]float64, len(bins))
	for b, i := range idx {
		if noWater == nil {
			ref[b] = water.PerUnit[i]
			d.airRef[b] = 1 / (float64(len(bins)) * ref[b])
		} else {
			for j := range perUnit {
				ref[b] = max(ref[b], math.Abs(perUnit[j][b]))
			}
		}
		if !(ref[b] > 0) {
			return nil, nil, fmt.Errorf("material decomposition: no material of the calibration attenuates in bin %v", bins[b])
		}
		noise := physicsNoise * ref[b]
		if cal.NoisePerMM != nil {
			noise = cal.NoisePerMM[i]
		}
		if cal.Fit != nil {
			noise = math.Hypot(noise, modelError*cal.Fit.ResidualRMSPerMM[i])
		}
		d.weight[b] = 1 / noise
	}
	return perUnit, ref, nil
}

func equationSources(bins int, conserve bool) string {
	if conserve {
		return fmt.Sprintf("%d bins and volume conservation", bins)
	}
	return fmt.Sprintf("%d bins (no volume conservation without water or lipid)", bins)
}

func binNames(bins []Bin) string {
	s := make([]string, len(bins))
	for i, b := range bins {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// Decompose returns one map per material (d.Materials' order) of the
// amounts in every voxel of vols, one attenuation volume (1/mm) per bin
// in NewDecomposer's order, all on one grid: mg/mL or volume fraction,
// as each material's Unit says. Voxels under half of water's attenuation
// (air, outside the field of view) are zero in every map. It runs on up
// to threads goroutines (at least one), a slice each at a time.
func (d *Decomposer) Decompose(vols []*fdk.Volume, threads int) ([]*fdk.Volume, error) {
	if len(vols) != d.bins {
		return nil, fmt.Errorf("material decomposition: %d volumes for %d bins", len(vols), d.bins)
	}
	g := vols[0].Grid
	for i, v := range vols {
		if v.Grid != g || len(v.Data) != g.Voxels() {
			return nil, fmt.Errorf("material decomposition: bin %d's volume is on another grid than bin 0's", i)
		}
	}
	maps := make([]*fdk.Volume, len(d.Materials))
	for j := range maps {
		maps[j] = fdk.NewVolume(g)
	}
	slice := g.Dim[0] * g.Dim[1]
	parallel.For(g.Dim[2], threads, func(k int) {
		var mu [maxRows]float64
		var x [maxCols]float64
		for i := k * slice; i < (k+1)*slice; i++ {
			for r, v := range vols {
				mu[r] = float64(v.Data[i])
			}
			if !d.solve(&mu, &x) {
				continue
			}
			for j, m := range maps {
				m.Data[i] = float32(x[j])
			}
		}
	})
	return maps, nil
}

// Solve returns the amounts (d.Materials' order, units as in Decompose)
// that best explain one set of attenuations, mu[b] in 1/mm for each bin
// in NewDecomposer's order, or nil where they are air's. Given a region's
// mean attenuation per bin it measures the region's content as a lab
// reports a vial's: the mean of the bins has the noise of many voxels,
// so the non-negativity constraint does not bias it, as it biases a
// map's mean where single voxels' noise is clipped at zero (see
// RegionAmounts).
func (d *Decomposer) Solve(mu []float64) ([]float64, error) {
	if len(mu) != d.bins {
		return nil, fmt.Errorf("material decomposition: %d attenuations for %d bins", len(mu), d.bins)
	}
	var m [maxRows]float64
	var x [maxCols]float64
	copy(m[:], mu)
	if !d.solve(&m, &x) {
		return nil, nil
	}
	return append([]float64(nil), x[:len(d.Materials)]...), nil
}

// solve sets x to the amounts for the attenuations mu (1/mm per bin) and
// reports whether they are not air's (then x is unset).
func (d *Decomposer) solve(mu *[maxRows]float64, x *[maxCols]float64) bool {
	var b [maxRows]float64
	level := 0.0
	for r := range d.bins {
		b[r] = mu[r] * d.weight[r]
		level += mu[r] * d.airRef[r]
	}
	if d.airRef[0] > 0 && level < airLevel {
		return false
	}
	if d.conserve {
		b[d.bins] = 1 / conservationTol
	}
	d.solver.solve(&b, x)
	for j := range d.Materials {
		x[j] /= d.colScale[j]
	}
	return true
}

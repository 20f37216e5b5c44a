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

// ErrNearlyDependent is wrapped by NewDecomposer's error for equations
// over MaxCondition: the bins cannot tell the materials apart.
var ErrNearlyDependent = errors.New("nearly dependent")

// MaxCondition is the largest condition number of a decomposition's
// equations (each bin's in units of water's attenuation there, and the
// conservation equation; columns scaled to unit length) that
// NewDecomposer accepts. Noise in the bins is amplified by up to this
// factor into the amounts.
const MaxCondition = 2e3

// conservationUnit is the volume fraction the conservation equation
// weighs in the normal matrix as one noise standard deviation in one bin
// does (its row is weighted 1/conservationUnit). The solve meets the
// equation exactly (nnls.exactLastRow), so this is no tolerance: it sets
// the columns' scale (unit length with the row), and with it the units
// of nearNullEigen and priorWeight, chosen at this value. As a soft
// equation of this weight, the fit traded the equation for the bins'
// misfit wherever the set lacks a material in the scan (README's test
// scan decomposed into water and iodine: 100.67 % of water and
// 15.9 mg/mL of iodine in the 296 mg/mL hydroxyapatite vial), and single
// voxels' noise lifted their volumes up to 1.004 with all five materials
// (TestDecomposeVolumes). A smaller unit does not cure that (1e-4 still
// let water and lipid sum to 1.005) and breaks what the units hold: the
// default bins' near-null eigenvalue falls from 9e-7 to 9e-9 (1e-4),
// 9e-11 (1e-5; condition number of the normal matrix 5e10), the air
// direction falls under nearNullEigen (no system with air), and the
// prior's solve read 200 mg/mL of mineral as 106 (1e-5).
const conservationUnit = 1e-3

// physicsNoise is the noise assumed for a calibration without a measured
// one, as a fraction of water's attenuation in each bin, and the level,
// in root mean square over the bins, to which a measured one is scaled
// (setWeights): the unit of conservationUnit, nearNullEigen and
// priorWeight.
const physicsNoise = 0.01

// modelError is how many times a calibration fit's residual in a bin is
// added, in quadrature, to the bin's noise to weight its equation: the
// residual is the linear model's own error there (the lowest bin's beam
// hardening is not linear in the amounts), which smoothing and averaging
// do not remove. Three times brought hydroxyapatite 300 mg/mL from 306 to
// 303 and its water fraction from 0.64 to 0.68 in TestAccuracy. Misfit
// counts it in the residual it expects.
const modelError = 3

// physicsModelError is the model error Misfit assumes for a calibration
// without a fit (from physics), which has no residual to measure it by,
// as a fraction of the reference's attenuation in each bin: about the
// README vial calibration's in its lowest bin, where beam hardening
// bends the model most (modelError times its fit's residual: 1.0 % of
// water's attenuation there, 0.15 % in the highest bin). With none, the
// misfit with all five materials grew with the dose as the noise fell
// under the model's error (README's test vials: 0.5, 10.7 and 27.1 % of
// the voxels at 400 000, 2 M and 8 M photons); with it, 0.07, 0.6 and
// 1.3 %, and at most 4 % on other vials up to 50 M photons.
const physicsModelError = 0.008

// nearNullEigen is the eigenvalue of the decomposition's normal matrix
// (noise-weighted equations, columns of unit length, so that the
// eigenvalues sum to the number of materials) under which a direction of
// the amounts is taken from the local prior instead of the voxel's own
// bins (see Decomposer.PriorMM). Of the five materials in the five
// default bins it singles out one: water traded for lipid and mineral
// (one volume of water for one of lipid and 41 mg/mL of hydroxyapatite,
// with 0.4 mg/mL of gadolinium), eigenvalue about 3e-6; the next is 0.16.
const nearNullEigen = 1e-4

// priorWeight is the Tikhonov weight of the prior along the near-null
// directions, in the same units: at least ten times the bins' own weight
// there (nearNullEigen), hundreds of times in the five materials' case,
// so that the prior sets them; and small against the other directions'
// (0.16 and up), so that where the non-negativity binds (lipid in water)
// the solve gives way along the near-null direction, not by moving
// iodine or gadolinium: a weight of 1 took 1.1 of the 3.9 mg/mL of a
// gadolinium vial, 0.01 read lipid vials 0.02 to 0.05 further from
// their truth than 0.001 (TestAccuracy's scans).
const priorWeight = 1e-3

// DefaultPriorMM is the radius of the local prior's guided filter (see
// Decomposer.PriorMM) a job decomposes with, mm. On TestAccuracy's scans
// (0.5 mm voxels, 2.1 mm vials) 0.5 mm left up to 0.10 of lipid in the
// maps' means in water vials at 200 000 counts, and 1.5 mm pulled the
// lipid vials 0.2 to 0.3 toward water; 1 mm leaves at most 0.04 and
// 0.06.
const DefaultPriorMM = 1.0

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
	// PriorMM, when over zero, makes Decompose take the amounts along
	// the equations' near-null directions (a combination of materials
	// the bins barely see: water traded for lipid and mineral) from a
	// local prior instead of each voxel's own bins. The prior is the
	// voxels' unconstrained least-squares solutions' coordinate along
	// such a direction, smoothed by a guided filter of this radius, mm,
	// that the bins' mean attenuation guides (guidedFilter: edges the
	// mean attenuation shows are kept); each voxel's non-negative solve
	// is regularised toward it along those directions alone (Tikhonov
	// regularisation toward a prior, see nnls.withPenalty), so that
	// iodine and gadolinium keep every voxel's own resolution.
	//
	// Without it, a voxel's noise along a near-null direction is
	// hundreds of times its noise along the others, and the
	// non-negativity clips its negative half: a biased estimate whose
	// maps' means put 0.25 to 0.3 of lipid in water vials at
	// TestAccuracy's dose and 0.4 at a quarter of it; the prior's noise is
	// that of a box of voxels, and its coordinate is linear in the bins,
	// so it adds no bias of its own. Zero decomposes every voxel on its
	// own bins alone (plain non-negative least squares), as Solve does.
	PriorMM float64

	bins     int
	conserve bool
	perUnit  [][]float64      // [material][bin]: attenuation per unit amount, 1/mm
	weight   [maxRows]float64 // per bin: 1/noise (1/mm)⁻¹
	colScale [maxCols]float64 // amount = solution / colScale
	solver   *nnls
	// level weights each bin's attenuation into the voxel's mean
	// attenuation in units of the reference's (water's where the
	// calibration has it): 1/(bins · reference attenuation).
	level    [maxRows]float64
	modelErr [maxRows]float64 // per bin, 1/mm: modelError × the fit's residual, or physicsModelError × the reference's attenuation
	airTest  bool             // the reference is water: voxels under airLevel are air
	nearNull []nullDirection
	prior    *nnls // solver with the penalty along nearNull
	// air are the equations of the voxels next to air (nearAir), which
	// may hold air; nil where the materials leave no room for it (see
	// prepareAir).
	air *voxelSystem
}

// nullDirection is a near-null direction of the equations: v, a unit
// eigenvector of the normal matrix in the scaled amounts, and u, with
// which the voxel's unconstrained least-squares solution's coordinate
// along v is u·b for the weighted equations' right-hand side b
// (vᵀ(AᵀA)⁻¹Aᵀ = (Av)ᵀ/λ for the eigenvalue λ); uAir is u of the
// equations with air (prepareAir), in which v is zero in air's column.
// The solution is that of the weighted equations, the conservation row
// among them as a soft equation: the exact row (nnls.exactLastRow) would
// move the coordinate by a term linear in the bins' noise, zero in the
// mean where the set is right, which the prior's smoothing averages.
type nullDirection struct {
	v    [maxCols]float64
	u    [maxRows]float64
	uAir [maxRows]float64
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
	d.perUnit = perUnit
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
			a[len(bins)][j] = m.Displaced / conservationUnit
		}
	}
	if d.Condition = condition(rel); !(d.Condition <= MaxCondition) {
		return nil, fmt.Errorf("material decomposition: the equations of %s in the bins %s are %w (condition number %.3g, over %g): noise would swamp the amounts; choose fewer materials, or bins either side of the contrast agents' K-edges",
			names(mats), binNames(bins), ErrNearlyDependent, d.Condition, MaxCondition)
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
	if d.conserve {
		d.solver.exactLastRow(1 / conservationUnit)
	}
	d.preparePrior()
	d.prepareAir()
	return d, nil
}

// preparePrior finds the near-null directions of the equations and the
// solver regularised along them.
func (d *Decomposer) preparePrior() {
	n := len(d.Materials)
	gram := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			gram.SetSym(i, j, d.solver.gram[i][j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(gram, true) {
		return
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	var penalty [maxCols][maxCols]float64
	for k, lambda := range eig.Values(nil) {
		if lambda >= nearNullEigen {
			continue
		}
		var dir nullDirection
		for j := range n {
			dir.v[j] = vecs.At(j, k)
		}
		for r := range d.solver.rows {
			for j := range n {
				dir.u[r] += d.solver.a[r][j] * dir.v[j] / lambda
			}
		}
		for i := range n {
			for j := range n {
				penalty[i][j] += priorWeight * dir.v[i] * dir.v[j]
			}
		}
		d.nearNull = append(d.nearNull, dir)
	}
	if len(d.nearNull) > 0 {
		d.prior = d.solver.withPenalty(&penalty)
	}
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
	d.airTest = noWater == nil
	ref = make([]float64, len(bins))
	for b, i := range idx {
		if d.airTest {
			ref[b] = water.PerUnit[i]
		} else {
			for j := range perUnit {
				ref[b] = max(ref[b], math.Abs(perUnit[j][b]))
			}
		}
		if !(ref[b] > 0) {
			return nil, nil, fmt.Errorf("material decomposition: no material of the calibration attenuates in bin %v", bins[b])
		}
		d.level[b] = 1 / (float64(len(bins)) * ref[b])
	}
	d.setWeights(cal, idx, ref)
	return perUnit, ref, nil
}

// setWeights sets each bin's weight, the inverse of its noise (the
// calibration's measured noise, or physicsNoise of the reference's
// attenuation without one; with a fit's residual added, modelError), and
// then scales all weights by one factor, so that the bins' noise is
// physicsNoise of the reference's attenuation in root mean square over the
// bins. Only the bins' relative weights come from the calibration: its
// noise is that of the calibration scan's voxels, whose dose says nothing
// of the scan decomposed, and its level would otherwise set how hard the
// conservation equation weighs (conservationUnit) and where the near-null
// eigenvalues and the prior's weight fall (nearNullEigen, priorWeight),
// all of which are in units of that noise. Unscaled, a calibration scanned
// at the simulator's default 20 000 counts (voxel noise 57 % of water's
// attenuation in the lowest bin) made the solutes' columns all but their
// displaced volume: hydroxyapatite against gadolinium had an eigenvalue
// of 6e-4, under priorWeight, and the prior's solve moved a 296 mg/mL
// vial's mineral into 15 mg/mL of gadolinium.
func (d *Decomposer) setWeights(cal *Calibration, idx []int, ref []float64) {
	var rel2 float64
	noise := make([]float64, len(idx))
	for b, i := range idx {
		noise[b] = physicsNoise * ref[b]
		if cal.NoisePerMM != nil {
			noise[b] = cal.NoisePerMM[i]
		}
		if cal.Fit != nil {
			d.modelErr[b] = modelError * cal.Fit.ResidualRMSPerMM[i]
			noise[b] = math.Hypot(noise[b], d.modelErr[b])
		} else {
			// For Misfit alone: the weights keep the calibration's noise.
			d.modelErr[b] = physicsModelError * ref[b]
		}
		rel2 += (noise[b] / ref[b]) * (noise[b] / ref[b])
	}
	scale := physicsNoise / math.Sqrt(rel2/float64(len(idx)))
	for b := range idx {
		d.weight[b] = 1 / (scale * noise[b])
	}
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
// (air, outside the field of view) are zero in every map; those within
// airReach voxels of them may hold air too (their volumes sum to at most
// 1, see prepareAir), so that an object's edge, partly air, reads its
// own materials, not lipid. With PriorMM set and near-null directions in
// the equations, each voxel is regularised toward the local prior along
// those (see PriorMM). It runs on up to threads goroutines (at least
// one), a slice each at a time.
func (d *Decomposer) Decompose(vols []*fdk.Volume, threads int) ([]*fdk.Volume, error) {
	dec, err := d.decompose(vols, threads)
	if err != nil {
		return nil, err
	}
	return dec.maps, nil
}

// decomposition is what Decompose computes: the maps, and on the way the
// local prior (one volume per near-null direction, nil unless
// Regularized), which voxels are not air (inside) and which are solved
// with air (near, nil for none), which Spread reuses.
type decomposition struct {
	maps         []*fdk.Volume
	prior        [][]float32
	inside, near []bool
}

// decompose is Decompose, keeping what it computed on the way.
func (d *Decomposer) decompose(vols []*fdk.Volume, threads int) (*decomposition, error) {
	if len(vols) != d.bins {
		return nil, fmt.Errorf("material decomposition: %d volumes for %d bins", len(vols), d.bins)
	}
	g := vols[0].Grid
	for i, v := range vols {
		if v.Grid != g || len(v.Data) != g.Voxels() {
			return nil, fmt.Errorf("material decomposition: bin %d's volume is on another grid than bin 0's", i)
		}
	}
	guide, inside := d.levels(vols, threads)
	dec := &decomposition{maps: make([]*fdk.Volume, len(d.Materials)), inside: inside, near: d.nearAir(g, guide, inside, threads)}
	if d.Regularized() {
		dec.prior = d.localPrior(vols, guide, inside, dec.near, threads)
	}
	for j := range dec.maps {
		dec.maps[j] = fdk.NewVolume(g)
	}
	slice := g.Dim[0] * g.Dim[1]
	parallel.For(g.Dim[2], threads, func(k int) {
		var b [maxRows]float64
		var x [maxCols]float64
		var p []float64
		if dec.prior != nil {
			p = make([]float64, len(dec.prior))
		}
		var passive [2]uint // the last voxel's per system, where the next one's solve starts
		for i := k * slice; i < (k+1)*slice; i++ {
			if !inside[i] {
				continue
			}
			d.equations(vols, i, &b)
			dec.priorAt(i, p)
			sys, at := d.system(dec.near, i)
			passive[at] = sys.solve(&b, d.nearNull, p, &x, passive[at])
			for j, m := range dec.maps {
				m.Data[i] = float32(x[j] / d.colScale[j])
			}
		}
	})
	return dec, nil
}

// priorAt sets p (one per near-null direction, or none) to the local
// prior at voxel i.
func (dec *decomposition) priorAt(i int, p []float64) {
	for n := range p {
		p[n] = float64(dec.prior[n][i])
	}
}

// system returns the equations voxel i is decomposed under (those with
// air where near, from nearAir, says so) and its index: 0 for the
// tissue's, 1 for those with air.
func (d *Decomposer) system(near []bool, i int) (voxelSystem, int) {
	if near != nil && near[i] {
		return *d.air, 1
	}
	return voxelSystem{solver: d.solver, prior: d.prior}, 0
}

// Regularized reports whether Decompose takes some directions of the
// amounts from the local prior: PriorMM is set and the equations have
// near-null directions.
func (d *Decomposer) Regularized() bool { return d.PriorMM > 0 && d.prior != nil }

// levels returns every voxel's mean attenuation over the bins, in units
// of the reference material's (water's where the calibration has it),
// and whether it is not air.
func (d *Decomposer) levels(vols []*fdk.Volume, threads int) ([]float32, []bool) {
	g := vols[0].Grid
	level, inside := make([]float32, g.Voxels()), make([]bool, g.Voxels())
	slice := g.Dim[0] * g.Dim[1]
	parallel.For(g.Dim[2], threads, func(k int) {
		var b [maxRows]float64
		for i := k * slice; i < (k+1)*slice; i++ {
			l, ok := d.equations(vols, i, &b)
			level[i], inside[i] = float32(l), ok
		}
	})
	return level, inside
}

// localPrior returns, per near-null direction, the voxels' unconstrained
// solutions' coordinates along it (under each voxel's equations, near
// from nearAir) smoothed by the guided filter of radius PriorMM that
// guide, the voxels' levels, guides. Air voxels (not inside) hold zero
// and are left out of the guide's noise.
func (d *Decomposer) localPrior(vols []*fdk.Volume, guide []float32, inside, near []bool, threads int) [][]float32 {
	g := vols[0].Grid
	coords := make([][]float32, len(d.nearNull))
	for n := range coords {
		coords[n] = make([]float32, g.Voxels())
	}
	slice := g.Dim[0] * g.Dim[1]
	parallel.For(g.Dim[2], threads, func(k int) {
		var b [maxRows]float64
		for i := k * slice; i < (k+1)*slice; i++ {
			if !inside[i] {
				continue
			}
			d.equations(vols, i, &b)
			sys, _ := d.system(near, i)
			for n := range coords {
				coords[n][i] = float32(sys.coordinate(&d.nearNull[n], &b))
			}
		}
	})
	var r [3]int
	for a := range r {
		r[a] = int(math.Round(d.PriorMM / g.Spacing[a]))
	}
	return guidedFilter(g, guide, inside, coords, r, threads)
}

// equations sets b to the weighted right-hand side of voxel i of vols,
// and returns its mean attenuation (in units of the reference's) and
// whether it is not air (else b is unset).
func (d *Decomposer) equations(vols []*fdk.Volume, i int, b *[maxRows]float64) (level float64, ok bool) {
	var mu [maxRows]float64
	for r, v := range vols {
		mu[r] = float64(v.Data[i])
	}
	return d.rhs(&mu, b)
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
	if _, ok := d.rhs(mu, &b); !ok {
		return false
	}
	d.solver.solve(&b, x)
	for j := range d.Materials {
		x[j] /= d.colScale[j]
	}
	return true
}

// rhs sets b to the weighted equations' right-hand side for the
// attenuations mu (1/mm per bin), and returns their mean (in units of
// the reference's) and whether they are not air's (else b is unset).
func (d *Decomposer) rhs(mu *[maxRows]float64, b *[maxRows]float64) (level float64, ok bool) {
	for r := range d.bins {
		b[r] = mu[r] * d.weight[r]
		level += mu[r] * d.level[r]
	}
	if d.airTest && level < airLevel {
		return level, false
	}
	if d.conserve {
		b[d.bins] = 1 / conservationUnit
	}
	return level, true
}

package material

import (
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// airReach is how far from air, in voxels along each axis, a voxel may
// hold air besides its materials (Decomposer.air): the reach of the
// reconstruction's blur of an edge past its half-way level. Where an
// object meets air its outer voxels are partly air (partial volume, and
// the filter's blur): their bins are the tissue's times the voxel's
// tissue fraction. Volume conservation alone (the fractions sum to 1)
// explains them with the least attenuating base, lipid, and the mineral
// that the near-null direction trades for it: a water cylinder's outer
// millimetre read 0.96 of lipid and 28 mg/mL of hydroxyapatite at 0.5 mm
// voxels, Hann window at a quarter (TestAirEdge). There a reach of 1, 2,
// 3 and 5 voxels left 0.018, 0.001, 0 and 0 of lipid and 0.96, 0.21,
// 0.12 and 0.10 mg/mL of the mineral in that millimetre: the blur of a
// filter cut near the voxels' band (as the job asks, warnAliasing) ends
// within three voxels.
const airReach = 3

// voxelSystem is one set of equations a voxel is decomposed under, with
// its solvers: the tissue's (materials only, their volumes summing to 1)
// or, next to air, those with air (the materials and air, whose
// attenuation is zero in every bin: their volumes sum to at most 1, the
// rest air; the multi-material decomposition of P. R. S. Mendonça,
// P. Lamb and D. V. Sahani, IEEE Trans. Med. Imaging 33, 99, 2014,
// likewise takes air as a material of its triplets).
type voxelSystem struct {
	solver *nnls
	// prior is solver with the penalty along the decomposer's near-null
	// directions (see Decomposer.PriorMM); nil without them.
	prior *nnls
	// air says the system has air's column: its coordinates along the
	// near-null directions are nullDirection.uAir's, else u's.
	air bool
}

// coordinate returns the system's unconstrained least-squares solution's
// coordinate along dir for the weighted right-hand side b.
func (s voxelSystem) coordinate(dir *nullDirection, b *[maxRows]float64) float64 {
	u := &dir.u
	if s.air {
		u = &dir.uAir
	}
	c := 0.0
	for r := range s.solver.rows {
		c += u[r] * b[r]
	}
	return c
}

// solve writes into x the voxel's non-negative amounts (scaled) for the
// weighted right-hand side b, regularised toward prior (the local prior's
// coordinate along each near-null direction v of dirs) where prior is
// not nil, started from the passive set hint; it returns the solution's.
func (s voxelSystem) solve(b *[maxRows]float64, dirs []nullDirection, prior []float64, x *[maxCols]float64, hint uint) uint {
	if prior == nil {
		return s.solver.solveFrom(b, x, hint)
	}
	solver, atb := s.normal(b, dirs, prior)
	return solver.solveNormalFrom(&atb, x, hint)
}

// unconstrained writes into x the least-squares amounts (scaled) that
// solve would give without the non-negativity: every column passive,
// the conservation equation still met exactly.
func (s voxelSystem) unconstrained(b *[maxRows]float64, dirs []nullDirection, prior []float64, x *[maxCols]float64) {
	solver, atb := s.normal(b, dirs, prior)
	solver.passiveSolve(1<<solver.cols-1, &atb, x)
}

// normal returns the solver of the voxel's normal equations and their
// right-hand side, Aᵀb, plus, where prior is not nil, the penalty's pull
// toward it: priorWeight times each near-null direction v of dirs times
// the prior's coordinate along it (Tikhonov regularisation toward a
// prior; see Decomposer.PriorMM).
func (s voxelSystem) normal(b *[maxRows]float64, dirs []nullDirection, prior []float64) (*nnls, [maxCols]float64) {
	if prior == nil {
		return s.solver, s.solver.atb(b)
	}
	atb := s.prior.atb(b)
	for n, dir := range dirs {
		for j := range s.prior.cols {
			atb[j] += priorWeight * prior[n] * dir.v[j]
		}
	}
	return s.prior, atb
}

// prepareAir sets d.air, the equations of the voxels next to air: the
// tissue's with one more column, air's, which is zero in the bins and
// one in the conservation equation, and each near-null direction's uAir.
// It is left nil, and such voxels are decomposed as the tissue's, where
// there is no conservation equation or water to tell air by, no column
// to spare, or where air would add a nearly dependent direction the
// local prior does not hold (more materials than the bins alone
// determine): then air's volume could not be told from the materials'.
// For the five known materials in the default bins the equations with
// air have the tissue's near-null direction (eigenvalue 1e-7) and a
// next one of 0.0016, the tissue's amount against air's.
func (d *Decomposer) prepareAir() {
	n, rows := len(d.Materials), d.solver.rows
	if !d.conserve || !d.airTest || n+1 > maxCols || n+1 > rows {
		return
	}
	a := d.solver.a
	a[rows-1][n] = 1 // the conservation row is weighted 1/conservationUnit; air's column, scaled to unit length
	s := voxelSystem{solver: newNNLS(a, rows, n+1).exactLastRow(1 / conservationUnit), air: true}
	gram := mat.NewSymDense(n+1, nil)
	for i := range n + 1 {
		for j := i; j < n+1; j++ {
			gram.SetSym(i, j, s.solver.gram[i][j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(gram, false) {
		return
	}
	small := 0
	for _, lambda := range eig.Values(nil) {
		if lambda < nearNullEigen {
			small++
		}
	}
	if small > len(d.nearNull) {
		return
	}
	var penalty [maxCols][maxCols]float64
	inv := &s.solver.inv[1<<(n+1)-1]
	for k := range d.nearNull {
		dir := &d.nearNull[k]
		var gv [maxCols]float64 // G⁻¹v: uAir = A G⁻¹ v
		for i := range n + 1 {
			for j := range n + 1 {
				gv[i] += inv[i][j] * dir.v[j]
				penalty[i][j] += priorWeight * dir.v[i] * dir.v[j]
			}
		}
		for r := range rows {
			for j := range n + 1 {
				dir.uAir[r] += a[r][j] * gv[j]
			}
		}
	}
	if len(d.nearNull) > 0 {
		s.prior = s.solver.withPenalty(&penalty)
	}
	d.air = &s
}

// nearAir returns which voxels of grid g are decomposed under d.air: not
// air (inside) but within airReach voxels, along every axis, of a voxel
// whose neighbourhood (itself and the voxels next to it) averages under
// airLevel, level being each voxel's level (Decomposer.levels); nil
// without d.air. The neighbourhood's mean keeps noise from seeding air
// inside an object: on a scan at phantom's default 20 000 counts (30
// views, README's test vials, 0.15 mm voxels, the ramp filter) single
// voxels under airLevel put 83 % of the phantom's inside within reach,
// their neighbourhoods 1 % (the slices at the field of view's ends).
func (d *Decomposer) nearAir(g fdk.Grid, level []float32, inside []bool, threads int) []bool {
	if d.air == nil || !slices.ContainsFunc(level, func(l float32) bool { return l < airLevel }) {
		return nil // no neighbourhood's mean is under airLevel without a voxel under it
	}
	air := separable.BoxMean(g.Dim, level, [3]int{1, 1, 1}, threads)
	for i, l := range air {
		air[i] = 0
		if l < airLevel {
			air[i] = 1
		}
	}
	reach := separable.BoxMean(g.Dim, air, [3]int{airReach, airReach, airReach}, threads)
	near := make([]bool, len(inside))
	for i, in := range inside {
		near[i] = in && reach[i] > 0
	}
	return near
}

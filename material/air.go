package material

import (
	"gonum.org/v1/gonum/mat"

	"github.com/ctrecon/ctrecon/fdk"
)

// airReach is how far from air, in voxels along each axis, a voxel may
// hold air besides its materials (Decomposer.edge): the reach of the
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
// or, next to air, the edge's (the materials and air, whose attenuation is
// zero in every bin: their volumes sum to at most 1, the rest air; the
// multi-material decomposition of P. R. S. Mendonça, P. Lamb and D. V.
// Sahani, IEEE Trans. Med. Imaging 33, 99, 2014, likewise takes air as a
// material of its triplets).
type voxelSystem struct {
	plain *nnls
	// prior is plain with the penalty along the decomposer's near-null
	// directions (see Decomposer.PriorMM); nil without them.
	prior *nnls
	// u, per near-null direction v, gives the coordinate along v of the
	// unconstrained least-squares solution for the weighted right-hand
	// side b as u·b (u = A G⁻¹ v for the system's A and normal matrix G).
	u [][maxRows]float64
}

// newVoxelSystem prepares the solvers of plain's equations and the
// coordinate vectors of the near-null directions dirs; penalty is their
// Tikhonov penalty (nil without them).
func newVoxelSystem(plain *nnls, dirs []nullDirection, penalty *[maxCols][maxCols]float64) voxelSystem {
	s := voxelSystem{plain: plain}
	a, rows, cols := &plain.a, plain.rows, plain.cols
	if penalty != nil {
		s.prior = s.plain.withPenalty(penalty)
	}
	inv := &s.plain.inv[1<<cols-1]
	for _, dir := range dirs {
		var gv [maxCols]float64
		for j := range cols {
			for k := range cols {
				gv[j] += inv[j][k] * dir.v[k]
			}
		}
		var u [maxRows]float64
		for r := range rows {
			for j := range cols {
				u[r] += a[r][j] * gv[j]
			}
		}
		s.u = append(s.u, u)
	}
	return s
}

// coordinate returns the unconstrained solution's coordinate along the
// n-th near-null direction for the weighted right-hand side b.
func (s *voxelSystem) coordinate(n int, b *[maxRows]float64) float64 {
	c := 0.0
	for r := range s.plain.rows {
		c += s.u[n][r] * b[r]
	}
	return c
}

// solve writes into x the voxel's non-negative amounts (scaled) for the
// weighted right-hand side b, regularised toward prior (the local prior's
// coordinate along each near-null direction v of dirs) where prior is
// not nil, started from the passive set hint; it returns the solution's.
func (s *voxelSystem) solve(b *[maxRows]float64, dirs []nullDirection, prior []float64, x *[maxCols]float64, hint uint) uint {
	if prior == nil {
		return s.plain.solveFrom(b, x, hint)
	}
	atb := s.prior.atb(b)
	for n, dir := range dirs {
		for j := range s.prior.cols {
			atb[j] += priorWeight * prior[n] * dir.v[j]
		}
	}
	return s.prior.solveNormalFrom(&atb, x, hint)
}

// prepareEdge sets d.edge, the equations of the voxels next to air: the
// tissue's with one more column, air's, which is zero in the bins and
// one in the conservation equation. It is left nil, and such voxels are
// decomposed as the tissue's, where there is no conservation equation
// or water to tell air by, no column to spare, or where air would add a
// nearly dependent direction the local prior does not hold (more
// materials than the bins alone determine): then air's volume could not
// be told from the materials'.
func (d *Decomposer) prepareEdge(penalty *[maxCols][maxCols]float64) {
	n, rows := len(d.Materials), d.tissue.plain.rows
	if !d.conserve || !d.airTest || n+1 > maxCols || n+1 > rows {
		return
	}
	a := d.tissue.plain.a
	a[rows-1][n] = 1 // the conservation row is weighted 1/conservationTol; air's column, scaled to unit length
	gram := mat.NewSymDense(n+1, nil)
	for i := range n + 1 {
		for j := i; j < n+1; j++ {
			v := 0.0
			for r := range rows {
				v += a[r][i] * a[r][j]
			}
			gram.SetSym(i, j, v)
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
	s := newVoxelSystem(newNNLS(a, rows, n+1), d.nearNull, penalty)
	d.edge = &s
}

// nearAir returns which voxels of grid g are decomposed under d.edge: not
// air (inside) but within airReach voxels of air along every axis; nil
// without d.edge.
func (d *Decomposer) nearAir(g fdk.Grid, inside []bool, threads int) []bool {
	if d.edge == nil {
		return nil
	}
	air := make([]float32, len(inside))
	for i, in := range inside {
		if !in {
			air[i] = 1
		}
	}
	reach := boxMean(g, air, [3]int{airReach, airReach, airReach}, threads)
	near := make([]bool, len(inside))
	for i, in := range inside {
		near[i] = in && reach[i] > 0
	}
	return near
}

package material

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// nullLost is the most of the near-null directions' weight (their unit
// vectors' squares summed over the materials a voxel's map clips to
// zero, and over the directions) with which unconstrainedAt still
// recovers the voxel's prior: what is left is at least 1 % of one
// direction, so the recovery amplifies the maps' rounding at most
// tenfold.
const nullLost = 0.99

// Spread returns, per map (d.Materials' order, units as Decompose's),
// the standard deviation of the variation from voxel to voxel within
// the slices of the voxels' unconstrained amounts, and how many voxel
// pairs it rests on (0, with zeros, where there is none). vols are the
// bins Decompose was given (1/mm per voxel, NewDecomposer's order) and
// maps its result for them.
//
// The unconstrained amounts are the least-squares solution Decompose
// solves without the non-negativity, x = (AᵀA+P)⁻¹(Aᵀb+P·p) with the
// local prior's penalty P and the prior p where d is Regularized, else
// x = (AᵀA)⁻¹Aᵀb: linear in the bins, so of the covariance MapNoise
// states. The maps themselves are not: most voxels hold no iodine or
// gadolinium, and there the non-negativity clips the map's noise and
// streaks to zero, so their variation is far below what the bins put
// into the amounts (the README's test scan: the iodine map's own spread
// 0.010 mg/mL, the unconstrained amounts' 0.14, and 0.08 to 0.20 inside
// the iodine vials, where the map is not clipped). The prior each voxel was solved toward is recovered from
// the map (unconstrainedAt), not recomputed, so that Spread costs a
// small fraction of Decompose.
//
// The variation is measured as NoiseSD measures the bins' noise, but
// in-plane: the median absolute deviation of the differences of voxels
// lag apart along x on one row (over √2), up to noiseSamples pairs
// evenly spread, so that it keeps what neighbouring slices share
// (streaks of too few views or of a sharp filter), which
// MapNoise's bin noise (NoiseSD's z differences) does not see. lag
// should reach past the noise's in-plane correlation and the prior's
// guided filter (SpreadLag), so that the prior's smooth part cancels in
// the differences and its noise remains, as MapNoise adds it. Voxels of
// air, and those next to air that Decompose solves with air's column
// (whose unconstrained solution MapNoise does not describe), are left
// out, as are voxels whose clipped materials hold nearly all of the
// near-null directions (nullLost).
func (d *Decomposer) Spread(vols, maps []*fdk.Volume, lag, threads int) (sd []float64, pairs int, err error) {
	if len(vols) != d.bins || len(maps) != len(d.Materials) {
		return nil, 0, fmt.Errorf("material spread: %d volumes and %d maps for %d bins and %d materials", len(vols), len(maps), d.bins, len(d.Materials))
	}
	g := vols[0].Grid
	for i, v := range vols {
		if v.Grid != g || len(v.Data) != g.Voxels() {
			return nil, 0, fmt.Errorf("material spread: bin %d's volume is on another grid than bin 0's", i)
		}
	}
	for j, m := range maps {
		if m.Grid != g || len(m.Data) != g.Voxels() {
			return nil, 0, fmt.Errorf("material spread: the %s map is on another grid than the bins'", d.Materials[j].Name)
		}
	}
	level, inside := d.levels(vols, threads)
	near := d.nearAir(g, level, inside, threads)
	var at [][2]int // the pairs of voxels both solved under the tissue's equations
	samplePairs(len(level), lag, g.Dim[0], func(i, j int) {
		if inside[i] && inside[j] && (near == nil || !near[i] && !near[j]) {
			at = append(at, [2]int{i, j})
		}
	})
	diff := make([][maxCols]float64, len(at))
	ok := make([]bool, len(at))
	const chunk = 4096
	parallel.For((len(at)+chunk-1)/chunk, threads, func(c int) {
		var x, y [maxCols]float64
		for p := c * chunk; p < min(len(at), (c+1)*chunk); p++ {
			i, j := at[p][0], at[p][1]
			if ok[p] = d.unconstrainedAt(vols, maps, i, &x) && d.unconstrainedAt(vols, maps, j, &y); ok[p] {
				for m := range d.Materials {
					diff[p][m] = y[m] - x[m]
				}
			}
		}
	})
	diffs := make([][]float64, len(d.Materials))
	for p, dp := range diff {
		for m := range diffs {
			if ok[p] {
				diffs[m] = append(diffs[m], dp[m])
			}
		}
	}
	sd = make([]float64, len(d.Materials))
	if pairs = len(diffs[0]); pairs < 2 {
		return sd, 0, nil
	}
	parallel.For(len(diffs), threads, func(m int) {
		sd[m] = madToSD * medianAbsDeviation(diffs[m]) / math.Sqrt2
	})
	return sd, pairs, nil
}

// unconstrainedAt sets x to voxel i's unconstrained amounts (d.Materials'
// order and units; see Spread) and reports whether it could: false for
// air, and where the prior cannot be recovered (nullLost).
//
// Decompose's voxel minimises ½xᵀHx − xᵀ(Aᵀb + w·Σₙpₙvₙ) over x ≥ 0, H
// the penalised normal matrix, w priorWeight, vₙ the near-null
// directions and pₙ the prior's coordinates along them. At that
// minimum the gradient is zero along every material the voxel holds
// (the Karush-Kuhn-Tucker conditions; Lawson and Hanson 1974, ch. 23):
// rⱼ + w·Σₙpₙvₙⱼ = 0 there, with r = Aᵀb − Hx the gradient without the
// prior, which the map and the bins give. These equations give p by
// least squares, and with it the unconstrained solution H⁻¹(Aᵀb + w·Σₙpₙvₙ).
func (d *Decomposer) unconstrainedAt(vols, maps []*fdk.Volume, i int, x *[maxCols]float64) bool {
	var b [maxRows]float64
	if _, ok := d.equations(vols, i, &b); !ok {
		return false
	}
	n, s := len(d.Materials), d.solver
	if d.Regularized() {
		s = d.prior
	}
	atb := s.atb(&b)
	if d.Regularized() {
		p, ok := d.recoverPrior(maps, i, &atb)
		if !ok {
			return false
		}
		for k, dir := range d.nearNull {
			for j := range n {
				atb[j] += priorWeight * p[k] * dir.v[j]
			}
		}
	}
	s.passiveSolve(1<<n-1, &atb, x)
	for j := range n {
		x[j] /= d.colScale[j]
	}
	return true
}

// recoverPrior returns the prior's coordinates (one per near-null
// direction) that voxel i of maps was solved toward, given atb, the
// voxel's Aᵀb (see unconstrainedAt), and whether the materials the map
// holds there determine them (nullLost).
func (d *Decomposer) recoverPrior(maps []*fdk.Volume, i int, atb *[maxCols]float64) ([maxCols]float64, bool) {
	var xc, r, rhs, p [maxCols]float64
	var held [maxCols]bool
	for j, m := range maps {
		xc[j] = float64(m.Data[i]) * d.colScale[j]
		held[j] = m.Data[i] > 0
	}
	d.prior.gradient(atb, &xc, &r)
	// The normal equations of w·Σₙpₙvₙⱼ = −rⱼ over the held materials j:
	// N = VᵀV over them, which is the identity less what the clipped
	// materials take of the orthonormal directions.
	k := len(d.nearNull)
	normal := nnls{cols: k}
	lost := 0.0
	for a := range k {
		va := &d.nearNull[a].v
		for j, h := range held[:len(maps)] {
			if !h {
				lost += va[j] * va[j]
				continue
			}
			rhs[a] -= va[j] * r[j] / priorWeight
			for c := range k {
				normal.gram[a][c] += va[j] * d.nearNull[c].v[j]
			}
		}
	}
	if lost > nullLost {
		return p, false
	}
	inv := normal.subsetInverse(1<<k - 1)
	for a := range k {
		for c := range k {
			p[a] += inv[a][c] * rhs[c]
		}
	}
	return p, true
}

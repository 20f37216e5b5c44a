package material

import (
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// DecomposeSpread returns Decompose's maps of vols and, per map
// (d.Materials' order, units as Decompose's), the standard deviation of
// the variation from voxel to voxel within the slices of the voxels'
// unconstrained amounts, and how many voxel pairs that rests on (0, with
// zeros, where there is none).
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
// the iodine vials, where the map is not clipped). The prior each voxel
// was solved toward is the one Decompose computed, kept for this, so
// that the spread costs a small fraction of the decomposition.
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
// out.
func (d *Decomposer) DecomposeSpread(vols []*fdk.Volume, lag, threads int) (maps []*fdk.Volume, sd []float64, pairs int, err error) {
	dec, err := d.decompose(vols, threads)
	if err != nil {
		return nil, nil, 0, err
	}
	sd, pairs = d.spread(vols, dec, lag, threads)
	return dec.maps, sd, pairs, nil
}

// spread is DecomposeSpread's measure of the spread of dec, Decompose's
// result for vols.
func (d *Decomposer) spread(vols []*fdk.Volume, dec *decomposition, lag, threads int) (sd []float64, pairs int) {
	inside, near := dec.inside, dec.near
	var at [][2]int // the pairs of voxels both solved under the tissue's equations
	samplePairs(len(inside), lag, vols[0].Grid.Dim[0], func(i, j int) {
		if inside[i] && inside[j] && (near == nil || !near[i] && !near[j]) {
			at = append(at, [2]int{i, j})
		}
	})
	diffs := make([][]float64, len(d.Materials))
	for m := range diffs {
		diffs[m] = make([]float64, len(at))
	}
	const chunk = 4096
	parallel.For((len(at)+chunk-1)/chunk, threads, func(c int) {
		var x, y [maxCols]float64
		var p []float64
		if dec.prior != nil {
			p = make([]float64, len(dec.prior))
		}
		for n := c * chunk; n < min(len(at), (c+1)*chunk); n++ {
			d.unconstrainedAt(vols, dec, at[n][0], p, &x)
			d.unconstrainedAt(vols, dec, at[n][1], p, &y)
			for m := range diffs {
				diffs[m][n] = y[m] - x[m]
			}
		}
	})
	sd = make([]float64, len(d.Materials))
	if pairs = len(at); pairs < 2 {
		return sd, 0
	}
	parallel.For(len(diffs), threads, func(m int) {
		sd[m] = madToSD * medianAbsDeviation(diffs[m]) / math.Sqrt2
	})
	return sd, pairs
}

// unconstrainedAt sets x to voxel i's unconstrained amounts (d.Materials'
// order and units; see DecomposeSpread), p being scratch for the prior,
// one per near-null direction; voxel i is inside dec and not next to air.
func (d *Decomposer) unconstrainedAt(vols []*fdk.Volume, dec *decomposition, i int, p []float64, x *[maxCols]float64) {
	var b [maxRows]float64
	d.equations(vols, i, &b)
	dec.priorAt(i, p)
	sys, _ := d.system(nil, i)
	sys.unconstrained(&b, d.nearNull, p, x)
	for j := range d.Materials {
		x[j] /= d.colScale[j]
	}
}

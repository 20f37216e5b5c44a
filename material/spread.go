package material

import (
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// Spread is the variation from voxel to voxel of a decomposition's
// unconstrained amounts (DecomposeSpread): per map (the Decomposer's
// Materials' order, units as Decompose's), a standard deviation per
// voxel.
type Spread struct {
	// InPlane is over pairs of voxels on one row, apart along x: the
	// amounts' noise and what neighbouring slices share, the streaks of
	// too few views or of a sharp filter.
	InPlane []float64
	// Slices is over pairs of voxels apart along z: the noise, without
	// what neighbouring slices share; nil where the volume has too few
	// slices.
	Slices []float64
}

// DecomposeSpread returns Decompose's maps of vols and the Spread of the
// voxels' unconstrained amounts, over voxels lag apart along x and
// sliceLag slices apart along z. Either is nil where no two voxels are
// that far apart.
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
// The variation is measured as NoiseSD measures the bins' noise: the
// median absolute deviation of the differences of voxel pairs (over √2),
// up to noiseSamples pairs evenly spread. In-plane it keeps what
// neighbouring slices share, which MapNoise's bin noise (NoiseSD's z
// differences) does not see; between slices it measures the amounts'
// noise itself, which MapNoise understates where the local prior sets
// the near-null directions (it counts the guided filter's box average of
// the voxels' noise, not the guide's own noise the filter passes on:
// water's is 3.3 times the stated on TestSpread's white noise). The lags
// should reach past the noise's correlation and the prior's guided
// filter (SpreadLag), so that the prior's smooth part cancels in the
// differences and its noise remains. Voxels of air, and those next to
// air that Decompose solves with air's column (whose unconstrained
// solution MapNoise does not describe), are left out.
func (d *Decomposer) DecomposeSpread(vols []*fdk.Volume, lag, sliceLag, threads int) ([]*fdk.Volume, Spread, error) {
	dec, err := d.decompose(vols, threads)
	if err != nil {
		return nil, Spread{}, err
	}
	dim := vols[0].Grid.Dim
	return dec.maps, Spread{InPlane: d.spread(vols, dec, lag, dim[0], threads), Slices: d.spread(vols, dec, sliceLag*dim[0]*dim[1], 0, threads)}, nil
}

// spread returns DecomposeSpread's measure, on the pairs of voxels step
// apart (on one row of rowLen voxels where rowLen is over zero), of dec,
// Decompose's result for vols; nil for fewer than two pairs.
func (d *Decomposer) spread(vols []*fdk.Volume, dec *decomposition, step, rowLen, threads int) []float64 {
	inside, near := dec.inside, dec.near
	var at [][2]int // the pairs of voxels both solved under the tissue's equations
	samplePairs(len(inside), step, rowLen, func(i, j int) {
		if inside[i] && inside[j] && (near == nil || !near[i] && !near[j]) {
			at = append(at, [2]int{i, j})
		}
	})
	if len(at) < 2 {
		return nil
	}
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
	sd := make([]float64, len(d.Materials))
	parallel.For(len(diffs), threads, func(m int) {
		sd[m] = madToSD * medianAbsDeviation(diffs[m]) / math.Sqrt2
	})
	return sd
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

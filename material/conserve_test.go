package material

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestNNLSExact checks the solver with an exact last row
// (nnls.exactLastRow, as the conservation equation is solved), with and
// without a penalty (withPenalty), against an independent reference: the
// minimiser of ½xᵀGx − xᵀ(Aᵀb + P p) over x ≥ 0 with aᵀx = rhs (a the last
// row, G the normal matrix plus P) is the solution of some subset's
// Lagrange system [G_P a_P; a_Pᵀ 0], solved here by gonum, that is
// non-negative; the solver's must meet the row and have the smallest
// objective of all such, started from any passive set. In half the
// problems the last column is zero in every row but the last, as air's
// is (one such column at most: two would be dependent).
func TestNNLSExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		a, v, rows, cols := randomSystem(rng)
		for j := range cols {
			a[rows-1][j] = 0.1 + rng.Float64() // volumes are positive
		}
		if air := cols - 1; air > 0 && rng.IntN(2) == 0 {
			for r := range rows {
				a[r][air] = 0
			}
			a[rows-1][air] = 1 // nothing but volume
		}
		rhs := 0.5 + rng.Float64()
		var b [maxRows]float64
		for r := range rows - 1 {
			b[r] = rng.NormFloat64()
		}
		b[rows-1] = rhs
		prob := newPenalised(a, b, rows, cols, v, rng.Float64()*float64(trial%2), 3*rng.NormFloat64())
		s := newNNLS(a, rows, cols).exactLastRow(rhs).withPenalty(&prob.penalty)
		best := math.Inf(1)
		for mask := 1; mask < 1<<cols; mask++ {
			if z, ok := subsetSolve(prob, uint(mask), &a[rows-1], rhs); ok && slicesMin(z[:cols]) >= -1e-12 {
				best = min(best, prob.objective(z))
			}
		}
		for hint := range uint(1) << cols {
			var x [maxCols]float64
			s.solveNormalFrom(&prob.atb, &x, hint)
			met := -rhs
			for j := range cols {
				met += a[rows-1][j] * x[j]
			}
			if slicesMin(x[:cols]) < 0 || math.Abs(met) > 1e-9*rhs {
				t.Fatalf("trial %d, from passive set %b: solution %v misses the row by %g or is negative", trial, hint, x[:cols], met)
			}
			if got := prob.objective(x); got > best+1e-9*max(1, math.Abs(best)) {
				t.Fatalf("trial %d (%dx%d), from passive set %b: objective %g, the best feasible subset gives %g", trial, rows, cols, hint, got, best)
			}
		}
	}
}

// volumeTol is the amount by which TestDecomposeVolumes lets a voxel's
// volumes exceed 1: the rounding of the maps' float32.
const volumeTol = 1e-5

// TestDecomposeVolumes checks that the volumes of a voxel (the base
// fractions plus the volume the solutes displace) never sum over 1,
// whatever the material set: decomposed with a set that lacks a material
// present, the soft conservation equation was traded for the bins'
// misfit. A mixture of water and 296 mg/mL of hydroxyapatite (the
// README's test vial) built from the physics calibration's own
// attenuations, decomposed by Solve into water and iodine, read water
// 1.010 and 21 mg/mL of iodine (volumes 1.014), into water and lipid
// water 1.053; and the maps of the noisy regions of TestDecomposePrior
// (5 % of water's attenuation per voxel and bin) into all five materials
// with the local prior summed to up to 1.004 (14 917 of 36 864 voxels
// over 1 + volumeTol), into water and iodine up to 1.012. Voxels partly
// air (TestDecomposeAirEdge's row) must sum to at most 1 too.
func TestDecomposeVolumes(t *testing.T) {
	cal, bins, all := physicsDecomposer(t)
	sets := [][]string{{"water", "iodine"}, {"water", "lipid"}, {"water", "gadolinium"}, {"water", "lipid", "iodine", "gadolinium"}, nil}
	decomposers := make([]*Decomposer, len(sets))
	for i, names := range sets {
		decomposers[i] = all
		if names != nil {
			mats, err := ParseSet(names)
			if err != nil {
				t.Fatal(err)
			}
			if decomposers[i], err = NewDecomposer(cal, bins, mats); err != nil {
				t.Fatal(err)
			}
		}
	}
	ha := []float64{1 - 296.0/3160, 0, 296, 0, 0} // water, lipid, ha, iodine, gadolinium
	mu := make([]float64, len(bins))
	for b := range bins {
		for j, m := range cal.Materials {
			mu[b] += ha[j] * m.PerUnit[b]
		}
	}
	noisy, _ := regionVolumes(cal, bins, 0.05)
	edge := mixtureVolumes(cal, bins, airEdgeRow())
	for _, d := range decomposers {
		x, err := d.Solve(mu)
		if err != nil {
			t.Fatal(err)
		}
		if v := volumes(d.Materials, x); v > 1+volumeTol {
			t.Errorf("%s: HA 296 mg/mL in water reads %.4f, volumes %.4f: over 1", names(d.Materials), x, v)
		}
		d.PriorMM = DefaultPriorMM
		for _, vols := range [][]*fdk.Volume{noisy, edge} {
			maps, err := d.Decompose(vols, 2)
			if err != nil {
				t.Fatal(err)
			}
			worst, over := 0.0, 0
			for i := range maps[0].Data {
				x := make([]float64, len(maps))
				for j, m := range maps {
					x[j] = float64(m.Data[i])
				}
				v := volumes(d.Materials, x)
				worst = max(worst, v)
				if v > 1+volumeTol {
					over++
				}
			}
			if over > 0 {
				t.Errorf("%s: %d of %d voxels' volumes sum over 1, up to %.5f", names(d.Materials), over, len(maps[0].Data), worst)
			}
		}
	}
}

// volumes returns the volume that the amounts x of mats take, as a
// fraction of the voxel.
func volumes(mats []Material, x []float64) float64 {
	v := 0.0
	for j, m := range mats {
		v += m.Displaced * x[j]
	}
	return v
}

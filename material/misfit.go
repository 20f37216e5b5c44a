package material

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// MisfitChi2 is the residual χ² per bin over which a voxel counts as
// misfit (Decomposer.Misfit): the bins' attenuations minus those the
// decomposed amounts predict, each over the bin's noise per voxel and
// the calibration's model error added in quadrature, squared and
// averaged over the bins. The edges of the object and of its inserts
// (partial volume, aliasing, residual beam hardening) add to the
// residual too, so the threshold is well above noise's 1.
const MisfitChi2 = 16

// MisfitLimit is the fraction of the object's voxels misfit
// (Decomposer.Misfit) over which a job warns that a material missing
// from its list is the likely cause. Measured on test vials of seeds 12,
// 7 and 4 at 400 000, 2 M and 8 M photons (README's vial calibration,
// its other settings): with all five materials 0.2 to 5.8 % of the
// voxels are misfit (seed 7 at 8 M the most); README's scan decomposed
// into water and iodine alone 16, 23.5 and 27 %, and seed 7's without
// lipid 9.1, 15.5 and 18.9 %. A set that lacks one material of a small
// vial (hydroxyapatite or gadolinium: 3.8 to 11 %), or lipid at a low
// dose, may go unwarned. With the calibration from physics see
// physicsModelError.
// Before the model error was counted, the fraction with all five
// materials grew with the dose, as the noise fell under the model's
// error: 1.2, 12.3 and 28.7 % on seed 12, and a limit of 25 % warned
// wrongly at 8 M.
const MisfitLimit = 0.1

// Misfit returns the fraction of the voxels of inside (voxels of vols'
// grid) whose residual χ² per bin exceeds MisfitChi2: the attenuation of
// each bin of vols (1/mm, NewDecomposer's order) minus that of the
// amounts in maps (Decompose's output), over the bin's noise per voxel
// noiseSD (1/mm, as NoiseSD measures it on vols) and the calibration's
// model error (modelError times its fit's residual; physicsModelError
// for a calibration from physics) in quadrature. Where the materials
// explain the bins, the residual is noise and few voxels exceed it;
// where a material is missing from the decomposition, its attenuation is
// left in the residual (or moved into the materials listed, with a
// residual where their spectra differ). n is the number of voxels inside.
// It runs on up to threads goroutines, a slice each at a time.
func (d *Decomposer) Misfit(vols, maps []*fdk.Volume, inside []bool, noiseSD []float64, threads int) (fraction float64, n int, err error) {
	if len(vols) != d.bins || len(noiseSD) != d.bins || len(maps) != len(d.Materials) {
		return 0, 0, fmt.Errorf("material misfit: %d volumes and %d noise values for %d bins, %d maps for %d materials",
			len(vols), len(noiseSD), d.bins, len(maps), len(d.Materials))
	}
	g := vols[0].Grid
	slice := g.Dim[0] * g.Dim[1]
	over, counted := make([]int, g.Dim[2]), make([]int, g.Dim[2])
	parallel.For(g.Dim[2], threads, func(k int) {
		for i := k * slice; i < (k+1)*slice; i++ {
			if !inside[i] {
				continue
			}
			counted[k]++
			if d.chi2(vols, maps, noiseSD, i) > MisfitChi2 {
				over[k]++
			}
		}
	})
	var o int
	for k := range over {
		o, n = o+over[k], n+counted[k]
	}
	if n == 0 {
		return 0, 0, nil
	}
	return float64(o) / float64(n), n, nil
}

// chi2 returns voxel i's residual χ² per bin (see Misfit).
func (d *Decomposer) chi2(vols, maps []*fdk.Volume, noiseSD []float64, i int) float64 {
	sum := 0.0
	for b, v := range vols {
		r := float64(v.Data[i])
		for j, m := range maps {
			r -= d.perUnit[j][b] * float64(m.Data[i])
		}
		r /= math.Hypot(noiseSD[b], d.modelErr[b])
		sum += r * r
	}
	return sum / float64(d.bins)
}

package material

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// MisfitChi2 is the residual χ² per bin over which a voxel counts as
// misfit (Decomposer.Misfit): the bins' attenuations minus those the
// decomposed amounts predict, each over the bin's noise per voxel,
// squared and averaged over the bins. The noise per voxel (NoiseSD) is
// not all of the residual: the edges of the object and of its inserts
// (partial volume, aliasing, residual beam hardening) and the linear
// model's own error add to it, so the threshold is well above noise's
// 1. On the README's material workflow (five bins, test vials) 12.3 %
// of the object's voxels exceed it with all five materials (12.5 %, 4 %
// over 256 at the edges, before the voxels next to air could hold air);
// with water and iodine alone 55 % (12.2 and 54 % before conservation
// was met exactly).
const MisfitChi2 = 16

// MisfitLimit is the fraction of the object's voxels misfit
// (Decomposer.Misfit) over which a job warns that a material missing
// from its list is the likely cause: about twice the README workflow's
// fraction with every material (12.3 %), half of it with water and
// iodine alone (55 %). An object whose unlisted material fills less of
// it goes unwarned.
const MisfitLimit = 0.25

// Misfit returns the fraction of the voxels of inside (voxels of vols'
// grid) whose residual χ² per bin exceeds MisfitChi2: the attenuation of
// each bin of vols (1/mm, NewDecomposer's order) minus that of the
// amounts in maps (Decompose's output), over the bin's noise per voxel
// noiseSD (1/mm, as NoiseSD measures it on vols). Where the materials
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
		r /= noiseSD[b]
		sum += r * r
	}
	return sum / float64(d.bins)
}

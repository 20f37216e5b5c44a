package material

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// MisfitChi2 is the residual χ² per bin over which a voxel counts as
// misfit (Decomposer.Misfit): the bins' attenuations minus those the
// decomposed amounts predict, each over the bin's noise per voxel and
// the calibration's model error added in quadrature, squared and
// averaged over the bins. The edges of the object and of its inserts
// (partial volume, aliasing, residual beam hardening) add to the
// residual too, so the threshold is well above noise's 1.
const MisfitChi2 = 16

// Misfit regions: a voxel of the object lies in one where more than
// misfitRegionShare of the voxels in the box of half-widths misfitBox
// around it are misfit. A material missing from the decomposition
// misfits its vials' voxels together; noise and edges misfit voxels
// scattered apart. Measured with README's settings on test vials of
// seeds 12, 7 and 3 at 400 000, 2 M and 8 M photons (seed 7 also at 20 M
// and 50 M), with README's vial calibration and with the one from
// physics: with all five materials no voxel lies in a misfit region
// (while up to 7.5 % of the voxels are misfit); a set without
// hydroxyapatite, gadolinium or lipid has 530 to 1 920 voxels in them
// (two vials' cores are 2 % of the object; 1.9 to 19 % misfit), water
// and iodine alone 3 270 to 8 290. At the simulator's default 20 000 photons
// water and iodine alone still have 1 811, a set without gadolinium none.
const misfitRegionShare = 0.5

var misfitBox = [3]int{2, 2, 1} // voxels: 5 × 5 × 3

// MisfitRegionVoxels and MisfitRegionMM3 are the number and the volume
// of voxels in misfit regions (see misfitRegionShare) from which a job
// warns that a material missing from its list is the likely cause
// (Misfit.Warns). The voxels: a 3 × 3 × 3 cube's worth, where the
// measurements above found none with every material and at least 530
// with one missing. Before, a job warned when over 10 % of the object's
// voxels were misfit, wherever they lay: that missed a set without
// hydroxyapatite or gadolinium (two vials, 2 % of the object), whose
// vials read 5.8 mg/mL of iodine for 8.2 of gadolinium (seed 7, 2 M).
// The volume: on voxels finer than the detector's pixels the noise of
// neighbouring voxels is alike, and misfits them together. The
// materials benchmark (256³ voxels of 0.036 mm, detector pixels of 0.073
// mm at the isocentre, 20 000 photons, every material of its vials) had
// 4 648 voxels in misfit regions, 0.22 mm³; a set lacking a material
// misfits vials of tens of mm³ (README's scan without gadolinium: 1 252
// voxels of 0.5 mm, 157 mm³).
const (
	MisfitRegionVoxels = 27
	MisfitRegionMM3    = 1.0
)

// Misfit is what Decomposer.Misfit measures of the voxels inside an
// object.
type Misfit struct {
	// Fraction is the fraction of the voxels inside whose residual χ²
	// per bin exceeds MisfitChi2.
	Fraction float64
	// RegionVoxels is the number of voxels inside that lie in misfit
	// regions (see misfitRegionShare), and RegionMM3 their volume, mm³.
	RegionVoxels int
	RegionMM3    float64
	// Inside is the number of voxels inside.
	Inside int
}

// Misfit measures the voxels of inside (voxels of vols' grid) whose
// residual χ² per bin exceeds MisfitChi2: the attenuation of each bin of
// vols (1/mm, NewDecomposer's order) minus that of the amounts in maps
// (Decompose's output), over the bin's noise per voxel noiseSD (1/mm, as
// NoiseSD measures it on vols) and the calibration's model error
// (modelError times its fit's residual; physicsModelError for a
// calibration from physics) in quadrature. Where the materials explain
// the bins, the residual is noise and few voxels exceed it, scattered;
// where a material is missing from the decomposition, its attenuation is
// left in the residual (or moved into the materials listed, with a
// residual where their spectra differ), in a region of voxels together.
// It runs on up to threads goroutines, a slice each at a time.
func (d *Decomposer) Misfit(vols, maps []*fdk.Volume, inside []bool, noiseSD []float64, threads int) (Misfit, error) {
	if len(vols) != d.bins || len(noiseSD) != d.bins || len(maps) != len(d.Materials) {
		return Misfit{}, fmt.Errorf("material misfit: %d volumes and %d noise values for %d bins, %d maps for %d materials",
			len(vols), len(noiseSD), d.bins, len(maps), len(d.Materials))
	}
	g := vols[0].Grid
	slice := g.Dim[0] * g.Dim[1]
	misfit := make([]float32, len(inside)) // 1 where misfit
	over, counted := make([]int, g.Dim[2]), make([]int, g.Dim[2])
	parallel.For(g.Dim[2], threads, func(k int) {
		for i := k * slice; i < (k+1)*slice; i++ {
			if !inside[i] {
				continue
			}
			counted[k]++
			if d.chi2(vols, maps, noiseSD, i) > MisfitChi2 {
				misfit[i] = 1
				over[k]++
			}
		}
	})
	var m Misfit
	var o int
	for k := range over {
		o, m.Inside = o+over[k], m.Inside+counted[k]
	}
	if m.Inside == 0 {
		return m, nil
	}
	m.Fraction = float64(o) / float64(m.Inside)
	share := separable.BoxMean(g.Dim, misfit, misfitBox, threads)
	for i, in := range inside {
		if in && share[i] > misfitRegionShare {
			m.RegionVoxels++
		}
	}
	m.RegionMM3 = float64(m.RegionVoxels) * g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
	return m, nil
}

// Warns reports whether m's misfit regions hold MisfitRegionVoxels and
// MisfitRegionMM3: enough that a material missing from the decomposition
// is the likely cause.
func (m Misfit) Warns() bool {
	return m.RegionVoxels >= MisfitRegionVoxels && m.RegionMM3 >= MisfitRegionMM3
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

package recon

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
)

// FilterReport is the ramp filter a job's bins were reconstructed with,
// the window named and the cut-off and padding filled in with fdk's
// defaults.
type FilterReport struct {
	Window  string  `json:"window"`
	Cutoff  float64 `json:"cutoff"`  // fraction of the detector's Nyquist frequency
	Padding float64 `json:"padding"` // padded row length ÷ detector width
	// Chosen says why, when the job named no window and no cut-off and
	// ctrecon chose the filter (a job that calibrates or decomposes,
	// chooseFilter), and how to name another; empty when the job named
	// the filter or took the plain default, Ram-Lak at full band.
	Chosen string `json:"chosen,omitempty"`
}

// choosesFilter reports whether ctrecon chooses the job's ramp filter for
// the material decomposition: the job calibrates or decomposes and names
// neither a window nor a cut-off. A window or cut-off it names, Ram-Lak
// at full band included, is kept (and warnAliasing warns of it).
func (j *Job) choosesFilter() bool {
	return j.spectralMaterials() && j.Filter.Window == "" && j.Filter.Cutoff == 0
}

// spectralMaterials reports whether the job calibrates or decomposes:
// its bins need the water linearization and a smooth filter.
func (j *Job) spectralMaterials() bool {
	return j.MakeCalibration || len(j.Materials) > 0
}

// voxelBand returns the cut-off, as a fraction of the detector's Nyquist
// frequency, at which a ramp filter reaches aliasingBand times the
// Nyquist frequency of grid's voxels on geometry g: aliasingBand × the
// detector pixel at the isocentre ÷ the finer in-plane voxel, at most 1
// (voxels as fine as that hold the detector's whole band).
func voxelBand(g *fdk.Geometry, grid fdk.Grid) float64 {
	pixel, voxel := pixelAndVoxel(g, grid)
	return min(1, aliasingBand*pixel/voxel)
}

// pixelAndVoxel returns g's detector pixel at the isocentre and grid's
// finer in-plane voxel, mm.
func pixelAndVoxel(g *fdk.Geometry, grid fdk.Grid) (pixel, voxel float64) {
	return g.PitchU * g.SID / g.SDD, min(grid.Spacing[0], grid.Spacing[1])
}

// chooseFilter fills in the report's filter once the grid is known and,
// for a job whose filter ctrecon chooses (choosesFilter), sets the job's
// to a Hann window cut at its voxels' band (voxelBand) and logs why. It
// runs in the read stage, before the check, the series' UIDs (which
// derive from the filter, pixelSettings) and the reconstruction, and a
// split job's slab tasks carry the chosen filter. The report's job stays
// as it was given.
func (r *runner) chooseFilter() {
	f := &FilterReport{}
	if r.job.choosesFilter() {
		r.job.Filter.Window, r.job.Filter.Cutoff = "hann", voxelBand(&r.scan.Geometry, r.grid)
		f.Chosen = fmt.Sprintf("for the material decomposition: a smooth window cut at the %.3g mm voxels' band (%g × the detector pixel at the isocentre ÷ the voxel), as the job names no filter; the ramp filter at full band aliases noise and bias into the maps. Name another with --filter and --cutoff (filter.window, filter.cutoff)",
			min(r.grid.Spacing[0], r.grid.Spacing[1]), float64(aliasingBand))
		r.opts.Log.Info(fmt.Sprintf("filter: hann cut at %.3g of Nyquist, chosen %s", r.job.Filter.Cutoff, f.Chosen))
	}
	f.Window, f.Cutoff, f.Padding = r.job.filterWindow(), r.job.cutoff(), r.job.padding()
	r.rep.Filter = f
}

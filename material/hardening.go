package material

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Hardening is the second pass of a two-pass beam-hardening correction
// for what the water linearization leaves: the hardening by the mineral
// and the contrast agents themselves, which the linearization reads as
// water. It is the two-pass bone correction of P. M. Joseph and R. D.
// Spital ("A method for correcting bone induced artifacts in computed
// tomography scanners", J. Comput. Assist. Tomogr. 2, 100, 1978) with the
// materials' maps in place of a thresholded bone image, and with the
// correction reconstructed on its own and added to the first pass, as in
// the empirical correction of Y. Kyriakou, E. Meyer, D. Prell and M.
// Kachelrieß (Med. Phys. 37, 5179, 2010), but computed from the spectrum
// as the linearization is:
//
//  1. the first pass's bins, averaged onto a grid coarsenFactor times
//     coarser, are decomposed into every known material with the physics
//     calibration (Physics);
//
//  2. the maps are forward projected, on a detector binned to that grid's
//     resolution and every few views, giving each ray's line integral l_m
//     of every material (units·mm);
//
//  3. each bin's error on each ray is the linear model's line integral
//     minus what the scanner measures there after water linearization,
//
//     δ_b = Σ_m A_mb l_m − Lin_b(−ln Σ_k w_bk e^(−Σ_m μ_mk l_m) / Σ_k w_bk),
//
//     A the physics calibration (whose water is the linearization's
//     reference, so that δ is zero on rays that cross only water), w_bk
//     and μ_mk the spectrum and attenuation Physics uses;
//
//  4. δ is reconstructed (FDK) on the coarse grid, interpolated onto the
//     bins' grid and added.
//
// One pass: a second, from the corrected bins' maps, moved a vial of
// hydroxyapatite 300 mg/mL by 0.002 of water on a noiseless scan; so did
// computing it on the bins' own grid instead of the coarse one.
//
// The corrected bins are linear in the amounts along every ray, so a
// vial reads alike whatever else its rays cross; calibration and
// decomposition both see corrected bins. Only what lies in the
// reconstructed grid is corrected for. It is safe for concurrent use.
type Hardening struct {
	bins    []int         // the job's bins, as indices of the scan's
	spectra []binSpectrum // per job bin
	ref     [][]float64   // per job bin: each Known material's A (Physics)
	lin     *Linearization
	first   *Decomposer // every Known material, physics, on the job's bins
}

// coarsenFactor is how many times coarser (per axis) than the bins' grid
// the correction is computed at least, and coarseMaxDim the most voxels
// across the coarse grid has: the correction is smooth, and its cost is
// then a small part of the decomposition's.
const (
	coarsenFactor = 2
	coarseMaxDim  = 48
)

// NewHardening prepares the correction of the scan's bins listed in bins
// (indices into scanBins) under tube, after lin. It fails, before any
// work, for bins that cannot tell the known materials apart (see
// NewDecomposer): the correction estimates every known material in every
// voxel, whatever materials a job decomposes into, so it needs at least
// len(Known) − 1 bins (with volume conservation) that tell them apart,
// and its errors say so without pointing at the job's own material set.
func NewHardening(lin *Linearization, tube sinogram.Tube, scanBins []sinogram.EnergyBin, bins []int) (*Hardening, error) {
	if need := len(Known) - 1; len(bins) < need {
		return nil, fmt.Errorf("beam-hardening correction by the materials other than water: it estimates all %d known materials (%s) in every voxel, whichever the job decomposes into, which takes %d independent equations, and %s give %d; it needs a scan of at least %d energy bins",
			len(Known), names(Known), len(Known), equationSources(len(bins), true), len(bins)+1, need)
	}
	cal, err := Physics(tube, scanBins)
	if err != nil {
		return nil, fmt.Errorf("beam-hardening correction: %w", err)
	}
	spectra, err := binSpectra(tube, scanBins)
	if err != nil {
		return nil, fmt.Errorf("beam-hardening correction: %w", err)
	}
	h := &Hardening{bins: bins, lin: lin}
	var mb []Bin
	for _, b := range bins {
		mb = append(mb, cal.Bins[b])
		h.spectra = append(h.spectra, spectra[b])
		ref := make([]float64, len(Known))
		for j := range Known {
			ref[j] = cal.Materials[j].PerUnit[b]
		}
		h.ref = append(h.ref, ref)
	}
	if h.first, err = NewDecomposer(cal, mb, Known); errors.Is(err, ErrNearlyDependent) {
		return nil, fmt.Errorf("beam-hardening correction by the materials other than water: it estimates all %d known materials (%s) in every voxel, whichever the job decomposes into, and the bins %s cannot tell them apart (%w); it needs bins either side of the contrast agents' K-edges (iodine 33.2 keV, gadolinium 50.2 keV)",
			len(Known), names(Known), binNames(mb), ErrNearlyDependent)
	}
	if err != nil {
		return nil, fmt.Errorf("beam-hardening correction: %w", err)
	}
	return h, nil
}

// Correct returns the bins vols (one per bin of NewHardening's list, all
// on one grid, water-linearized and reconstructed from geom's views)
// with the non-water materials' hardening removed. vols are not changed.
func (h *Hardening) Correct(geom *fdk.Geometry, vols []*fdk.Volume, opts fdk.Options) ([]*fdk.Volume, error) {
	if len(vols) != len(h.bins) {
		return nil, fmt.Errorf("beam-hardening correction: %d volumes for %d bins", len(vols), len(h.bins))
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.NumCPU()
	}
	threads := opts.Threads
	coarse := coarseGrid(vols[0].Grid)
	cg, err := coarseGeometry(geom, coarse)
	if err != nil {
		return nil, fmt.Errorf("beam-hardening correction: %w", err)
	}
	opts.Backprojector = nil // the CPU's: the coarse grid is small
	small := make([]*fdk.Volume, len(vols))
	for b, v := range vols {
		small[b] = downsample(v, coarse)
	}
	deltas, err := h.errorVolumes(cg, small, opts)
	if err != nil {
		return nil, fmt.Errorf("beam-hardening correction: %w", err)
	}
	return addInterpolated(vols, deltas, threads), nil
}

// errorVolumes decomposes the bins small (on the coarse grid) and returns
// the reconstruction, from cg's views, of each bin's error δ on the rays
// through the maps (see Hardening).
func (h *Hardening) errorVolumes(cg *fdk.Geometry, small []*fdk.Volume, opts fdk.Options) ([]*fdk.Volume, error) {
	maps, err := h.first.Decompose(small, opts.Threads)
	if err != nil {
		return nil, err
	}
	views, err := cg.Views()
	if err != nil {
		return nil, err
	}
	errs := make([][][]float32, len(views)) // [view][bin][pixel]
	fp := newProjector(maps)
	parallel.For(len(views), opts.Threads, func(v int) { errs[v] = h.viewErrors(fp, &views[v], cg.Detector) })
	rec, err := fdk.New(cg, small[0].Grid, len(small), opts)
	if err != nil {
		return nil, err
	}
	defer rec.Abort()
	for v, imgs := range errs {
		if err := rec.Add(v, imgs); err != nil {
			return nil, err
		}
	}
	return rec.Finish()
}

// viewErrors returns each bin's error δ (see Hardening) on every pixel of
// one view of the binned detector det.
func (h *Hardening) viewErrors(fp *projector, view *fdk.View, det fdk.Detector) [][]float32 {
	out := make([][]float32, len(h.bins))
	for b := range out {
		out[b] = make([]float32, det.Pixels())
	}
	poly := make([][]float32, len(h.bins))
	for b := range poly {
		poly[b] = make([]float32, det.Pixels())
	}
	l := make([]float64, len(Known))
	for r := range det.Rows {
		for c := range det.Cols {
			d, err := view.P.Ray(float64(c), float64(r))
			if err != nil || !fp.integrals(view.Source, d, l) {
				continue
			}
			i := r*det.Cols + c
			for b, s := range h.spectra {
				var num, den, lin float64
				for k, w := range s.w {
					e := 0.0
					for j, lj := range l {
						e += s.mu[k][j] * lj
					}
					num += w * math.Exp(-e)
					den += w
				}
				for j, lj := range l {
					lin += h.ref[b][j] * lj
				}
				poly[b][i] = float32(-math.Log(num / den))
				out[b][i] = float32(lin)
			}
		}
	}
	for b, sb := range h.bins {
		h.lin.Apply(sb, poly[b])
		for i := range out[b] {
			out[b][i] -= poly[b][i]
		}
	}
	return out
}

// coarseGrid returns the grid of the correction: fine's extent in voxels
// coarsenFactor times larger, or more where fine is over coarseMaxDim
// coarse voxels across.
func coarseGrid(fine fdk.Grid) fdk.Grid {
	f := coarsenFactor
	for _, n := range fine.Dim {
		f = max(f, (n+coarseMaxDim-1)/coarseMaxDim)
	}
	var g fdk.Grid
	for a := range 3 {
		g.Dim[a] = (fine.Dim[a] + f - 1) / f
		g.Spacing[a] = fine.Spacing[a] * float64(fine.Dim[a]) / float64(g.Dim[a])
		// The same extent: the first coarse voxel's centre is half a
		// coarse voxel in from the fine grid's edge.
		g.Origin[a] = fine.Origin[a] - fine.Spacing[a]/2 + g.Spacing[a]/2
	}
	return g
}

// downsample averages v's voxels onto the coarser grid g of the same
// extent (coarseGrid): each coarse voxel the mean of the fine voxels whose
// centres it holds.
func downsample(v *fdk.Volume, g fdk.Grid) *fdk.Volume {
	out := fdk.NewVolume(g)
	count := make([]float32, g.Voxels())
	f := v.Grid
	var idx [3][]int // per axis: the coarse index of each fine index
	for a := range 3 {
		idx[a] = make([]int, f.Dim[a])
		for i := range idx[a] {
			x := f.Origin[a] + float64(i)*f.Spacing[a]
			idx[a][i] = min(g.Dim[a]-1, max(0, int((x-g.Origin[a])/g.Spacing[a]+0.5)))
		}
	}
	n := 0
	for k := range f.Dim[2] {
		for j := range f.Dim[1] {
			row := g.Dim[0] * (idx[1][j] + g.Dim[1]*idx[2][k])
			for i := range f.Dim[0] {
				out.Data[row+idx[0][i]] += v.Data[n]
				count[row+idx[0][i]]++
				n++
			}
		}
	}
	for i, c := range count {
		if c > 0 {
			out.Data[i] /= c
		}
	}
	return out
}

// addInterpolated returns each of vols plus its delta, a volume on a
// coarser grid of the same extent, interpolated trilinearly at vols'
// voxel centres. All vols share a grid, and all deltas.
func addInterpolated(vols, deltas []*fdk.Volume, threads int) []*fdk.Volume {
	out := make([]*fdk.Volume, len(vols))
	for b, v := range vols {
		out[b] = &fdk.Volume{Grid: v.Grid, Data: append([]float32(nil), v.Data...)}
	}
	g := vols[0].Grid
	parallel.For(g.Dim[2], threads, func(k int) {
		n := k * g.Dim[0] * g.Dim[1]
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				idx, w := trilinear(deltas[0].Grid, g.Position(i, j, k))
				for b, d := range deltas {
					sum := 0.0
					for c, x := range idx {
						sum += w[c] * float64(d.Data[x])
					}
					out[b].Data[n] += float32(sum)
				}
				n++
			}
		}
	})
	return out
}

// trilinear returns the 8 voxels of grid g around world position p (mm)
// and their interpolation weights, clamped at g's edges.
func trilinear(g fdk.Grid, p fdk.Vec3) (idx [8]int, w [8]float64) {
	var i0 [3]int
	var f [3]float64
	for a := range 3 {
		x := min(float64(g.Dim[a]-1), max(0, (p[a]-g.Origin[a])/g.Spacing[a]))
		i0[a] = min(int(x), max(0, g.Dim[a]-2))
		f[a] = x - float64(i0[a])
	}
	for c := range 8 {
		w[c] = 1
		stride := 1
		for a := range 3 {
			i := i0[a]
			if c>>a&1 == 1 {
				w[c] *= f[a]
				i = min(i+1, g.Dim[a]-1)
			} else {
				w[c] *= 1 - f[a]
			}
			idx[c] += i * stride
			stride *= g.Dim[a]
		}
	}
	return idx, w
}

// coarseGeometry returns geom's views, every few of them, on its detector
// binned so that a binned pixel spans about one voxel of g at the
// isocentre: enough views and pixels to reconstruct g (π/2 views per
// voxel across), as projection matrices.
func coarseGeometry(geom *fdk.Geometry, g fdk.Grid) (*fdk.Geometry, error) {
	views, err := geom.Views()
	if err != nil {
		return nil, err
	}
	mag := geom.SDD / geom.SID
	bu := max(1, int(math.Round(g.Spacing[0]*mag/geom.PitchU)))
	bv := max(1, int(math.Round(g.Spacing[2]*mag/geom.PitchV)))
	step := max(1, int(float64(len(views))/(math.Pi/2*float64(max(g.Dim[0], g.Dim[1])))))
	cg := &fdk.Geometry{SID: geom.SID, SDD: geom.SDD, Detector: fdk.Detector{
		Cols: max(1, geom.Cols/bu), Rows: max(1, geom.Rows/bv), PitchU: geom.PitchU * float64(bu), PitchV: geom.PitchV * float64(bv)}}
	for v := 0; v < len(views); v += step {
		cg.Matrices = append(cg.Matrices, binned(views[v].P, bu, bv))
	}
	return cg, nil
}

// binned returns the projection matrix m onto a detector binned bu
// columns by bv rows: binned pixel c spans pixels bu·c to bu·c+bu−1,
// its centre at bu·c + (bu−1)/2.
func binned(m fdk.Matrix, bu, bv int) fdk.Matrix {
	for r, f := range []float64{float64(bu), float64(bv)} {
		for k := range 4 {
			m[r][k] = (m[r][k] - (f-1)/2*m[2][k]) / f
		}
	}
	return m
}

// projector integrates the maps of every Known material along rays.
type projector struct {
	maps []float32 // interleaved: voxel n's amounts at n·len(Known)
	grid fdk.Grid
	step float64 // mm between samples: the finest voxel side
}

func newProjector(maps []*fdk.Volume) *projector {
	p := &projector{grid: maps[0].Grid, maps: make([]float32, len(maps)*len(maps[0].Data))}
	for j, m := range maps {
		for n, x := range m.Data {
			p.maps[n*len(maps)+j] = x
		}
	}
	p.step = min(p.grid.Spacing[0], p.grid.Spacing[1], p.grid.Spacing[2])
	return p
}

// integrals sets l (one per map) to every map's integral (its unit·mm)
// along the ray from src in the unit direction d, where it crosses the
// grid's box, and reports whether it crosses it.
func (p *projector) integrals(src, d fdk.Vec3, l []float64) bool {
	t0, t1 := 0.0, math.Inf(1)
	for a := range 3 {
		lo := p.grid.Origin[a] - p.grid.Spacing[a]/2
		hi := lo + float64(p.grid.Dim[a])*p.grid.Spacing[a]
		if d[a] == 0 {
			if src[a] < lo || src[a] > hi {
				return false
			}
			continue
		}
		ta, tb := (lo-src[a])/d[a], (hi-src[a])/d[a]
		t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
	}
	if !(t1 > t0) {
		return false
	}
	clear(l)
	m := len(l)
	n := int(math.Ceil((t1 - t0) / p.step))
	h := (t1 - t0) / float64(n)
	for i := range n {
		t := t0 + (float64(i)+0.5)*h
		idx, w := trilinear(p.grid, fdk.Vec3{src[0] + t*d[0], src[1] + t*d[1], src[2] + t*d[2]})
		for c, x := range idx {
			wc := w[c] * h
			for j, a := range p.maps[x*m : x*m+m] {
				l[j] += wc * float64(a)
			}
		}
	}
	return true
}

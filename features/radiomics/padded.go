package radiomics

// padded is the ROI's grey levels and morphological mask in its crop grown
// by pad voxels on every side, grey level 0 and outside the mask there, so
// that the texture matrices find a neighbour within pad voxels as an array
// offset, with no bounds check: a neighbour beyond the crop reads as
// outside both masks, as the crop's edge must. Its voxels lie in the
// crop's order (x fastest), so that a loop over the padded array visits
// the ROI's voxels in the order of a loop over the crop.
type padded struct {
	grey  []int32
	morph []bool
	pad   int
	size  [3]int // the padded grid's
}

// padded returns the ROI padded by the texture settings' largest distance
// (GLCM, NGTDM and NGLDM neighbours, zone links; at least 1 for runs and
// edges), made on the first call.
func (r *roi) padded() *padded {
	if r.pad != nil {
		return r.pad
	}
	pad := max(1, r.s.Texture.Distance, r.s.Texture.ZoneDistance)
	p := &padded{pad: pad}
	for a := range 3 {
		p.size[a] = r.Size[a] + 2*pad
	}
	n := p.size[0] * p.size[1] * p.size[2]
	p.grey, p.morph = make([]int32, n), make([]bool, n)
	for k := range r.Size[2] {
		for j := range r.Size[1] {
			src, dst := r.index(0, j, k), p.index(pad, j+pad, k+pad)
			copy(p.grey[dst:dst+r.Size[0]], r.grey[src:src+r.Size[0]])
			copy(p.morph[dst:dst+r.Size[0]], r.morph[src:src+r.Size[0]])
		}
	}
	r.pad = p
	return p
}

// index returns the position of padded voxel (i, j, k) in the arrays.
func (p *padded) index(i, j, k int) int { return i + p.size[0]*(j+p.size[1]*k) }

// slice returns the crop's slice (z index) of padded position n.
func (p *padded) slice(n int) int { return n/(p.size[0]*p.size[1]) - p.pad }

// offsets returns the array offsets of the voxel steps ds, each within pad
// voxels on every axis.
func (p *padded) offsets(ds [][3]int) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d[0] + p.size[0]*(d[1]+p.size[1]*d[2])
	}
	return out
}

// eachDirection fills the matrices of a directional family (GLCM, GLRLM):
// for every voxel n of the intensity mask, of grey level g in slice k, it
// calls count with planes[k][d] and the array offset in the padded ROI
// of in-plane step in[d], then, when the settings aggregate in 3D, with
// volume[d] and that of out-of-plane step out[d].
func eachDirection[M any](r *roi, in, out [][3]int, planes [][]M, volume []M, count func(m M, n int, g int32, o int)) {
	p := r.padded()
	inOff, outOff := p.offsets(in), p.offsets(out)
	if !r.s.aggregates(Agg3D) {
		volume = nil
	}
	for n, g := range p.grey {
		if g == 0 {
			continue
		}
		k := p.slice(n)
		for d, o := range inOff {
			count(planes[k][d], n, g, o)
		}
		for d := range volume {
			count(volume[d], n, g, outOff[d])
		}
	}
}

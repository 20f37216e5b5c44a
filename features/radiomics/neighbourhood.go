package radiomics

// eachNeighbourhood calls visit for every voxel of the intensity mask with
// its slice, its grey level and the grey levels of its neighbours in the
// intensity mask within Chebyshev distance Texture.Distance (in the slice
// only, for inPlane). The neighbour slice is reused between calls.
func eachNeighbourhood(r *roi, inPlane bool, visit func(z int, g int32, neighbours []int32)) {
	p := r.padded()
	offsets := p.offsets(neighbourhood(r.s.Texture.Distance, inPlane))
	nb := make([]int32, 0, len(offsets))
	for n, g := range p.grey {
		if g == 0 {
			continue
		}
		nb = nb[:0]
		for _, o := range offsets {
			if h := p.grey[n+o]; h > 0 {
				nb = append(nb, h)
			}
		}
		visit(p.slice(n), g, nb)
	}
}

// perSliceOrVolume makes one matrix per slice (inPlane) or one for the
// volume, with zero, and fills them by visiting every neighbourhood.
func perSliceOrVolume[M any](r *roi, inPlane bool, zero func() M, visit func(m M, g int32, neighbours []int32)) []M {
	ms := make([]M, 1)
	if inPlane {
		ms = make([]M, r.Size[2])
	}
	for s := range ms {
		ms[s] = zero()
	}
	eachNeighbourhood(r, inPlane, func(z int, g int32, nb []int32) {
		if !inPlane {
			z = 0
		}
		visit(ms[z], g, nb)
	})
	return ms
}

// ngldmMatrices returns the neighbouring grey level dependence matrices
// (IBSI REK0) of each slice (inPlane) or of the volume: each voxel counted
// by its grey level and its dependence, 1 + the number of neighbours whose
// grey level differs by at most the coarseness α.
func ngldmMatrices(r *roi, inPlane bool) []*sizeMatrix {
	alpha := int32(r.s.Texture.NGLDMCoarseness)
	return perSliceOrVolume(r, inPlane, newSizeMatrix, func(m *sizeMatrix, g int32, nb []int32) {
		j := 1
		for _, h := range nb {
			if h-g <= alpha && g-h <= alpha {
				j++
			}
		}
		m.count(g, j)
		m.voxels++
	})
}

// nglFeatures are IBSI's NGLDM features.
var nglFeatures = sizeTable(
	Definition{"ngl.lde", "SODN", "Low dependence emphasis"},
	Definition{"ngl.hde", "IMOQ", "High dependence emphasis"},
	Definition{"ngl.lgce", "TL9H", "Low grey level count emphasis"},
	Definition{"ngl.hgce", "OAE7", "High grey level count emphasis"},
	Definition{"ngl.ldlge", "EQ3F", "Low dependence low grey level emphasis"},
	Definition{"ngl.ldhge", "JA6D", "Low dependence high grey level emphasis"},
	Definition{"ngl.hdlge", "NBZI", "High dependence low grey level emphasis"},
	Definition{"ngl.hdhge", "9QMG", "High dependence high grey level emphasis"},
	Definition{"ngl.glnu", "FP8K", "Grey level non-uniformity"},
	Definition{"ngl.glnu.norm", "5SPA", "Normalised grey level non-uniformity"},
	Definition{"ngl.dcnu", "Z87G", "Dependence count non-uniformity"},
	Definition{"ngl.dcnu.norm", "OKJI", "Normalised dependence count non-uniformity"},
	Definition{"ngl.dc.perc", "6XV8", "Dependence count percentage"},
	Definition{"ngl.gl.var", "1PFV", "Grey level variance"},
	Definition{"ngl.dc.var", "DNX2", "Dependence count variance"},
	Definition{"ngl.dc.entr", "FCBV", "Dependence count entropy"},
	Definition{"ngl.dc.energy", "CAS9", "Dependence count energy"},
)

func init() {
	familyTable["ngl"] = family{
		defs: func() []Definition { return definitions(nglFeatures) },
		compute: func(r *roi) []Feature {
			return sizeFamily(nglFeatures).zoned(r,
				func() []*sizeMatrix { return ngldmMatrices(r, true) },
				func() *sizeMatrix { return ngldmMatrices(r, false)[0] })
		},
	}
}

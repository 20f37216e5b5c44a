package radiomics

// glrlmMatrices counts the runs of equal grey levels in the intensity mask
// (IBSI TP0I): per slice and in-plane direction, and per out-of-plane
// direction over the volume. Each matrix's voxel count is that of its
// slice or of the volume.
func glrlmMatrices(r *roi) (planes [][]*sizeMatrix, volume []*sizeMatrix) {
	planes = make([][]*sizeMatrix, r.Size[2])
	for z := range planes {
		n := 0
		for k := r.index(0, 0, z); k < r.index(0, 0, z+1); k++ {
			if r.grey[k] > 0 {
				n++
			}
		}
		planes[z] = make([]*sizeMatrix, len(inPlaneDirections))
		for d := range planes[z] {
			planes[z][d] = newSizeMatrix()
			planes[z][d].voxels = float64(n)
		}
	}
	volume = make([]*sizeMatrix, len(outOfPlaneDirections))
	for d := range volume {
		volume[d] = newSizeMatrix()
		volume[d].voxels = float64(len(r.values))
	}
	p := r.padded()
	eachDirection(r, inPlaneDirections, outOfPlaneDirections, planes, volume, func(m *sizeMatrix, n int, g int32, o int) {
		if l := p.runFrom(n, o); l > 0 {
			m.count(g, l)
		}
	})
	return planes, volume
}

// runFrom returns the length of the run along array offset o that starts
// at position n, or 0 when the run does not start there (the voxel before
// it has the same grey level). The padding ends every run.
func (p *padded) runFrom(n, o int) int {
	g := p.grey[n]
	if p.grey[n-o] == g {
		return 0
	}
	l := 1
	for n += o; p.grey[n] == g; n += o {
		l++
	}
	return l
}

// rlmFeatures are IBSI's GLRLM features.
var rlmFeatures = sizeTable(
	Definition{"rlm.sre", "22OV", "Short runs emphasis"},
	Definition{"rlm.lre", "W4KF", "Long runs emphasis"},
	Definition{"rlm.lgre", "V3SW", "Low grey level run emphasis"},
	Definition{"rlm.hgre", "G3QZ", "High grey level run emphasis"},
	Definition{"rlm.srlge", "HTZT", "Short run low grey level emphasis"},
	Definition{"rlm.srhge", "GD3A", "Short run high grey level emphasis"},
	Definition{"rlm.lrlge", "IVPO", "Long run low grey level emphasis"},
	Definition{"rlm.lrhge", "3KUM", "Long run high grey level emphasis"},
	Definition{"rlm.glnu", "R5YN", "Grey level non-uniformity"},
	Definition{"rlm.glnu.norm", "OVBL", "Normalised grey level non-uniformity"},
	Definition{"rlm.rlnu", "W92Y", "Run length non-uniformity"},
	Definition{"rlm.rlnu.norm", "IC23", "Normalised run length non-uniformity"},
	Definition{"rlm.r.perc", "9ZK5", "Run percentage"},
	Definition{"rlm.gl.var", "8CE5", "Grey level variance"},
	Definition{"rlm.rl.var", "SXLW", "Run length variance"},
	Definition{"rlm.rl.entr", "HJ9O", "Run entropy"},
)

func init() {
	familyTable["rlm"] = family{
		defs: func() []Definition { return definitions(rlmFeatures) },
		compute: func(r *roi) []Feature {
			planes, volume := glrlmMatrices(r)
			return sizeFamily(rlmFeatures).directional(r, planes, volume)
		},
	}
}

package radiomics

// zone is a group of linked voxels of one grey level (IBSI's GLSZM and
// GLDZM zones).
type zone struct {
	level    int32
	size     int
	distance int32 // smallest distance to the ROI's edge of its voxels
}

// zoneSet is the zones of one slice (2D) or of the volume (3D), with the
// number of intensity-mask voxels they were found among.
type zoneSet struct {
	zones  []zone
	voxels int
}

// findZones returns the zones of each slice (inPlane) or the one set of
// the volume: voxels of the intensity mask with equal grey levels, linked
// within Chebyshev distance ZoneDistance (8- or 26-connected by default).
// Each zone's distance is the smallest of its voxels' in the morphological
// mask's distance map (see distanceMap). The GLSZM and GLDZM share them.
func findZones(r *roi, inPlane bool) []zoneSet {
	if sets, ok := r.zones[inPlane]; ok {
		return sets
	}
	if r.zones == nil {
		r.zones = map[bool][]zoneSet{}
	}
	p := r.padded()
	offsets := p.offsets(neighbourhood(r.s.Texture.ZoneDistance, inPlane))
	dist := distanceMap(p, inPlane)
	label := make([]bool, len(p.grey))
	sets := make([]zoneSet, 1)
	if inPlane {
		sets = make([]zoneSet, r.Size[2])
	}
	var stack []int
	for n, g := range p.grey {
		if g == 0 || label[n] {
			continue
		}
		set := &sets[0]
		if inPlane {
			set = &sets[p.slice(n)]
		}
		zn := zone{level: g, distance: dist[n]}
		label[n] = true
		stack = append(stack[:0], n)
		for len(stack) > 0 {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			zn.size++
			zn.distance = min(zn.distance, dist[m])
			for _, o := range offsets {
				if q := m + o; !label[q] && p.grey[q] == g {
					label[q] = true
					stack = append(stack, q)
				}
			}
		}
		set.zones = append(set.zones, zn)
		set.voxels += zn.size
	}
	r.zones[inPlane] = sets
	return sets
}

// distanceMap returns, for each voxel of the morphological mask (at its
// position in p's arrays), its distance to the ROI's edge (IBSI, GLDZM):
// the smallest number of steps between face neighbours (6-connected in
// 3D, 4-connected in the slice for inPlane) that leads out of the mask, so
// that a voxel on the edge has distance 1. Beyond the crop is outside.
// Voxels outside the mask have 0.
func distanceMap(p *padded, inPlane bool) []int32 {
	steps := p.offsets([][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}})
	if inPlane {
		steps = steps[:4]
	}
	dist := make([]int32, len(p.morph))
	var queue []int
	for n, in := range p.morph {
		if !in {
			continue
		}
		for _, s := range steps {
			if !p.morph[n+s] {
				dist[n] = 1
				queue = append(queue, n)
				break
			}
		}
	}
	for head := 0; head < len(queue); head++ {
		n := queue[head]
		for _, s := range steps {
			if m := n + s; p.morph[m] && dist[m] == 0 {
				dist[m] = dist[n] + 1
				queue = append(queue, m)
			}
		}
	}
	return dist
}

// zoneMatrices returns the size matrices of the zone sets: each zone
// counted by its grey level and by what size says of it (its size for the
// GLSZM, its distance for the GLDZM).
func zoneMatrices(sets []zoneSet, size func(zone) int) []*sizeMatrix {
	out := make([]*sizeMatrix, len(sets))
	for s, set := range sets {
		m := newSizeMatrix()
		m.voxels = float64(set.voxels)
		for _, z := range set.zones {
			m.count(z.level, size(z))
		}
		out[s] = m
	}
	return out
}

// zoneFamily computes a zone family (GLSZM or GLDZM) whose matrix counts
// zones by size(zone).
func zoneFamily(defs []def[*sizeSums], size func(zone) int) func(r *roi) []Feature {
	return func(r *roi) []Feature {
		return sizeFamily(defs).zoned(r,
			func() []*sizeMatrix { return zoneMatrices(findZones(r, true), size) },
			func() *sizeMatrix { return zoneMatrices(findZones(r, false), size)[0] })
	}
}

// szmFeatures are IBSI's GLSZM features.
var szmFeatures = sizeTable(
	Definition{"szm.sze", "5QRC", "Small zone emphasis"},
	Definition{"szm.lze", "48P8", "Large zone emphasis"},
	Definition{"szm.lgze", "XMSY", "Low grey level zone emphasis"},
	Definition{"szm.hgze", "5GN9", "High grey level zone emphasis"},
	Definition{"szm.szlge", "5RAI", "Small zone low grey level emphasis"},
	Definition{"szm.szhge", "HW1V", "Small zone high grey level emphasis"},
	Definition{"szm.lzlge", "YH51", "Large zone low grey level emphasis"},
	Definition{"szm.lzhge", "J17V", "Large zone high grey level emphasis"},
	Definition{"szm.glnu", "JNSA", "Grey level non-uniformity"},
	Definition{"szm.glnu.norm", "Y1RO", "Normalised grey level non-uniformity"},
	Definition{"szm.zsnu", "4JP3", "Zone size non-uniformity"},
	Definition{"szm.zsnu.norm", "VB3A", "Normalised zone size non-uniformity"},
	Definition{"szm.z.perc", "P30P", "Zone percentage"},
	Definition{"szm.gl.var", "BYLV", "Grey level variance"},
	Definition{"szm.zs.var", "3NSA", "Zone size variance"},
	Definition{"szm.zs.entr", "GU8N", "Zone size entropy"},
)

// dzmFeatures are IBSI's GLDZM features.
var dzmFeatures = sizeTable(
	Definition{"dzm.sde", "0GBI", "Small distance emphasis"},
	Definition{"dzm.lde", "MB4I", "Large distance emphasis"},
	Definition{"dzm.lgze", "S1RA", "Low grey level zone emphasis"},
	Definition{"dzm.hgze", "K26C", "High grey level zone emphasis"},
	Definition{"dzm.sdlge", "RUVG", "Small distance low grey level emphasis"},
	Definition{"dzm.sdhge", "DKNJ", "Small distance high grey level emphasis"},
	Definition{"dzm.ldlge", "A7WM", "Large distance low grey level emphasis"},
	Definition{"dzm.ldhge", "KLTH", "Large distance high grey level emphasis"},
	Definition{"dzm.glnu", "VFT7", "Grey level non-uniformity"},
	Definition{"dzm.glnu.norm", "7HP3", "Normalised grey level non-uniformity"},
	Definition{"dzm.zdnu", "V294", "Zone distance non-uniformity"},
	Definition{"dzm.zdnu.norm", "IATH", "Normalised zone distance non-uniformity"},
	Definition{"dzm.z.perc", "VIWW", "Zone percentage"},
	Definition{"dzm.gl.var", "QK93", "Grey level variance"},
	Definition{"dzm.zd.var", "7WT1", "Zone distance variance"},
	Definition{"dzm.zd.entr", "GBDU", "Zone distance entropy"},
)

func init() {
	familyTable["szm"] = family{
		defs:    func() []Definition { return definitions(szmFeatures) },
		compute: zoneFamily(szmFeatures, func(z zone) int { return z.size }),
	}
	familyTable["dzm"] = family{
		defs:    func() []Definition { return definitions(dzmFeatures) },
		compute: zoneFamily(dzmFeatures, func(z zone) int { return int(z.distance) }),
	}
}

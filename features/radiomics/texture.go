package radiomics

import "math"

// The neighbour directions of IBSI's texture matrices (section "Grey level
// co-occurrence based features"): one of each pair ±m. In 2D, the four
// in-plane ones; in 3D those and the nine that leave the slice.
var (
	inPlaneDirections    = [][3]int{{1, 0, 0}, {1, 1, 0}, {0, 1, 0}, {-1, 1, 0}}
	outOfPlaneDirections = [][3]int{{0, 0, 1}, {0, 1, 1}, {0, -1, 1}, {1, 0, 1}, {-1, 0, 1}, {1, 1, 1}, {-1, 1, 1}, {1, -1, 1}, {-1, -1, 1}}
)

// IBSI's names of the texture aggregation methods, as Feature.Aggregation
// carries them.
const (
	agg2DAveraged    = "2D, averaged"           // BTW3
	agg2DSliceMerged = "2D, slice-merged"       // SUJT
	agg25DDirMerged  = "2.5D, direction-merged" // JJUI
	agg25DMerged     = "2.5D, merged"           // ZW7Z
	agg3DAveraged    = "3D, averaged"           // ITBB
	agg3DMerged      = "3D, merged"             // IAZD
)

// matrix is a texture matrix that can be merged with others of its kind.
type matrix[M any] interface {
	// add merges another matrix into this one (summing counts, and the
	// voxel counts that normalise some features).
	add(M)
	// empty reports a matrix with nothing counted: it gives no features.
	empty() bool
}

// merged returns a new matrix holding the sum of ms.
func merged[M matrix[M]](zero func() M, ms ...M) M {
	sum := zero()
	for _, m := range ms {
		sum.add(m)
	}
	return sum
}

// texFamily is a texture family: its features' definitions, how to
// evaluate them all on one matrix, and its empty matrix.
type texFamily[M matrix[M]] struct {
	defs []Definition
	eval func(M) []float64
	zero func() M
}

// averaged evaluates the features on each non-empty matrix and averages
// each feature over the matrices where it is defined (not NaN). With no
// non-empty matrix every feature is NaN.
func (f texFamily[M]) averaged(ms ...M) []float64 {
	sum := make([]float64, len(f.defs))
	n := make([]float64, len(f.defs))
	for _, m := range ms {
		if m.empty() {
			continue
		}
		for i, v := range f.eval(m) {
			if !math.IsNaN(v) {
				sum[i] += v
				n[i]++
			}
		}
	}
	for i := range sum {
		sum[i] /= n[i] // 0/0 = NaN where no matrix gave a value
		if n[i] == 0 {
			sum[i] = math.NaN()
		}
	}
	return sum
}

// directional emits a directional family (GLCM, GLRLM) in every wanted
// aggregation. planes[z][d] is the matrix of slice z in in-plane direction
// d; volume holds the out-of-plane directions' volume matrices.
func (f texFamily[M]) directional(r *roi, planes [][]M, volume []M) []Feature {
	var out []Feature
	if r.s.aggregates(Agg2D) {
		var all, perSlice []M
		for _, dirs := range planes {
			all = append(all, dirs...)
			perSlice = append(perSlice, merged(f.zero, dirs...))
		}
		out = emitDefs(out, f.defs, f.averaged(all...), agg2DAveraged)
		out = emitDefs(out, f.defs, f.averaged(perSlice...), agg2DSliceMerged)
	}
	// inPlane[d] merges direction d over the slices: the 2.5D matrix, and
	// the volume matrix of an in-plane direction.
	inPlane := make([]M, len(inPlaneDirections))
	for d := range inPlane {
		inPlane[d] = f.zero()
		for _, dirs := range planes {
			inPlane[d].add(dirs[d])
		}
	}
	if r.s.aggregates(Agg25D) {
		out = emitDefs(out, f.defs, f.averaged(inPlane...), agg25DDirMerged)
		out = emitDefs(out, f.defs, f.averaged(merged(f.zero, inPlane...)), agg25DMerged)
	}
	if r.s.aggregates(Agg3D) {
		all := append(append([]M(nil), inPlane...), volume...)
		out = emitDefs(out, f.defs, f.averaged(all...), agg3DAveraged)
		out = emitDefs(out, f.defs, f.averaged(merged(f.zero, all...)), agg3DMerged)
	}
	return out
}

// zoned emits a family without directions (GLSZM, GLDZM, NGTDM, NGLDM) in
// every wanted aggregation: "2D" averages the slices' features, "2.5D"
// merges their matrices, "3D" uses the volume's. planes and volume are
// computed only when wanted.
func (f texFamily[M]) zoned(r *roi, planes func() []M, volume func() M) []Feature {
	var out []Feature
	if r.s.aggregates(Agg2D) || r.s.aggregates(Agg25D) {
		ps := planes()
		if r.s.aggregates(Agg2D) {
			out = emitDefs(out, f.defs, f.averaged(ps...), Agg2D)
		}
		if r.s.aggregates(Agg25D) {
			out = emitDefs(out, f.defs, f.averaged(merged(f.zero, ps...)), Agg25D)
		}
	}
	if r.s.aggregates(Agg3D) {
		out = emitDefs(out, f.defs, f.averaged(volume()), Agg3D)
	}
	return out
}

// scaled returns the directions multiplied by the distance δ.
func scaled(dirs [][3]int, delta int) [][3]int {
	out := make([][3]int, len(dirs))
	for i, d := range dirs {
		out[i] = [3]int{d[0] * delta, d[1] * delta, d[2] * delta}
	}
	return out
}

// neighbourhood returns the offsets within Chebyshev distance delta of a
// voxel, itself excluded: in the slice only (inPlane), or in 3D.
func neighbourhood(delta int, inPlane bool) [][3]int {
	var out [][3]int
	dz := delta
	if inPlane {
		dz = 0
	}
	for z := -dz; z <= dz; z++ {
		for y := -delta; y <= delta; y++ {
			for x := -delta; x <= delta; x++ {
				if x != 0 || y != 0 || z != 0 {
					out = append(out, [3]int{x, y, z})
				}
			}
		}
	}
	return out
}

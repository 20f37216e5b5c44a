package radiomics

import (
	"math"
	"math/rand/v2"
)

// convexHull returns the triangles of the convex hull of points, with
// outward normals, as indices into points.
//
// Mesh vertices lie on a grid, so many are coplanar, the classic failure
// of floating-point hull algorithms. As qhull's "joggle" option does, the
// hull is built incrementally on copies of the points moved at random by
// at most 10⁻⁶ of their extent (the same pseudo-random moves every time),
// which puts them in general position; the caller measures the triangles
// on the unmoved points, which changes a volume or area by about 10⁻⁶ of
// itself. Fewer than four points, or points all in a plane, have no hull:
// nil.
func convexHull(points [][3]float64) [][3]int32 {
	if len(points) < 4 {
		return nil
	}
	lo, hi := points[0], points[0]
	for _, p := range points {
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
		}
	}
	eps := 1e-6 * norm(sub(hi, lo))
	rng := rand.New(rand.NewPCG(1, 2))
	q := make([][3]float64, len(points))
	for k, p := range points {
		for a := range 3 {
			q[k][a] = p[a] + eps*(2*rng.Float64()-1)
		}
	}
	first := simplex(points)
	if first == nil {
		return nil
	}
	h := &hull{q: q, edges: map[[2]int32]int32{}}
	h.start(first)
	for _, k := range rng.Perm(len(q)) {
		if k != int(first[0]) && k != int(first[1]) && k != int(first[2]) && k != int(first[3]) {
			h.insert(int32(k))
		}
	}
	var out [][3]int32
	for _, f := range h.faces {
		if f.alive {
			out = append(out, f.v)
		}
	}
	return out
}

// hull is a convex hull under construction.
type hull struct {
	q     [][3]float64
	faces []hullFace
	edges map[[2]int32]int32 // directed edge (a, b) of a live face -> face
}

type hullFace struct {
	v      [3]int32
	normal [3]float64 // (b − a) × (c − a), outward
	alive  bool
}

// simplex returns four far-apart points that span a tetrahedron, or nil
// when all points are in a plane (to 10⁻⁹ of their extent).
func simplex(q [][3]float64) []int32 {
	farthest := func(dist func(p [3]float64) float64) (int32, float64) {
		best, d := int32(0), -1.0
		for k, p := range q {
			if v := dist(p); v > d {
				best, d = int32(k), v
			}
		}
		return best, d
	}
	a, _ := farthest(func(p [3]float64) float64 { return -p[0] })
	b, _ := farthest(func(p [3]float64) float64 { return norm(sub(p, q[a])) })
	c, dc := farthest(func(p [3]float64) float64 { return norm(cross(sub(q[b], q[a]), sub(p, q[a]))) })
	n := cross(sub(q[b], q[a]), sub(q[c], q[a]))
	d, dd := farthest(func(p [3]float64) float64 { return math.Abs(dot(n, sub(p, q[a]))) })
	extent := norm(sub(q[b], q[a]))
	if dc <= 1e-9*extent*extent || dd <= 1e-9*norm(n)*extent {
		return nil
	}
	if dot(n, sub(q[d], q[a])) > 0 { // d above abc: abc must face away from it
		b, c = c, b
	}
	return []int32{a, b, c, d}
}

// start makes the hull the tetrahedron of simplex's corners.
func (h *hull) start(s []int32) {
	a, b, c, d := s[0], s[1], s[2], s[3]
	h.addFace(a, b, c)
	h.addFace(a, d, b)
	h.addFace(b, d, c)
	h.addFace(c, d, a)
}

func (h *hull) addFace(a, b, c int32) {
	id := int32(len(h.faces))
	h.faces = append(h.faces, hullFace{v: [3]int32{a, b, c}, normal: cross(sub(h.q[b], h.q[a]), sub(h.q[c], h.q[a])), alive: true})
	h.edges[[2]int32{a, b}] = id
	h.edges[[2]int32{b, c}] = id
	h.edges[[2]int32{c, a}] = id
}

// insert adds point p: the faces it sees are replaced by a cone of faces
// from p to their horizon.
func (h *hull) insert(p int32) {
	var visible []int32
	for id := range h.faces {
		f := &h.faces[id]
		if f.alive && dot(f.normal, sub(h.q[p], h.q[f.v[0]])) > 0 {
			visible = append(visible, int32(id))
		}
	}
	if len(visible) == 0 {
		return
	}
	seen := map[int32]bool{}
	for _, id := range visible {
		seen[id] = true
	}
	var horizon [][2]int32
	for _, id := range visible {
		v := h.faces[id].v
		for k := range 3 {
			a, b := v[k], v[(k+1)%3]
			if other, ok := h.edges[[2]int32{b, a}]; !ok || !seen[other] {
				horizon = append(horizon, [2]int32{a, b})
			}
		}
	}
	for _, id := range visible {
		f := &h.faces[id]
		f.alive = false
		for k := range 3 {
			delete(h.edges, [2]int32{f.v[k], f.v[(k+1)%3]})
		}
	}
	for _, e := range horizon {
		h.addFace(e[0], e[1], p)
	}
	if len(h.faces) > 64 && len(h.faces) > 2*len(h.edges) { // over 5 dead faces per live one
		h.compact()
	}
}

// compact drops dead faces and renumbers the edge map.
func (h *hull) compact() {
	alive := h.faces[:0]
	for _, f := range h.faces {
		if f.alive {
			alive = append(alive, f)
		}
	}
	h.faces = alive
	clear(h.edges)
	for id, f := range h.faces {
		for k := range 3 {
			h.edges[[2]int32{f.v[k], f.v[(k+1)%3]}] = int32(id)
		}
	}
}

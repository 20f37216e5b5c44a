package slimtree

import (
	"cmp"
	"slices"
)

// split divides node n, which holds capacity+1 entries, in two by the
// minimum-spanning-tree split: n keeps one side, a new sibling takes the
// other, and a parent that overflows is split in turn. The root is first
// pushed down under a new root.
func (x *Index) split(n int32) {
	if n == 0 {
		n = x.pushDownRoot()
	}
	vecs, radii, slots, children := x.entries(n)
	d := distances(vecs, x.route)
	side := mstSplit(d, x.cfg.MinOcc)
	p := x.nodes[n].parent
	m := x.newNode(x.nodes[n].leaf, p)
	x.nodes[p].children = append(x.nodes[p].children, m)
	for _, part := range []struct {
		node int32
		side bool
	}{{n, false}, {m, true}} {
		var members []int
		for j, s := range side {
			if s == part.side {
				members = append(members, j)
			}
		}
		r, radius := representative(d, radii, members)
		nd := &x.nodes[part.node]
		nd.rep, nd.radius = slices.Clone(vecs[r]), radius
		nd.dParent = x.toRep(nd.rep, p)
		if nd.leaf {
			for _, j := range members {
				x.leaves.Add(int(part.node), slots[j])
				x.dRep[slots[j]] = d[r][j]
			}
			continue
		}
		nd.children = nd.children[:0:0]
		for _, j := range members {
			nd.children = append(nd.children, children[j])
			x.nodes[children[j]].parent, x.nodes[children[j]].dParent = part.node, d[r][j]
		}
	}
	if len(x.nodes[p].children) > x.cfg.Capacity {
		x.split(p)
	}
}

// pushDownRoot moves the root's entries into a new node under the root,
// which becomes an index node with that one child, and returns the new
// node.
func (x *Index) pushDownRoot() int32 {
	c := x.newNode(x.nodes[0].leaf, 0)
	x.nodes[c].children = x.nodes[0].children
	x.adopt(c, x.nodes[c].children)
	for _, i := range x.leaves.Take(0) {
		x.leaves.Add(int(c), i)
	}
	x.nodes[0] = node{used: true, parent: -1, children: []int32{c}}
	return c
}

// entries takes node n's entries out of it: their vectors (a leaf's
// vectors, an index node's children's representatives), their radii (0 for
// vectors), and the slots or the children.
func (x *Index) entries(n int32) (vecs [][]float32, radii []float64, slots []uint32, children []int32) {
	if x.nodes[n].leaf {
		slots = x.leaves.Take(int(n))
		for _, i := range slots {
			vecs = append(vecs, x.base.S.Vec(i))
		}
		return vecs, make([]float64, len(slots)), slots, nil
	}
	children = x.nodes[n].children
	for _, c := range children {
		vecs = append(vecs, x.nodes[c].rep)
		radii = append(radii, x.nodes[c].radius)
	}
	return vecs, radii, nil, children
}

// distances returns the matrix of the distances between vecs.
func distances(vecs [][]float32, dist func(a, b []float32) float64) [][]float64 {
	d := make([][]float64, len(vecs))
	for a := range d {
		d[a] = make([]float64, len(vecs))
		for b := range a {
			d[a][b] = dist(vecs[a], vecs[b])
			d[b][a] = d[a][b]
		}
	}
	return d
}

type edge struct {
	a, b int
	w    float64
}

// mstSplit returns the side (false or true) of each of the entries whose
// distances are d: the two parts of their minimum spanning tree (Prim's)
// without its longest edge that leaves at least minOcc entries on each
// side, or, when none does, without the edge that leaves the most on the
// smaller side (the longest of those).
func mstSplit(d [][]float64, minOcc int) []bool {
	edges := mst(d)
	slices.SortStableFunc(edges, func(e, f edge) int { return cmp.Compare(f.w, e.w) })
	bestSmall := -1
	var side []bool
	for k := range edges {
		s := components(len(d), edges, k)
		small := 0
		for _, v := range s {
			if v {
				small++
			}
		}
		small = min(small, len(d)-small)
		if small >= minOcc {
			return s
		}
		if small > bestSmall {
			bestSmall, side = small, s
		}
	}
	return side
}

// mst returns the edges of the minimum spanning tree of the complete graph
// whose weights are d (Prim's algorithm, O(n²)).
func mst(d [][]float64) []edge {
	n := len(d)
	in := make([]bool, n)
	near, from := make([]float64, n), make([]int, n)
	for j := range near {
		near[j], from[j] = d[0][j], 0
	}
	in[0] = true
	var edges []edge
	for range n - 1 {
		next := -1
		for j := range n {
			if !in[j] && (next < 0 || near[j] < near[next]) {
				next = j
			}
		}
		in[next] = true
		edges = append(edges, edge{from[next], next, near[next]})
		for j := range n {
			if !in[j] && d[next][j] < near[j] {
				near[j], from[j] = d[next][j], next
			}
		}
	}
	return edges
}

// components returns the side of each of n entries when the tree edges
// lose edges[cut]: true for those joined to edges[cut].b.
func components(n int, edges []edge, cut int) []bool {
	adj := make([][]int, n)
	for k, e := range edges {
		if k != cut {
			adj[e.a] = append(adj[e.a], e.b)
			adj[e.b] = append(adj[e.b], e.a)
		}
	}
	side := make([]bool, n)
	side[edges[cut].b] = true
	for stack := []int{edges[cut].b}; len(stack) > 0; {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !side[w] {
				side[w] = true
				stack = append(stack, w)
			}
		}
	}
	return side
}

// representative returns the member whose ball covering the others (its
// distance to each plus the other's radius) is smallest, and that ball's
// radius.
func representative(d [][]float64, radii []float64, members []int) (int, float64) {
	best, bestR := -1, 0.0
	for _, a := range members {
		r := 0.0
		for _, b := range members {
			r = max(r, d[a][b]+radii[b])
		}
		if best < 0 || r < bestR {
			best, bestR = a, r
		}
	}
	return best, bestR
}

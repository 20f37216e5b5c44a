package slimtree

import (
	"math"
	"slices"
)

// maxSlimPasses bounds the passes of SlimDown over the leaves: a vector at
// exactly its leaf's radius from two representatives could move back and
// forth.
const maxSlimPasses = 32

// SlimDown is the Slim-tree's Slim-down algorithm on the leaves: for each
// leaf, its vector farthest from its representative moves into a sibling
// leaf (a leaf of the same parent) that covers it and has room, and the
// leaf's radius shrinks to its new farthest vector; passes repeat while
// vectors move. A leaf left empty is removed. The radii of every node are
// then made as small as their children allow. It returns the number of
// vectors moved. Searches wait until it is done.
func (x *Index) SlimDown() int {
	x.base.Mu.Lock()
	defer x.base.Mu.Unlock()
	moved := 0
	for range maxSlimPasses {
		m := 0
		for p := range x.nodes {
			if x.nodes[p].used && !x.nodes[p].leaf && x.nodes[x.nodes[p].children[0]].leaf {
				m += x.slimSiblings(int32(p))
			}
		}
		moved += m
		if m == 0 {
			break
		}
	}
	x.tighten(0)
	return moved
}

// slimSiblings runs one Slim-down pass over the leaves under p and returns
// the number of vectors moved.
func (x *Index) slimSiblings(p int32) int {
	moved := 0
	for _, i := range slices.Clone(x.nodes[p].children) {
		if !x.nodes[i].used {
			continue
		}
		far := x.farthest(i)
		v := x.base.S.Vec(far)
		for _, j := range x.nodes[p].children {
			if j == i || len(x.leaves.L[j]) >= x.cfg.Capacity {
				continue
			}
			if d := x.route(v, x.nodes[j].rep); d <= x.nodes[j].radius {
				x.leaves.Remove(far)
				x.leaves.Add(int(j), far)
				x.dRep[far] = d
				moved++
				if len(x.leaves.L[i]) == 0 {
					x.removeNode(i)
				} else {
					x.nodes[i].radius = x.dRep[x.farthest(i)]
				}
				break
			}
		}
		if !x.nodes[p].used || x.nodes[p].leaf {
			break // p was removed or collapsed into the root
		}
	}
	return moved
}

// farthest returns the slot of leaf n farthest from its representative.
func (x *Index) farthest(n int32) uint32 {
	l := x.leaves.L[n]
	return slices.MaxFunc(l, func(a, b uint32) int {
		switch {
		case x.dRep[a] < x.dRep[b]:
			return -1
		case x.dRep[a] > x.dRep[b]:
			return 1
		}
		return 0
	})
}

// tighten sets the radius of n and every node below it to the least that
// covers its entries (a leaf: its farthest vector) or that is known to
// cover them (an index node: the farthest reach of its children's balls,
// unless its radius is already smaller: an insert grows it only to the
// vector's own distance, and Slim-down moves vectors only between
// siblings, so it still covers them), and returns n's.
func (x *Index) tighten(n int32) float64 {
	nd := &x.nodes[n]
	r := 0.0
	if nd.leaf {
		for _, i := range x.leaves.L[n] {
			r = max(r, x.dRep[i])
		}
	} else {
		for _, c := range nd.children {
			r = max(r, x.nodes[c].dParent+x.tighten(c))
		}
		if n != 0 { // the root has no ball
			r = min(r, nd.radius)
		}
	}
	x.nodes[n].radius = r
	return r
}

// FatFactor returns the tree's fat-factor and bloat-factor (Traina et al.
// 2000), which measure how much its nodes overlap. With Ic the node
// accesses of a point query for every one of the N vectors, H the height
// and M the number of nodes,
//
//	fat = (Ic − H·N) / N · 1/(M − H)
//
// is 0 when each point query reads one node per level and 1 when it reads
// every node; the bloat-factor is the same measure against the least
// height and nodes a tree of N vectors of this capacity C could have,
// Hmin = ⌈log_C N⌉ and Mmin = Σ_{i=1..Hmin} ⌈N/C^i⌉. Both are 0 for a tree
// where the denominator is 0.
func (x *Index) FatFactor() (fat, bloat float64) {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	n := x.base.S.Len()
	if n == 0 {
		return 0, 0
	}
	ic, nodes := 0, 0
	for i := range uint32(x.base.S.Slots()) {
		if x.base.S.Live(i) {
			ic += x.accesses(0, x.base.S.Vec(i))
		}
	}
	for _, nd := range x.nodes {
		if nd.used {
			nodes++
		}
	}
	h := x.height()
	hMin := max(1, int(math.Ceil(math.Log(float64(n))/math.Log(float64(x.cfg.Capacity))-1e-9)))
	mMin := 0
	for i := 1; i <= hMin; i++ {
		mMin += int(math.Ceil(float64(n) / math.Pow(float64(x.cfg.Capacity), float64(i))))
	}
	ratio := func(ic0, m, h int) float64 {
		if m == h {
			return 0
		}
		return float64(ic-ic0) / float64(n) / float64(m-h)
	}
	return ratio(h*n, nodes, h), ratio(hMin*n, mMin, hMin)
}

// accesses returns the nodes a point query of v reads from node n down:
// n, and every child whose ball holds v (with the slack of a search, so
// that rounding never hides a vector from its own leaf).
func (x *Index) accesses(n int32, v []float32) int {
	a := 1
	for _, c := range x.nodes[n].children {
		if r := x.nodes[c].radius; x.route(v, x.nodes[c].rep) <= r*(1+1e-9)+1e-9 {
			a += x.accesses(c, v)
		}
	}
	return a
}

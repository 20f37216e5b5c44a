package slimtree

import (
	"fmt"
	"io"
	"math"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// Save writes the index (see index.Load). The body of kind "slim", version
// 1: capacity and minocc (uint32 each), the vectors
// (vecstore.Store.Save), the number of node ids (uint32), then per id: in
// use and leaf (uint8 each), the number of children and their ids
// (uint32), and for a node in use other than the root its
// representative (dim float32) and radius (float64 bits, uint64); then
// each id's vectors (vecstore.Lists.Save, empty but for leaves). The
// distances to representatives are measured again by Load.
func (x *Index) Save(w io.Writer) error {
	return x.base.Save(w, Kind.Name, kindVersion, x.saveConfig, x.saveNodes)
}

func (x *Index) saveConfig(e *index.Encoder) {
	e.Uint32(uint32(x.cfg.Capacity))
	e.Uint32(uint32(x.cfg.MinOcc))
}

func (x *Index) saveNodes(e *index.Encoder) {
	e.Uint32(uint32(len(x.nodes)))
	for n, nd := range x.nodes {
		e.Uint8(flag(nd.used))
		e.Uint8(flag(nd.leaf))
		vecstore.SaveChildren(e, nd.children)
		if nd.used && n > 0 {
			e.Float32s(nd.rep)
			e.Uint64(math.Float64bits(nd.radius))
		}
	}
	x.leaves.Save(e)
}

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func load(h index.Header, d *index.Decoder) (index.Index, error) {
	if err := vecstore.CheckVersion(h, "slim", kindVersion); err != nil {
		return nil, err
	}
	c := Config{Capacity: int(d.Uint32()), MinOcc: int(d.Uint32())}
	if c.Capacity < 3 || c.MinOcc < 1 || c.MinOcc > c.Capacity/2 {
		d.Fail("capacity %d, minocc %d", c.Capacity, c.MinOcc)
	}
	x := New(h.Dim, h.Metric, c)
	if err := x.base.Load(d, h, x.loadNodes); err != nil {
		return nil, err
	}
	return x, x.check()
}

// loadNodes reads what saveNodes wrote: at most two nodes per slot and
// two more.
func (x *Index) loadNodes(d *index.Decoder) {
	dim, slots := x.base.S.Dim(), x.base.S.Slots()
	x.nodes = vecstore.LoadNodes(d, 2*slots+2, slots, func(nd *node, j, n int) {
		nd.used, nd.leaf = d.Uint8() == 1, d.Uint8() == 1
		nd.children = vecstore.LoadChildren(d, j, n)
		if nd.used && j > 0 {
			nd.rep = d.Float32s(dim)
			nd.radius = math.Float64frombits(d.Uint64())
		}
	})
	x.leaves = vecstore.LoadLists(d, &x.base.S)
}

// check walks a loaded tree from the root: every node in use reached once,
// its children in use, leaves all at one depth and the only nodes holding
// vectors, every vector in a leaf and within the radius of the leaf and of
// each node above it; it sets the parents, the free ids and the
// distances to the representatives. Errors wrap index.ErrFormat.
func (x *Index) check() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", index.ErrFormat, fmt.Sprintf(format, args...))
	}
	if len(x.leaves.L) != len(x.nodes) || !x.nodes[0].used {
		return fail("%d lists for %d nodes, or no root", len(x.leaves.L), len(x.nodes))
	}
	x.nodes[0].parent, x.nodes[0].rep = -1, nil
	reached := make([]bool, len(x.nodes))
	depth := -1
	var walk func(n int32, ancestors []int32) error
	walk = func(n int32, ancestors []int32) error {
		if reached[n] {
			return fail("node %d is reached twice", n)
		}
		reached[n] = true
		nd := &x.nodes[n]
		if n > 0 {
			if err := index.CheckVector(fmt.Sprint("representative of node ", n), nd.rep, index.Euclidean); err != nil || !(nd.radius >= 0) {
				return fail("node %d: %v, radius %g", n, err, nd.radius)
			}
			nd.dParent = x.toRep(nd.rep, nd.parent)
			ancestors = append(ancestors, n)
		}
		if nd.leaf {
			if len(nd.children) > 0 || depth >= 0 && depth != len(ancestors) {
				return fail("leaf %d has children or is at depth %d, another at %d", n, len(ancestors), depth)
			}
			depth = len(ancestors)
			for _, i := range x.leaves.L[n] {
				x.dRep = growTo(x.dRep, i)
				x.dRep[i] = x.toRep(x.base.S.Vec(i), n)
				for _, a := range ancestors {
					if r := x.nodes[a].radius; x.toRep(x.base.S.Vec(i), a) > r*(1+1e-9)+1e-9 {
						return fail("vector %q lies outside node %d's radius", x.base.S.Key(i), a)
					}
				}
			}
			return nil
		}
		if len(nd.children) == 0 || len(x.leaves.L[n]) > 0 {
			return fail("index node %d has no children or holds vectors", n)
		}
		for _, c := range nd.children {
			if c < 1 || int(c) >= len(x.nodes) || !x.nodes[c].used {
				return fail("node %d has child %d, not a node in use", n, c)
			}
			x.nodes[c].parent = n
			if err := walk(c, ancestors); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0, nil); err != nil {
		return err
	}
	for n := range x.nodes {
		switch {
		case x.nodes[n].used && !reached[n]:
			return fail("node %d is not in the tree", n)
		case !x.nodes[n].used:
			x.free = append(x.free, int32(n))
		}
	}
	return x.leaves.Covers(&x.base.S)
}

// growTo returns d long enough to index slot i.
func growTo(d []float64, i uint32) []float64 {
	for len(d) <= int(i) {
		d = append(d, 0)
	}
	return d
}

// Package slimtree is the Slim-tree (Traina, Traina, Seeger and Faloutsos,
// "Slim-trees: High performance metric trees minimizing overlap between
// nodes", EDBT 2000): a balanced metric tree for any metric that satisfies
// the triangle inequality, searched exactly.
//
// Every node but the root has a representative (a routing object) and a
// covering radius within which lie all the vectors below it; each entry
// also keeps its distance to its parent's representative, so that a search
// discards most entries by the triangle inequality without measuring them.
// The tree grows bottom-up as a B-tree does: a vector descends to a leaf,
// choosing at each level among the subtrees that cover it the one of
// minimum occupancy (the nearest when none covers it, whose radius grows),
// and a node that overflows capacity entries is split by the paper's
// minimum-spanning-tree split: the minimum spanning tree of its entries
// loses its longest edge whose removal leaves at least minocc entries on
// each side, and each side's representative is its entry of least covering
// radius.
//
// FatFactor measures the overlap of the nodes (the fat-factor and the
// bloat-factor of the paper), and SlimDown, the paper's reorganisation,
// moves the farthest vector of each leaf into a sibling leaf that covers
// it, shrinking the radii, until no vector moves. Distances counts the
// distances searches compute, to set against a linear scan's one per
// vector.
//
// Under Cosine, whose distance 1 − cos breaks the triangle inequality, the
// tree routes by the chord √(2(1 − cos)) between the vectors' directions,
// which keeps it and orders pairs alike; every other metric routes by its
// own Distance. A metric given as a function must be a metric for the
// answers to be exact.
//
// The index registers as "slim" (index.Register) with parameters capacity
// and minocc; see Kind.
package slimtree

import (
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

const kindVersion = 1

// Config are a tree's parameters.
type Config struct {
	// Capacity is the most entries a node holds; one more splits it.
	Capacity int
	// MinOcc is the fewest entries the split leaves in each of the two
	// nodes, where the minimum spanning tree allows it (at most
	// Capacity/2); 0 for Capacity/4.
	MinOcc int
}

// DefaultConfig is what Kind's parameters default to.
func DefaultConfig() Config { return Config{Capacity: 32} }

// Kind is the "slim" kind of index.Register.
var Kind = index.Kind{
	Name: "slim",
	Doc:  "Slim-tree (Traina et al. 2000): a metric tree with minimum-spanning-tree splits, exact under any metric",
	Params: []index.Param{
		{Name: "capacity", Default: "32", Doc: "most entries in a node"},
		{Name: "minocc", Default: "0", Doc: "fewest entries a split leaves in a node, at most capacity/2; 0 for capacity/4"},
	},
	New: func(dim int, m index.Metric, p map[string]string) (index.Index, error) {
		c := DefaultConfig()
		if err := vecstore.Ints(p, nil, vecstore.IntParam{Name: "capacity", To: &c.Capacity, Lo: 3, Hi: 1 << 16},
			vecstore.IntParam{Name: "minocc", To: &c.MinOcc, Lo: 0, Hi: 1 << 15}); err != nil {
			return nil, err
		}
		if c.MinOcc > c.Capacity/2 {
			return nil, fmt.Errorf("parameter minocc is %d, want at most capacity/2 (%d)", c.MinOcc, c.Capacity/2)
		}
		return New(dim, m, c), nil
	},
	Load: load,
}

func init() { index.Register(Kind) }

var (
	_ index.Index    = (*Index)(nil)
	_ index.Adjuster = (*Index)(nil)
)

// Index is a Slim-tree. It is safe for concurrent use: searches run in
// parallel with each other and wait for changes.
type Index struct {
	vecstore.Basics // Metric, Dim, Len, Get, Add, Delete, Search, Range
	base            vecstore.Base
	cfg             Config
	minOccGiven     int                          // cfg.MinOcc as given to New (not saved)
	route           func(a, b []float32) float64 // the distance the tree is built on
	// nodes[0] is the root; a node's vectors (a leaf's) are
	// leaves.L[its id].
	nodes  []node
	free   []int32 // ids of unused nodes
	leaves vecstore.Lists
	dRep   []float64 // by slot: route distance to its leaf's representative
	// distances counts the route and metric distances searches compute.
	distances atomic.Int64
}

// node is a node of the tree. Its representative, radius and dParent are
// its entry in its parent.
type node struct {
	used     bool
	leaf     bool
	parent   int32
	children []int32   // an index node's
	rep      []float32 // nil for the root
	radius   float64   // every vector below lies within radius of rep
	dParent  float64   // route distance from rep to the parent's rep (0 under the root)
}

// New returns an empty index of vectors of dim values (0: set by the first
// Add) under m. A zero Capacity takes DefaultConfig's, a zero MinOcc
// Capacity/4; MinOcc is cut to Capacity/2.
func New(dim int, m index.Metric, c Config) *Index {
	given := c.MinOcc
	c.Capacity = max(vecstore.OrDefault(c.Capacity, DefaultConfig().Capacity), 3)
	c.MinOcc = min(vecstore.OrDefault(c.MinOcc, max(c.Capacity/4, 1)), c.Capacity/2)
	x := &Index{base: vecstore.NewBase(dim, m), cfg: c, minOccGiven: given, route: routeOf(m)}
	x.Basics = x.base.Basics(x.insert, x.remove, x.collect)
	x.newNode(true, -1)
	return x
}

// routeOf returns the distance the tree of metric m is built on: the chord
// between directions for Cosine, m's Distance otherwise.
func routeOf(m index.Metric) func(a, b []float32) float64 {
	if m.Name() == index.Cosine.Name() {
		return func(a, b []float32) float64 { return math.Sqrt(2 * index.Cosine.Distance(a, b)) }
	}
	return m.Distance
}

// toRoute turns a distance d of the metric into the route distance, with
// slack for rounding (a bound that prunes a little less, never more).
func (x *Index) toRoute(d float64) float64 {
	if x.base.M.Name() == index.Cosine.Name() {
		d = math.Sqrt(2 * max(d, 0))
	}
	return d*(1+1e-9) + 1e-9
}

// Adjusted reports the minocc in use where it is not the one given: 0
// takes Capacity/4 (index.Adjuster).
func (x *Index) Adjusted(int) []index.Adjusted {
	if x.minOccGiven == x.cfg.MinOcc {
		return nil
	}
	return []index.Adjusted{{Name: "minocc", Given: strconv.Itoa(x.minOccGiven), Used: strconv.Itoa(x.cfg.MinOcc),
		Why: "0 takes capacity/4 (at least 1, at most capacity/2)"}}
}

// Kind returns "slim".
func (x *Index) Kind() string { return Kind.Name }

// Distances returns the number of distances searches have computed, route
// distances to representatives and distances to vectors, since the index
// was made or loaded.
func (x *Index) Distances() int64 { return x.distances.Load() }

// newNode returns the id of a new empty node under parent.
func (x *Index) newNode(leaf bool, parent int32) int32 {
	var n int32
	if k := len(x.free); k > 0 {
		n, x.free = x.free[k-1], x.free[:k-1]
	} else {
		n = int32(len(x.nodes))
		x.nodes = append(x.nodes, node{})
		x.leaves.New()
	}
	x.nodes[n] = node{used: true, leaf: leaf, parent: parent}
	return n
}

// toRep returns the route distance from v to node n's representative, 0
// for the root.
func (x *Index) toRep(v []float32, n int32) float64 {
	if x.nodes[n].rep == nil {
		return 0
	}
	return x.route(v, x.nodes[n].rep)
}

// occupancy returns the number of entries of node n.
func (x *Index) occupancy(n int32) int {
	if x.nodes[n].leaf {
		return len(x.leaves.L[n])
	}
	return len(x.nodes[n].children)
}

// insert puts slot i into the leaf it descends to, splitting what
// overflows.
func (x *Index) insert(i uint32) {
	v := x.base.S.Vec(i)
	x.dRep = growTo(x.dRep, i)
	n := int32(0)
	for !x.nodes[n].leaf {
		n = x.chooseSubtree(n, v)
	}
	x.dRep[i] = x.toRep(v, n)
	x.leaves.Add(int(n), i)
	if len(x.leaves.L[n]) > x.cfg.Capacity {
		x.split(n)
	}
}

// chooseSubtree returns the child of n that v descends to: of those whose
// ball covers v, the one of fewest entries (the nearer of equals); when
// none covers v, the nearest, whose radius grows to reach v.
func (x *Index) chooseSubtree(n int32, v []float32) int32 {
	best, bestD, bestOcc, covered := int32(-1), math.Inf(1), 0, false
	for _, c := range x.nodes[n].children {
		d := x.route(v, x.nodes[c].rep)
		switch occ := x.occupancy(c); {
		case d <= x.nodes[c].radius:
			if !covered || occ < bestOcc || occ == bestOcc && d < bestD {
				best, bestD, bestOcc, covered = c, d, occ, true
			}
		case !covered && d < bestD:
			best, bestD = c, d
		}
	}
	if !covered {
		x.nodes[best].radius = bestD
	}
	return best
}

// remove takes slot i out of its leaf, removing the leaf when it empties;
// radii are not shrunk (SlimDown shrinks them).
func (x *Index) remove(i uint32) {
	if n := int32(x.leaves.Remove(i)); n > 0 && len(x.leaves.L[n]) == 0 {
		x.removeNode(n)
	}
}

// removeNode removes node n, which is empty and not the root, from its
// parent, and the parent in turn when it empties; a root left with one
// child takes the child's place.
func (x *Index) removeNode(n int32) {
	p := x.nodes[n].parent
	ch := x.nodes[p].children
	for j, c := range ch {
		if c == n {
			x.nodes[p].children = append(ch[:j], ch[j+1:]...)
			break
		}
	}
	x.freeNode(n)
	switch {
	case p != 0 && len(x.nodes[p].children) == 0:
		x.removeNode(p)
	case p == 0 && len(x.nodes[0].children) == 0:
		x.nodes[0] = node{used: true, leaf: true, parent: -1}
	case p == 0 && len(x.nodes[0].children) == 1:
		x.collapseRoot()
	}
}

// collapseRoot moves the root's only child into the root.
func (x *Index) collapseRoot() {
	c := x.nodes[0].children[0]
	x.nodes[0] = node{used: true, leaf: x.nodes[c].leaf, parent: -1, children: x.nodes[c].children}
	x.adopt(0, x.nodes[0].children)
	for _, i := range x.leaves.Take(int(c)) {
		x.leaves.Add(0, i)
		x.dRep[i] = 0
	}
	x.freeNode(c)
	if !x.nodes[0].leaf && len(x.nodes[0].children) == 1 {
		x.collapseRoot()
	}
}

// adopt makes p the parent of children.
func (x *Index) adopt(p int32, children []int32) {
	for _, c := range children {
		x.nodes[c].parent = p
	}
}

func (x *Index) freeNode(n int32) {
	x.nodes[n] = node{}
	x.free = append(x.free, n)
}

// height returns the number of levels (1 for a tree that is one leaf):
// every leaf is at the same depth.
func (x *Index) height() int {
	h := 1
	for n := int32(0); !x.nodes[n].leaf; n = x.nodes[n].children[0] {
		h++
	}
	return h
}

// Shape returns the number of nodes and the height of the tree (1 for a
// tree that is one leaf).
func (x *Index) Shape() (nodes, height int) {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	return len(x.nodes) - len(x.free), x.height()
}

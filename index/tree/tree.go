// Package tree is a hierarchical k-means tree (Fukunaga and Narendra
// 1975; Muja and Lowe's FLANN, 2009/2014): every internal node splits its
// vectors into branching clusters by k-means, down to leaves of at most
// leaf vectors, and a search descends best-first, always to the child whose
// centre is nearest the query, keeping the other children in a priority
// queue by the distance to their centres, until it has measured checks
// vectors. checks trades recall for speed; checks 0 measures every vector
// and is exact.
//
// The tree grows as vectors are added: each joins the leaf it descends to,
// and a leaf that outgrows leaf vectors is split by k-means into up to
// branching leaves under it. Centres are the means of their clusters under
// the built-in metrics and stored vectors (medoids) under a metric given as
// a function (see index/internal/kmeans).
//
// The index registers as "tree" (index.Register) with parameters
// branching, leaf, iters, seed and checks; see Kind.
package tree

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/kmeans"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

const kindVersion = 1

// Config are a tree's parameters.
type Config struct {
	// Branching is the number of clusters a leaf splits into.
	Branching int
	// Leaf is the most vectors a leaf holds before it splits.
	Leaf int
	// Iters bounds k-means' rounds per split.
	Iters int
	// Checks is the number of vectors a search measures before it stops
	// (it finishes the leaf it is in); 0 measures all.
	Checks int
	// Seed seeds k-means.
	Seed uint64
}

// DefaultConfig is what Kind's parameters default to.
func DefaultConfig() Config { return Config{Branching: 16, Leaf: 64, Iters: 8, Checks: 256, Seed: 1} }

// Kind is the "tree" kind of index.Register.
var Kind = index.Kind{
	Name: "tree",
	Doc:  "hierarchical k-means tree searched best-first until checks vectors are measured",
	Params: []index.Param{
		{Name: "branching", Default: "16", Doc: "clusters per split"},
		{Name: "leaf", Default: "64", Doc: "most vectors in a leaf"},
		{Name: "iters", Default: "8", Doc: "k-means rounds per split"},
		{Name: "seed", Default: "1", Doc: "random seed of k-means"},
		{Name: "checks", Default: "256", Doc: "vectors measured per search; 0 for all (exact)", Search: true},
	},
	New: func(dim int, m index.Metric, p map[string]string) (index.Index, error) {
		if err := index.NeedBuiltin("tree", "averages vectors (k-means centres)", m); err != nil {
			return nil, err
		}
		c := DefaultConfig()
		err := vecstore.Ints(p, &c.Seed, vecstore.IntParam{Name: "branching", To: &c.Branching, Lo: 2, Hi: 1 << 16},
			vecstore.IntParam{Name: "leaf", To: &c.Leaf, Lo: 1, Hi: 1 << 24},
			vecstore.IntParam{Name: "iters", To: &c.Iters, Lo: 1, Hi: 1000})
		if err != nil {
			return nil, err
		}
		if c.Branching > c.Leaf+1 {
			return nil, fmt.Errorf("parameter branching is %d, more than the leaf+1 (%d) vectors a split parts into clusters", c.Branching, c.Leaf+1)
		}
		return New(dim, m, c), nil
	},
	Load: load,
}

func init() { index.Register(Kind) }

var (
	_ index.Index    = (*Index)(nil)
	_ index.Tuner    = (*Index)(nil)
	_ index.Adjuster = (*Index)(nil)
)

// Index is a hierarchical k-means tree. It is safe for concurrent use:
// searches run in parallel with each other and wait for changes.
type Index struct {
	vecstore.Basics // Metric, Dim, Len, Get, Add, Delete, Search, Range
	base            vecstore.Base
	cfg             Config
	nodes           []node
	lists           vecstore.Lists // the leaves' vectors
	rng             *rand.Rand
}

// node is a node of the tree: a leaf (its list of vectors) or the parent
// of clusters. Node 0 is the root.
type node struct {
	centre   []float32 // nil for the root
	children []int32   // nil for a leaf
	list     int32     // a leaf's list, -1 for an internal node
	// splitAt is the size at which the leaf next tries to split: a leaf
	// whose vectors k-means cannot part (all equal) waits to double.
	splitAt int32
}

// New returns an empty tree of vectors of dim values (0: set by the first
// Add) under m. Zero fields of c but Checks and Seed take DefaultConfig's.
func New(dim int, m index.Metric, c Config) *Index {
	d := DefaultConfig()
	if c.Branching < 2 {
		c.Branching = d.Branching
	}
	c.Leaf = vecstore.OrDefault(c.Leaf, d.Leaf)
	c.Iters = vecstore.OrDefault(c.Iters, d.Iters)
	c.Checks = max(c.Checks, 0)
	x := &Index{base: vecstore.NewBase(dim, m), cfg: c, rng: rand.New(rand.NewPCG(c.Seed, 0x7ee))}
	x.Basics = x.base.Basics(x.insert, x.remove, x.collect)
	x.nodes = []node{{list: int32(x.lists.New()), splitAt: int32(c.Leaf) + 1}}
	return x
}

// Kind returns "tree".
func (x *Index) Kind() string { return Kind.Name }

// Nodes returns the number of nodes and the depth of the deepest leaf
// (1 for a tree that is one leaf).
func (x *Index) Nodes() (nodes, depth int) {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	var walk func(n int32, d int)
	walk = func(n int32, d int) {
		depth = max(depth, d)
		for _, c := range x.nodes[n].children {
			walk(c, d+1)
		}
	}
	walk(0, 1)
	return len(x.nodes), depth
}

// Adjusted reports checks that cannot bound a search because the tree is
// one leaf (it holds no more than leaf vectors, or vectors all alike,
// which k-means cannot split): every search measures them all
// (index.Adjuster).
func (x *Index) Adjusted(int) []index.Adjusted {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	n := x.base.S.Len()
	if len(x.nodes) != 1 || x.cfg.Checks <= 0 || x.cfg.Checks >= n {
		return nil
	}
	why := "the tree is one leaf (no more than leaf vectors)"
	if n > x.cfg.Leaf {
		why = fmt.Sprintf("the tree is one leaf (its %d vectors, more than leaf=%d, are too alike for k-means to split)", n, x.cfg.Leaf)
	}
	return []index.Adjusted{{Name: "checks", Given: strconv.Itoa(x.cfg.Checks), Used: strconv.Itoa(n),
		Why: why + ": every search measures them all"}}
}

// SetParam sets checks, the number of vectors a search measures (0: all).
func (x *Index) SetParam(name, value string) error {
	return x.base.SetSearchParam(Kind, name, value, "checks", 0, &x.cfg.Checks)
}

// remove takes slot i out of its leaf; the leaf stays, even when empty.
func (x *Index) remove(i uint32) { x.lists.Remove(i) }

// insert puts slot i into the leaf it descends to; a leaf it overfills is
// split.
func (x *Index) insert(i uint32) {
	v := x.base.S.Vec(i)
	rank := x.base.M.RankFunc()
	n := int32(0)
	for x.nodes[n].list < 0 {
		best, bestR := int32(-1), float32(math.Inf(1))
		for _, c := range x.nodes[n].children {
			if r := rank(v, x.nodes[c].centre); best < 0 || r < bestR {
				best, bestR = c, r
			}
		}
		n = best
	}
	l := int(x.nodes[n].list)
	x.lists.Add(l, i)
	if len(x.lists.L[l]) >= int(x.nodes[n].splitAt) {
		x.split(n)
	}
}

// split parts leaf n's vectors into up to branching clusters by k-means,
// each a new leaf under n; the first takes n's list. When all would fall
// into one cluster n stays a leaf until it has doubled.
func (x *Index) split(n int32) {
	s := &x.base.S
	dim, l := s.Dim(), int(x.nodes[n].list)
	slots := x.lists.L[l]
	rows := make([]float32, 0, len(slots)*dim)
	for _, i := range slots {
		rows = append(rows, s.Vec(i)...)
	}
	centres := kmeans.Train(rows, dim, x.cfg.Branching, x.cfg.Iters, x.base.M, x.rng)
	rank := x.base.M.RankFunc()
	groups := make([][]uint32, len(centres)/dim)
	for _, i := range slots {
		j, _ := kmeans.Nearest(centres, dim, s.Vec(i), rank)
		groups[j] = append(groups[j], i)
	}
	nonEmpty := 0
	for _, g := range groups {
		if len(g) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 2 {
		x.nodes[n].splitAt *= 2
		return
	}
	x.lists.Take(l)
	x.nodes[n].list = -1
	for j, g := range groups {
		if len(g) == 0 {
			continue
		}
		if l < 0 {
			l = x.lists.New()
		}
		for _, i := range g {
			x.lists.Add(l, i)
		}
		x.nodes[n].children = append(x.nodes[n].children, int32(len(x.nodes)))
		x.nodes = append(x.nodes, node{centre: centres[j*dim : (j+1)*dim : (j+1)*dim], list: int32(l), splitAt: int32(x.cfg.Leaf) + 1})
		l = -1
	}
}

// collect descends best-first from the root, offering r every vector of
// each leaf it reaches, until checks vectors are measured.
func (x *Index) collect(r *vecstore.Results) {
	q, rank := r.Query(), x.base.M.RankFunc()
	var frontier vecstore.Queue[int32]
	frontier.Push(0, 0)
	seen := 0
	for frontier.Len() > 0 && (x.cfg.Checks == 0 || seen < x.cfg.Checks) {
		_, n := frontier.Pop()
		for x.nodes[n].list < 0 {
			best, bestR := int32(-1), math.Inf(1)
			for _, c := range x.nodes[n].children {
				d := float64(rank(q, x.nodes[c].centre))
				if best < 0 || d < bestR {
					if best >= 0 {
						frontier.Push(bestR, best)
					}
					best, bestR = c, d
				} else {
					frontier.Push(d, c)
				}
			}
			n = best
		}
		for _, i := range x.lists.L[x.nodes[n].list] {
			r.Offer(i)
		}
		seen += len(x.lists.L[x.nodes[n].list])
	}
}

// Save writes the index (see index.Load). The body of kind "tree", version
// 1: branching, leaf, iters, checks (uint32 each) and seed (uint64); the
// vectors (vecstore.Store.Save); the number of nodes (uint32), then per
// node its list (uint32, 2³²−1 for an internal node), the size at which it
// next splits (uint32), the number of its children and their numbers
// (uint32 each), and its centre (dim float32, none for the root); then the
// leaves' lists (vecstore.Lists.Save).
func (x *Index) Save(w io.Writer) error {
	return x.base.Save(w, Kind.Name, kindVersion, x.saveConfig, x.saveNodes)
}

func (x *Index) saveConfig(e *index.Encoder) {
	for _, v := range []int{x.cfg.Branching, x.cfg.Leaf, x.cfg.Iters, x.cfg.Checks} {
		e.Uint32(uint32(v))
	}
	e.Uint64(x.cfg.Seed)
}

func (x *Index) saveNodes(e *index.Encoder) {
	e.Uint32(uint32(len(x.nodes)))
	for _, n := range x.nodes {
		e.Uint32(uint32(n.list))
		e.Uint32(uint32(n.splitAt))
		vecstore.SaveChildren(e, n.children)
		e.Float32s(n.centre)
	}
	x.lists.Save(e)
}

func load(h index.Header, d *index.Decoder) (index.Index, error) {
	if err := vecstore.CheckVersion(h, "tree", kindVersion); err != nil {
		return nil, err
	}
	c := Config{Branching: int(d.Uint32()), Leaf: int(d.Uint32()), Iters: int(d.Uint32()), Checks: int(d.Uint32()), Seed: d.Uint64()}
	x := New(h.Dim, h.Metric, c)
	if err := x.base.Load(d, h, x.loadNodes); err != nil {
		return nil, err
	}
	return x, x.check()
}

// loadNodes reads what saveNodes wrote: at most one node per slot and
// the root.
func (x *Index) loadNodes(d *index.Decoder) {
	dim, slots := x.base.S.Dim(), x.base.S.Slots()
	x.nodes = vecstore.LoadNodes(d, slots+1, slots, func(nd *node, j, n int) {
		nd.list, nd.splitAt = int32(d.Uint32()), int32(d.Uint32())
		nd.children = vecstore.LoadChildren(d, j, n)
		if j > 0 {
			nd.centre = d.Float32s(dim)
		}
	})
	x.lists = vecstore.LoadLists(d, &x.base.S)
}

// check returns an error wrapping index.ErrFormat unless the loaded nodes
// form a tree from the root whose leaves own every list once and whose
// lists hold every stored vector, with finite centres.
func (x *Index) check() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", index.ErrFormat, fmt.Sprintf(format, args...))
	}
	visited := make([]bool, len(x.nodes))
	owned := make([]bool, len(x.lists.L))
	stack := []int32{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n < 0 || int(n) >= len(x.nodes) || visited[n] {
			return fail("node %d is out of range or reached twice", n)
		}
		visited[n] = true
		nd := x.nodes[n]
		if n > 0 {
			if err := index.CheckVector(fmt.Sprint("centre of node ", n), nd.centre, index.Euclidean); err != nil {
				return fail("%v", err)
			}
		}
		switch {
		case nd.list >= 0 && (len(nd.children) > 0 || int(nd.list) >= len(owned) || owned[nd.list] || nd.splitAt < 1):
			return fail("leaf %d has children, a list out of range or owned twice, or splits at %d", n, nd.splitAt)
		case nd.list >= 0:
			owned[nd.list] = true
		case len(nd.children) == 0 || nd.list != -1:
			return fail("internal node %d has no children", n)
		}
		stack = append(stack, nd.children...)
	}
	if slices.Contains(visited, false) || slices.Contains(owned, false) {
		return fail("a node is not in the tree, or a list in no leaf")
	}
	return x.lists.Covers(&x.base.S)
}

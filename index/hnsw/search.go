package hnsw

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/index"
)

// item is a node and its rank from the node or query being placed.
type item struct {
	d  float32
	id uint32
}

// searcher is one goroutine's scratch space, pooled: the visited marks
// (visited[s] == gen marks slot s seen by the current search), the two
// queues of a layer search, and buffers for choosing neighbours.
type searcher struct {
	visited []uint16
	gen     uint16
	cand    []item    // min-heap: the candidates to expand, nearest first
	top     []item    // min-heap of negated ranks: the ef best found, farthest at the root
	sel     []item    // an inserted node's neighbours
	buf     []item    // candidates for a list being chosen again
	pick    []item    // what was chosen
	next    []uint32  // the neighbours of a node not seen yet (capacity: a list's)
	dists   []float32 // their ranks from the query (length: a list's capacity)
}

// getSearcher returns a searcher whose marks cover every slot; mu is held.
func (x *Index) getSearcher() *searcher {
	s, _ := x.pool.Get().(*searcher)
	if s == nil {
		s = &searcher{}
	}
	if len(s.visited) < len(x.keys) {
		s.visited, s.gen = make([]uint16, len(x.keys)), 0
	}
	if len(s.dists) < x.m0 {
		s.dists, s.next = make([]float32, x.m0), make([]uint32, 0, x.m0)
	}
	return s
}

// reset starts a new search's marks.
func (s *searcher) reset() {
	s.gen++
	if s.gen == 0 { // wrapped: old marks could equal the new generation
		clear(s.visited)
		s.gen = 1
	}
}

// seen marks slot id and reports whether it was marked already.
func (s *searcher) seen(id uint32) bool {
	if s.visited[id] == s.gen {
		return true
	}
	s.visited[id] = s.gen
	return false
}

// greedy walks layer l from cur (at rank d from q) to the nearest node it
// can reach by steps that each get nearer.
func (x *Index) greedy(s *searcher, q []float32, cur uint32, d float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		lst := x.list(cur, l)
		n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		next := s.next[:0]
		for i := 1; i <= n; i++ {
			next = append(next, atomic.LoadUint32(&lst[i]))
		}
		s.next = next
		dists := s.dists[:len(next)]
		x.ranks(q, x.vecs, x.stride, next, dists)
		for j, dn := range dists {
			if dn < d {
				cur, d, changed = next[j], dn, true
			}
		}
	}
	return cur, d
}

// searchLayer explores layer l best-first from ep (at rank d from q) and
// leaves in s.top up to ef nodes nearest to q (Algorithm 2 of the paper)
// among those accept allows; deleted nodes are never accepted. Every node
// reached is a candidate to expand, accepted or not, so deleted and
// filtered nodes still lead the search on.
func (x *Index) searchLayer(s *searcher, q []float32, ep uint32, d float32, ef, l int, accept index.Filter) {
	// The loop works on locals, not on s's and x's fields: the calls it
	// makes would have the compiler load those again each time, and every
	// store of a slice into s would pass the garbage collector's write
	// barrier. s takes the queues back at the end.
	s.reset()
	visited, gen, ranks, vecs, stride := s.visited, s.gen, x.ranks, x.vecs, x.stride
	cand, top, next, dists := s.cand[:0], s.top[:0], s.next[:0], s.dists
	defer func() { s.cand, s.top, s.next = cand, top, next }()
	visited[ep] = gen
	cand = pushMin(cand, item{d, ep})
	bound := float32(math.Inf(1)) // rank of the farthest in top once it is full
	// Without a filter or deleted nodes (mu keeps x.dead still), every node
	// is accepted: the usual search skips the check and its cache line.
	all := accept == nil && x.dead == 0
	small := (int(x.live.Load())+x.dead)*x.stride <= smallNodes
	if all || x.accepted(ep, accept) {
		top = pushMin(top, item{-d, ep})
		if ef == 1 {
			bound = d
		}
	}
	for len(cand) > 0 {
		var c item
		c, cand = popMin(cand)
		if c.d > bound {
			break
		}
		lst := x.list(c.id, l)
		n := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
		// The neighbours not seen yet, without a branch on the marks: a
		// mispredicted branch would wait for each mark's load in turn.
		next = next[:n]
		k := 0
		for i := 1; i <= n; i++ {
			nb := atomic.LoadUint32(&lst[i])
			seen := visited[nb] == gen
			visited[nb] = gen
			next[k] = nb
			if !seen {
				k++
			}
		}
		next = next[:k]
		// one call measures them all, each vector fetched while the one
		// before is measured
		ranks(q, vecs, stride, next, dists)
		for j, nb := range next {
			dn := dists[j]
			if dn >= bound {
				continue
			}
			cand = pushMin(cand, item{dn, nb})
			if !all && !x.accepted(nb, accept) {
				continue
			}
			if len(top) < ef {
				top = pushMin(top, item{-dn, nb})
			} else { // dn < bound: nb takes the farthest's place
				sink(top, item{-dn, nb})
			}
			if len(top) == ef {
				bound = -top[0].d
			}
		}
		// the list of the node to expand next is on its way while the
		// queue gives it up
		if len(cand) > 0 && l == 0 && !small {
			index.Prefetch(x.block(cand[0].id)[:1+x.m0])
		}
	}
}

// smallNodes is the size, in values, of the layer-0 blocks (lists and
// vectors) of the live and deleted nodes (not x.used, which Add changes
// under alloc, not under mu) up to which searches do not prefetch the
// list of the node they expand next: 64 KiB stays in a core's
// second-level cache from one search to the next, so that the prefetch
// call would cost more than the load it hides (4 % of a query on 108
// vectors of 4; no change measured on 432 of 64, 167 KiB, either way).
const smallNodes = 64 << 10 / 4

// nearest turns s.top, what a layer search kept (at negated ranks), into
// its nodes at their ranks, nearest first (in place) and returns it: the
// few items of a usual search by insertion, each negated as it is
// inserted (one pass, no call per comparison), more by slices.SortFunc.
func (s *searcher) nearest() []item {
	h := s.top
	if len(h) > 32 {
		for i := range h {
			h[i].d = -h[i].d
		}
		slices.SortFunc(h, cmpItem)
		return h
	}
	for i := range h {
		it, j := item{-h[i].d, h[i].id}, i
		for ; j > 0 && h[j-1].d > it.d; j-- {
			h[j] = h[j-1]
		}
		h[j] = it
	}
	return h
}

// accepted reports whether slot id may be in a search's result.
func (x *Index) accepted(id uint32, accept index.Filter) bool {
	return x.state[id] == live && (accept == nil || accept(x.keys[id], x.meta[id]))
}

// descend returns the node of layer l nearest to q that the greedy walk
// from the entry point down the layers above l finds, its rank, and the
// entry point's layer; ok is false for an empty graph.
func (x *Index) descend(s *searcher, q []float32, l int) (cur uint32, d float32, top int, ok bool) {
	e := x.entry.Load()
	if e == noEntry {
		return 0, 0, 0, false
	}
	cur, top = unpack(e)
	d = x.rank(q, x.vec(cur))
	for lc := top; lc > l; lc-- {
		cur, d = x.greedy(s, q, cur, d, lc)
	}
	return cur, d, top, true
}

// Search returns the k vectors nearest to q that filter accepts, as far as
// a search keeping max(ef, k) candidates finds them (see index.Index).
// Distances are the metric's float64 Distance.
func (x *Index) Search(q []float32, k int, filter index.Filter) []index.Hit {
	if k < 1 {
		return nil
	}
	return x.search(q, k, max(x.Ef(), k), filter)
}

// SearchBatch returns Search(q, k, filter) for each of queries
// (index.BatchSearcher): under one read lock, with one searcher, the hits
// of all queries in one array. A Delete, Compact or Save waits for the
// whole batch.
func (x *Index) SearchBatch(queries [][]float32, k int, filter index.Filter) [][]index.Hit {
	out := make([][]index.Hit, len(queries))
	if k < 1 || len(queries) == 0 {
		return out
	}
	ef := max(x.Ef(), k)
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.getSearcher()
	defer x.pool.Put(s)
	hits := make([]index.Hit, 0, len(queries)*min(k, int(x.live.Load())))
	for i, q := range queries {
		n := len(hits)
		hits = x.searchWith(s, q, k, ef, filter, hits)
		if len(hits) > n {
			out[i] = hits[n:len(hits):len(hits)]
		}
	}
	return out
}

// search returns the k best of the ef that a layer-0 search keeps.
func (x *Index) search(q []float32, k, ef int, filter index.Filter) []index.Hit {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.getSearcher()
	defer x.pool.Put(s)
	return x.searchWith(s, q, k, ef, filter, nil)
}

// searchWith appends to hits the k best of the ef that a layer-0 search
// with s keeps, sorted, and returns hits (unchanged for a query
// CheckQuery refuses or an empty graph); mu is held.
func (x *Index) searchWith(s *searcher, q []float32, k, ef int, filter index.Filter, hits []index.Hit) []index.Hit {
	if !index.CheckQuery(q, x.dim, x.metric) {
		return hits
	}
	ep, d, _, ok := x.descend(s, q, 0)
	if !ok {
		return hits
	}
	x.searchLayer(s, q, ep, d, ef, 0, filter)
	top := s.nearest()
	n := min(k, len(top))
	if hits == nil && n > 0 { // one Search: make is cheaper than growing nil
		hits = make([]index.Hit, 0, n)
	} else {
		hits = slices.Grow(hits, n)
	}
	from := len(hits)
	hits = hits[:from+n]
	keys, meta, dim, stride := x.keys, x.meta, x.dim, x.stride
	for i, it := range top[:n] {
		h, j := &hits[from+i], int(it.id)*stride
		h.Key, h.Distance, h.Meta = keys[it.id], x.dist(q, x.vecs[j:j+dim:j+dim]), meta[it.id]
	}
	index.SortHits(hits[from:])
	return hits
}

// Range returns the vectors within radius of q that filter accepts, as far
// as searches find them: it searches with ef, then 2ef, 4ef, ... as long as
// every node the search kept is within the radius.
func (x *Index) Range(q []float32, radius float64, filter index.Filter) []index.Hit {
	if !(radius >= 0) {
		return nil
	}
	for ef := x.Ef(); ; ef *= 2 {
		hits := x.search(q, ef, ef, filter)
		if len(hits) < ef || hits[len(hits)-1].Distance > radius || ef >= x.Len() {
			i, _ := slices.BinarySearchFunc(hits, radius, func(h index.Hit, r float64) int {
				if h.Distance <= r {
					return -1
				}
				return 1
			})
			return hits[:i]
		}
	}
}

func cmpItem(a, b item) int {
	switch {
	case a.d < b.d:
		return -1
	case a.d > b.d:
		return 1
	}
	return 0
}

// pushMin and popMin keep a binary min-heap of items, written out because
// container/heap's interface would box every item; a max-heap holds the
// items' negated ranks (searcher.top). They move the items on the way into
// a hole and write the item placed once, as C++'s std::push_heap and
// pop_heap do, rather than swapping at every level: the same comparisons,
// so the same heap, with half the stores and no store-load chain between
// levels.

func pushMin(h []item, it item) []item {
	h = append(h, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].d <= it.d {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = it
	return h
}

func popMin(h []item) (item, []item) {
	top, n := h[0], len(h)-1
	last := h[n]
	h = h[:n]
	if n > 0 {
		sink(h, last)
	}
	return top, h
}

// sink places it in the min-heap h (not empty) whose root is free: it
// moves the nearer child up as long as it is nearer than it.
func sink(h []item, it item) {
	n := len(h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].d < h[c].d {
			c++
		}
		if it.d <= h[c].d {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = it
}

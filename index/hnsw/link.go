package hnsw

import (
	"slices"
	"sync/atomic"
)

// insert links slot s, which holds a vector but no links, into the graph
// (Algorithm 1 of the paper); mu is held for reading.
func (x *Index) insert(s uint32) {
	q, level := x.vec(s), x.level(s)
	sr := x.getSearcher()
	defer x.pool.Put(sr)
	cur, d, top, _ := x.descend(sr, q, level)
	for l := min(level, top); l >= 0; l-- {
		x.searchLayer(sr, q, cur, d, x.efc, l, nil)
		// s itself is found when another insertion has linked to it
		cands := slices.DeleteFunc(sr.nearest(), func(it item) bool { return it.id == s })
		if len(cands) == 0 { // every node reached is deleted: keep to the walk
			continue
		}
		cur, d = cands[0].id, cands[0].d
		sr.sel = x.selectNeighbors(cands, x.m, sr.sel[:0])
		x.setOwn(sr, s, l)
		for _, nb := range sr.sel {
			x.addLink(sr, nb.id, s, nb.d, l)
		}
	}
	if level > top {
		x.entryMu.Lock()
		if _, t := unpack(x.entry.Load()); level > t {
			x.entry.Store(pack(s, level))
		}
		x.entryMu.Unlock()
	}
}

// setOwn makes sr.sel slot s's list on layer l. Other insertions may have
// linked to s already on this layer (they found it on the layer above):
// those links are kept, and the union chosen from again if it overflows;
// sr.sel is then what was chosen.
func (x *Index) setOwn(sr *searcher, s uint32, l int) {
	mu := &x.stripes[s%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	lst := x.list(s, l)
	if n := int(atomic.LoadUint32(&lst[0])); n > 0 {
		sr.buf = append(sr.buf[:0], sr.sel...)
		for i := 1; i <= n; i++ {
			id := atomic.LoadUint32(&lst[i])
			if !slices.ContainsFunc(sr.buf, func(it item) bool { return it.id == id }) {
				sr.buf = append(sr.buf, item{x.rank(x.vec(s), x.vec(id)), id})
			}
		}
		x.choose(sr, s, lst)
		sr.sel = append(sr.sel[:0], sr.pick...)
		return
	}
	store(lst, sr.sel)
}

// addLink adds id (at rank d from nb) to node nb's list on layer l; when
// the list is full, the heuristic chooses among its nodes and id.
func (x *Index) addLink(sr *searcher, nb, id uint32, d float32, l int) {
	mu := &x.stripes[nb%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	lst := x.list(nb, l)
	n := int(atomic.LoadUint32(&lst[0]))
	for i := 1; i <= n; i++ {
		if atomic.LoadUint32(&lst[i]) == id {
			return
		}
	}
	if n < len(lst)-1 {
		atomic.StoreUint32(&lst[n+1], id)
		atomic.StoreUint32(&lst[0], uint32(n+1))
		return
	}
	v := x.vec(nb)
	sr.buf = append(sr.buf[:0], item{d, id})
	for i := 1; i <= n; i++ {
		o := atomic.LoadUint32(&lst[i])
		sr.buf = append(sr.buf, item{x.rank(v, x.vec(o)), o})
	}
	x.choose(sr, nb, lst)
}

// choose sets list lst of node s to the heuristic's choice among sr.buf
// (items ranked from s), up to the list's capacity, and leaves the choice
// in sr.pick; s's stripe is locked.
func (x *Index) choose(sr *searcher, s uint32, lst []uint32) {
	slices.SortFunc(sr.buf, cmpItem)
	sr.pick = x.selectNeighbors(sr.buf, len(lst)-1, sr.pick[:0])
	store(lst, sr.pick)
}

// store writes ids into a list: the ids first, then the count, each with an
// atomic store, so that a reader sees valid ids whatever it catches.
func store(lst []uint32, sel []item) {
	for i, it := range sel {
		atomic.StoreUint32(&lst[i+1], it.id)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
}

// selectNeighbors is the paper's heuristic (Algorithm 4, without extending
// or keeping pruned candidates, as hnswlib): from cands, nearest first,
// keep a candidate when it is nearer to the base than to every candidate
// kept so far, up to m. This keeps links that point in different
// directions, which connects clusters. It appends to out.
func (x *Index) selectNeighbors(cands []item, m int, out []item) []item {
	if len(cands) <= m {
		return append(out, cands...)
	}
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		v := x.vec(c.id)
		good := true
		for _, r := range out {
			if x.rank(v, x.vec(r.id)) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

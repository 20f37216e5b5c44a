package hnsw

// Compact repairs every list that links to a deleted node and frees the
// deleted nodes' slots for new vectors. Delete runs it when the deleted
// nodes reach an eighth of the live ones; it takes time in proportion to
// the whole index.
func (x *Index) Compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.compact()
}

// maxDeadHops bounds how many deleted nodes one repair looks through.
const maxDeadHops = 64

// compact is Compact with mu held for writing.
func (x *Index) compact() {
	if x.dead == 0 {
		return
	}
	sr := x.getSearcher()
	defer x.pool.Put(sr)
	for s := range uint32(x.used) {
		if x.state[s] != live {
			continue
		}
		for l := range x.level(s) + 1 {
			x.repair(sr, s, l)
		}
	}
	for s := range uint32(x.used) {
		if x.state[s] == dead {
			x.state[s], x.upper[s] = free, nil
			x.nodes[int(s)*x.stride] = 0
			x.freed = append(x.freed, s)
		}
	}
	x.dead = 0
	if e := x.entry.Load(); e != noEntry {
		if s, _ := unpack(e); x.state[s] != live {
			x.entry.Store(x.highest())
		}
	}
	x.reconnect(sr)
}

// reconnect links every live node that a walk along layer 0 from the entry
// point does not reach (its links in came from deleted nodes, and the
// repaired lists chose others) into the list of the nearest reachable node
// with room, or, when all are full, of the nearest by the heuristic. mu is
// held for writing.
func (x *Index) reconnect(sr *searcher) {
	e := x.entry.Load()
	if e == noEntry {
		return
	}
	reached := make([]bool, x.used)
	ep, _ := unpack(e)
	x.reach(ep, reached)
	for s := range uint32(x.used) {
		if x.state[s] != live || reached[s] {
			continue
		}
		q := x.vec(s)
		cur, d, _, _ := x.descend(sr, q, 0)
		x.searchLayer(sr, q, cur, d, x.efc, 0, nil)
		cands := sr.nearest()
		to := cands[0]
		for _, c := range cands {
			if lst := x.list(c.id, 0); int(lst[0]) < len(lst)-1 {
				to = c
				break
			}
		}
		x.addLink(sr, to.id, s, to.d, 0)
		x.reach(s, reached)
	}
}

// reach marks in reached every node a walk along layer 0 from s reaches
// that is not marked already.
func (x *Index) reach(s uint32, reached []bool) {
	reached[s] = true
	stack := []uint32{s}
	for len(stack) > 0 {
		s, stack = stack[len(stack)-1], stack[:len(stack)-1]
		lst := x.list(s, 0)
		for _, id := range lst[1 : lst[0]+1] {
			if !reached[id] {
				reached[id] = true
				stack = append(stack, id)
			}
		}
	}
}

// repair chooses node s's list on layer l again when it links to a deleted
// node: among its live neighbours and the live nodes the deleted ones link
// to on that layer (through up to maxDeadHops deleted nodes), by the
// heuristic. mu is held for writing.
func (x *Index) repair(sr *searcher, s uint32, l int) {
	lst := x.list(s, l)
	ids := lst[1 : lst[0]+1]
	hasDead := false
	for _, id := range ids {
		hasDead = hasDead || x.state[id] != live
	}
	if !hasDead {
		return
	}
	sr.reset()
	sr.seen(s)
	v := x.vec(s)
	sr.buf, sr.cand = sr.buf[:0], sr.cand[:0] // cand: deleted nodes to look through
	visit := func(id uint32) {
		switch {
		case sr.seen(id):
		case x.state[id] == live:
			sr.buf = append(sr.buf, item{x.rank(v, x.vec(id)), id})
		case len(sr.cand) < maxDeadHops:
			sr.cand = append(sr.cand, item{id: id})
		}
	}
	for _, id := range ids {
		visit(id)
	}
	for i := 0; i < len(sr.cand); i++ {
		dl := x.list(sr.cand[i].id, l)
		for _, id := range dl[1 : dl[0]+1] {
			visit(id)
		}
	}
	x.choose(sr, s, lst)
}

// highest returns the entry point for the live nodes: one on the highest
// layer, or noEntry when none is live.
func (x *Index) highest() uint64 {
	e, top := uint64(noEntry), -1
	for s := range uint32(x.used) {
		if l := x.level(s); x.state[s] == live && l > top {
			e, top = pack(s, l), l
		}
	}
	return e
}

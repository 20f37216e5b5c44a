package slimtree

import (
	"math"

	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// visit is a node a search will enter, with the route distance from the
// query to its representative (NaN for the root).
type visit struct {
	n  int32
	dq float64
}

// collect offers r the vectors of every node a search cannot rule out, so
// that Search and Range give exactly index.Exact's answer: nodes nearest
// first (by the least distance their ball allows), until the
// nearest left is beyond r.Worst. An entry is ruled out without measuring
// it when the triangle inequality over its distance to its parent's
// representative puts it beyond r.Worst: |d(q, p) − d(e, p)| − radius(e)
// is a lower bound of the distance from q to anything in e's ball.
func (x *Index) collect(r *vecstore.Results) {
	q := r.Query()
	var front vecstore.Queue[visit]
	front.Push(0, visit{0, math.NaN()})
	computed := int64(0)
	for front.Len() > 0 {
		lb, v := front.Pop()
		if lb > x.toRoute(r.Worst()) {
			break
		}
		nd := &x.nodes[v.n]
		if nd.leaf {
			for _, i := range x.leaves.L[v.n] {
				if !r.Accepts(i) || math.Abs(v.dq-x.dRep[i]) > x.toRoute(r.Worst()) {
					continue // NaN at the root: nothing ruled out
				}
				computed++
				r.Offer(i)
			}
			continue
		}
		for _, c := range nd.children {
			cn := &x.nodes[c]
			if math.Abs(v.dq-cn.dParent)-cn.radius > x.toRoute(r.Worst()) {
				continue
			}
			computed++
			dc := x.route(q, cn.rep)
			if lb := max(dc-cn.radius, 0); lb <= x.toRoute(r.Worst()) {
				front.Push(lb, visit{c, dc})
			}
		}
	}
	x.distances.Add(computed)
}

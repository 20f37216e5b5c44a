package spatial

import (
	"fmt"
	"strconv"
)

// QueryObject is an object a query asks for: a name the query's relations
// use, and the class an image's object must have to stand for it.
type QueryObject struct {
	Name  string `json:"name"`
	Class string `json:"class"`
}

// QueryTriple is a relation a query asks for between two of its objects,
// A Rel B, on one axis. Rel may be any of the thirteen relations.
type QueryTriple struct {
	A   string   `json:"a"`
	Rel Relation `json:"rel"`
	B   string   `json:"b"`
}

// Query is a query on virtual images, (F, G, Rel, t) in Petraglia et al.
// (2001): mandatory objects F, optional objects G, the relations wanted
// between them on each axis, and a threshold t on the similarity degree.
type Query struct {
	Mandatory []QueryObject `json:"mandatory"`
	Optional  []QueryObject `json:"optional"`
	// Relations[k] are the relations wanted on axis k (x, y, z); a query
	// may leave out the last axes (an x-y query on volumes).
	Relations [][]QueryTriple `json:"relations"`
	Threshold float64         `json:"threshold"`
}

// Match is a query's outcome on one virtual image.
type Match struct {
	// Sim is the similarity degree SIM_deg(Q, vi), in [0, 1].
	Sim float64 `json:"sim"`
	// Retrieved says the image answers the query: every mandatory object
	// is in it and Sim ≥ Threshold.
	Retrieved bool `json:"retrieved"`
	// Assignment maps each query object to the label of the image's object
	// that stands for it in the best match; unmatched objects are absent.
	Assignment map[string]int32 `json:"assignment,omitempty"`
}

// QueryFrom returns the query that asks for vi itself (query by example):
// each object of vi, named by its label in decimal, mandatory unless its
// label is among optional, and every relation of vi on every axis, with
// threshold t. Errors wrap ErrInput: an optional label not in vi, a bad t.
func QueryFrom(vi *VirtualImage, t float64, optional ...int32) (*Query, error) {
	if err := vi.Validate(); err != nil {
		return nil, err
	}
	isOptional := map[int32]bool{}
	for _, l := range optional {
		if _, ok := vi.index(l); !ok {
			return nil, fmt.Errorf("%w: optional object %d is not in the virtual image", ErrInput, l)
		}
		isOptional[l] = true
	}
	name := func(l int32) string { return strconv.FormatInt(int64(l), 10) }
	q := &Query{Threshold: t, Relations: make([][]QueryTriple, vi.Axes)}
	for _, o := range vi.Objects {
		qo := QueryObject{Name: name(o.Label), Class: o.Class}
		if isOptional[o.Label] {
			q.Optional = append(q.Optional, qo)
		} else {
			q.Mandatory = append(q.Mandatory, qo)
		}
	}
	for k, ts := range vi.Relations {
		for _, tr := range ts {
			q.Relations[k] = append(q.Relations[k], QueryTriple{A: name(tr.A), Rel: tr.Rel, B: name(tr.B)})
		}
	}
	return q, q.Validate()
}

// Validate reports a query Eval cannot answer: no objects, an object with
// no name or class, a name given twice, relations on more than 3 axes, a
// relation naming an unknown object or an object and itself, two relations
// of one pair on one axis, or a threshold outside [0, 1]. Errors wrap
// ErrInput.
func (q *Query) Validate() error {
	if len(q.Mandatory)+len(q.Optional) == 0 {
		return fmt.Errorf("%w: query has no objects", ErrInput)
	}
	known := map[string]bool{}
	for _, o := range append(q.Mandatory[:len(q.Mandatory):len(q.Mandatory)], q.Optional...) {
		switch {
		case o.Name == "" || o.Class == "":
			return fmt.Errorf("%w: query object %q of class %q, want both", ErrInput, o.Name, o.Class)
		case known[o.Name]:
			return fmt.Errorf("%w: query object %q given twice", ErrInput, o.Name)
		}
		known[o.Name] = true
	}
	if len(q.Relations) > 3 {
		return fmt.Errorf("%w: query has relations on %d axes, want at most 3", ErrInput, len(q.Relations))
	}
	for k, ts := range q.Relations {
		pairs := map[[2]string]bool{}
		for _, t := range ts {
			switch {
			case !known[t.A] || !known[t.B]:
				return fmt.Errorf("%w: %s relation %q %v %q names an object the query does not have", ErrInput, axisNames[k], t.A, t.Rel, t.B)
			case t.A == t.B:
				return fmt.Errorf("%w: %s relation of %q with itself", ErrInput, axisNames[k], t.A)
			case t.Rel >= Relations:
				return fmt.Errorf("%w: %s relation of %q and %q is %v", ErrInput, axisNames[k], t.A, t.B, t.Rel)
			case pairs[[2]string{t.A, t.B}] || pairs[[2]string{t.B, t.A}]:
				return fmt.Errorf("%w: %s relation of %q and %q given twice", ErrInput, axisNames[k], t.A, t.B)
			}
			pairs[[2]string{t.A, t.B}] = true
		}
	}
	if !(q.Threshold >= 0 && q.Threshold <= 1) {
		return fmt.Errorf("%w: threshold %g, want 0 to 1", ErrInput, q.Threshold)
	}
	return nil
}

// maxNodes bounds the assignments Eval tries: about a second's work.
const maxNodes = 1 << 22

// Eval returns the similarity degree of virtual image vi to the query and
// whether vi answers it.
//
// An image's object stands for a query object of the same class, each for
// at most one. Of all such assignments that give every mandatory object
// one, Eval takes the one of greatest
//
//	SIM_deg(Q, vi) = ( |F| + |G'| + Σ_k Σ_{(A r B) ∈ Rel_k, A, B matched} Similarity(r, r_vi) )
//	                 / ( |F| + |G| + Σ_k |Rel_k| )
//
// where G' are the optional objects matched and r_vi the relation of the
// objects standing for A and B on axis k in vi. Each object found counts 1,
// each relation found counts its Similarity, and what is not found counts
// 0, so SIM_deg lies in [0, 1]: 1 when vi has every object and relation
// asked for, 0 when a mandatory object is missing. Petraglia et al. (2001)
// define SIM_deg this way for images holding each class once; here an image
// may hold several objects of a class (bones, vessels), and the best
// assignment is found by branch and bound. Ties go to the assignment that
// uses lower labels first.
//
// Errors wrap ErrInput: a query or virtual image Validate refuses, a query
// on more axes than vi has, or a query too ambiguous to search (more than
// maxNodes partial assignments).
func (q *Query) Eval(vi *VirtualImage) (Match, error) {
	if err := q.Validate(); err != nil {
		return Match{}, err
	}
	if err := vi.Validate(); err != nil {
		return Match{}, err
	}
	if len(q.Relations) > vi.Axes {
		return Match{}, fmt.Errorf("%w: query has relations on %d axes, the virtual image %d", ErrInput, len(q.Relations), vi.Axes)
	}
	s := newSearch(q, vi)
	if err := s.visit(0, 0); err != nil {
		return Match{}, err
	}
	if s.best < 0 { // a mandatory object has no match
		return Match{}, nil
	}
	m := Match{Sim: s.best / float64(len(s.objects)+s.relations), Assignment: map[string]int32{}}
	m.Retrieved = m.Sim >= q.Threshold
	for k, x := range s.bestAssign {
		if x >= 0 {
			m.Assignment[s.objects[k].Name] = vi.Objects[x].Label
		}
	}
	return m, nil
}

// search is the branch and bound over assignments of query objects (in
// order: mandatory, then optional) to image objects.
type search struct {
	objects    []QueryObject
	mandatory  int
	candidates [][]int      // image objects of each query object's class
	wanted     [][]wanted   // relations of each query object with earlier ones
	remaining  []int        // remaining[k]: relations decided at object k or later
	relations  int          // relations in the query
	image      [][]Relation // image[axis][x·n + y]: relation of image object x to y
	n          int

	assign, bestAssign []int // image object of each query object, or -1
	used               []bool
	best               float64
	nodes              int
}

// wanted is a relation of a query object with an earlier one.
type wanted struct {
	other, axis int
	rel         Relation // of the later object to the earlier
}

func newSearch(q *Query, vi *VirtualImage) *search {
	objects := append(q.Mandatory[:len(q.Mandatory):len(q.Mandatory)], q.Optional...)
	n := len(vi.Objects)
	s := &search{objects: objects, mandatory: len(q.Mandatory), n: n, best: -1,
		candidates: make([][]int, len(objects)), wanted: make([][]wanted, len(objects)),
		remaining: make([]int, len(objects)+1), assign: make([]int, len(objects)),
		bestAssign: make([]int, len(objects)), used: make([]bool, n)}
	index := map[string]int{}
	for k, o := range objects {
		index[o.Name] = k
		s.assign[k], s.bestAssign[k] = -1, -1
		for x := range vi.Objects {
			if vi.Objects[x].Class == o.Class {
				s.candidates[k] = append(s.candidates[k], x)
			}
		}
	}
	for axis, ts := range q.Relations {
		for _, t := range ts {
			a, b, r := index[t.A], index[t.B], t.Rel
			if a < b {
				a, b, r = b, a, r.Inverse()
			}
			s.wanted[a] = append(s.wanted[a], wanted{other: b, axis: axis, rel: r})
			s.remaining[a]++
			s.relations++
		}
	}
	for k := len(objects) - 1; k >= 0; k-- {
		s.remaining[k] += s.remaining[k+1]
	}
	s.image = make([][]Relation, len(q.Relations))
	for axis := range s.image {
		s.image[axis] = make([]Relation, n*n)
		for x := range n {
			for y := range n {
				if x != y {
					s.image[axis][x*n+y], _ = vi.Relation(axis, vi.Objects[x].Label, vi.Objects[y].Label)
				}
			}
		}
	}
	return s
}

// visit extends an assignment of the first k query objects, of score
// score, in every way that could beat the best so far.
func (s *search) visit(k int, score float64) error {
	if s.nodes++; s.nodes > maxNodes {
		return fmt.Errorf("%w: more than %d partial assignments of %d query objects to %d image objects; ask for fewer objects of a class",
			ErrInput, maxNodes, len(s.objects), s.n)
	}
	if k == len(s.objects) {
		if score > s.best {
			s.best = score
			copy(s.bestAssign, s.assign)
		}
		return nil
	}
	// At most 1 per object and per relation still to be decided.
	if score+float64(len(s.objects)-k+s.remaining[k]) <= s.best {
		return nil
	}
	for _, x := range s.candidates[k] {
		if s.used[x] {
			continue
		}
		gain := 1.0
		for _, w := range s.wanted[k] {
			if y := s.assign[w.other]; y >= 0 {
				gain += Similarity(w.rel, s.image[w.axis][x*s.n+y])
			}
		}
		s.used[x], s.assign[k] = true, x
		err := s.visit(k+1, score+gain)
		s.used[x], s.assign[k] = false, -1
		if err != nil {
			return err
		}
	}
	if k >= s.mandatory { // an optional object may stay unmatched
		return s.visit(k+1, score)
	}
	return nil
}

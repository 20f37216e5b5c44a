// Package spatial indexes virtual images (features/spatial: Petraglia,
// Sebillo, Tucci and Tortora 2001) so that a query (F, G, Rel, t) is
// evaluated only on the images that could reach its threshold t.
//
// The index keeps inverted lists: per object class, the images holding it
// and how many times; per (class, class, axis, relation) triple, the
// images in which an object of the first class stands in that relation to
// one of the second (every pair of objects, in both orders). A query's
// relations are expanded to the operators similar to them (Similarity > 0,
// the neighbours within three steps in the interval neighbourhood graph),
// and the triples' lists give each candidate image an upper bound of its
// SIM_deg: its mandatory objects, the optional ones its classes could
// match, and for each relation asked for the best similarity any pair of
// objects of those classes offers. Only images holding every mandatory
// object and whose bound reaches t are evaluated (spatial.Query.Eval), so
// the answer is exactly that of evaluating every image, ranked by SIM_deg.
package spatial

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	sp "github.com/ctrecon/ctrecon/features/spatial"
)

// Hit is an image that answers a query.
type Hit struct {
	Key   string
	Match sp.Match
}

// Stats say how much of the index a search looked at.
type Stats struct {
	// Images is the number of images the query applies to (those with
	// as many axes as its relations).
	Images int
	// Candidates hold every mandatory object's class as often as the
	// query asks for it.
	Candidates int
	// Evaluated are the candidates whose bound reached the threshold:
	// the images Eval ran on.
	Evaluated int
}

// triple is an inverted list's key: an object of class A in relation Rel
// to one of class B on an axis.
type triple struct {
	a, b string
	axis int
	rel  sp.Relation
}

// Index is an index of virtual images under string keys. It is safe for
// concurrent use: searches run in parallel and wait for changes.
type Index struct {
	mu      sync.RWMutex
	images  map[string]*sp.VirtualImage
	classes map[string]map[string]int // class → key → objects of the class
	triples map[triple]map[string]bool
}

// New returns an empty index.
func New() *Index {
	return &Index{images: map[string]*sp.VirtualImage{}, classes: map[string]map[string]int{}, triples: map[triple]map[string]bool{}}
}

// Len returns the number of images.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.images)
}

// Add indexes vi under key, replacing what the key held. An empty key or
// a virtual image that vi.Validate refuses is an error naming the key;
// the index is then unchanged. The index keeps vi: the caller must not
// change it afterwards.
func (x *Index) Add(key string, vi *sp.VirtualImage) error {
	if key == "" {
		return fmt.Errorf("spatial index: empty key")
	}
	if err := vi.Validate(); err != nil {
		return fmt.Errorf("spatial index: image %q: %w", key, err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(key)
	x.images[key] = vi
	for _, o := range vi.Objects {
		post(x.classes, o.Class)[key]++
	}
	for _, t := range triplesOf(vi) {
		post(x.triples, t)[key] = true
	}
	return nil
}

// post returns the list of m under k, made if missing.
func post[K comparable, V any](m map[K]map[string]V, k K) map[string]V {
	l, ok := m[k]
	if !ok {
		l = map[string]V{}
		m[k] = l
	}
	return l
}

// triplesOf returns the triples of every pair of vi's objects on every
// axis, in both orders.
func triplesOf(vi *sp.VirtualImage) []triple {
	var out []triple
	for k := range vi.Axes {
		for i, a := range vi.Objects {
			for _, b := range vi.Objects[i+1:] {
				r, _ := vi.Relation(k, a.Label, b.Label)
				out = append(out, triple{a.Class, b.Class, k, r}, triple{b.Class, a.Class, k, r.Inverse()})
			}
		}
	}
	return out
}

// Delete removes key and reports whether it was there.
func (x *Index) Delete(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.remove(key)
}

func (x *Index) remove(key string) bool {
	vi, ok := x.images[key]
	if !ok {
		return false
	}
	delete(x.images, key)
	for _, o := range vi.Objects {
		unpost(x.classes, o.Class, key)
	}
	for _, t := range triplesOf(vi) {
		unpost(x.triples, t, key)
	}
	return true
}

// unpost takes key out of m's list under k, dropping a list left empty.
func unpost[K comparable, V any](m map[K]map[string]V, k K, key string) {
	if l, ok := m[k]; ok {
		delete(l, key)
		if len(l) == 0 {
			delete(m, k)
		}
	}
}

// Search returns the images that answer q (every mandatory object found,
// SIM_deg at least q.Threshold), by SIM_deg, highest first, equal ones by
// key: what evaluating q on every image with as many axes as q's
// relations gives. Images with fewer axes are left out. Errors are q's
// (Validate) or Eval's on an image, naming the image.
func (x *Index) Search(q *sp.Query) ([]Hit, Stats, error) {
	if err := q.Validate(); err != nil {
		return nil, Stats{}, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	b := newBounder(q)
	var hits []Hit
	var st Stats
	for _, key := range x.candidates(q) {
		vi := x.images[key]
		if vi.Axes < len(q.Relations) {
			continue
		}
		st.Candidates++
		if b.bound(x, key) < q.Threshold-1e-9 {
			continue
		}
		st.Evaluated++
		m, err := q.Eval(vi)
		if err != nil {
			return nil, st, fmt.Errorf("spatial index: image %q: %w", key, err)
		}
		if m.Retrieved {
			hits = append(hits, Hit{key, m})
		}
	}
	for _, vi := range x.images {
		if vi.Axes >= len(q.Relations) {
			st.Images++
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.Match.Sim > b.Match.Sim:
			return -1
		case a.Match.Sim < b.Match.Sim:
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return hits, st, nil
}

// candidates returns the keys of the images holding each class of q's
// mandatory objects as often as q does, sorted; every image when q has
// none.
func (x *Index) candidates(q *sp.Query) []string {
	need := map[string]int{}
	for _, o := range q.Mandatory {
		need[o.Class]++
	}
	if len(need) == 0 {
		return slices.Sorted(maps.Keys(x.images))
	}
	// Start from the class held by the fewest images.
	classes := slices.SortedFunc(maps.Keys(need), func(a, b string) int { return len(x.classes[a]) - len(x.classes[b]) })
	var keys []string
	for key, n := range x.classes[classes[0]] {
		ok := n >= need[classes[0]]
		for _, c := range classes[1:] {
			ok = ok && x.classes[c][key] >= need[c]
		}
		if ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// bounder computes upper bounds of a query's SIM_deg from the inverted
// lists.
type bounder struct {
	q        *sp.Query
	need     map[string]int // mandatory objects per class
	optional map[string]int // optional objects per class
	rels     []expanded
	denom    float64
}

// expanded is a relation a query asks for with the operators similar to
// it, most similar first.
type expanded struct {
	a, b    string // classes
	axis    int
	similar []similar
}

type similar struct {
	rel sp.Relation
	sim float64
}

func newBounder(q *sp.Query) *bounder {
	b := &bounder{q: q, need: map[string]int{}, optional: map[string]int{}}
	class := map[string]string{}
	for _, o := range q.Mandatory {
		b.need[o.Class]++
		class[o.Name] = o.Class
	}
	for _, o := range q.Optional {
		b.optional[o.Class]++
		class[o.Name] = o.Class
	}
	b.denom = float64(len(q.Mandatory) + len(q.Optional))
	for axis, ts := range q.Relations {
		for _, t := range ts {
			e := expanded{a: class[t.A], b: class[t.B], axis: axis}
			for r := range sp.Relation(sp.Relations) {
				// Eval may compare the pair in either order.
				if s := max(sp.Similarity(t.Rel, r), sp.Similarity(t.Rel.Inverse(), r.Inverse())); s > 0 {
					e.similar = append(e.similar, similar{r, s})
				}
			}
			slices.SortStableFunc(e.similar, func(x, y similar) int {
				switch {
				case x.sim > y.sim:
					return -1
				case x.sim < y.sim:
					return 1
				}
				return 0
			})
			b.rels = append(b.rels, e)
			b.denom++
		}
	}
	return b
}

// bound returns an upper bound of the SIM_deg of image key, a candidate
// (it holds every mandatory object): the mandatory objects, the optional
// ones its objects of each class left over could match, and for each
// relation the best similarity of any pair of objects of its classes.
func (b *bounder) bound(x *Index, key string) float64 {
	score := float64(len(b.q.Mandatory))
	for c, n := range b.optional {
		score += float64(min(n, max(x.classes[c][key]-b.need[c], 0)))
	}
	for _, e := range b.rels {
		for _, s := range e.similar {
			if x.triples[triple{e.a, e.b, e.axis, s.rel}][key] {
				score += s.sim
				break
			}
		}
	}
	return score / b.denom
}

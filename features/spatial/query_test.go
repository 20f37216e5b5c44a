package spatial

import (
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func exampleImage(t *testing.T, objs []Object) *VirtualImage {
	t.Helper()
	vi, err := Slice(objs, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	return vi
}

// TestSimDegHandComputed evaluates a query on the example image O whose
// similarity degree was worked out by hand:
//
//	F = {a: A, b: B}, G = {c: C, e: E}, t = 0.5
//	x: a | b   O has A | B:            similarity 1
//	x: a < c   O has A % C, 4 steps:   0
//	y: a = b   O has B [ A, 1 step:    0.75
//	y: c < e   no E in O:              0
//
// SIM_deg = (|F| + |{c}| + 1 + 0 + 0.75 + 0) / (|F| + |G| + 4) = 4.75/8.
func TestSimDegHandComputed(t *testing.T) {
	vi := exampleImage(t, exampleO)
	q := &Query{
		Mandatory: []QueryObject{{"a", "A"}, {"b", "B"}},
		Optional:  []QueryObject{{"c", "C"}, {"e", "E"}},
		Relations: [][]QueryTriple{
			{{"a", Meets, "b"}, {"a", Before, "c"}},
			{{"a", Equals, "b"}, {"c", Before, "e"}},
		},
		Threshold: 0.5,
	}
	m, err := q.Eval(vi)
	if err != nil {
		t.Fatal(err)
	}
	wantAssign := map[string]int32{"a": 1, "b": 2, "c": 3}
	if m.Sim != 4.75/8 || !m.Retrieved || !maps.Equal(m.Assignment, wantAssign) {
		t.Errorf("got %+v, want sim %g retrieved with %v", m, 4.75/8, wantAssign)
	}
	q.Threshold = 0.6
	if m, _ := q.Eval(vi); m.Retrieved {
		t.Errorf("threshold 0.6: retrieved at %g", m.Sim)
	}
	// The same relations asked with the operands swapped: the same degree.
	q.Relations = [][]QueryTriple{
		{{"b", MetBy, "a"}, {"c", After, "a"}},
		{{"b", Equals, "a"}, {"e", After, "c"}},
	}
	if m, _ := q.Eval(vi); m.Sim != 4.75/8 {
		t.Errorf("operands swapped: sim %g", m.Sim)
	}
}

// TestSimDegBounds: an image answers the query made from it with 1, and
// one without a mandatory object with 0 whatever the threshold; an image
// missing an optional object loses that object and its relations.
func TestSimDegBounds(t *testing.T) {
	vi := exampleImage(t, exampleO)
	self, err := QueryFrom(vi, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := self.Eval(vi); err != nil || m.Sim != 1 || !m.Retrieved || len(m.Assignment) != 4 {
		t.Errorf("the image's own query: %+v, %v", m, err)
	}

	noC := exampleImage(t, []Object{exampleO[0], exampleO[1], exampleO[3]})
	if m, _ := self.Eval(noC); m.Sim != 0 || m.Retrieved || m.Assignment != nil {
		t.Errorf("mandatory C missing: %+v, want 0 and not retrieved", m)
	}
	self.Threshold = 0
	if m, _ := self.Eval(noC); m.Retrieved {
		t.Errorf("mandatory C missing, threshold 0: retrieved")
	}

	// C optional: A, B and D found (3), 3 of 6 relations on each axis
	// found with similarity 1, C's 3 per axis missing: (3 + 6) / (4 + 12).
	optC, err := QueryFrom(vi, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := optC.Eval(noC); m.Sim != 9.0/16 || !m.Retrieved {
		t.Errorf("optional C missing: %+v, want 9/16", m)
	}
}

// TestSimDegInstances: with two objects of class C, the one whose relations
// fit stands for the query's C, though the other has the lower label.
func TestSimDegInstances(t *testing.T) {
	decoy := Object{Label: 3, Class: "C", Min: [3]float64{10, 10, 0}, Max: [3]float64{12, 12, 1}}
	fits := exampleO[2]
	fits.Label = 5
	q, err := QueryFrom(exampleImage(t, exampleO), 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := q.Eval(exampleImage(t, []Object{exampleO[0], exampleO[1], decoy, exampleO[3], fits}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Sim != 1 || m.Assignment["3"] != 5 {
		t.Errorf("got %+v, want sim 1 with the query's 3 matched to label 5", m)
	}
}

// TestSimDegRandom compares Eval with a plain enumeration of every
// assignment on random images and queries, and checks the bounds.
func TestSimDegRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	classes := []string{"a", "b", "c", "d"}
	for range 500 {
		var objs []Object
		for l := range rng.IntN(7) {
			o := Object{Label: int32(l + 1), Class: classes[rng.IntN(3)]}
			for k := range 2 {
				o.Min[k] = float64(rng.IntN(5))
				o.Max[k] = o.Min[k] + float64(1+rng.IntN(4))
			}
			objs = append(objs, o)
		}
		vi := exampleImage(t, objs)
		q := randomQuery(rng, classes)
		m, err := q.Eval(vi)
		if err != nil {
			t.Fatal(err)
		}
		want, found := bruteSimDeg(q, vi)
		if math.Abs(m.Sim-want) > 1e-12 || m.Retrieved != (found && want >= q.Threshold) {
			t.Fatalf("query %+v on %+v: %+v, enumeration %g (mandatory found %v)", q, objs, m, want, found)
		}
		if !(m.Sim >= 0 && m.Sim <= 1) {
			t.Fatalf("SIM_deg %g", m.Sim)
		}
		if found && scoreOf(q, vi, m.Assignment) != want {
			t.Fatalf("the assignment %v scores %g, not the best %g", m.Assignment, scoreOf(q, vi, m.Assignment), want)
		}
	}
}

func randomQuery(rng *rand.Rand, classes []string) *Query {
	q := &Query{Threshold: rng.Float64(), Relations: make([][]QueryTriple, 1+rng.IntN(2))}
	var names []string
	for i := range 1 + rng.IntN(4) {
		o := QueryObject{Name: string(rune('p' + i)), Class: classes[rng.IntN(len(classes))]}
		if rng.IntN(2) == 0 {
			q.Mandatory = append(q.Mandatory, o)
		} else {
			q.Optional = append(q.Optional, o)
		}
		names = append(names, o.Name)
	}
	for k := range q.Relations {
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				if rng.IntN(3) > 0 {
					q.Relations[k] = append(q.Relations[k], QueryTriple{A: names[i], Rel: Relation(rng.IntN(Relations)), B: names[j]})
				}
			}
		}
	}
	return q
}

// bruteSimDeg tries every injective, class-preserving assignment and
// returns the best SIM_deg and whether any gave every mandatory object a
// match.
func bruteSimDeg(q *Query, vi *VirtualImage) (float64, bool) {
	all := append(append([]QueryObject{}, q.Mandatory...), q.Optional...)
	best, found := 0.0, false
	assign := map[string]int32{}
	used := map[int32]bool{}
	var try func(k int)
	try = func(k int) {
		if k == len(all) {
			for _, o := range q.Mandatory {
				if _, ok := assign[o.Name]; !ok {
					return
				}
			}
			found = true
			best = math.Max(best, scoreOf(q, vi, assign))
			return
		}
		try(k + 1) // unmatched (refused above if mandatory)
		for _, o := range vi.Objects {
			if o.Class == all[k].Class && !used[o.Label] {
				assign[all[k].Name], used[o.Label] = o.Label, true
				try(k + 1)
				delete(assign, all[k].Name)
				used[o.Label] = false
			}
		}
	}
	try(0)
	return best, found
}

// scoreOf is the documented formula for one assignment.
func scoreOf(q *Query, vi *VirtualImage, assign map[string]int32) float64 {
	num := float64(len(assign))
	den := float64(len(q.Mandatory) + len(q.Optional))
	for k, ts := range q.Relations {
		den += float64(len(ts))
		for _, t := range ts {
			a, okA := assign[t.A]
			b, okB := assign[t.B]
			if okA && okB {
				r, _ := vi.Relation(k, a, b)
				num += Similarity(t.Rel, r)
			}
		}
	}
	return num / den
}

func TestQueryErrors(t *testing.T) {
	vi := exampleImage(t, exampleO)
	good := func() *Query {
		return &Query{Mandatory: []QueryObject{{"a", "A"}}, Optional: []QueryObject{{"b", "B"}},
			Relations: [][]QueryTriple{{{"a", Before, "b"}}}, Threshold: 0.5}
	}
	for _, c := range []struct {
		name   string
		tamper func(q *Query)
		says   string
	}{
		{"no objects", func(q *Query) { q.Mandatory, q.Optional = nil, nil }, "no objects"},
		{"no class", func(q *Query) { q.Optional[0].Class = "" }, `"b" of class ""`},
		{"twice", func(q *Query) { q.Optional[0].Name = "a" }, `"a" given twice`},
		{"unknown", func(q *Query) { q.Relations[0][0].B = "z" }, "does not have"},
		{"itself", func(q *Query) { q.Relations[0][0].B = "a" }, `"a" with itself`},
		{"bad relation", func(q *Query) { q.Relations[0][0].Rel = 13 }, "Relation(13)"},
		{"pair twice", func(q *Query) { q.Relations[0] = append(q.Relations[0], QueryTriple{"b", After, "a"}) }, "given twice"},
		{"4 axes", func(q *Query) { q.Relations = make([][]QueryTriple, 4) }, "4 axes"},
		{"axes of the image", func(q *Query) { q.Relations = make([][]QueryTriple, 3) }, "3 axes, the virtual image 2"},
		{"threshold", func(q *Query) { q.Threshold = 1.5 }, "threshold 1.5"},
		{"threshold NaN", func(q *Query) { q.Threshold = math.NaN() }, "threshold NaN"},
	} {
		q := good()
		c.tamper(q)
		if _, err := q.Eval(vi); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInput saying %q", c.name, err, c.says)
		}
	}
	if _, err := QueryFrom(vi, 0.5, 9); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "optional object 9") {
		t.Errorf("optional label not in the image: err = %v", err)
	}
}

// TestSimDegTooAmbiguous: eight query objects of one class, chained by
// relations no image pair has, over twenty identical objects of that class
// leave the bound nothing to prune; Eval gives up with an error instead of
// running for hours.
func TestSimDegTooAmbiguous(t *testing.T) {
	var objs []Object
	for l := range 20 {
		objs = append(objs, Object{Label: int32(l + 1), Class: "x", Max: [3]float64{1, 1, 1}})
	}
	vi := exampleImage(t, objs)
	q := &Query{Relations: [][]QueryTriple{nil}}
	for i := range 8 {
		q.Mandatory = append(q.Mandatory, QueryObject{Name: string(rune('a' + i)), Class: "x"})
		if i > 0 {
			q.Relations[0] = append(q.Relations[0], QueryTriple{string(rune('a' + i - 1)), Before, string(rune('a' + i))})
		}
	}
	if _, err := q.Eval(vi); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "partial assignments") {
		t.Errorf("err = %v, want the search refused", err)
	}
}

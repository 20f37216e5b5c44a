package spatial

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	sp "github.com/ctrecon/ctrecon/features/spatial"
)

var classes = []string{"bone", "iodine", "gadolinium", "lipid", "calcium", "water"}

// randomImage returns the virtual image of 3 to 7 objects of random
// classes with boxes on a 10 mm grid, so that extents touch and align
// often; axes is 2 (a slice) or 3 (a volume).
func randomImage(t testing.TB, rng *rand.Rand, axes int) *sp.VirtualImage {
	var objects []sp.Object
	for l := range 3 + rng.IntN(5) {
		o := sp.Object{Label: int32(l + 1), Class: classes[rng.IntN(len(classes))]}
		for k := range axes {
			lo := float64(rng.IntN(8)) * 10
			o.Min[k], o.Max[k] = lo, lo+float64(1+rng.IntN(4))*10
		}
		objects = append(objects, o)
	}
	build := sp.Volume
	if axes == 2 {
		build = sp.Slice
	}
	vi, err := build(objects, sp.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	return vi
}

// randomQuery returns the query by example of a random image with some of
// its objects optional, some relations dropped or changed, and threshold t.
func randomQuery(t testing.TB, rng *rand.Rand, axes int, thr float64) *sp.Query {
	vi := randomImage(t, rng, axes)
	var optional []int32
	for _, o := range vi.Objects {
		if rng.IntN(3) == 0 {
			optional = append(optional, o.Label)
		}
	}
	q, err := sp.QueryFrom(vi, thr, optional...)
	if err != nil {
		t.Fatal(err)
	}
	for k, ts := range q.Relations {
		ts = slices.DeleteFunc(ts, func(sp.QueryTriple) bool { return rng.IntN(3) == 0 })
		for i := range ts {
			if rng.IntN(4) == 0 {
				ts[i].Rel = sp.Relation(rng.IntN(sp.Relations))
			}
		}
		q.Relations[k] = ts
	}
	return q
}

// scan evaluates q on every image that has the axes its relations need,
// and returns those retrieved, ranked as Search ranks them: the
// reference Search is checked against.
func scan(t testing.TB, images map[string]*sp.VirtualImage, q *sp.Query) []Hit {
	var hits []Hit
	for key, vi := range images {
		if vi.Axes < len(q.Relations) {
			continue
		}
		m, err := q.Eval(vi)
		if err != nil {
			t.Fatal(err)
		}
		if m.Retrieved {
			hits = append(hits, Hit{key, m})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if a.Match.Sim != b.Match.Sim {
			if a.Match.Sim > b.Match.Sim {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return hits
}

// TestSameAsScan checks that Search returns exactly what evaluating
// SIM_deg on every image returns, over random queries and thresholds, on
// volumes and slices together, as images are replaced and deleted; and
// that its bound spares most of the evaluations.
func TestSameAsScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := New()
	images := map[string]*sp.VirtualImage{}
	for i := range 2000 {
		key := fmt.Sprintf("img%04d", i)
		images[key] = randomImage(t, rng, 2+i%2)
		if err := x.Add(key, images[key]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		var evaluated, candidates, total, found int
		for i := range 40 {
			q := randomQuery(t, rng, 2+i%2, []float64{0.5, 0.7, 0.85, 1}[i%4])
			got, st, err := x.Search(q)
			if err != nil {
				t.Fatal(err)
			}
			if want := scan(t, images, q); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, query %d (%+v):\n got %v\nwant %v", when, i, q, got, want)
			}
			evaluated, candidates, total, found = evaluated+st.Evaluated, candidates+st.Candidates, total+st.Images, found+len(got)
		}
		t.Logf("%s: %d images retrieved; of %d images, %d candidates, %d evaluated", when, found, total, candidates, evaluated)
		if found == 0 || evaluated*2 > total {
			t.Errorf("%s: %d retrieved, %d evaluated of %d", when, found, evaluated, total)
		}
	}
	check("built")
	for i := range 1000 {
		key := fmt.Sprintf("img%04d", rng.IntN(2000))
		if i%2 == 0 {
			if x.Delete(key) != (images[key] != nil) {
				t.Fatalf("Delete(%s) disagrees", key)
			}
			delete(images, key)
			continue
		}
		images[key] = randomImage(t, rng, 3)
		if err := x.Add(key, images[key]); err != nil {
			t.Fatal(err)
		}
	}
	if x.Len() != len(images) {
		t.Fatalf("Len %d, want %d", x.Len(), len(images))
	}
	check("after replacing and deleting")
	for key := range images {
		x.Delete(key)
	}
	if len(x.classes) != 0 || len(x.triples) != 0 {
		t.Errorf("an empty index keeps %d class lists and %d triple lists", len(x.classes), len(x.triples))
	}
}

// TestBadInput checks that a bad image or query is refused and leaves the
// index as it was.
func TestBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := New()
	vi := randomImage(t, rng, 3)
	if err := x.Add("a", vi); err != nil {
		t.Fatal(err)
	}
	bad := *vi
	bad.Axes = 4
	if err := x.Add("b", &bad); !errors.Is(err, sp.ErrInput) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("bad image: %v", err)
	}
	if err := x.Add("", vi); err == nil {
		t.Error("empty key accepted")
	}
	if x.Len() != 1 {
		t.Errorf("Len %d after refused Adds", x.Len())
	}
	q := randomQuery(t, rng, 3, 0.5)
	q.Threshold = 2
	if _, _, err := x.Search(q); !errors.Is(err, sp.ErrInput) {
		t.Errorf("threshold 2: %v", err)
	}
}

package index

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// distTol is the relative difference allowed between the index's distances
// and the naive float64 sum: the summation orders differ.
const distTol = 1e-12

type entry struct {
	key  string
	v    []float32
	meta any
}

// naive returns the k nearest entries by sorting them all.
func naive(es []entry, q []float32, k int, filter func(string, any) bool) []Hit {
	var all []Hit
	for _, e := range es {
		if filter != nil && !filter(e.key, e.meta) {
			continue
		}
		var s float64
		for i := range q {
			d := float64(q[i]) - float64(e.v[i])
			s += d * d
		}
		all = append(all, Hit{e.key, math.Sqrt(s), e.meta})
	}
	slices.SortFunc(all, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), strings.Compare(a.Key, b.Key))
	})
	return all[:min(k, len(all))]
}

func checkHits(t *testing.T, what string, got, want []Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Key != w.Key || !reflect.DeepEqual(g.Meta, w.Meta) || math.Abs(g.Distance-w.Distance) > distTol*max(w.Distance, 1e-300) {
			t.Fatalf("%s: hit %d is %+v, want %+v", what, i, g, w)
		}
	}
}

// randomEntries returns n entries of dimension dim. With coarse values the
// coordinates are multiples of 1/8 in [0, 1], so that many distances tie
// exactly and the order by key is exercised; every fifth entry also repeats
// an earlier vector.
func randomEntries(rng *rand.Rand, n, dim int, coarse bool) []entry {
	es := make([]entry, n)
	for i := range es {
		v := make([]float32, dim)
		if i%5 == 4 {
			copy(v, es[rng.IntN(i)].v)
		} else {
			for j := range v {
				if coarse {
					v[j] = float32(rng.IntN(9)) / 8
				} else {
					v[j] = float32(rng.NormFloat64())
				}
			}
		}
		es[i] = entry{fmt.Sprintf("k%04d", rng.IntN(10000)*1000+i), v, i}
	}
	return es
}

func TestSearchMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, dim := range []int{1, 3, 16, 17, 64, 67} {
		for _, n := range []int{1, 2, 5, 64, 300} {
			for _, coarse := range []bool{false, true} {
				es := randomEntries(rng, n, dim, coarse)
				x := NewExact(0)
				for _, i := range rng.Perm(n) {
					if err := x.Add(es[i].key, es[i].v, es[i].meta); err != nil {
						t.Fatal(err)
					}
				}
				for range 5 {
					q := randomEntries(rng, 1, dim, coarse)[0].v
					if rng.IntN(3) == 0 {
						q = es[rng.IntN(n)].v // a stored vector: distance 0
					}
					even := func(key string, meta any) bool { return meta.(int)%2 == 0 }
					for _, k := range []int{1, 2, 3, 10, n - 1, n, n + 1, 2*n + 5, 1000} {
						if k < 1 {
							continue
						}
						what := fmt.Sprintf("dim %d, n %d, coarse %v, k %d", dim, n, coarse, k)
						checkHits(t, what, x.Search(q, k, nil), naive(es, q, k, nil))
						checkHits(t, what+", filtered", x.Search(q, k, even), naive(es, q, k, even))
					}
				}
			}
		}
	}
}

// TestSearchOrderIndependent checks that insertion order does not change a
// result, ties included.
func TestSearchOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	es := randomEntries(rng, 500, 8, true)
	a, b := NewExact(8), NewExact(8)
	for i := range es {
		a.Add(es[i].key, es[i].v, es[i].meta)
		e := es[len(es)-1-i]
		b.Add(e.key, e.v, e.meta)
	}
	for range 20 {
		q := randomEntries(rng, 1, 8, true)[0].v
		for _, k := range []int{1, 7, 100} {
			if ha, hb := a.Search(q, k, nil), b.Search(q, k, nil); !reflect.DeepEqual(ha, hb) {
				t.Fatalf("k %d: %v and %v", k, ha, hb)
			}
		}
	}
}

// TestReplaceDelete runs random adds, replacements and deletes against a map
// and compares searches with the naive result.
func TestReplaceDelete(t *testing.T) {
	const dim = 5
	rng := rand.New(rand.NewPCG(1, 9))
	x := NewExact(dim)
	model := map[string]entry{}
	for op := range 3000 {
		key := fmt.Sprintf("s%02d", rng.IntN(60))
		switch rng.IntN(3) {
		case 0, 1:
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(rng.IntN(5))
			}
			if err := x.Add(key, v, op); err != nil {
				t.Fatal(err)
			}
			model[key] = entry{key, slices.Clone(v), op}
			v[0] = -99 // Add keeps a copy: Get below would see this
		case 2:
			_, had := model[key]
			if got := x.Delete(key); got != had {
				t.Fatalf("op %d: Delete(%s) = %v, want %v", op, key, got, had)
			}
			delete(model, key)
		}
		if x.Len() != len(model) {
			t.Fatalf("op %d: Len %d, want %d", op, x.Len(), len(model))
		}
		if op%50 == 0 {
			var es []entry
			for _, e := range model {
				es = append(es, e)
				v, meta, ok := x.Get(e.key)
				if !ok || !slices.Equal(v, e.v) || meta != e.meta {
					t.Fatalf("op %d: Get(%s) = %v, %v, %v; want %v, %v", op, e.key, v, meta, ok, e.v, e.meta)
				}
			}
			q := []float32{2, 2, 2, 2, 2}
			for _, k := range []int{1, 4, 100} {
				checkHits(t, fmt.Sprintf("op %d, k %d", op, k), x.Search(q, k, nil), naive(es, q, k, nil))
			}
		}
	}
}

func (x *Exact) mustGet(t *testing.T, key string) []float32 {
	t.Helper()
	v, _, ok := x.Get(key)
	if !ok {
		t.Fatalf("Get(%s): missing", key)
	}
	return v
}

func TestAddCopies(t *testing.T) {
	x := NewExact(0)
	v := []float32{1, 2, 3}
	x.Add("a", v, "m")
	v[0] = 9
	got, meta, ok := x.Get("a")
	if !ok || !slices.Equal(got, []float32{1, 2, 3}) || meta != "m" {
		t.Fatalf("Get = %v, %v, %v", got, meta, ok)
	}
	got[1] = 9
	if again := x.mustGet(t, "a"); !slices.Equal(again, []float32{1, 2, 3}) {
		t.Errorf("Get returned the stored slice: now %v", again)
	}
	if _, _, ok := x.Get("b"); ok {
		t.Error("Get(b) found a missing key")
	}
}

func TestAddErrors(t *testing.T) {
	x := NewExact(4)
	if err := x.Add("a", []float32{1, 2, 3}, nil); !errors.Is(err, ErrDimension) || !strings.Contains(err.Error(), "has 3 dimensions, the index holds 4") {
		t.Errorf("3 values into NewExact(4): %v", err)
	}
	x = NewExact(0)
	if err := x.Add("a", nil, nil); !errors.Is(err, ErrDimension) {
		t.Errorf("empty vector: %v", err)
	}
	if x.Dim() != 0 {
		t.Errorf("Dim %d after a rejected Add, want 0", x.Dim())
	}
	x.Add("a", []float32{1, 2, 3, 4}, "first")
	for name, c := range map[string]struct {
		key    string
		v      []float32
		target error
		says   string
	}{
		"longer":  {"b", []float32{1, 2, 3, 4, 5}, ErrDimension, `key "b" has 5 dimensions, the index holds 4`},
		"shorter": {"a", []float32{1}, ErrDimension, "has 1 dimensions, the index holds 4"},
		"NaN":     {"a", []float32{1, float32(math.NaN()), 3, 4}, ErrValue, "value 2 of 4 is NaN"},
		"Inf":     {"b", []float32{1, 2, 3, float32(math.Inf(1))}, ErrValue, "value 4 of 4 is +Inf"},
		"key":     {"", []float32{1, 2, 3, 4}, ErrKey, "empty key"},
	} {
		if err := x.Add(c.key, c.v, nil); !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want %v saying %q", name, err, c.target, c.says)
		}
	}
	if v, meta, _ := x.Get("a"); x.Len() != 1 || !slices.Equal(v, []float32{1, 2, 3, 4}) || meta != "first" {
		t.Errorf("a rejected Add changed the index: Len %d, a = %v, %v", x.Len(), v, meta)
	}
}

func TestSearchEdges(t *testing.T) {
	var x Exact // the zero value works
	if hits := x.Search([]float32{1}, 3, nil); hits != nil {
		t.Errorf("empty index: %v", hits)
	}
	x.Add("a", []float32{0, 0}, nil)
	x.Add("b", []float32{3, 4}, nil)
	for name, c := range map[string]struct {
		q []float32
		k int
	}{
		"k 0":        {[]float32{0, 0}, 0},
		"k -1":       {[]float32{0, 0}, -1},
		"short q":    {[]float32{0}, 1},
		"long q":     {[]float32{0, 0, 0}, 1},
		"NaN q":      {[]float32{0, float32(math.NaN())}, 1},
		"Inf q":      {[]float32{float32(math.Inf(-1)), 0}, 1},
		"nil q":      {nil, 1},
		"all filter": {[]float32{0, 0}, 5},
	} {
		filter := func(string, any) bool { return name != "all filter" }
		if hits := x.Search(c.q, c.k, filter); len(hits) != 0 {
			t.Errorf("%s: %v", name, hits)
		}
	}
	hits := x.Search([]float32{0, 0}, math.MaxInt, nil)
	if len(hits) != 2 || hits[0].Key != "a" || hits[0].Distance != 0 || hits[1].Key != "b" || hits[1].Distance != 5 {
		t.Errorf("k MaxInt: %v", hits)
	}
	x.Delete("a")
	x.Delete("b")
	if x.Len() != 0 || x.Dim() != 2 {
		t.Errorf("after deleting all: Len %d, Dim %d; want 0, 2", x.Len(), x.Dim())
	}
	if err := x.Add("c", []float32{1, 2, 3}, nil); !errors.Is(err, ErrDimension) {
		t.Errorf("the dimension is kept when empty: %v", err)
	}
}

func TestSearchAllocatesOnlyResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := NewExact(64)
	for _, e := range randomEntries(rng, 2000, 64, false) {
		x.Add(e.key, e.v, nil)
	}
	q := randomEntries(rng, 1, 64, false)[0].v
	filter := func(key string, _ any) bool { return key[len(key)-1] != '3' }
	if n := testing.AllocsPerRun(20, func() { x.Search(q, 10, filter) }); n != 1 {
		t.Errorf("Search allocates %v times, want 1 (the result)", n)
	}
}

// TestConcurrent adds, replaces, deletes and searches from many goroutines;
// run it with -race.
func TestConcurrent(t *testing.T) {
	const dim = 16
	x := NewExact(dim)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			v := make([]float32, dim)
			for i := range 400 {
				for j := range v {
					v[j] = rng.Float32()
				}
				key := fmt.Sprintf("w%d-%d", w, rng.IntN(100))
				if err := x.Add(key, v, i); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					x.Delete(fmt.Sprintf("w%d-%d", w, rng.IntN(100)))
				}
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			q := make([]float32, dim)
			for range 200 {
				for j := range q {
					q[j] = rng.Float32()
				}
				hits := x.Search(q, 8, func(_ string, meta any) bool { return meta.(int) >= 0 })
				if len(hits) > 8 || !slices.IsSortedFunc(hits, cmpHit) {
					t.Errorf("hits %v", hits)
					return
				}
				x.Get(fmt.Sprintf("w%d-%d", w, rng.IntN(100)))
				x.Len()
			}
		})
	}
	wg.Wait()
	n := 0
	for _, h := range x.Search(make([]float32, dim), math.MaxInt, nil) {
		if _, _, ok := x.Get(h.Key); !ok {
			t.Errorf("hit %s is not stored", h.Key)
		}
		n++
	}
	if n != x.Len() {
		t.Errorf("search of all found %d, Len %d", n, x.Len())
	}
}

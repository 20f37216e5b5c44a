package indextest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ctrecon/ctrecon/index"
)

// Fill adds the base vectors of s to ix and to a new index.Exact under the
// same metric, with each vector's number as its meta, and returns the
// Exact.
func Fill(t testing.TB, ix index.Index, s *Set) *index.Exact {
	t.Helper()
	ref := index.NewExactMetric(0, ix.Metric())
	for i, v := range s.Base {
		if err := ix.Add(s.Keys[i], v, i); err != nil {
			t.Fatalf("%s: Add(%s): %v", s.Name, s.Keys[i], err)
		}
		ref.Add(s.Keys[i], v, i)
	}
	return ref
}

// FillThinned fills ix and its reference as Fill does, then deletes the
// first tenth of s's keys from both: an index with freed slots, what a
// save and load test starts from.
func FillThinned(t testing.TB, ix index.Index, s *Set) *index.Exact {
	t.Helper()
	ref := Fill(t, ix, s)
	for _, k := range s.Keys[:len(s.Keys)/10] {
		ix.Delete(k)
		ref.Delete(k)
	}
	return ref
}

// Recall returns ix's recall@k against ref over the queries: the share of
// the true k nearest that ix finds, a hit counting when its distance is
// within the true k-th nearest's (so that a tie broken another way is not
// a miss).
func Recall(ix index.Index, ref *index.Exact, queries [][]float32, k int) float64 {
	return NewTruth(ref, queries, k, nil).Recall(ix)
}

// Truth is the true k nearest of each of a set of queries among the
// vectors a filter accepts.
type Truth struct {
	queries [][]float32
	k       int
	filter  index.Filter
	hits    [][]index.Hit
}

// NewTruth searches ref for the k nearest of each query that filter
// accepts (all when nil).
func NewTruth(ref *index.Exact, queries [][]float32, k int, filter index.Filter) *Truth {
	tr := &Truth{queries: queries, k: k, filter: filter}
	for _, q := range queries {
		tr.hits = append(tr.hits, ref.Search(q, k, filter))
	}
	return tr
}

// Recall returns ix's recall@k over the queries (see the function Recall).
func (tr *Truth) Recall(ix index.Index) float64 {
	found, want := 0, 0
	for i, q := range tr.queries {
		truth := tr.hits[i]
		if len(truth) == 0 {
			continue
		}
		limit := truth[len(truth)-1].Distance
		n := 0
		for _, h := range ix.Search(q, tr.k, tr.filter) {
			if h.Distance <= limit {
				n++
			}
		}
		found += min(n, len(truth))
		want += len(truth)
	}
	if want == 0 {
		return 1
	}
	return float64(found) / float64(want)
}

// Even is a filter that keeps the vectors of even meta.
func Even(_ string, meta any) bool { n, ok := meta.(int); return ok && n%2 == 0 }

// SameAsExact checks that ix answers every query exactly as ref does:
// Search for each of ks and Range for each of radii, with and without a
// filter, hit for hit (keys, distances and metas, ties ordered by key).
func SameAsExact(t testing.TB, ix index.Index, ref *index.Exact, queries [][]float32, ks []int, radii []float64) {
	t.Helper()
	for qi, q := range queries {
		for _, f := range []index.Filter{nil, Even} {
			for _, k := range ks {
				if got, want := ix.Search(q, k, f), ref.Search(q, k, f); !reflect.DeepEqual(got, want) {
					t.Fatalf("query %d, k %d, filtered %v:\n got %v\nwant %v", qi, k, f != nil, got, want)
				}
			}
			for _, r := range radii {
				if got, want := ix.Range(q, r, f), ref.Range(q, r, f); !reflect.DeepEqual(got, want) {
					t.Fatalf("query %d, range %g, filtered %v:\n got %v\nwant %v", qi, r, f != nil, got, want)
				}
			}
		}
	}
}

// CheckHits checks what any index's answer must be, exact or not: at most
// k hits (k 0: a range search within radius), nearest first and equal
// distances by key, each a stored vector the filter accepts with its meta
// and its true distance to q.
func CheckHits(t testing.TB, what string, ix index.Index, q []float32, k int, radius float64, f index.Filter, hits []index.Hit) {
	t.Helper()
	if k > 0 && len(hits) > k {
		t.Fatalf("%s: %d hits for k %d", what, len(hits), k)
	}
	if !ordered(hits) {
		t.Fatalf("%s: hits not ordered by distance and key: %v", what, hits)
	}
	for _, h := range hits {
		v, meta, ok := ix.Get(h.Key)
		switch {
		case !ok:
			t.Fatalf("%s: hit %q is not stored", what, h.Key)
		case !reflect.DeepEqual(meta, h.Meta):
			t.Fatalf("%s: hit %q has meta %v, stored %v", what, h.Key, h.Meta, meta)
		case h.Distance != ix.Metric().Distance(q, v):
			t.Fatalf("%s: hit %q at %g, its distance is %g", what, h.Key, h.Distance, ix.Metric().Distance(q, v))
		case f != nil && !f(h.Key, h.Meta):
			t.Fatalf("%s: hit %q is one the filter refuses", what, h.Key)
		case k == 0 && h.Distance > radius:
			t.Fatalf("%s: hit %q at %g, beyond the radius %g", what, h.Key, h.Distance, radius)
		}
	}
}

// ordered reports whether hits are nearest first, equal distances by key.
func ordered(hits []index.Hit) bool {
	return slices.IsSortedFunc(hits, func(a, b index.Hit) int {
		switch {
		case a.Distance < b.Distance:
			return -1
		case a.Distance > b.Distance:
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// Interface checks the Index contract that does not depend on how an index
// searches, on an empty index of dimension 0 that newIndex makes: the
// errors of Add and what they leave, copies in and out, searches that must
// find nothing, and the dimension kept when the index empties.
func Interface(t *testing.T, newIndex func() index.Index) {
	ix := newIndex()
	if ix.Dim() != 0 || ix.Len() != 0 {
		t.Fatalf("new index: Dim %d, Len %d", ix.Dim(), ix.Len())
	}
	q := []float32{1, 2, 3, 4}
	if h := ix.Search(q, 3, nil); len(h) != 0 {
		t.Errorf("empty index found %v", h)
	}
	if err := ix.Add("a", nil, nil); !errors.Is(err, index.ErrDimension) || ix.Dim() != 0 {
		t.Errorf("empty vector: %v, Dim %d", err, ix.Dim())
	}
	v := []float32{1, 2, 3, 4}
	if err := ix.Add("a", v, "first"); err != nil {
		t.Fatal(err)
	}
	v[0] = 9 // Add keeps a copy
	for name, c := range map[string]struct {
		key    string
		v      []float32
		target error
	}{
		"longer": {"b", []float32{1, 2, 3, 4, 5}, index.ErrDimension},
		"NaN":    {"a", []float32{1, float32(math.NaN()), 3, 4}, index.ErrValue},
		"Inf":    {"b", []float32{1, 2, 3, float32(math.Inf(1))}, index.ErrValue},
		"key":    {"", []float32{1, 2, 3, 4}, index.ErrKey},
	} {
		if err := ix.Add(c.key, c.v, nil); !errors.Is(err, c.target) {
			t.Errorf("%s: err %v, want %v", name, err, c.target)
		}
	}
	got, meta, ok := ix.Get("a")
	if !ok || !slices.Equal(got, []float32{1, 2, 3, 4}) || meta != "first" || ix.Len() != 1 {
		t.Fatalf("after rejected Adds: Len %d, Get(a) = %v, %v, %v", ix.Len(), got, meta, ok)
	}
	got[1] = 9 // Get returns a copy
	for name, c := range map[string]struct {
		q []float32
		k int
	}{"k 0": {q, 0}, "k -1": {q, -1}, "short q": {q[:3], 1}, "NaN q": {[]float32{1, 2, float32(math.NaN()), 4}, 1}} {
		if h := ix.Search(c.q, c.k, nil); len(h) != 0 {
			t.Errorf("%s: %v", name, h)
		}
		if h := ix.Range(c.q, 100, nil); c.k == 1 && len(h) != 0 {
			t.Errorf("range, %s: %v", name, h)
		}
	}
	if h := ix.Range(q, -1, nil); len(h) != 0 {
		t.Errorf("negative radius: %v", h)
	}
	if h := ix.Search(q, 5, nil); len(h) != 1 || h[0].Key != "a" || h[0].Distance != 0 || h[0].Meta != "first" {
		t.Errorf("Search(a's vector) = %v", h)
	}
	if !ix.Delete("a") || ix.Delete("a") || ix.Len() != 0 || ix.Dim() != 4 {
		t.Errorf("Delete: Len %d, Dim %d", ix.Len(), ix.Dim())
	}
	if h := ix.Search(q, 5, nil); len(h) != 0 {
		t.Errorf("deleted vector found: %v", h)
	}
}

// Operations runs random adds, replacements and deletes of the vectors of
// s on ix and on a reference Exact, checking Len and Get as it goes, and
// calls check every 500 operations and at the end.
func Operations(t *testing.T, ix index.Index, s *Set, check func(ref *index.Exact)) {
	rng := rand.New(rand.NewPCG(5, 8))
	ref := index.NewExactMetric(0, ix.Metric())
	keys := min(len(s.Base), 3*len(s.Base)/4)
	for op := 1; op <= 4*len(s.Base); op++ {
		key := s.Keys[rng.IntN(keys)]
		if rng.IntN(4) == 0 {
			if a, b := ix.Delete(key), ref.Delete(key); a != b {
				t.Fatalf("op %d: Delete(%s) = %v, want %v", op, key, a, b)
			}
		} else {
			i := rng.IntN(len(s.Base))
			if err := ix.Add(key, s.Base[i], i); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			ref.Add(key, s.Base[i], i)
		}
		if ix.Len() != ref.Len() {
			t.Fatalf("op %d: Len %d, want %d", op, ix.Len(), ref.Len())
		}
		if op%7 == 0 {
			v, meta, ok := ix.Get(key)
			w, wmeta, wok := ref.Get(key)
			if ok != wok || !slices.Equal(v, w) || meta != wmeta {
				t.Fatalf("op %d: Get(%s) = %v, %v, %v; want %v, %v, %v", op, key, v, meta, ok, w, wmeta, wok)
			}
		}
		if op%500 == 0 {
			check(ref)
		}
	}
	check(ref)
}

// Consistent returns an Operations check for an approximate index: its
// answers pass CheckHits, and its recall@10 against ref is at least min.
func Consistent(t *testing.T, ix index.Index, queries [][]float32, minRecall float64) func(ref *index.Exact) {
	return func(ref *index.Exact) {
		t.Helper()
		for i, q := range queries {
			CheckHits(t, fmt.Sprintf("query %d", i), ix, q, 10, 0, nil, ix.Search(q, 10, nil))
			CheckHits(t, fmt.Sprintf("filtered query %d", i), ix, q, 10, 0, Even, ix.Search(q, 10, Even))
		}
		if r := Recall(ix, ref, queries, 10); r < minRecall {
			t.Fatalf("%d vectors: recall@10 %.3f, want at least %.3f", ref.Len(), r, minRecall)
		}
	}
}

// SaveLoad saves ix, loads it back with index.Load (given custom), and
// checks that the copy holds the same vectors and metas under the same
// keys, answers the queries as ix does, and saves to the same bytes; that
// a damaged copy is refused; and returns the copy.
func SaveLoad(t *testing.T, ix index.Index, s *Set, custom ...index.Metric) index.Index {
	var buf bytes.Buffer
	if err := ix.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()
	y, err := index.Load(bytes.NewReader(saved), custom...)
	if err != nil {
		t.Fatal(err)
	}
	if y.Kind() != ix.Kind() || y.Metric() != ix.Metric() || y.Dim() != ix.Dim() || y.Len() != ix.Len() {
		t.Fatalf("loaded %s/%s dim %d len %d, saved %s/%s dim %d len %d",
			y.Kind(), y.Metric(), y.Dim(), y.Len(), ix.Kind(), ix.Metric(), ix.Dim(), ix.Len())
	}
	for _, k := range s.Keys {
		v, meta, ok := ix.Get(k)
		if v2, meta2, ok2 := y.Get(k); ok != ok2 || !slices.Equal(v, v2) || !reflect.DeepEqual(meta, meta2) {
			t.Fatalf("key %s: loaded %v %v %v, saved %v %v %v", k, v2, meta2, ok2, v, meta, ok)
		}
	}
	for i, q := range s.Queries {
		if a, b := ix.Search(q, 10, nil), y.Search(q, 10, nil); !reflect.DeepEqual(a, b) {
			t.Fatalf("query %d: loaded index found %v, saved one %v", i, b, a)
		}
	}
	var again bytes.Buffer
	if err := y.Save(&again); err != nil || !bytes.Equal(again.Bytes(), saved) {
		t.Fatalf("saving the loaded index gives other bytes (%v)", err)
	}
	for _, cut := range []int{len(saved) - 1, len(saved) / 2, 30} {
		if _, err := index.Load(bytes.NewReader(saved[:cut]), custom...); !errors.Is(err, index.ErrFormat) {
			t.Errorf("cut to %d bytes: %v", cut, err)
		}
	}
	bad := slices.Clone(saved)
	bad[len(bad)/2] ^= 0x40
	if _, err := index.Load(bytes.NewReader(bad), custom...); !errors.Is(err, index.ErrFormat) {
		t.Errorf("a flipped bit: %v", err)
	}
	return y
}

// Concurrent adds, replaces and deletes vectors of s from several
// goroutines while others search, then checks that a search of every
// vector finds what is stored; run it with -race.
func Concurrent(t *testing.T, ix index.Index, s *Set) {
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range len(s.Base) {
				key := fmt.Sprintf("w%d-%d", w, rng.IntN(len(s.Base)/2))
				if err := ix.Add(key, s.Base[rng.IntN(len(s.Base))], i); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					ix.Delete(fmt.Sprintf("w%d-%d", w, rng.IntN(len(s.Base)/2)))
				}
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range len(s.Base) / 2 {
				q := s.Queries[rng.IntN(len(s.Queries))]
				CheckHitsShape(t, fmt.Sprintf("search %d", i), ix.Search(q, 8, Even), 8)
				CheckHitsShape(t, fmt.Sprintf("range %d", i), ix.Range(q, 1, nil), 0)
				ix.Get(fmt.Sprintf("w%d-%d", w, rng.IntN(len(s.Base)/2)))
				ix.Len()
			}
		})
	}
	wg.Wait()
	for i, q := range s.Queries {
		CheckHits(t, fmt.Sprintf("query %d after", i), ix, q, 10, 0, nil, ix.Search(q, 10, nil))
	}
}

// CheckHitsShape checks what can be checked of hits while the index
// changes: at most k (k 0: any number), in order of distance.
func CheckHitsShape(t testing.TB, what string, hits []index.Hit, k int) {
	t.Helper()
	if k > 0 && len(hits) > k || !ordered(hits) {
		t.Errorf("%s: %v", what, hits)
	}
}

// Params checks that the registered kind name refuses each of bad (a
// parameter and a value Kind.New must refuse) with an error naming the
// parameter, and that tuner's SetParam refuses each of badSearch.
func Params(t *testing.T, name string, bad [][2]string, tuner index.Tuner, badSearch [][2]string) {
	k, err := index.KindNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(bad, [2]string{"no-such-param", "1"}) {
		p, err := k.BuildParams(map[string]string{c[0]: c[1]})
		if err == nil {
			_, err = k.New(4, index.Euclidean, p)
		}
		if err == nil || !strings.Contains(err.Error(), c[0]) {
			t.Errorf("%s=%s: %v, want an error naming %s", c[0], c[1], err, c[0])
		}
	}
	for _, c := range badSearch {
		if err := tuner.SetParam(c[0], c[1]); err == nil || !strings.Contains(err.Error(), c[0]) {
			t.Errorf("SetParam(%s, %s): %v, want an error naming %s", c[0], c[1], err, c[0])
		}
	}
}

// RefusesCustomMetric checks that the kind name, an index that averages
// or projects vectors, refuses a metric given as a function (Custom), with
// each of params (nil: the defaults).
func RefusesCustomMetric(t *testing.T, name string, params ...map[string]string) {
	t.Helper()
	k, err := index.KindNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	if params == nil {
		params = []map[string]string{{}}
	}
	for _, p := range params {
		bp, err := k.BuildParams(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.New(4, Custom, bp); err == nil || !strings.Contains(err.Error(), "mean nothing under the") {
			t.Errorf("%s %v under the %s metric: %v, want an error saying its vectors mean nothing under it", name, p, Custom, err)
		}
	}
}

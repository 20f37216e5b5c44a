package hnsw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ctrecon/ctrecon/index"
)

// clustered returns n vectors of dim values around 20 centres, each value
// at least 0.01 (valid under every metric).
func clustered(rng *rand.Rand, n, dim int) [][]float32 {
	centres := make([][]float32, 20)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = float32(rng.Float64() * 10)
		}
	}
	vs := make([][]float32, n)
	for i := range vs {
		c := centres[rng.IntN(len(centres))]
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = max(c[j]+float32(rng.NormFloat64()), 0.01)
		}
	}
	return vs
}

func key(i int) string { return fmt.Sprintf("v%05d", i) }

// build adds vs to a new HNSW index and to the exact reference, in the same
// order, keys key(i) and metas i.
func build(t testing.TB, vs [][]float32, m index.Metric, o Options) (*Index, *index.Exact) {
	t.Helper()
	x, err := New(0, m, o)
	if err != nil {
		t.Fatal(err)
	}
	ref := index.NewExactMetric(0, m)
	for i, v := range vs {
		if err := x.Add(key(i), v, i); err != nil {
			t.Fatal(err)
		}
		ref.Add(key(i), v, i)
	}
	return x, ref
}

// recall returns the fraction of the true k nearest that got holds, by
// distance: a hit counts when it is no farther than the k-th true
// neighbour, so that ties do not count against the index. It fails the
// test on a hit whose key, distance or meta the reference does not give.
func recall(t testing.TB, ref index.Index, got, want []index.Hit) float64 {
	t.Helper()
	if len(want) == 0 {
		return 1
	}
	found := 0
	for _, h := range got {
		v, meta, ok := ref.Get(h.Key)
		if !ok || !reflect.DeepEqual(meta, h.Meta) {
			t.Fatalf("hit %+v: stored %v, %v", h, ok, meta)
		}
		_ = v
		if h.Distance <= want[len(want)-1].Distance*(1+1e-9) {
			found++
		}
	}
	return float64(found) / float64(len(want))
}

// meanRecall searches queries in x and ref and returns the mean recall@k.
func meanRecall(t testing.TB, x, ref index.Index, queries [][]float32, k int, filter index.Filter) float64 {
	t.Helper()
	var sum float64
	for _, q := range queries {
		got, want := x.Search(q, k, filter), ref.Search(q, k, filter)
		for _, h := range got {
			if d := ref.Metric().Distance(q, mustGet(t, ref, h.Key)); math.Abs(d-h.Distance) > 1e-12*max(d, 1) {
				t.Fatalf("hit %s at distance %v, the reference measures %v", h.Key, h.Distance, d)
			}
		}
		if !slices.IsSortedFunc(got, func(a, b index.Hit) int { return cmpDist(a.Distance, b.Distance) }) {
			t.Fatalf("hits not sorted: %v", got)
		}
		sum += recall(t, ref, got, want)
	}
	return sum / float64(len(queries))
}

func cmpDist(a, b float64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func mustGet(t testing.TB, x index.Index, key string) []float32 {
	t.Helper()
	v, _, ok := x.Get(key)
	if !ok {
		t.Fatalf("key %s is not stored", key)
	}
	return v
}

var l2cubed = index.NewMetric("test-l2cubed", func(a, b []float32) float64 {
	return math.Pow(index.Euclidean.Distance(a, b), 3)
})

// TestRecall compares HNSW with exact search under every metric: recall@10
// of at least 0.95 with the default parameters, and the exact answer when
// ef covers the whole index.
func TestRecall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	vs := clustered(rng, 3000, 24)
	queries := clustered(rng, 100, 24)
	for _, m := range []index.Metric{index.Euclidean, index.Manhattan, index.Cosine, index.Jaccard, l2cubed} {
		x, ref := build(t, vs, m, Options{Seed: 3})
		if r := meanRecall(t, x, ref, queries, 10, nil); r < 0.95 {
			t.Errorf("%s: recall@10 %.3f with ef %d, want at least 0.95", m, r, x.Ef())
		}
		x.SetEf(len(vs))
		for _, q := range queries[:10] {
			if got, want := x.Search(q, 10, nil), ref.Search(q, 10, nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, ef %d: %v, exact %v", m, len(vs), got, want)
			}
		}
	}
}

func TestFilterAndRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	vs := clustered(rng, 2000, 16)
	queries := clustered(rng, 50, 16)
	x, ref := build(t, vs, index.Euclidean, Options{Seed: 1})
	third := func(_ string, meta any) bool { return meta.(int)%3 == 0 }
	for _, h := range x.Search(queries[0], 50, third) {
		if h.Meta.(int)%3 != 0 {
			t.Fatalf("the filter refused %v", h)
		}
	}
	if r := meanRecall(t, x, ref, queries, 10, third); r < 0.95 {
		t.Errorf("filtered recall@10 %.3f", r)
	}
	var found, total int
	for _, q := range queries {
		want := ref.Search(q, 40, nil)
		radius := want[len(want)-1].Distance
		got := x.Range(q, radius, nil)
		for _, h := range got {
			if h.Distance > radius {
				t.Fatalf("range %v returned %v", radius, h)
			}
		}
		exact := ref.Range(q, radius, nil)
		found += len(got)
		total += len(exact)
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Errorf("range recall %.3f", r)
	}
	if got := x.Range(queries[0], math.Inf(1), nil); len(got) != len(vs) {
		t.Errorf("an infinite radius found %d of %d", len(got), len(vs))
	}
}

// TestDeleteReAdd deletes most vectors, checks that searches never return
// a deleted one and keep their recall, compacts, checks that every live
// node can still be reached, and adds the deleted keys back.
func TestDeleteReAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	const n = 3000
	vs := clustered(rng, n, 16)
	queries := clustered(rng, 100, 16)
	x, ref := build(t, vs, index.Euclidean, Options{Seed: 5, M: 8})
	t.Logf("unreachable before deleting: %d", len(x.unreachable()))
	deleted := map[string]bool{}
	for _, i := range rng.Perm(n)[:n*6/10] {
		if !x.Delete(key(i)) || !ref.Delete(key(i)) {
			t.Fatalf("Delete(%s) found nothing", key(i))
		}
		deleted[key(i)] = true
	}
	for k := range deleted {
		if x.Delete(k) {
			t.Fatalf("Delete(%s) twice found it twice", k)
		}
		break
	}
	if x.Len() != ref.Len() {
		t.Fatalf("Len %d, want %d", x.Len(), ref.Len())
	}
	check := func(when string) {
		t.Helper()
		for _, q := range queries {
			for _, h := range x.Search(q, 20, nil) {
				if deleted[h.Key] {
					t.Fatalf("%s: search returned deleted %s", when, h.Key)
				}
			}
		}
		if r := meanRecall(t, x, ref, queries, 10, nil); r < 0.95 {
			t.Errorf("%s: recall@10 %.3f", when, r)
		}
	}
	check("after deleting")
	x.Compact()
	if x.dead != 0 || len(x.freed) == 0 {
		t.Fatalf("Compact left %d deleted, %d free", x.dead, len(x.freed))
	}
	if un := x.unreachable(); len(un) > 0 {
		t.Errorf("after Compact, %d live nodes cannot be reached from the entry point: %v", len(un), un[:min(len(un), 10)])
	}
	check("after compacting")
	for k := range deleted {
		v := clustered(rng, 1, 16)[0]
		var i int
		fmt.Sscanf(k, "v%d", &i)
		if err := x.Add(k, v, i); err != nil {
			t.Fatal(err)
		}
		ref.Add(k, v, i)
	}
	if x.Len() != n || x.used != n {
		t.Errorf("after adding back: Len %d, %d slots used, want %d (freed slots reused)", x.Len(), x.used, n)
	}
	clear(deleted)
	check("after adding back")
	// replacing a key moves it
	x.Add(key(1), queries[0], 1)
	ref.Add(key(1), queries[0], 1)
	if h := x.Search(queries[0], 1, nil); len(h) != 1 || h[0].Key != key(1) || h[0].Distance != 0 {
		t.Errorf("replaced key: %v", h)
	}
}

// unreachable returns the live nodes a walk along layer 0 from the entry
// point does not reach (written out here rather than with Index.reach, which
// it checks).
func (x *Index) unreachable() []uint32 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, _ := unpack(x.entry.Load())
	seen := map[uint32]bool{e: true}
	for queue := []uint32{e}; len(queue) > 0; queue = queue[1:] {
		lst := x.list(queue[0], 0)
		for _, id := range lst[1 : lst[0]+1] {
			if !seen[id] {
				seen[id] = true
				queue = append(queue, id)
			}
		}
	}
	var out []uint32
	for s := range uint32(x.used) {
		if x.state[s] == live && !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

// TestConcurrent adds from two goroutines while two others search and
// look up; run it with -race. Afterwards every vector is there and the
// recall holds.
func TestConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	const n = 4000
	vs := clustered(rng, n, 16)
	queries := clustered(rng, 100, 16)
	x, err := New(16, index.Euclidean, Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		x.Add(key(i), vs[i], i)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 50 + w; i < n; i += 2 {
				if err := x.Add(key(i), vs[i], i); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for i := range 2000 {
				hits := x.Search(queries[i%len(queries)], 10, nil)
				if len(hits) == 0 || len(hits) > 10 {
					t.Errorf("search %d: %d hits", i, len(hits))
					return
				}
				x.Get(key(i))
				x.Len()
			}
		})
	}
	wg.Wait()
	ref := index.NewExact(16)
	for i, v := range vs {
		ref.Add(key(i), v, i)
		if got := mustGet(t, x, key(i)); !slices.Equal(got, v) {
			t.Fatalf("%s: %v, added %v", key(i), got, v)
		}
	}
	if x.Len() != n {
		t.Fatalf("Len %d, want %d", x.Len(), n)
	}
	if r := meanRecall(t, x, ref, queries, 10, nil); r < 0.95 {
		t.Errorf("recall@10 %.3f after concurrent adds", r)
	}
}

// TestDeleteWhileSearching deletes and adds back while others search; run
// it with -race.
func TestDeleteWhileSearching(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	const n = 2000
	vs := clustered(rng, n, 8)
	x, _ := build(t, vs, index.Euclidean, Options{M: 6})
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 3 {
			for i := round; i < n; i += 3 {
				x.Delete(key(i))
			}
			for i := round; i < n; i += 3 {
				x.Add(key(i), vs[i], i)
			}
		}
	})
	wg.Go(func() {
		for i := range 3000 {
			if hits := x.Search(vs[i%n], 5, nil); len(hits) > 5 {
				t.Errorf("%d hits", len(hits))
			}
		}
	})
	wg.Wait()
	if x.Len() != n {
		t.Errorf("Len %d, want %d", x.Len(), n)
	}
}

func TestSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	vs := clustered(rng, 1500, 12)
	queries := clustered(rng, 40, 12)
	for _, m := range []index.Metric{index.Euclidean, index.Cosine, l2cubed} {
		x, _ := build(t, vs, m, Options{Seed: 9, M: 10, EfConstruction: 60, Ef: 30})
		for i := range 100 {
			x.Delete(key(i * 7))
		}
		var buf bytes.Buffer
		if err := x.Save(&buf); err != nil {
			t.Fatal(err)
		}
		saved := bytes.Clone(buf.Bytes())
		loaded, err := index.Load(&buf, l2cubed)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		y := loaded.(*Index)
		if y.Len() != x.Len() || y.Dim() != 12 || y.Ef() != 30 || y.Metric() != m || y.dead != x.dead {
			t.Fatalf("%s: loaded Len %d Dim %d ef %d metric %s dead %d", m, y.Len(), y.Dim(), y.Ef(), y.Metric(), y.dead)
		}
		for _, q := range queries {
			if a, b := x.Search(q, 10, nil), y.Search(q, 10, nil); !reflect.DeepEqual(a, b) {
				t.Fatalf("%s: loaded index finds %v, saved %v", m, b, a)
			}
		}
		var again bytes.Buffer
		y.Save(&again)
		if !bytes.Equal(again.Bytes(), saved) {
			t.Fatalf("%s: saving the loaded index gives other bytes", m)
		}
		// both go on the same way: the layer draws continue
		x.Add("new", queries[0], -1)
		y.Add("new", queries[0], -1)
		var bx, by bytes.Buffer
		x.Save(&bx)
		y.Save(&by)
		if !bytes.Equal(bx.Bytes(), by.Bytes()) {
			t.Fatalf("%s: after one more Add the two differ", m)
		}
	}
}

// TestLoadChecksGraph damages a saved graph's links and layers behind a
// good checksum: Load must refuse it.
func TestLoadChecksGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	vs := clustered(rng, 200, 4)
	x, _ := build(t, vs, index.Euclidean, Options{M: 4})
	var buf bytes.Buffer
	x.Save(&buf)
	good := buf.Bytes()
	// the layer-0 lists start after the header, the parameters, the
	// state and levels, the keys and the vectors
	body := bytes.Index(good, []byte("pcg:"))
	listAt := body + 20 + 8 + 8 + 200*2
	for i := range 200 {
		listAt += 4 + len(key(i))
	}
	listAt += 200 * 4 * 4
	for name, c := range map[string]struct {
		at   int
		val  uint32
		says string
	}{
		"count": {listAt, 9, "slot 0's list on layer 0 holds 9 links"},
		"link":  {listAt + 4, 200, "slot 0 links to slot 200, not a node of layer 0"},
		"self?": {listAt + 4, 0, ""}, // a link to itself is odd but harmless
	} {
		bad := bytes.Clone(good)
		bad[c.at], bad[c.at+1], bad[c.at+2], bad[c.at+3] = byte(c.val), byte(c.val>>8), byte(c.val>>16), byte(c.val>>24)
		fixChecksum(bad)
		_, err := index.Load(bytes.NewReader(bad))
		if c.says == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, index.ErrFormat) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrFormat saying %q", name, err, c.says)
		}
	}
}

// fixChecksum writes the CRC-32C of a saved index's contents over its last
// four bytes.
func fixChecksum(b []byte) {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
}

func TestAddErrors(t *testing.T) {
	x, _ := New(3, index.Cosine, Options{})
	for _, c := range []struct {
		key    string
		v      []float32
		target error
	}{
		{"", []float32{1, 2, 3}, index.ErrKey},
		{"a", []float32{1, 2}, index.ErrDimension},
		{"a", nil, index.ErrDimension},
		{"a", []float32{0, 0, 0}, index.ErrValue},
		{"a", []float32{1, float32(math.NaN()), 0}, index.ErrValue},
	} {
		if err := x.Add(c.key, c.v, nil); !errors.Is(err, c.target) {
			t.Errorf("Add(%q, %v): %v, want %v", c.key, c.v, err, c.target)
		}
	}
	if x.Len() != 0 || x.Search([]float32{1, 0, 0}, 3, nil) != nil {
		t.Error("a refused Add changed the index")
	}
	x.Add("a", []float32{1, 0, 0}, nil)
	for _, q := range [][]float32{{1, 0}, {0, 0, 0}, {1, 0, float32(math.Inf(1))}} {
		if h := x.Search(q, 1, nil); h != nil {
			t.Errorf("query %v: %v", q, h)
		}
	}
	if _, err := New(3, index.Euclidean, Options{M: 1}); err == nil {
		t.Error("M 1 accepted")
	}
}

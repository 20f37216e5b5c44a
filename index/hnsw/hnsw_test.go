package hnsw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/indextest"
)

// newIndex returns an empty index of vectors whose dimension the first Add
// sets, failing t on an error.
func newIndex(t testing.TB, m index.Metric, o Options) *Index {
	t.Helper()
	x, err := New(0, m, o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestInterface(t *testing.T) {
	indextest.Interface(t, func() index.Index { return newIndex(t, index.Euclidean, Options{}) })
}

func TestParams(t *testing.T) {
	indextest.Params(t, "hnsw", [][2]string{{"M", "1"}, {"efConstruction", "0"}, {"seed", "-1"}},
		newIndex(t, index.Euclidean, Options{}), [][2]string{{"ef", "0"}, {"M", "3"}})
	if _, err := New(3, index.Euclidean, Options{M: 1}); err == nil {
		t.Error("M 1 accepted")
	}
}

// TestRecall compares HNSW with exact search under every metric: recall@10
// of at least 0.95 with the default parameters, filtered or not, and the
// exact answer when ef covers the whole index.
func TestRecall(t *testing.T) {
	data := indextest.Clustered(3300, 24, 20, 0.2, 1)
	for _, m := range indextest.Metrics {
		s := indextest.ForMetric(data, m)
		x := newIndex(t, m, Options{Seed: 3})
		ref := indextest.Fill(t, x, s)
		for _, f := range []index.Filter{nil, indextest.Even} {
			if r := indextest.NewTruth(ref, s.Queries, 10, f).Recall(x); r < 0.95 {
				t.Errorf("%s, filtered %v: recall@10 %.3f with ef %d, want at least 0.95", m, f != nil, r, x.Ef())
			}
		}
		x.SetEf(len(s.Base))
		indextest.SameAsExact(t, x, ref, s.Queries[:10], []int{1, 10}, nil)
	}
}

// TestSearchBatch checks SearchBatch against Search, query by query (the
// same hits, to the bit), for k 1, 10 and more than the index holds,
// filtered or not, on an index with deleted nodes, under every metric,
// with a query of another dimension and one holding a NaN among the rest
// (no hits for them only); its recall@10 against exact search; that an
// answer's capacity ends with it (appending to one does not overwrite
// the next); and k 0 and an empty index.
func TestSearchBatch(t *testing.T) {
	data := indextest.Clustered(1100, 20, 10, 0.2, 4)
	for _, m := range indextest.Metrics {
		s := indextest.ForMetric(data, m)
		if got := newIndex(t, m, Options{}).SearchBatch(s.Queries[:3], 10, nil); len(got) != 3 || got[0] != nil {
			t.Fatalf("%s: an empty index answered %v", m, got)
		}
		x := newIndex(t, m, Options{Seed: 5, Ef: 16})
		ref := indextest.FillThinned(t, x, s)
		nan := slices.Clone(s.Queries[1])
		nan[3] = float32(math.NaN())
		qs := append([][]float32{s.Queries[0], s.Queries[1][:5], nan}, s.Queries[1:]...)
		for _, k := range []int{0, 1, 10, len(s.Base) + 5} {
			for _, f := range []index.Filter{nil, indextest.Even} {
				got := x.SearchBatch(qs, k, f)
				if len(got) != len(qs) {
					t.Fatalf("%s, k %d: %d answers to %d queries", m, k, len(got), len(qs))
				}
				for i, q := range qs {
					want := x.Search(q, k, f)
					if !slices.Equal(got[i], want) || (i == 1 || i == 2 || k == 0) != (got[i] == nil) {
						t.Fatalf("%s, k %d, filtered %v, query %d: batch %v, Search %v", m, k, f != nil, i, got[i], want)
					}
				}
				if k == 10 && f == nil {
					if r := batchRecall(ref, qs, got, k); r < 0.95 {
						t.Errorf("%s: batch recall@10 %.3f, want at least 0.95", m, r)
					}
					next := slices.Clone(got[3])
					_ = append(got[0], index.Hit{Key: "appended"})
					if !slices.Equal(got[3], next) {
						t.Fatalf("%s: appending to one answer changed the next", m)
					}
				}
			}
		}
	}
}

// batchRecall returns the recall@k of answers to queries against ref's
// exact answers (a hit counts when it is within the true k-th nearest's
// distance); queries ref refuses are left out.
func batchRecall(ref *index.Exact, queries [][]float32, answers [][]index.Hit, k int) float64 {
	found, want := 0, 0
	for i, q := range queries {
		truth := ref.Search(q, k, nil)
		if len(truth) == 0 {
			continue
		}
		n := 0
		for _, h := range answers[i] {
			if h.Distance <= truth[len(truth)-1].Distance {
				n++
			}
		}
		found += min(n, len(truth))
		want += len(truth)
	}
	return float64(found) / float64(want)
}

// TestRange checks that Range finds nearly all of the vectors within the
// 40th nearest's distance, and every vector for an infinite radius.
func TestRange(t *testing.T) {
	s := indextest.Clustered(2200, 16, 20, 0.2, 2)
	x := newIndex(t, index.Euclidean, Options{Seed: 1})
	ref := indextest.Fill(t, x, s)
	var found, total int
	for i, q := range s.Queries {
		want := ref.Search(q, 40, nil)
		radius := want[len(want)-1].Distance
		got := x.Range(q, radius, nil)
		indextest.CheckHits(t, "range", x, q, 0, radius, nil, got)
		if i == 0 {
			indextest.CheckHits(t, "filtered range", x, q, 0, radius, indextest.Even, x.Range(q, radius, indextest.Even))
		}
		found += len(got)
		total += len(ref.Range(q, radius, nil))
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Errorf("range recall %.3f", r)
	}
	if got := x.Range(s.Queries[0], math.Inf(1), nil); len(got) != len(s.Base) {
		t.Errorf("an infinite radius found %d of %d", len(got), len(s.Base))
	}
}

// TestOperations adds, replaces and deletes at random, checking the
// answers and the recall as the graph changes and compacts.
func TestOperations(t *testing.T) {
	s := indextest.Clustered(4000, 16, 30, 0.2, 3)
	x := newIndex(t, index.Euclidean, Options{Seed: 2, M: 8})
	indextest.Operations(t, x, s, indextest.Consistent(t, x, s.Queries[:200], 0.9))
}

// TestDeleteReAdd deletes most vectors, checks that searches never return
// a deleted one and keep their recall, compacts, checks that every live
// node can still be reached, and adds the deleted keys back.
func TestDeleteReAdd(t *testing.T) {
	s := indextest.Clustered(3300, 16, 20, 0.2, 4)
	n := len(s.Base)
	x := newIndex(t, index.Euclidean, Options{Seed: 5, M: 8})
	ref := indextest.Fill(t, x, s)
	t.Logf("unreachable before deleting: %d", len(x.unreachable()))
	deleted := map[string]int{}
	for i := range n {
		if i%5 < 3 {
			if !x.Delete(s.Keys[i]) || !ref.Delete(s.Keys[i]) || x.Delete(s.Keys[i]) {
				t.Fatalf("Delete(%s) did not find it exactly once", s.Keys[i])
			}
			deleted[s.Keys[i]] = i
		}
	}
	if x.Len() != ref.Len() {
		t.Fatalf("Len %d, want %d", x.Len(), ref.Len())
	}
	check := func(when string) {
		t.Helper()
		for _, q := range s.Queries {
			for _, h := range x.Search(q, 20, nil) {
				if _, ok := deleted[h.Key]; ok {
					t.Fatalf("%s: search returned deleted %s", when, h.Key)
				}
			}
		}
		if r := indextest.Recall(x, ref, s.Queries, 10); r < 0.95 {
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
	for k, i := range deleted {
		v := s.Queries[i%len(s.Queries)]
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
// recall holds. The shared check (indextest.Concurrent) deletes too.
func TestConcurrent(t *testing.T) {
	s := indextest.Clustered(4400, 16, 20, 0.2, 5)
	n := len(s.Base)
	x, err := New(16, index.Euclidean, Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		x.Add(s.Keys[i], s.Base[i], i)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 50 + w; i < n; i += 2 {
				if err := x.Add(s.Keys[i], s.Base[i], i); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for i := range 2000 {
				indextest.CheckHitsShape(t, "search", x.Search(s.Queries[i%len(s.Queries)], 10, nil), 10)
				x.Get(s.Keys[i])
				x.Len()
			}
		})
	}
	wg.Wait()
	ref := index.NewExact(16)
	for i, v := range s.Base {
		ref.Add(s.Keys[i], v, i)
		if got, _, _ := x.Get(s.Keys[i]); !slices.Equal(got, v) {
			t.Fatalf("%s: %v, added %v", s.Keys[i], got, v)
		}
	}
	if x.Len() != n {
		t.Fatalf("Len %d, want %d", x.Len(), n)
	}
	if r := indextest.Recall(x, ref, s.Queries, 10); r < 0.95 {
		t.Errorf("recall@10 %.3f after concurrent adds", r)
	}
	indextest.Concurrent(t, newIndex(t, index.Euclidean, Options{}), indextest.Clustered(1500, 8, 10, 0.2, 6))
}

// TestDeleteWhileSearching deletes and adds back while others search; run
// it with -race.
func TestDeleteWhileSearching(t *testing.T) {
	s := indextest.Clustered(2200, 8, 20, 0.2, 7)
	n := len(s.Base)
	x := newIndex(t, index.Euclidean, Options{M: 6})
	indextest.Fill(t, x, s)
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 3 {
			for i := round; i < n; i += 3 {
				x.Delete(s.Keys[i])
			}
			for i := round; i < n; i += 3 {
				x.Add(s.Keys[i], s.Base[i], i)
			}
		}
	})
	wg.Go(func() {
		for i := range 3000 {
			indextest.CheckHitsShape(t, "search", x.Search(s.Base[i%n], 5, nil), 5)
		}
	})
	wg.Wait()
	if x.Len() != n {
		t.Errorf("Len %d, want %d", x.Len(), n)
	}
}

// TestSaveLoad saves and loads an index with deleted nodes under three
// metrics (indextest.SaveLoad), and checks that the two go on alike: the
// layer draws continue where they were.
func TestSaveLoad(t *testing.T) {
	data := indextest.Clustered(1650, 12, 20, 0.2, 8)
	for _, m := range []index.Metric{index.Euclidean, index.Cosine, indextest.Custom} {
		s := indextest.ForMetric(data, m)
		x := newIndex(t, m, Options{Seed: 9, M: 10, EfConstruction: 60, Ef: 30})
		indextest.Fill(t, x, s)
		for i := range 100 {
			x.Delete(s.Keys[i*7])
		}
		y := indextest.SaveLoad(t, x, s, indextest.Custom).(*Index)
		if y.Ef() != 30 || y.dead != x.dead {
			t.Fatalf("%s: loaded ef %d, %d deleted; saved %d, %d", m, y.Ef(), y.dead, x.Ef(), x.dead)
		}
		x.Add("new", s.Queries[0], -1)
		y.Add("new", s.Queries[0], -1)
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
	s := indextest.Clustered(222, 4, 20, 0.2, 9)
	n := len(s.Base)
	x := newIndex(t, index.Euclidean, Options{M: 4})
	indextest.Fill(t, x, s)
	var buf bytes.Buffer
	x.Save(&buf)
	good := buf.Bytes()
	// the layer-0 lists start after the header, the parameters, the
	// state and levels, the keys and the vectors
	body := bytes.Index(good, []byte("pcg:"))
	listAt := body + 20 + 8 + 8 + n*2
	for _, k := range s.Keys {
		listAt += 4 + len(k)
	}
	listAt += n * 4 * 4
	for name, c := range map[string]struct {
		at   int
		val  uint32
		says string
	}{
		"count": {listAt, 9, "slot 0's list on layer 0 holds 9 links"},
		"link":  {listAt + 4, uint32(n), fmt.Sprintf("slot 0 links to slot %d, not a node of layer 0", n)},
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

// TestSweepDigits measures recall@10, speed, build time and memory on the
// digits over ef, and checks that the recall reaches 0.99.
func TestSweepDigits(t *testing.T) {
	s := indextest.Digits(t)
	rows := indextest.Sweep(t, Kind, index.Euclidean, s,
		[]map[string]string{{"M": "16", "efConstruction": "200"}},
		indextest.Values("ef", 10, 20, 40, 80))
	indextest.CheckSweep(t, rows, 0.99)
}

// BenchmarkSearchDigits measures one search of the digits, ef 10 and k 10,
// on one goroutine: what `go test -bench SearchDigits -cpuprofile` profiles.
func BenchmarkSearchDigits(b *testing.B) {
	s := indextest.Digits(b)
	x := newIndex(b, index.Euclidean, Options{M: 16, EfConstruction: 200, Ef: 10, Seed: 1})
	for i, v := range s.Base {
		if err := x.Add(fmt.Sprint(i), v, nil); err != nil {
			b.Fatal(err)
		}
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	i := 0
	for ; b.Loop(); i++ {
		x.Search(s.Queries[i%len(s.Queries)], 10, nil)
	}
	// CPU time, which other processes on a shared machine do not inflate
	// as they do the wall clock's.
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
}

// BenchmarkSearchSmall measures searches, ef 10 and k 10, on sets as
// small as ctrecon's own feature vectors (bench/scanset: a hundred to a
// few hundred vectors of 4, 64 and 180 values), where what a call costs
// besides the graph walk counts most: one Search per query ("search"),
// and all queries in one SearchBatch ("batch"), each reported per query.
func BenchmarkSearchSmall(b *testing.B) {
	for _, c := range []struct{ n, dim int }{{120, 4}, {480, 64}, {480, 180}} {
		s := indextest.Clustered(c.n, c.dim, 4, 0.1, 1)
		x := newIndex(b, index.Euclidean, Options{M: 16, EfConstruction: 200, Ef: 10, Seed: 1})
		for i, v := range s.Base {
			if err := x.Add(s.Keys[i], v, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("%d/search", c.dim), func(b *testing.B) {
			n := 0
			for b.Loop() {
				for _, q := range s.Queries {
					x.Search(q, 10, nil)
				}
				n += len(s.Queries)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/query")
		})
		b.Run(fmt.Sprintf("%d/batch", c.dim), func(b *testing.B) {
			n := 0
			for b.Loop() {
				x.SearchBatch(s.Queries, 10, nil)
				n += len(s.Queries)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/query")
		})
	}
}

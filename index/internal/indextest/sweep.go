package indextest

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/index"
)

// Row is one point of a sweep.
type Row struct {
	Set, Index, Params string
	// Recall is recall@K against index.Exact (Recall).
	Recall float64
	// QPS is queries per second, one goroutine.
	QPS float64
	// BuildS is the seconds taken to add the base vectors one by one.
	BuildS float64
	// BytesPerVector is the heap the built index holds (keys, vectors,
	// metas and structure, after a garbage collection) per vector.
	BytesPerVector float64
}

// K is the k of the sweeps' recall@k.
const K = 10

// maxQueries is the most queries a sweep searches (the first of the set's).
const maxQueries = 500

// Sweep builds kind's index of s's base vectors under m once for each of
// builds (the parameters given to Kind.New, defaults filled in), then for
// each of searches (parameters set with index.Tuner) measures recall@K over
// s's queries (the first maxQueries) and the queries per second. Timings are reported, never
// asserted.
func Sweep(t testing.TB, kind index.Kind, m index.Metric, s *Set, builds, searches []map[string]string) []Row {
	t.Helper()
	ref := index.NewExactMetric(0, m)
	for i, v := range s.Base {
		ref.Add(s.Keys[i], v, nil)
	}
	queries := s.Queries[:min(len(s.Queries), maxQueries)]
	truth := NewTruth(ref, queries, K, nil)
	var rows []Row
	for _, b := range builds {
		params, err := kind.BuildParams(b)
		if err != nil {
			t.Fatal(err)
		}
		ix, secs, bytes := build(t, kind, m, s, params)
		for _, sp := range searches {
			for name, v := range sp {
				if err := ix.(index.Tuner).SetParam(name, v); err != nil {
					t.Fatal(err)
				}
			}
			rows = append(rows, Row{Set: s.Name, Index: kind.Name, Params: describe(b, sp),
				Recall: truth.Recall(ix), QPS: qps(ix, queries), BuildS: secs, BytesPerVector: bytes})
		}
	}
	return rows
}

// build makes kind's index with params and adds s's base vectors; it
// returns the index, the seconds taken and the heap it holds per vector.
func build(t testing.TB, kind index.Kind, m index.Metric, s *Set, params map[string]string) (index.Index, float64, float64) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	ix, err := kind.New(s.Dim(), m, params)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Base {
		if err := ix.Add(s.Keys[i], v, nil); err != nil {
			t.Fatal(err)
		}
	}
	secs := time.Since(start).Seconds()
	runtime.GC()
	runtime.ReadMemStats(&after)
	bytes := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(s.Base))
	return ix, secs, bytes
}

// qps searches every query, in rounds until a tenth of a second has
// passed (at most 100 rounds), and returns the queries per second.
func qps(ix index.Index, queries [][]float32) float64 {
	start := time.Now()
	n := 0
	for round := 0; round < 100 && time.Since(start) < 100*time.Millisecond; round++ {
		for _, q := range queries {
			ix.Search(q, K, nil)
		}
		n += len(queries)
	}
	return float64(n) / time.Since(start).Seconds()
}

// describe writes parameters as name=value, sorted, build then search.
func describe(ps ...map[string]string) string {
	var parts []string
	for _, p := range ps {
		for _, name := range slices.Sorted(maps.Keys(p)) {
			parts = append(parts, name+"="+p[name])
		}
	}
	return strings.Join(parts, " ")
}

// BestRecall returns the highest recall of rows.
func BestRecall(rows []Row) float64 {
	best := 0.0
	for _, r := range rows {
		best = max(best, r.Recall)
	}
	return best
}

// Table writes rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| data | index | parameters | recall@10 | QPS | build s | bytes/vector |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %.4f | %.0f | %.3f | %.0f |\n",
			r.Set, r.Index, r.Params, r.Recall, r.QPS, r.BuildS, r.BytesPerVector)
	}
	return b.String()
}

// CheckSweep logs rows as a table and fails t unless some row's recall@K
// reaches want.
func CheckSweep(t testing.TB, rows []Row, want float64) {
	t.Helper()
	t.Log("\n" + Table(rows))
	if best := BestRecall(rows); best < want {
		t.Errorf("%s on %s: best recall@10 %.4f, want at least %.2f", rows[0].Index, rows[0].Set, best, want)
	}
}

// Values returns one parameter setting per value of the parameter name.
func Values(name string, values ...int) []map[string]string {
	out := make([]map[string]string, len(values))
	for i, v := range values {
		out[i] = map[string]string{name: strconv.Itoa(v)}
	}
	return out
}

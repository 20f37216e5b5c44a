package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/search"
)

// The search service benchmark's library: N clustered vectors of
// searchDim values (ann.Clustered, clusters of about 10,000, the seed
// searchSeed), one record each of kind searchKind, the record of every
// hundredth vector of class 'contrast' (the cohort's 1 %).
const (
	searchKind   = "bench-v1"
	searchDim    = 64
	searchSeed   = 64
	searchK      = 10
	searchUID    = "1.2.826.0.1.3680043.10.1."
	cohortFilter = "class = 'contrast'"
)

// BenchmarkSearchService measures the search service (package search) on
// a library of CTRECON_SEARCH_N vectors of 64 values (default 20,000; the
// issue's million: CTRECON_SEARCH_N=1000000) indexed in HNSW:
//
//   - restart: a library opened from its snapshot (search.Open, as serve
//     starts) until its HTTP API gives its first correct answer;
//   - k = 10 nearest over HTTP and over NATS (the micro endpoint, a real
//     nats-server), CTRECON_SEARCH_CLIENTS concurrent clients (default 8)
//     asking CTRECON_SEARCH_QUERIES queries (default 1,000), held-out
//     vectors of the same clusters: latency percentiles and recall@10
//     against an exact search of the same queries, for each ef of
//     CTRECON_SEARCH_EF (comma-separated, default 64);
//   - a cohort: the 1 % of class 'contrast' and the 10 nearest among them,
//     over HTTP, one client, checked against an exact scan of that 1 %.
//
// The library is built once (its snapshot kept in the user's cache
// folder, ctrecon/search-bench-N, CTRECON_SEARCH_CACHE to put it
// elsewhere) and reused by later runs: building a million-vector HNSW
// takes minutes. The service's HNSW has its defaults (M 16,
// efConstruction 200). CTRECON_SEARCH_PROFILE=FILE writes a CPU profile
// of opening the library from its snapshot.
func BenchmarkSearchService(b *testing.B) {
	n := envInt(b, "CTRECON_SEARCH_N", 20000)
	nq := envInt(b, "CTRECON_SEARCH_QUERIES", 1000)
	clients := envInt(b, "CTRECON_SEARCH_CLIENTS", 8)
	efs := envInts(b, "CTRECON_SEARCH_EF", "64")
	base, queries := ann.Clustered(n+nq, searchDim, max(n/10000, 1), searchSeed).Split(n)
	dir := searchCache(b, n)
	build(b, dir, base)

	truth, err := ann.GroundTruth(base, queries, searchK, index.Euclidean)
	if err != nil {
		b.Fatal(err)
	}
	stopProfile := profile(b, "CTRECON_SEARCH_PROFILE")
	start, cpu := time.Now(), cpuSeconds()
	cfg := search.Config{Dir: dir, Index: "hnsw", Log: slog.New(slog.DiscardHandler)}
	lib, err := search.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer lib.Close()
	opened, openCPU := time.Since(start), cpuSeconds()-cpu
	stopProfile()
	url := serveHTTP(b, lib)
	ask := httpAsker(url, clients)
	a, err := ask(search.Query{Kind: searchKind, Vector: queries.Row(0), K: searchK})
	if err != nil {
		b.Fatal(err)
	}
	answered := time.Since(start)
	first, _ := queries.Split(1)
	firstTruth := &ann.Truth{K: truth.K, Metric: truth.Metric, Rows: truth.Rows[:1], Dists: truth.Dists[:1]}
	if r := firstTruth.Recall(base, first, [][]int{rows(a)}); r < 0.9 {
		b.Fatalf("the first answer after the restart recalls %.2f of the 10 nearest", r)
	}
	b.Logf("restart with %d vectors: library open in %.2f s (%.2f CPU s), first correct HTTP answer after %.2f s",
		n, opened.Seconds(), openCPU, answered.Seconds())
	b.ReportMetric(answered.Seconds(), "restart-s")

	nc := natsService(b, lib)
	for _, ef := range efs {
		if err := lib.SetSearchParam(searchKind, "ef", strconv.Itoa(ef)); err != nil {
			b.Fatal(err)
		}
		for _, via := range []struct {
			name string
			ask  func(search.Query) (*search.Answer, error)
		}{{"http", ask}, {"nats", natsAsker(nc)}} {
			cpu := cpuSeconds()
			lat, found := load(b, via.ask, queries, clients)
			cpuMS := 1000 * (cpuSeconds() - cpu) / float64(nq+warmUp)
			recall := truth.Recall(base, queries, found)
			p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
			b.Logf("%s, ef %d, %d clients, %d queries: p50 %.2f ms, p99 %.2f ms, recall@10 %.4f, %.2f CPU ms a query (service and clients)",
				via.name, ef, clients, nq, p50, p99, recall, cpuMS)
			b.ReportMetric(p50, fmt.Sprintf("%s-ef%d-p50-ms", via.name, ef))
			b.ReportMetric(p99, fmt.Sprintf("%s-ef%d-p99-ms", via.name, ef))
			b.ReportMetric(recall, fmt.Sprintf("%s-ef%d-recall", via.name, ef))
		}
	}
	cohort(b, ask, base, queries)
}

// cohort measures the cohort query over HTTP, one query at a time, and
// checks every answer against an exact scan of the cohort.
func cohort(b *testing.B, ask func(search.Query) (*search.Answer, error), base, queries *ann.Set) {
	var members []int
	for i := 0; i < base.Len(); i += 100 {
		members = append(members, i)
	}
	m := index.Euclidean
	nq := min(queries.Len(), 200)
	var lat, took []float64
	cpu := cpuSeconds()
	for q := range nq {
		start := time.Now()
		a, err := ask(search.Query{Kind: searchKind, Vector: queries.Row(q), K: searchK, Filter: cohortFilter})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		took = append(took, a.TookMS)
		want := slices.Clone(members)
		slices.SortFunc(want, func(x, y int) int {
			return cmpFloat(m.Distance(queries.Row(q), base.Row(x)), m.Distance(queries.Row(q), base.Row(y)))
		})
		if got := rows(a); !slices.Equal(got, want[:searchK]) {
			b.Fatalf("cohort query %d (%s): rows %v, want %v", q, a.Index, got, want[:searchK])
		}
		if q == 0 {
			b.Logf("cohort: %d records of %d (%s) and the 10 nearest, served by %s", len(members), base.Len(), cohortFilter, a.Index)
		}
	}
	cpuMS := 1000 * (cpuSeconds() - cpu) / float64(nq)
	b.Logf("cohort over HTTP, %d queries, one client: p50 %.2f ms, max %.2f ms (in the service: p50 %.2f ms); %.2f CPU ms a query with its check",
		nq, percentile(lat, 0.5), slices.Max(lat), percentile(took, 0.5), cpuMS)
	b.ReportMetric(percentile(lat, 0.5), "cohort-p50-ms")
	b.ReportMetric(slices.Max(lat), "cohort-max-ms")
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// profile starts a CPU profile into the file the environment variable
// name gives, if it gives one, and returns the function that stops it.
func profile(b *testing.B, name string) func() {
	path := os.Getenv(name)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// searchCache is the folder of the library of n vectors.
func searchCache(b *testing.B, n int) string {
	root := os.Getenv("CTRECON_SEARCH_CACHE")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		root = filepath.Join(cache, "ctrecon")
	}
	return filepath.Join(root, fmt.Sprintf("search-bench-%d-%d-s%d", n, searchDim, searchSeed))
}

// build indexes base in a library in dir and snapshots it, unless dir
// holds the snapshot of an earlier build.
func build(b *testing.B, dir string, base *ann.Set) {
	done := filepath.Join(dir, "built")
	if _, err := os.Stat(done); err == nil {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	lib, err := search.Open(context.Background(), search.Config{Dir: dir, Index: "hnsw", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer lib.Close()
	const batch = 10000
	for lo := 0; lo < base.Len(); lo += batch {
		hi := min(lo+batch, base.Len())
		recs := make([]records.Record, 0, hi-lo)
		for i := lo; i < hi; i++ {
			recs = append(recs, record(i, base.Row(i)))
		}
		if err := lib.Add(context.Background(), recs, uint64(hi)); err != nil {
			b.Fatal(err)
		}
	}
	built := time.Since(start)
	if err := lib.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("built the library of %d vectors in %.1f s, snapshot in %.1f s more", base.Len(), built.Seconds(), time.Since(start).Seconds()-built.Seconds())
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
}

// record is base row i's record: a series of its own.
func record(i int, v []float32) records.Record {
	class := []string{"bone", "soft-tissue", "lipid", "water"}[i%4]
	if i%100 == 0 {
		class = "contrast"
	}
	kind, version, _ := records.SplitKind(searchKind)
	return records.Record{ScanID: "BENCH-" + strconv.Itoa(i/1000), StudyUID: searchUID + "0." + strconv.Itoa(i/1000),
		SeriesUID: searchUID + strconv.Itoa(i), Slice: -1, Class: class, Kind: kind, Version: version,
		Settings: "0000000000000000", Values: records.Vector(slices.Clone(v))}
}

// rows returns the base rows of a's hits.
func rows(a *search.Answer) []int {
	out := make([]int, len(a.Hits))
	for i, h := range a.Hits {
		r, err := strconv.Atoi(strings.TrimPrefix(h.SeriesUID, searchUID))
		if err != nil {
			r = -1
		}
		out[i] = r
	}
	return out
}

// serveHTTP serves lib's HTTP API on a loopback port until the benchmark
// ends, and returns its URL.
func serveHTTP(b *testing.B, lib *search.Library) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: lib.Handler(search.HTTPOptions{}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// httpAsker returns a function that posts a query to url's /search, over
// up to conns kept-alive connections.
func httpAsker(url string, conns int) func(search.Query) (*search.Answer, error) {
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	return func(q search.Query) (*search.Answer, error) {
		body, err := json.Marshal(q)
		if err != nil {
			return nil, err
		}
		resp, err := c.Post(url+"/search", "application/json", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
		}
		var a search.Answer
		return &a, json.Unmarshal(out, &a)
	}
}

// natsService serves lib as the NATS micro service on a real nats-server
// (bustest.NATSServer) until the benchmark ends, and returns a client's
// connection to that server.
func natsService(b *testing.B, lib *search.Library) *nats.Conn {
	url := bustest.StartExternal(b, bustest.NATSServer(b))
	conn := func() *nats.Conn {
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	svc, err := lib.ServeNATS(conn(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Stop() })
	return conn()
}

func natsAsker(nc *nats.Conn) func(search.Query) (*search.Answer, error) {
	return func(q search.Query) (*search.Answer, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return search.AskNATS(ctx, nc, q)
	}
}

// warmUp is how many queries load asks before it measures.
const warmUp = 50

// load asks every query of queries for its 10 nearest from clients
// goroutines at once, after a warm-up round of warmUp, and returns each
// query's latency (ms) and the base rows found.
func load(b *testing.B, ask func(search.Query) (*search.Answer, error), queries *ann.Set, clients int) ([]float64, [][]int) {
	for q := range warmUp {
		if _, err := ask(search.Query{Kind: searchKind, Vector: queries.Row(q), K: searchK}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]float64, queries.Len())
	found := make([][]int, queries.Len())
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range clients {
		wg.Go(func() {
			for q := int(next.Add(1) - 1); q < queries.Len(); q = int(next.Add(1) - 1) {
				start := time.Now()
				a, err := ask(search.Query{Kind: searchKind, Vector: queries.Row(q), K: searchK})
				lat[q] = float64(time.Since(start).Microseconds()) / 1000
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				found[q] = rows(a)
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	return lat, found
}

// cpuSeconds returns the CPU time the process has used, user and system:
// on a shared machine, where wall times stretch with the others' load.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// percentile returns the p-quantile of xs (nearest rank).
func percentile(xs []float64, p float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// envInts reads a comma-separated list of positive integers from the
// environment variable name (def when unset).
func envInts(b *testing.B, name, def string) []int {
	s := os.Getenv(name)
	if s == "" {
		s = def
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			b.Fatalf("%s is %q; it must be positive integers separated by commas", name, s)
		}
		out = append(out, v)
	}
	return out
}

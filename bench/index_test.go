package bench

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/index"
	_ "github.com/ctrecon/ctrecon/index/hnsw" // registers "hnsw"
	_ "github.com/ctrecon/ctrecon/index/ivf"
	_ "github.com/ctrecon/ctrecon/index/lsh"
	_ "github.com/ctrecon/ctrecon/index/slimtree"
	_ "github.com/ctrecon/ctrecon/index/tree"
)

// The HNSW sweep every tool runs: the same M and efConstruction, the same
// ef values.
var efSweep = []int{10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512}

// sweeps are the settings each of ctrecon's other indexes is measured
// with, in the same run as HNSW and the peers, in the order measured: each
// search parameter from a fast, rough answer to recall 0.99 or more (the
// tree's checks 0 and the Slim-tree are exact). "hnsw" stands for HNSW
// beside the peers (compare).
var sweeps = []ann.Config{
	{Index: "exact"},
	{Index: "ivf", Sweep: ann.Sweep(map[string][]string{"nprobe": {"1", "2", "4", "8", "16", "32", "64", "128"}})},
	{Index: "tree", Sweep: ann.Sweep(map[string][]string{"checks": {"64", "128", "256", "512", "1024", "2048", "4096", "8192", "16384", "0"}})},
	{Index: "hnsw"},
	{Index: "lsh", Sweep: append(ann.Sweep(map[string][]string{"probes": {"0", "4", "16", "64", "256"}}),
		// Shorter keys in more tables: the 8 hashes of the default cut
		// the scans' feature vectors into buckets too fine for 256 probes
		// to reach recall 0.99 (0.87 on the HU histograms).
		ann.Sweep(map[string][]string{"hashes": {"4"}, "tables": {"16"}, "probes": {"16", "64", "256"}})...)},
	{Index: "slim"},
}

// digitsPath is where `make deps` puts scikit-learn's digits.csv.gz (from
// Debian's python3-sklearn package); CTRECON_DIGITS overrides it.
func digitsPath() string {
	if p := os.Getenv("CTRECON_DIGITS"); p != "" {
		return p
	}
	dir, _ := os.UserCacheDir()
	return filepath.Join(dir, "ctrecon", "digits.csv.gz")
}

// outDir is where the benchmarks write their tables, JSON and plots:
// CTRECON_BENCH_OUT, or out/bench in the repository.
func outDir(b *testing.B) string {
	dir := os.Getenv("CTRECON_BENCH_OUT")
	if dir == "" {
		dir = filepath.Join("..", "out", "bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkIndexDigits measures every index of ctrecon, and its HNSW beside
// hnswlib and faiss, on the 1,797 handwritten digits (64 values each), a
// seeded 10 % held out as queries: the sweeps, and M 16, efConstruction
// 200 and the ef sweep for the three HNSWs.
func BenchmarkIndexDigits(b *testing.B) {
	set, err := ann.ReadFile(digitsPath())
	if err != nil {
		b.Skipf("%v (make deps extracts it from python3-sklearn)", err)
	}
	if err := set.LabelsFromLastColumn(); err != nil {
		b.Fatal(err)
	}
	base, queries, err := ann.HoldOut(set, 0.1, 1)
	if err != nil {
		b.Fatal(err)
	}
	compare(b, "digits", base, queries, 16, 200)
}

// BenchmarkIndexClustered measures the same on 100,000 clustered vectors
// of 64 and of 128 values (ann.Clustered: clusters of about 10,000
// vectors) and 1000 queries from the same clusters: M 16, efConstruction
// 100, the ef sweep. CTRECON_ANN_N sets another number of vectors
// (CTRECON_ANN_N=1000000 for the million; hours on two cores),
// CTRECON_ANN_DIM one of the dimensions, CTRECON_ANN_QUERIES the number
// of queries, CTRECON_ANN_INDEXES (a comma-separated list of sweeps'
// indexes, "hnsw" for HNSW beside the peers) the indexes measured,
// CTRECON_ANN_EFC the three HNSWs' efConstruction, CTRECON_ANN_EF their
// ef values, CTRECON_ANN_PEERS which peers run (a comma-separated list;
// faiss's build of a million takes several times hnswlib's).
func BenchmarkIndexClustered(b *testing.B) {
	n, nq := envInt(b, "CTRECON_ANN_N", 100_000), envInt(b, "CTRECON_ANN_QUERIES", 1000)
	efc := envInt(b, "CTRECON_ANN_EFC", 100)
	dims := []int{64, 128}
	if os.Getenv("CTRECON_ANN_DIM") != "" {
		dims = []int{envInt(b, "CTRECON_ANN_DIM", 0)}
	}
	for _, dim := range dims {
		b.Run(strconv.Itoa(dim), func(b *testing.B) {
			base, queries := ann.Clustered(n+nq, dim, max(n/10000, 1), uint64(dim)).Split(n)
			compare(b, fmt.Sprintf("clustered-%d-%d", n, dim), base, queries, 16, efc)
		})
	}
}

// envInt returns the environment variable name as an integer, or def when
// it is not set.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s is %q; it must be a positive integer", name, s)
	}
	return v
}

// envList returns the comma-separated list in the environment variable
// name, nil when it is not set.
func envList(name string) []string {
	if list := os.Getenv(name); list != "" {
		return strings.Split(list, ",")
	}
	return nil
}

// peers returns the peers named in CTRECON_ANN_PEERS, or nil for all.
func peers(b *testing.B) []string {
	names := envList("CTRECON_ANN_PEERS")
	for _, name := range names {
		if !slices.Contains(ann.PeerTools, name) {
			b.Fatalf("CTRECON_ANN_PEERS names %q, which is none of %s", name, strings.Join(ann.PeerTools, ", "))
		}
	}
	return names
}

// efValues returns the ef values the three HNSWs are measured with:
// CTRECON_ANN_EF (a comma-separated list, for a short run on a busy
// machine), or efSweep.
func efValues(b *testing.B) []int {
	list := envList("CTRECON_ANN_EF")
	if list == nil {
		return efSweep
	}
	var out []int
	for _, v := range list {
		ef, err := strconv.Atoi(v)
		if err != nil || ef < 1 {
			b.Fatalf("CTRECON_ANN_EF is %q; it must be a comma-separated list of positive integers", os.Getenv("CTRECON_ANN_EF"))
		}
		out = append(out, ef)
	}
	return out
}

// measured returns the sweeps named in CTRECON_ANN_INDEXES, in the order
// given, or all of them.
func measured(b *testing.B) []ann.Config {
	list := envList("CTRECON_ANN_INDEXES")
	if list == nil {
		return sweeps
	}
	var out []ann.Config
	for _, name := range list {
		i := slices.IndexFunc(sweeps, func(c ann.Config) bool { return c.Index == name })
		if i < 0 {
			b.Fatalf("CTRECON_ANN_INDEXES names %q, which is none of the measured indexes", name)
		}
		out = append(out, sweeps[i])
	}
	return out
}

// compare measures every index of ctrecon (sweeps) and its HNSW beside
// the peers (Compare) on the same vectors and queries, in one run, and
// writes the results to outDir as NAME.json, NAME.md and NAME.png, again
// after each index, so that a long run that is stopped keeps what it
// measured.
func compare(b *testing.B, name string, base, queries *ann.Set, m, efc int) {
	for b.Loop() {
		truth, err := groundTruth(b, name, base, queries)
		if err != nil {
			b.Fatal(err)
		}
		var results []ann.Result
		for _, cfg := range measured(b) {
			var r []ann.Result
			start := time.Now()
			if cfg.Index == "hnsw" {
				r, err = ann.Compare(context.Background(), base, queries, truth, ann.Comparison{Peers: peers(b),
					M: m, EfConstruction: efc, Ef: efValues(b), Rounds: 3, RoundTime: time.Second / 3})
			} else {
				cfg.Metric, cfg.K, cfg.MinQueryTime = index.Euclidean, 10, time.Second/3
				r, err = ann.Evaluate(base, queries, truth, cfg)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %s measured in %s", name, cfg.Index, time.Since(start).Round(time.Second))
			results = append(results, r...)
			write(b, name, base, results)
		}
		ann.WriteTable(os.Stdout, results)
	}
}

// groundTruth returns the exact 10 nearest neighbours of every query,
// from outDir's NAME.truth.gob when an earlier run left it there and it
// agrees with the vectors (a million vectors take minutes), or computed
// and saved there.
func groundTruth(b *testing.B, name string, base, queries *ann.Set) (*ann.Truth, error) {
	path := filepath.Join(outDir(b), name+".truth.gob")
	var cached struct {
		Rows  [][]int
		Dists [][]float64
	}
	if f, err := os.Open(path); err == nil {
		err = gob.NewDecoder(f).Decode(&cached)
		f.Close()
		t := &ann.Truth{K: 10, Metric: index.Euclidean, Rows: cached.Rows, Dists: cached.Dists}
		if err == nil && t.Matches(base, queries) {
			return t, nil
		}
		b.Logf("%s does not match the vectors; computing the ground truth again", path)
	}
	t, err := ann.GroundTruth(base, queries, 10, index.Euclidean)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cached.Rows, cached.Dists = t.Rows, t.Dists
	return t, gob.NewEncoder(f).Encode(cached)
}

// write writes results to outDir as NAME.md (the table), NAME.json and
// NAME.png (the recall-QPS plot).
func write(b *testing.B, name string, base *ann.Set, results []ann.Result) {
	dir := outDir(b)
	f, err := os.Create(filepath.Join(dir, name+".md"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := ann.WriteTable(f, results); err != nil {
		b.Fatal(err)
	}
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644); err != nil {
		b.Fatal(err)
	}
	title := fmt.Sprintf("%s: %d vectors of %d, recall@10 against QPS", name, base.Len(), base.Dim)
	if err := ann.Plot(filepath.Join(dir, name+".png"), title, results); err != nil {
		b.Fatal(err)
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
// with, in the same run as HNSW and the peers: each search parameter from
// a fast, rough answer to recall 0.99 or more (the tree's checks 0 and the
// Slim-tree are exact).
var sweeps = []ann.Config{
	{Index: "exact"},
	{Index: "ivf", Sweep: ann.Sweep(map[string][]string{"nprobe": {"1", "2", "4", "8", "16", "32", "64"}})},
	{Index: "tree", Sweep: ann.Sweep(map[string][]string{"checks": {"64", "128", "256", "512", "1024", "2048", "0"}})},
	{Index: "lsh", Sweep: ann.Sweep(map[string][]string{"probes": {"0", "4", "16", "64", "256"}})},
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
// CTRECON_ANN_DIM one of the dimensions.
func BenchmarkIndexClustered(b *testing.B) {
	n := 100_000
	if s := os.Getenv("CTRECON_ANN_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("CTRECON_ANN_N: %v", err)
		}
	}
	dims := []int{64, 128}
	if s := os.Getenv("CTRECON_ANN_DIM"); s != "" {
		d, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("CTRECON_ANN_DIM: %v", err)
		}
		dims = []int{d}
	}
	for _, dim := range dims {
		b.Run(strconv.Itoa(dim), func(b *testing.B) {
			base, queries := ann.Clustered(n+1000, dim, max(n/10000, 1), uint64(dim)).Split(n)
			compare(b, fmt.Sprintf("clustered-%d-%d", n, dim), base, queries, 16, 100)
		})
	}
}

// compare measures every index of ctrecon (sweeps) and its HNSW beside
// the peers (Compare) on the same vectors and queries, in one run, and writes the results to outDir as NAME.json,
// NAME.md and NAME.png.
func compare(b *testing.B, name string, base, queries *ann.Set, m, efc int) {
	for b.Loop() {
		truth, err := ann.GroundTruth(base, queries, 10, index.Euclidean)
		if err != nil {
			b.Fatal(err)
		}
		var results []ann.Result
		for _, cfg := range sweeps {
			cfg.Metric, cfg.K, cfg.MinQueryTime = index.Euclidean, 10, time.Second/3
			r, err := ann.Evaluate(base, queries, truth, cfg)
			if err != nil {
				b.Fatal(err)
			}
			results = append(results, r...)
		}
		hnsw, err := ann.Compare(context.Background(), base, queries, truth, ann.Comparison{
			M: m, EfConstruction: efc, Ef: efSweep, Rounds: 3, RoundTime: time.Second / 3})
		if err != nil {
			b.Fatal(err)
		}
		results = append(results, hnsw...)
		write(b, name, base, results)
	}
}

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
	ann.WriteTable(os.Stdout, results)
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644); err != nil {
		b.Fatal(err)
	}
	title := fmt.Sprintf("%s: %d vectors of %d, recall@10 against QPS", name, base.Len(), base.Dim)
	if err := ann.Plot(filepath.Join(dir, name+".png"), title, results); err != nil {
		b.Fatal(err)
	}
}

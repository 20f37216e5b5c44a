package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// indexBenchJSON runs `ctrecon index bench --json` on the 270 held-out
// base vectors of indexBenchFiles with args and returns its results, one
// per setting.
func indexBenchJSON(t *testing.T, f map[string]string, args ...string) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"--vectors", f["vectors.csv"], "--json", "--time", "0"}, args...)
	if err := runIndexBench(args, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var results []map[string]any
	for sc := bufio.NewScanner(&out); sc.Scan(); {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		results = append(results, r)
	}
	return results
}

// indexBenchTable runs `ctrecon index bench` on the vectors of
// indexBenchFiles with args and returns the table and the notes under it.
func indexBenchTable(t *testing.T, f map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"--vectors", f["vectors.csv"], "--time", "0"}, args...)
	if err := runIndexBench(args, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

// indexBenchRefuses runs `ctrecon index bench` on the vectors of
// indexBenchFiles with args and checks that it fails saying want.
func indexBenchRefuses(t *testing.T, f map[string]string, want string, args ...string) {
	t.Helper()
	err := runIndexBench(append([]string{"--vectors", f["vectors.csv"]}, args...), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v: %v, want an error saying %q", args, err, want)
	}
}

// adjusted returns the value in use of parameter name that result r
// reports as adjusted, or "".
func adjusted(r map[string]any, name string) string {
	list, _ := r["adjusted"].([]any)
	for _, a := range list {
		if a := a.(map[string]any); a["name"] == name {
			return a["used"].(string)
		}
	}
	return ""
}

// TestIndexBenchReportsAdjusted: a parameter the index does not use as
// given is reported with the value in use, in --json and in the table,
// and one that cannot mean anything for the data is refused before the
// build: HNSW searches with max(ef, k) as hnswlib does; IVF makes at most
// one list per 8 of the 256 vectors it trains on, and nprobe cannot pass
// the lists; a tree of one leaf measures it all whatever checks says; a
// table of 4 hyperplanes has 15 other buckets to probe; an nlist above
// the vectors is an error, as faiss's training makes it.
func TestIndexBenchReportsAdjusted(t *testing.T) {
	f := indexBenchFiles(t)
	for _, c := range []struct {
		index, param, name string
		want               []string // per setting, the value in use ("": as given)
	}{
		{"hnsw", "ef=2,20", "ef", []string{"10", ""}},
		{"ivf", "nlist=100", "nlist", []string{"32"}},
		{"ivf", "nprobe=4,64", "nprobe", []string{"", "16"}},
		{"tree", "checks=5", "checks", []string{""}},
	} {
		results := indexBenchJSON(t, f, "--index", c.index, "--param", c.param)
		for i, r := range results {
			if got := adjusted(r, c.name); got != c.want[i] {
				t.Errorf("%s %s, setting %d: %s in use %q, want %q (%v)", c.index, c.param, i+1, c.name, got, c.want[i], r["adjusted"])
			}
		}
	}
	if r := indexBenchJSON(t, f, "--index", "tree", "--param", "leaf=1000", "--param", "checks=5"); adjusted(r[0], "checks") != "270" {
		t.Errorf("a tree of one leaf with checks 5: %v, want checks 270 in use", r[0]["adjusted"])
	}
	r := indexBenchJSON(t, f, "--index", "lsh", "--param", "family=hyperplane", "--param", "hashes=4", "--param", "probes=100")
	if adjusted(r[0], "probes") != "15" {
		t.Errorf("hyperplanes with 4 hashes and 100 probes: %v, want probes 15 in use", r[0]["adjusted"])
	}
	table := indexBenchTable(t, f, "--index", "hnsw", "--param", "ef=2")
	if !strings.Contains(table, "| M=16 ef=2 (used 10) efConstruction=200 seed=1 |") ||
		!strings.Contains(table, "ef=2 used 10: a search keeps at least k candidates") {
		t.Errorf("ef below k in the table:\n%s", table)
	}
	indexBenchRefuses(t, f, "parameter nlist is 271, more than the 270 vectors to index", "--index", "ivf", "--param", "nlist=64,271")
}

// TestIndexBenchSlimTree: the Slim-tree's row carries what Traina et al.
// (2000) report: the distances computed per query against a linear
// scan's one per vector, and the fat- and bloat-factors before and after
// Slim-down (TestSlimDown in index/slimtree checks that it slims a tree;
// on a few hundred vectors the fewer nodes it leaves may raise the
// fat-factor, which divides by the nodes).
func TestIndexBenchSlimTree(t *testing.T) {
	f := indexBenchFiles(t)
	r := indexBenchJSON(t, f, "--index", "slim", "--param", "capacity=8")[0]
	perQuery, _ := r["distances_per_query"].(float64)
	if perQuery <= 0 || perQuery >= 270 || r["recall_at_k"] != 1.0 {
		t.Errorf("slim: %v distances per query, recall %v; want fewer than the scan's 270, and exact answers", r["distances_per_query"], r["recall_at_k"])
	}
	s, _ := r["slim_down"].(map[string]any)
	for _, name := range []string{"fat_factor_before", "fat_factor_after", "bloat_factor_before", "bloat_factor_after"} {
		if v, _ := s[name].(float64); !(v > 0 && v < 1) {
			t.Errorf("slim_down: %v, want a %s between 0 and 1 (a tree of 270 vectors in nodes of 8 overlaps)", s, name)
		}
	}
	table := indexBenchTable(t, f, "--index", "slim", "--param", "capacity=8")
	if !strings.Contains(table, "distances per query, a linear scan 270") || !strings.Contains(table, "after Slim-down") {
		t.Errorf("slim table:\n%s", table)
	}
}

// TestIndexBenchLSHWarnings: a width given with the hyperplane family,
// which has none, is refused naming it; a setting that finds next to none
// of the neighbours (a width far below the data's distances) is warned
// about with its likely cause, in --json and under the table.
func TestIndexBenchLSHWarnings(t *testing.T) {
	f := indexBenchFiles(t)
	indexBenchRefuses(t, f, "parameter width is 1, but family=hyperplane has no bucket width", "--index", "lsh", "--param", "family=hyperplane", "--param", "width=1")
	results := indexBenchJSON(t, f, "--index", "lsh", "--param", "width=0.00001,0", "--param", "probes=0")
	warnings := func(r map[string]any) string {
		w, _ := json.Marshal(r["warnings"])
		return string(w)
	}
	if r := results[0]; r["recall_at_k"].(float64) >= 0.05 || !strings.Contains(warnings(r), "the bucket width is too small for the data's distances") {
		t.Errorf("width 0.00001: recall %v, warnings %s", r["recall_at_k"], warnings(r))
	}
	// (with probes 0 its buckets may hold fewer than k, which is warned of)
	if r := results[1]; strings.Contains(warnings(r), "recall@k is") || adjusted(r, "width") == "" {
		t.Errorf("measured width: warnings %s, adjusted %v (want no low recall, and the width measured)", warnings(r), r["adjusted"])
	}
	table := indexBenchTable(t, f, "--index", "lsh", "--param", "width=0.00001")
	if !strings.Contains(table, "warning: row 1 (family=auto hashes=8 probes=16 seed=1 tables=8 width=0.00001): recall@k is 0.0") {
		t.Errorf("no warning under the table:\n%s", table)
	}
}

// TestIndexBenchRefusesMeaningless: a parameter value that cannot mean
// anything is refused before any build, naming the parameter, its value
// and its limit: a tree's branching above the leaf+1 vectors a split
// parts (it would make at most leaf+1 clusters).
func TestIndexBenchRefusesMeaningless(t *testing.T) {
	f := indexBenchFiles(t)
	indexBenchRefuses(t, f, "parameter branching is 16, more than the leaf+1 (5) vectors a split parts", "--index", "tree", "--param", "leaf=4", "--param", "branching=4,16")
}

// TestIndexBenchLabelPrecisionAtK: label precision@k is over k, a row not
// found counting as a wrong one: a tree of leaves of 2 vectors searched
// with checks 1 returns 2 or 3 of the 10 rows asked for, and may not score
// near 1 for them being of the query's label.
func TestIndexBenchLabelPrecisionAtK(t *testing.T) {
	f := indexBenchFiles(t)
	r := indexBenchJSON(t, f, "--labels", f["labels.txt"], "--index", "tree", "--param", "leaf=2", "--param", "branching=2", "--param", "checks=1")[0]
	if p, _ := r["label_precision_at_k"].(float64); p > 0.3 {
		t.Errorf("label precision@10 %v with at most 3 rows found per query (recall@10 %v)", p, r["recall_at_k"])
	}
}

// writeLines writes lines to name in a new directory and returns its path.
func writeLines(t *testing.T, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIndexBenchReportsUsed: the values in use that the parameters given
// do not show are reported: the family auto picks, the minocc 0 takes
// (capacity/4), no width for hyperplanes; and a setting whose searches
// return fewer than k rows says how many, in --json and in a warning.
func TestIndexBenchReportsUsed(t *testing.T) {
	f := indexBenchFiles(t)
	if r := indexBenchJSON(t, f, "--index", "lsh")[0]; adjusted(r, "family") != "gaussian" {
		t.Errorf("lsh family=auto under euclidean: %v, want family gaussian in use", r["adjusted"])
	}
	table := indexBenchTable(t, f, "--index", "lsh", "--param", "family=hyperplane")
	if !strings.Contains(table, "| family=hyperplane hashes=8 probes=16 seed=1 tables=8 width=0 (used n/a) |") {
		t.Errorf("hyperplane's width in the table:\n%s", table)
	}
	table = indexBenchTable(t, f, "--index", "slim", "--param", "capacity=8")
	if !strings.Contains(table, "| capacity=8 minocc=0 (used 2) |") || !strings.Contains(table, "moves into a sibling leaf") ||
		!strings.Contains(table, "a point query reads") {
		t.Errorf("slim's minocc in use, its moves and node reads in the table:\n%s", table)
	}
	r := indexBenchJSON(t, f, "--index", "tree", "--param", "leaf=2", "--param", "branching=2", "--param", "checks=1")[0]
	w, _ := json.Marshal(r["warnings"])
	if n, _ := r["returned_per_query"].(float64); n <= 0 || n >= 10 || !strings.Contains(string(w), "fewer than k=10") {
		t.Errorf("tree with checks 1: %v rows returned per query, warnings %s; want fewer than 10, and a warning", r["returned_per_query"], w)
	}
	if r := indexBenchJSON(t, f, "--index", "exact")[0]; r["returned_per_query"] != 10.0 || r["warnings"] != nil {
		t.Errorf("exact: %v rows returned per query, warnings %v; want 10 and none", r["returned_per_query"], r["warnings"])
	}
}

// TestIndexBenchLSHSmallScan: below 256 vectors, too few to measure a
// width on, a p-stable LSH index scans them all; its row says so, in its
// adjusted width and in a warning, not only by a recall of 1; so does
// IVF's, whose quantiser is not trained below 256 vectors.
func TestIndexBenchLSHSmallScan(t *testing.T) {
	f := indexBenchFiles(t)
	data, err := os.ReadFile(f["vectors.csv"])
	if err != nil {
		t.Fatal(err)
	}
	small := writeLines(t, "small.csv", strings.Split(string(data), "\n")[:200])
	var out bytes.Buffer
	if err := runIndexBench([]string{"--vectors", small, "--index", "lsh", "--time", "0"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "width=0 (used none)") || !strings.Contains(out.String(), "every search scanned all 180 vectors") {
		t.Errorf("LSH on 180 vectors:\n%s", out.String())
	}
	out.Reset()
	if err := runIndexBench([]string{"--vectors", small, "--index", "ivf", "--time", "0"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "every search scanned all 180 vectors") || !strings.Contains(out.String(), "nprobe=8 (used none)") {
		t.Errorf("IVF on 180 vectors, untrained (nprobe unused):\n%s", out.String())
	}
}

// TestIndexBenchLSHRefusesDM: LSH projects vectors, which mean nothing
// under DM, so it refuses metric histograms as ivf and tree do, whatever
// the family, and does not ask for a family instead.
func TestIndexBenchLSHRefusesDM(t *testing.T) {
	f := indexBenchFiles(t)
	for _, family := range []string{"auto", "hyperplane"} {
		err := runIndexBench([]string{"--vectors", f["mhist.parquet"], "--index", "lsh", "--param", "family=" + family}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "the lsh index projects vectors") || strings.Contains(err.Error(), "give family") {
			t.Errorf("lsh family=%s on metric histograms: %v, want a refusal of DM", family, err)
		}
	}
}

// TestIndexBenchTreeAlike: a tree of 270 equal vectors stays one leaf,
// although they are more than leaf=64, and says why.
func TestIndexBenchTreeAlike(t *testing.T) {
	same := make([]string, 300)
	for i := range same {
		same[i] = "1,2,3,4"
	}
	var out bytes.Buffer
	args := []string{"--vectors", writeLines(t, "same.csv", same), "--index", "tree", "--param", "checks=5", "--time", "0"}
	if err := runIndexBench(args, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "checks=5 used 270: the tree is one leaf (its 270 vectors, more than leaf=64, are too alike for k-means to split)") {
		t.Errorf("a tree of 270 equal vectors:\n%s", out.String())
	}
}

// TestIndexBenchAnyCase: index names, parameter names and a parameter's
// named values are taken in any case, as metrics and extensions are, and
// reported as the index spells them; two spellings of one parameter are
// one parameter given twice.
func TestIndexBenchAnyCase(t *testing.T) {
	f := indexBenchFiles(t)
	r := indexBenchJSON(t, f, "--index", "HNSW", "--param", "EF=10", "--param", "m=8", "--param", "EFCONSTRUCTION=20")[0]
	if p := fmt.Sprint(r["params"]); r["index"] != "hnsw" || p != "map[M:8 ef:10 efConstruction:20 seed:1]" {
		t.Errorf("--index HNSW EF=10 m=8 EFCONSTRUCTION=20: index %v, params %s", r["index"], p)
	}
	r = indexBenchJSON(t, f, "--index", "Lsh", "--param", "Family=HYPERPLANE", "--metric", "cosine")[0]
	if p := r["params"].(map[string]any); r["index"] != "lsh" || p["family"] != "hyperplane" {
		t.Errorf("--index Lsh Family=HYPERPLANE: index %v, params %v", r["index"], p)
	}
	indexBenchRefuses(t, f, "parameter ef is given twice", "--index", "hnsw", "--param", "ef=10", "--param", "EF=20")
}

// TestIndexBenchRefusesRepeatedValue: a value given twice in a sweep
// would measure the same setting twice; it is refused, named.
func TestIndexBenchRefusesRepeatedValue(t *testing.T) {
	f := indexBenchFiles(t)
	indexBenchRefuses(t, f, "--param ef=10,20,10: the value 10 is given twice", "--index", "hnsw", "--param", "ef=10,20,10")
	indexBenchRefuses(t, f, "the value hyperplane is given twice", "--index", "lsh", "--param", "family=hyperplane,HYPERPLANE")
}

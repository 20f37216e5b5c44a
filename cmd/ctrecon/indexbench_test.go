package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/features/records"
)

// indexBenchFiles writes 300 clustered vectors of 8 values as .csv and as
// .fvecs, their labels, and files with bad input, into a temporary folder.
func indexBenchFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	set := ann.Clustered(300, 8, 6, 1)
	var csv strings.Builder
	for i := range set.Len() {
		for j, v := range set.Row(i) {
			if j > 0 {
				csv.WriteByte(',')
			}
			fmt.Fprint(&csv, v)
		}
		csv.WriteByte('\n')
	}
	files := map[string]string{
		"vectors.csv": csv.String(),
		"labels.txt":  strings.Join(set.Labels, "\n") + "\n",
		"ragged.csv":  "1,2,3\n4,5\n",
		"nan.csv":     "1,2,3,4,5,6,7,8\n1,2,3,NaN,5,6,7,8\n",
		"dim3.csv":    "1,2,3\n",
		"spaces.csv":  "1 2 3\n4 5 6\n",
		"huge.csv":    "1,2\n1e39,2\n",
		"empty.txt":   "",
	}
	zero := strings.Split(csv.String(), "\n")
	zero[7] = "0,0,0,0,0,0,0,0" // row 8
	files["zero.csv"] = strings.Join(zero, "\n")
	paths := map[string]string{}
	for name, content := range files {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths["vectors.fvecs"] = filepath.Join(dir, "vectors.fvecs")
	if err := set.WriteFvecs(paths["vectors.fvecs"]); err != nil {
		t.Fatal(err)
	}
	nan := set.Row(1)[3]
	set.Row(1)[3] = float32(math.NaN())
	writeRecords(t, filepath.Join(dir, "nan.parquet"), set.Data[:16], 8, "radiomics")
	set.Row(1)[3] = nan
	writeRecords(t, filepath.Join(dir, "vectors.parquet"), set.Data, 8, "radiomics")
	writeRecords(t, filepath.Join(dir, "ragged.parquet"), set.Data[:17], 8, "radiomics")
	writeRecords(t, filepath.Join(dir, "kinds.parquet"), set.Data[:16], 8, "radiomics", "hist-hu")
	writeRecords(t, filepath.Join(dir, "dim4.parquet"), set.Data[:40], 4, "radiomics")
	writeRecords(t, filepath.Join(dir, "mhist.parquet"), nil, 0)
	for _, name := range []string{"nan", "vectors", "ragged", "kinds", "dim4", "mhist"} {
		paths[name+".parquet"] = filepath.Join(dir, name+".parquet")
	}
	paths["folder.fvecs"] = filepath.Join(dir, "folder.fvecs")
	if err := os.Mkdir(paths["folder.fvecs"], 0o755); err != nil {
		t.Fatal(err)
	}
	return paths
}

// metricHistograms returns n metric histograms of 3 to 6 points each, as
// feature records hold them (each point's HU and density in turn), in
// three families of shapes.
func metricHistograms(n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		points := 3 + i%4
		for j := range points {
			hu := float32(-1000 + 400*j + 7*(i%13))
			density := float32((i%3)+1) * float32(1+j%2) / 1000
			out[i] = append(out[i], hu, density)
		}
	}
	return out
}

// writeRecords writes data as feature records of dim values each (the
// last one shorter when dim does not divide it) to path with
// features/records, one record per vector, the kinds taking turns; with
// data nil, 120 metric histograms (metricHistograms).
func writeRecords(t *testing.T, path string, data []float32, dim int, kinds ...string) {
	t.Helper()
	hash, settings, err := records.HashSettings(struct{ Bins int }{32})
	if err != nil {
		t.Fatal(err)
	}
	var recs []records.Record
	rec := func(i int, kind string, v []float32) records.Record {
		return records.Record{ScanID: "scan", StudyUID: "1.2", SeriesUID: "1.2.3", Slice: -1, Object: int64(i + 1),
			Kind: kind, Version: 1, Settings: hash, Values: records.Vector(v)}
	}
	for i := 0; i < len(data); i += dim {
		recs = append(recs, rec(i/dim, kinds[(i/dim)%len(kinds)], data[i:min(i+dim, len(data))]))
	}
	if data == nil { // metric histograms
		for i, v := range metricHistograms(120) {
			recs = append(recs, rec(i, "mhist-hu", v))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := records.WriteParquet(f, records.Metadata{Settings: map[string]json.RawMessage{hash: settings}}, recs); err != nil {
		t.Fatal(err)
	}
}

// TestIndexBench runs `ctrecon index bench --json` with a sweep and checks
// one object per setting with the fields the issue names, exact recall
// from the exact index, and held-out queries.
func TestIndexBench(t *testing.T) {
	f := indexBenchFiles(t)
	var out bytes.Buffer
	err := runIndexBench([]string{"--vectors", f["vectors.csv"], "--labels", f["labels.txt"], "--index", "hnsw",
		"--param", "ef=10,50", "--param", "M=4,8", "--k", "5", "--json", "--time", "10ms"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var settings []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		for _, field := range []string{"index", "params", "recall_at_k", "qps", "build_s", "bytes_per_vector", "label_precision_at_k"} {
			if _, ok := r[field]; !ok {
				t.Errorf("%s has no %s", sc.Text(), field)
			}
		}
		p := r["params"].(map[string]any)
		settings = append(settings, fmt.Sprintf("M=%v ef=%v", p["M"], p["ef"]))
		if r["queries"] != 30.0 || r["vectors"] != 270.0 || r["k"] != 5.0 || r["index"] != "hnsw" {
			t.Errorf("%s: want 270 vectors and 30 held-out queries, k 5", sc.Text())
		}
		if p["ef"] == "50" && r["recall_at_k"].(float64) < 0.99 {
			t.Errorf("%s: recall below 0.99 with ef 50", sc.Text())
		}
	}
	if got := strings.Join(settings, ", "); got != "M=4 ef=10, M=4 ef=50, M=8 ef=10, M=8 ef=50" {
		t.Errorf("settings %s", got)
	}

	out.Reset()
	if err := runIndexBench([]string{"--vectors", f["vectors.fvecs"], "--queries", f["vectors.csv"], "--index", "exact", "--time", "10ms"}, &out); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(out.String(), "\n"); !strings.HasPrefix(lines[0], "300 vectors of 8, 300 queries, euclidean, k 10") ||
		!strings.HasPrefix(lines[3], "| ctrecon | exact |  | 1.0000 |") {
		t.Errorf("exact index on its own vectors:\n%s", out.String())
	}
}

// TestIndexBenchEveryIndex runs `ctrecon index bench` with every index the
// issue names: each is registered, and the exact ones (exact, slim, and
// the tree with checks 0) find every true neighbour.
func TestIndexBenchEveryIndex(t *testing.T) {
	f := indexBenchFiles(t)
	for _, c := range []struct {
		index, param string
		exact        bool
	}{{"exact", "", true}, {"hnsw", "ef=50", false}, {"ivf", "nprobe=64", true}, {"tree", "checks=0", true},
		{"lsh", "probes=16", false}, {"slim", "capacity=8", true}} {
		args := []string{"--vectors", f["vectors.csv"], "--index", c.index, "--json", "--time", "1ms"}
		if c.param != "" {
			args = append(args, "--param", c.param)
		}
		var out bytes.Buffer
		if err := runIndexBench(args, &out); err != nil {
			t.Fatalf("%s: %v", c.index, err)
		}
		var r struct {
			Index  string  `json:"index"`
			Recall float64 `json:"recall_at_k"`
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Index != c.index || c.exact && r.Recall != 1 {
			t.Errorf("%s: %s (%v)", c.index, out.String(), err)
		}
	}
}

// TestIndexBenchParquet runs `ctrecon index bench` on a Parquet file of
// feature records written by features/records, with labels: the same
// vectors as the .fvecs file give the same held-out queries, so the
// exact index's answers, and their label precision, are the same; and
// Parquet queries against .csv vectors find each query itself.
func TestIndexBenchParquet(t *testing.T) {
	f := indexBenchFiles(t)
	var results []ann.Result
	for _, file := range []string{f["vectors.parquet"], f["vectors.fvecs"]} {
		var out bytes.Buffer
		err := runIndexBench([]string{"--vectors", file, "--labels", f["labels.txt"], "--index", "exact", "--json", "--time", "1ms"}, &out)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var r ann.Result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", file, out.String(), err)
		}
		results = append(results, r)
	}
	pq, fv := results[0], results[1]
	if pq.Vectors != 270 || pq.Queries != 30 || pq.Dim != 8 || pq.RecallAtK != 1 || pq.LabelPrecision == nil ||
		fv.LabelPrecision == nil || *pq.LabelPrecision != *fv.LabelPrecision || *pq.LabelPrecision < 0.5 {
		t.Errorf("Parquet: %+v, .fvecs: %+v", pq, fv)
	}

	var out bytes.Buffer
	err := runIndexBench([]string{"--vectors", f["vectors.csv"], "--queries", f["vectors.parquet"], "--index", "hnsw",
		"--param", "ef=50", "--k", "1", "--json", "--time", "1ms"}, &out)
	var r ann.Result
	if err == nil {
		err = json.Unmarshal(out.Bytes(), &r)
	}
	if err != nil || r.Queries != 300 || r.RecallAtK < 0.99 {
		t.Errorf("Parquet queries: %v %s", err, out.String())
	}
}

// TestIndexBenchMetricHistograms: metric histograms from Parquet records
// are compared by DM unless told otherwise, the metric-space indexes find
// their exact neighbours, and the indexes that average vectors refuse them.
func TestIndexBenchMetricHistograms(t *testing.T) {
	f := indexBenchFiles(t)
	for _, idx := range []string{"exact", "hnsw", "slim"} {
		var out bytes.Buffer
		err := runIndexBench([]string{"--vectors", f["mhist.parquet"], "--index", idx, "--time", "1ms"}, &out)
		if err != nil {
			t.Fatalf("%s: %v", idx, err)
		}
		if first, _, _ := strings.Cut(out.String(), "\n"); first != "108 vectors: metric histograms of up to 6 points (padded to 13 values), 12 queries, dm, k 10" {
			t.Errorf("%s: %q, want 108 metric histograms padded to 6 points under DM", idx, first)
		}
		if !strings.Contains(out.String(), "| 1.0000 |") {
			t.Errorf("%s under DM: recall below 1:\n%s", idx, out.String())
		}
	}
}

func TestIndexBenchErrors(t *testing.T) {
	f := indexBenchFiles(t)
	v := f["vectors.csv"]
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--index", "hnsw"}, "--vectors is required"},
		{[]string{"--vectors", v}, "--index is required (exact, hnsw"},
		{[]string{"--vectors", v, "--index", "hnsx"}, `--index hnsx: unknown index "hnsx" (registered: exact, hnsw`},
		{[]string{"--vectors", v, "--index", "hnsw", "--param", "efc=10"}, `index hnsw has no parameter "efc" (it has M, efConstruction, ef, seed)`},
		{[]string{"--vectors", v, "--index", "hnsw", "--param", "ef=ten"}, `--index hnsw: parameter ef is "ten", want an integer from 1`},
		{[]string{"--vectors", v, "--index", "hnsw", "--param", "ef"}, `invalid value "ef" for flag -param: "ef": want NAME=VALUE`},
		{[]string{"--vectors", v, "--index", "exact", "--metric", "l3"}, `unknown metric "l3" (want euclidean`},
		{[]string{"--vectors", v, "--index", "exact", "--peers"}, "--peers compares HNSW indexes: it needs --index hnsw"},
		{[]string{"--vectors", f["ragged.csv"], "--index", "exact"}, "ragged.csv: row 2 has 2 values, the rows before it 3 (ragged rows)"},
		{[]string{"--vectors", f["nan.csv"], "--index", "exact"}, "nan.csv: row 2, column 4: NaN is not a finite number"},
		{[]string{"--vectors", v, "--queries", f["nan.csv"], "--index", "exact"}, "nan.csv: row 2, column 4: NaN"},
		{[]string{"--vectors", v, "--queries", f["dim3.csv"], "--index", "exact"}, "dim3.csv has vectors of 3 values, vectors.csv of 8 (dimension mismatch)"},
		{[]string{"--vectors", v, "--index", "exact", "--k", "271"}, "--k 271 is more than the 270 vectors of vectors.csv left to index once the queries are held out"},
		{[]string{"--vectors", v, "--index", "exact", "--k", "0"}, "--k 0: must be at least 1"},
		{[]string{"--vectors", v, "--queries", v, "--labels", f["labels.txt"], "--index", "exact"}, "the queries of --queries " + v + " need theirs too: give --query-labels"},
		{[]string{"--vectors", f["dim3.csv"] + ".missing", "--index", "exact"}, "--vectors " + f["dim3.csv"] + ".missing: open "},
		{[]string{"--vectors", v, "--queries", "nonexist.fvecs", "--index", "exact"}, "--queries nonexist.fvecs: open nonexist.fvecs: no such file"},
		{[]string{"--vectors", v, "--labels", "no.txt", "--index", "exact"}, "--labels no.txt: open no.txt: no such file"},
		{[]string{"--vectors", v, "--queries", v, "--labels", f["labels.txt"], "--query-labels", "no.txt", "--index", "exact"}, "--query-labels no.txt: open no.txt: no such file"},
		{[]string{"--vectors", f["ragged.parquet"], "--index", "exact"}, "ragged.parquet: row 3 has 1 value, the rows before it 8 (ragged rows)"},
		{[]string{"--vectors", f["nan.parquet"], "--index", "exact"}, "nan.parquet: row 2, column 4: NaN is not a finite number"},
		{[]string{"--vectors", f["kinds.parquet"], "--index", "exact"}, "kinds.parquet: row 2 is a hist-hu-v1 record, the rows before it radiomics-v1"},
		{[]string{"--vectors", f["vectors.parquet"], "--queries", f["dim4.parquet"], "--index", "exact"}, "dim4.parquet has vectors of 4 values, vectors.parquet of 8 (dimension mismatch)"},
		{[]string{"--vectors", f["dim4.parquet"], "--index", "exact", "--k", "10"}, "--k 10 is more than the 9 vectors of dim4.parquet left to index"},
		{[]string{"--vectors", f["vectors.csv"] + ".parquet", "--index", "exact"}, "no such file"},
		{[]string{"--vectors", f["vectors.csv"], "--queries", f["vectors.csv"], "--index", "exact", "--k", "301"}, "--k 301 is more than the 300 vectors of vectors.csv"},
		// the row in the file, wherever the held-out queries put it
		{[]string{"--vectors", f["zero.csv"], "--index", "exact", "--metric", "cosine"}, "zero.csv, row 8: vector value not valid: all values are 0"},
		{[]string{"--vectors", f["spaces.csv"], "--index", "exact"}, `spaces.csv: row 1, column 1: "1 2 3" is not a number (separate the values with commas)`},
		{[]string{"--vectors", f["huge.csv"], "--index", "exact"}, "huge.csv: row 2, column 1: 1e39 is beyond float32's range"},
		{[]string{"--vectors", f["folder.fvecs"], "--index", "exact"}, "folder.fvecs is a folder, not a file of vectors"},
		{[]string{"--vectors", v, "--labels", f["empty.txt"], "--index", "exact"}, "empty.txt: no labels, want one for each of the 300 vectors"},
		{[]string{"--vectors", v, "--index", "exact", "--time", "-1s"}, "--time -1s: must not be negative"},
		{[]string{"--vectors", v, "--index", "exact", "--metric", "dm"}, "the dm metric compares metric histograms: vectors.csv holds plain vectors"},
		{[]string{"--vectors", f["mhist.parquet"], "--index", "exact", "--metric", "euclidean"}, "holds mhist-hu-v1 records, metric histograms of varying length, compared only by dm"},
		{[]string{"--vectors", f["mhist.parquet"], "--index", "ivf"}, "--index ivf: the ivf index averages vectors"},
		{[]string{"--vectors", v, "--queries", f["mhist.parquet"], "--index", "exact"}, "mhist.parquet holds mhist-hu-v1 records, " + v + " plain vectors"},
		{[]string{"--vectors", v, "--index", "lsh", "--param", "family=cauchy"}, "family=cauchy does not follow the euclidean metric"},
	} {
		err := runIndexBench(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.says)
		}
	}
	if err := runIndex(nil); err == nil || !strings.Contains(err.Error(), "ctrecon index bench") {
		t.Errorf("ctrecon index: %v", err)
	}
}

// TestIndexBenchCounts: a count of one thing is singular ("1 vector",
// "1 query"), and the --k error names the file, not its held-out part.
func TestIndexBenchCounts(t *testing.T) {
	dir := t.TempDir()
	two, hdr := filepath.Join(dir, "two.csv"), filepath.Join(dir, "hdr.csv")
	for path, text := range map[string]string{two: "1,2,3\n4,5,6\n", hdr: "a,b,c\n1,2,3\n4,5,6\n"} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := runIndexBench([]string{"--vectors", two, "--index", "exact", "--k", "1", "--time", "0"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "1 vector of 3, 1 query, euclidean, k 1\n") {
		t.Errorf("two vectors, one held out:\n%s", out.String())
	}
	err := runIndexBench([]string{"--vectors", hdr, "--index", "exact"}, &out)
	if want := "--k 10 is more than the 1 vector of hdr.csv left to index once the queries are held out"; err == nil || err.Error() != want {
		t.Errorf("--k 10 on 2 vectors: %v, want %q", err, want)
	}
}

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

	"github.com/ctrecon/ctrecon/bench/ann"
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
	}
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
	return paths
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
		{[]string{"--vectors", v, "--index", "exact", "--metric", "l3"}, `--metric: unknown metric "l3"`},
		{[]string{"--vectors", v, "--index", "exact", "--peers"}, "--peers compares HNSW indexes: it needs --index hnsw"},
		{[]string{"--vectors", f["ragged.csv"], "--index", "exact"}, "ragged.csv: row 2 has 2 values, the rows before it 3 (ragged rows)"},
		{[]string{"--vectors", f["nan.csv"], "--index", "exact"}, "nan.csv: row 2, column 4: NaN is not a finite number"},
		{[]string{"--vectors", v, "--queries", f["nan.csv"], "--index", "exact"}, "nan.csv: row 2, column 4: NaN"},
		{[]string{"--vectors", v, "--queries", f["dim3.csv"], "--index", "exact"}, "dim3.csv has vectors of 3 values, vectors.csv of 8 (dimension mismatch)"},
		{[]string{"--vectors", v, "--index", "exact", "--k", "271"}, "--k 271 is more than the 270 vectors of vectors.csv base"},
		{[]string{"--vectors", v, "--index", "exact", "--k", "0"}, "--k 0: must be at least 1"},
		{[]string{"--vectors", v, "--queries", v, "--labels", f["labels.txt"], "--index", "exact"}, "labels are for held-out queries"},
		{[]string{"--vectors", f["dim3.csv"] + ".missing", "--index", "exact"}, "no such file"},
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

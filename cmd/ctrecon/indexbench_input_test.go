package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bench/ann"
)

// digitsFiles writes 300 vectors in the layout of scikit-learn's
// digits.csv (64 integer grey levels 0 to 16, then the digit 0 to 9 as a
// 65th column) as digits.csv; the same with the label first as
// first.csv; and the 64 values alone as features.csv with the labels in
// labels.txt.
func digitsFiles(t *testing.T) map[string]string {
	t.Helper()
	set := ann.Clustered(300, 64, 10, 3)
	var last, first, features strings.Builder
	for i := range set.Len() {
		var row []string
		for _, v := range set.Row(i) {
			row = append(row, fmt.Sprint(min(max(int(16*v+0.5), 0), 16)))
		}
		fmt.Fprintf(&last, "%s,%s\n", strings.Join(row, ","), set.Labels[i])
		fmt.Fprintf(&first, "%s,%s\n", set.Labels[i], strings.Join(row, ","))
		fmt.Fprintln(&features, strings.Join(row, ","))
	}
	dir := t.TempDir()
	paths := map[string]string{}
	for name, content := range map[string]string{"digits.csv": last.String(), "first.csv": first.String(),
		"features.csv": features.String(), "labels.txt": strings.Join(set.Labels, "\n") + "\n"} {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// benchJSON runs `ctrecon index bench --json` with the exact index and
// returns its one result.
func benchJSON(t *testing.T, args ...string) ann.Result {
	t.Helper()
	var out bytes.Buffer
	if err := runIndexBench(append(args, "--index", "exact", "--json", "--time", "1ms"), &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var r ann.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %q: %v", args, out.String(), err)
	}
	return r
}

// TestIndexBenchLabelsColumn: --labels-column takes each row's label out
// of the file's vectors, last or first, so that the vectors have the 64
// values of a digit and the exact index's label precision is that of the
// same values with their labels in a --labels file; with --queries the
// queries' column is taken out too.
func TestIndexBenchLabelsColumn(t *testing.T) {
	f := digitsFiles(t)
	want := benchJSON(t, "--vectors", f["features.csv"], "--labels", f["labels.txt"])
	if want.LabelPrecision == nil || *want.LabelPrecision < 0.5 {
		t.Fatalf("features and labels file: %+v", want)
	}
	for _, c := range [][]string{{f["digits.csv"], "last"}, {f["digits.csv"], "-1"}, {f["first.csv"], "1"}} {
		got := benchJSON(t, "--vectors", c[0], "--labels-column", c[1])
		if got.Dim != 64 || got.Vectors != 270 || got.RecallAtK != 1 || got.LabelPrecision == nil || *got.LabelPrecision != *want.LabelPrecision {
			t.Errorf("%s --labels-column %s: %+v, want 270 vectors of 64 and label precision %v", c[0], c[1], got, *want.LabelPrecision)
		}
	}
	got := benchJSON(t, "--vectors", f["digits.csv"], "--queries", f["first.csv"], "--labels-column", "last", "--k", "1")
	if got.Dim != 64 || got.Queries != 300 || got.LabelPrecision == nil || got.RecallAtK != 1 {
		t.Errorf("--queries with --labels-column: %+v", got)
	}
}

// TestIndexBenchInputErrors: bad labels, label columns and vectors a
// metric refuses are errors naming the flag or the file and its line or
// row; a zero vector under cosine is named by its row in the file
// whichever rows the seed holds out.
func TestIndexBenchInputErrors(t *testing.T) {
	f := indexBenchFiles(t)
	d := digitsFiles(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	labels, _ := os.ReadFile(f["labels.txt"])
	lines := strings.Split(string(labels), "\n")
	blanked := slices.Clone(lines)
	blanked[2] = " " // the count still right
	blank := write("blank.txt", strings.Join(blanked, "\n"))
	short := write("short.txt", strings.Join(lines[1:], "\n"))

	// zero vectors: the first in the file held out as a query, a later one
	// in the base; and two in the base, the later one first in its order
	all, err := ann.ReadFile(f["vectors.csv"])
	if err != nil {
		t.Fatal(err)
	}
	base, queries, err := ann.HoldOut(all, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, b := slices.Min(queries.Rows), slices.Max(base.Rows)
	i := slices.IndexFunc(base.Rows, func(r int) bool { return r < base.Rows[0] })
	if q > b || i < 0 {
		t.Fatalf("seed 1 holds out rows %v: want one before the last of the base, and a base not in file order", queries.Rows)
	}
	zeroAt := func(name string, rows ...int) string {
		vectors, _ := os.ReadFile(f["vectors.csv"])
		lines := strings.Split(string(vectors), "\n")
		for _, r := range rows {
			lines[r-1] = "0,0,0,0,0,0,0,0"
		}
		return write(name, strings.Join(lines, "\n"))
	}

	v := f["vectors.csv"]
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--vectors", v, "--labels", blank}, "blank.txt: line 3 is blank, want a label on every line"},
		{[]string{"--vectors", v, "--labels", short}, "short.txt: 299 labels for the 300 vectors of vectors.csv"},
		{[]string{"--vectors", d["digits.csv"], "--labels-column", "last", "--labels", d["labels.txt"]}, "--labels " + d["labels.txt"] + " and --labels-column last both give the labels: give one"},
		{[]string{"--vectors", d["digits.csv"], "--labels-column", "label"}, "--labels-column label: want last or a column number"},
		{[]string{"--vectors", d["digits.csv"], "--labels-column", "0"}, "--labels-column 0: want last or a column number"},
		{[]string{"--vectors", d["digits.csv"], "--labels-column", "66"}, "digits.csv: no label column 66: its rows have 65 columns"},
		{[]string{"--vectors", v, "--labels-column", "last"}, "vectors.csv: row 1, column 8: "},
		{[]string{"--vectors", f["vectors.parquet"], "--labels-column", "last"}, "vectors.parquet holds radiomics-v1 records: their values have no column of labels"},
		{[]string{"--vectors", zeroAt("zeroq.csv", q, b), "--metric", "cosine"}, fmt.Sprintf("zeroq.csv, row %d: vector value not valid: all values are 0", q)},
		{[]string{"--vectors", zeroAt("zerob.csv", base.Rows[i], base.Rows[0]), "--metric", "cosine"}, fmt.Sprintf("zerob.csv, row %d: vector value not valid", base.Rows[i])},
		{[]string{"--vectors", v, "--queries", zeroAt("zero2.csv", 5, 2), "--metric", "cosine"}, "zero2.csv, row 2: vector value not valid"},
	} {
		err := runIndexBench(append(c.args, "--index", "exact"), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.says)
		}
	}
}

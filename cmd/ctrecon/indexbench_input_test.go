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
	trailing := write("trailing.txt", string(labels)+"\n") // a blank line after the last label's newline
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
		{[]string{"--vectors", v, "--labels", trailing}, "trailing.txt: line 301 is blank, want a label on every line"},
		{[]string{"--vectors", write("one.csv", "1,2\n")}, "one.csv: 1 vector: too few to hold 10% out as queries and index the rest (want at least 2)"},
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

// TestIndexBenchQueryLabels: --labels with --query-labels gives label
// precision with --queries (before, --labels was refused with --queries),
// the same as the labels in a column of both files; either without the
// other, or with --labels-column, and a count that does not match are
// errors naming the flags or the file and the counts; a label column
// missing from --queries is said in columns (before: "has vectors of 63
// values, ... of 64").
func TestIndexBenchQueryLabels(t *testing.T) {
	d := digitsFiles(t)
	want := benchJSON(t, "--vectors", d["digits.csv"], "--queries", d["digits.csv"], "--labels-column", "last")
	got := benchJSON(t, "--vectors", d["features.csv"], "--labels", d["labels.txt"], "--queries", d["features.csv"], "--query-labels", d["labels.txt"])
	if want.LabelPrecision == nil || got.LabelPrecision == nil || *got.LabelPrecision != *want.LabelPrecision || got.Queries != 300 {
		t.Errorf("--labels and --query-labels: %+v, want the label precision of --labels-column, %+v", got, want)
	}
	labels, _ := os.ReadFile(d["labels.txt"])
	short := filepath.Join(t.TempDir(), "short.txt")
	if err := os.WriteFile(short, labels[2:], 0o644); err != nil {
		t.Fatal(err)
	}
	v, l := d["features.csv"], d["labels.txt"]
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--vectors", v, "--labels", l, "--query-labels", l}, "--query-labels " + l + " labels --queries, which is not given"},
		{[]string{"--vectors", v, "--queries", v, "--query-labels", l}, "--query-labels " + l + " needs the labels of --vectors " + v + " too: give --labels"},
		{[]string{"--vectors", d["digits.csv"], "--queries", d["digits.csv"], "--labels-column", "last", "--query-labels", l}, "--query-labels " + l + " and --labels-column last both give the labels"},
		{[]string{"--vectors", v, "--labels", l, "--queries", v, "--query-labels", short}, "short.txt: 299 labels for the 300 vectors of features.csv"},
		{[]string{"--vectors", d["digits.csv"], "--queries", v, "--labels-column", "last"}, "features.csv has 64 columns where digits.csv has 65 (64 values and the label, in the last column): dimension mismatch; the label column seems to be missing from features.csv"},
	} {
		err := runIndexBench(append(c.args, "--index", "exact"), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.says)
		}
	}
}

// TestIndexBenchCommandLine: the subcommand may come anywhere among the
// flags, as every command's arguments may (before: "the subcommand comes
// first"); a flag of one value given twice is refused, exit 2, where the
// last was kept silently, while --param repeats; extensions and metric
// names are taken in any case (before, .FVECS and L2 were refused).
func TestIndexBenchCommandLine(t *testing.T) {
	f := indexBenchFiles(t)
	v := f["vectors.csv"]
	var out bytes.Buffer
	if err := indexCommand([]string{"--vectors", v, "--index", "exact", "bench", "--json", "--time", "1ms"}, &out); err != nil || !strings.Contains(out.String(), `"recall_at_k":1`) {
		t.Errorf("ctrecon index --vectors FILE --index exact bench: %v\n%s", err, out.String())
	}
	if err := indexCommand([]string{"--vectors", v, "bnch"}, &out); err == nil || !strings.Contains(err.Error(), `unknown subcommand "bnch"`) {
		t.Errorf("ctrecon index bnch: %v", err)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--vectors", v, "--vectors", f["ragged.csv"]}, `--vectors is given twice ("` + v + `", then "` + f["ragged.csv"] + `"): it takes one value`},
		{[]string{"--vectors", v, "--json", "--k=3", "--json", "--k", "4"}, `--json is given twice (ctrecon index bench -h`},
		{[]string{"--vectors", v, "--k=3", "-k", "4"}, `-k is given twice ("3", then "4")`},
	} {
		var stderr bytes.Buffer
		code := dispatch(append([]string{"index", "bench", "--index", "exact"}, c.args...), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%v: exit %d, %s, want exit 2 and %q", c.args, code, stderr.String(), c.says)
		}
	}
	upper := filepath.Join(t.TempDir(), "V.FVECS")
	fvecs, _ := os.ReadFile(f["vectors.fvecs"])
	if err := os.WriteFile(upper, fvecs, 0o644); err != nil {
		t.Fatal(err)
	}
	want := benchJSON(t, "--vectors", f["vectors.fvecs"], "--metric", "l2")
	got := benchJSON(t, "--vectors", upper, "--metric", "L2")
	if got.Vectors != want.Vectors || got.Metric != "euclidean" || got.RecallAtK != 1 {
		t.Errorf("V.FVECS --metric L2: %+v, want %+v", got, want)
	}
}

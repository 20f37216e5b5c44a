// Package ibsitest finds IBSI's reference data (the digital phantom, the CT
// radiomics phantom and their reference values) for the tests that compare
// ctrecon's radiomics with them, and reads the reference tables. The data
// stay out of the repository: IBSI's licences allow using them for tests,
// not redistributing them.
package ibsitest

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ctrecon/ctrecon/internal/peertest"
)

// DirEnv names the environment variable that gives the data's folder.
const DirEnv = "CTRECON_IBSI_DATA"

// Dir returns the folder of the IBSI reference data: DirEnv's value, or
// else the first shared/data/ibsi found in the working directory (a test's
// package folder) or a folder above it, which finds the shared folder
// beside a checkout (../shared, as CI has it) or above a worktree. Without
// it the test skips, or fails under CTRECON_REQUIRE_PEERS=1.
func Dir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(DirEnv); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			peertest.Missing(t, "IBSI reference data not found at "+dir+" ("+DirEnv+")")
		}
		return dir
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		want := filepath.Join(dir, "shared", "data", "ibsi")
		if fi, err := os.Stat(want); err == nil && fi.IsDir() {
			return want
		}
		up := filepath.Dir(dir)
		if up == dir {
			peertest.Missing(t, "IBSI reference data not found in shared/data/ibsi above the working directory (set "+DirEnv+")")
			return ""
		}
		dir = up
	}
}

// Reference is one row of IBSI's reference tables.
type Reference struct {
	Tag, Code, Data, Aggregation string
	Value                        float64
	Tolerance                    float64 // NaN when none is given
	Line                         int     // in the CSV file, from 1 for the header
}

// Key is the reference's tag and aggregation, "cm.joint_max|3D, averaged".
func (r Reference) Key() string { return r.Tag + "|" + r.Aggregation }

// Matches reports whether v reproduces the reference: within its
// tolerance, or, where none is given, equal once both are rounded to three
// significant digits (the precision IBSI quotes).
func (r Reference) Matches(v float64) bool {
	if !math.IsNaN(r.Tolerance) {
		return math.Abs(v-r.Value) <= r.Tolerance*(1+1e-9)
	}
	sig3 := func(x float64) string {
		if math.Abs(x) < 1e-12 {
			x = 0
		}
		return strconv.FormatFloat(x, 'e', 2, 64)
	}
	return sig3(v) == sig3(r.Value)
}

// ReadReferences reads the rows of a reference CSV for one data set
// ("dig. phantom", "config. A", ...) that have a value.
func ReadReferences(t testing.TB, path, data string) []Reference {
	t.Helper()
	rows := ReadCSV(t, path)
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	var refs []Reference
	for n, row := range rows[1:] {
		if row[col["data"]] != data || row[col["value"]] == "" {
			continue
		}
		r := Reference{Tag: row[col["tag"]], Code: row[col["ibsi_code"]], Data: data, Aggregation: row[col["aggregation"]],
			Tolerance: math.NaN(), Line: n + 2}
		var err error
		if r.Value, err = strconv.ParseFloat(row[col["value"]], 64); err != nil {
			t.Fatalf("%s:%d: value: %v", path, r.Line, err)
		}
		if s := row[col["tolerance"]]; s != "" {
			if r.Tolerance, err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s:%d: tolerance: %v", path, r.Line, err)
			}
		}
		refs = append(refs, r)
	}
	return refs
}

// ReadCSV reads a whole CSV file, header row first.
func ReadCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %d rows, %v", path, len(rows), err)
	}
	return rows
}

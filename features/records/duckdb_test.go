package records

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/internal/peertest"
)

// duckdbAPI returns the folder of the npm package @duckdb/node-api that
// `make deps` installs into tools/duckdb (CTRECON_DUCKDB names another).
func duckdbAPI(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CTRECON_DUCKDB")
	if dir == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "tools", "duckdb", "node_modules", "@duckdb", "node-api")
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		peertest.Missing(t, "npm package @duckdb/node-api not in "+dir+" (installed by `make deps`)")
	}
	return dir
}

// duckdbOutput is what testdata/duckdb.cjs prints.
type duckdbOutput struct {
	Names []string          `json:"names"`
	Types []string          `json:"types"`
	Rows  [][]any           `json:"rows"`
	Meta  map[string]string `json:"meta"`
}

// DuckDB (a reader that shares no code with arrow-go) reads our Parquet
// files, fixed-size and variable vectors, and finds every value we wrote:
// each identifier, each float bit for bit (NaN, −0, subnormals), the
// settings metadata. The copy DuckDB writes (variable lists, its own
// writer) reads back with ReadParquet to the same records.
func TestDuckDB(t *testing.T) {
	node := peertest.Tool(t, "node", "nodejs")
	api := duckdbAPI(t)
	script, err := filepath.Abs("testdata/duckdb.cjs")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name string
		dim  int
	}{{"fixed", 16}, {"variable", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			meta, recs := randomRecords(t, rng, 3000, tc.dim)
			dir := t.TempDir()
			in, out := filepath.Join(dir, "ours.parquet"), filepath.Join(dir, "duckdb.parquet")
			var buf bytes.Buffer
			if err := WriteParquet(&buf, meta, recs); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, api, in, out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
			}
			var got duckdbOutput
			if err := json.Unmarshal(stdout, &got); err != nil {
				t.Fatal(err)
			}
			t.Logf("DuckDB reads the columns as %v", got.Types)
			compareDuckDB(t, &got, meta, recs)

			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			back, fromDuckDB, err := ReadParquet(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("reading DuckDB's copy: %v", err)
			}
			sameRecords(t, fromDuckDB, recs)
			if len(back.Settings) != 1 {
				t.Errorf("DuckDB's copy has settings %v", back.Settings)
			}
			checkLayout(t, data, false, 1)
		})
	}
}

// compareDuckDB compares DuckDB's rows with the records, every column.
func compareDuckDB(t *testing.T, got *duckdbOutput, meta Metadata, recs []Record) {
	t.Helper()
	want := append([]string(nil), valuesColumn)
	for i := len(columns) - 1; i >= 0; i-- {
		want = append([]string{columns[i].name}, want...)
	}
	if fmt.Sprint(got.Names) != fmt.Sprint(want) {
		t.Fatalf("DuckDB reads columns %v, want %v", got.Names, want)
	}
	settings, _ := json.Marshal(meta.Settings)
	if got.Meta[MetaSettings] != string(settings) {
		t.Errorf("DuckDB reads %s = %q, want %s", MetaSettings, got.Meta[MetaSettings], settings)
	}
	if len(got.Rows) != len(recs) {
		t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), len(recs))
	}
	bad := 0
	for i, row := range got.Rows {
		r := &recs[i]
		for k, c := range columns {
			w := fmt.Sprint(c.get(r))
			if g, ok := row[k].(string); !ok || g != w {
				if bad++; bad <= 10 {
					t.Errorf("row %d column %s: DuckDB reads %v, want %s", i, c.name, row[k], w)
				}
			}
		}
		if err := sameFloats(row[len(columns)], r.Values); err != nil {
			if bad++; bad <= 10 {
				t.Errorf("row %d column %s: %v", i, valuesColumn, err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d values differ", bad)
	}
}

// sameFloats compares DuckDB's list of float strings with v bit for bit.
func sameFloats(got any, v Vector) error {
	list, ok := got.([]any)
	if !ok || len(list) != len(v) {
		return fmt.Errorf("DuckDB reads %v, want %d values", got, len(v))
	}
	for k, x := range list {
		s, _ := x.(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float32bits(float32(f)) != math.Float32bits(v[k]) || float64(float32(f)) != f && !math.IsNaN(f) {
			return fmt.Errorf("value %d: DuckDB reads %v, want %v", k, x, v[k])
		}
	}
	return nil
}

package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// testSettings is an extraction's settings for the tests.
type testSettings struct {
	Bins      int     `json:"bins"`
	Tolerance float64 `json:"tolerance"`
}

// randomRecords returns n records with dim values each (a random length
// from 0 to 40 when dim < 0), with NaN, ±0, subnormal and extreme values.
func randomRecords(t testing.TB, rng *rand.Rand, n, dim int) (Metadata, []Record) {
	t.Helper()
	hash, js, err := HashSettings(testSettings{Bins: 64, Tolerance: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	special := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32, -1e-30}
	recs := make([]Record, n)
	for i := range recs {
		d := dim
		if d < 0 {
			d = rng.IntN(41)
		}
		v := make(Vector, d)
		for k := range v {
			v[k] = float32(rng.NormFloat64() * 1e3)
			if rng.IntN(10) == 0 {
				v[k] = special[rng.IntN(len(special))]
			}
		}
		recs[i] = Record{
			ScanID: fmt.Sprintf("SCAN-%d", rng.IntN(5)), JobID: fmt.Sprintf("job-%d", i%7),
			Patient:  Pseudonymise([]byte("deployment key"), fmt.Sprintf("PID%d", rng.IntN(100))),
			StudyUID: "1.2.826.0.1." + fmt.Sprint(rng.IntN(1000)), SeriesUID: "1.2.826.0.1.9." + fmt.Sprint(i),
			Bin: rng.IntN(5), Slice: rng.IntN(300) - 1, Object: rng.Int64N(1 << 40), Class: []string{"", "bone", "air"}[rng.IntN(3)],
			Kind: "radiomics", Version: 1 + rng.IntN(3), Settings: hash, Values: v,
		}
		if rng.IntN(3) == 0 {
			recs[i].Data = json.RawMessage(fmt.Sprintf(`{"points":[[%d,0.5]]}`, i))
		}
	}
	return Metadata{Settings: map[string]json.RawMessage{hash: js}}, recs
}

// sameRecords compares every field of every record, values bit for bit
// (so NaN equals NaN and −0 differs from +0).
func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		g, w := got[i], want[i]
		same := len(g.Values) == len(w.Values)
		for k := 0; same && k < len(w.Values); k++ {
			same = math.Float32bits(g.Values[k]) == math.Float32bits(w.Values[k])
		}
		g.Values, w.Values = nil, nil
		if !same || !bytes.Equal(g.Data, w.Data) || fmt.Sprint(g) != fmt.Sprint(w) {
			if bad++; bad <= 5 {
				t.Errorf("record %d:\n got %+v %v\nwant %+v %v", i, got[i], got[i].Values, want[i], want[i].Values)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records differ", bad, len(want))
	}
}

func writeRead(t testing.TB, meta Metadata, recs []Record) (Metadata, []Record, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteParquet(&buf, meta, recs); err != nil {
		t.Fatal(err)
	}
	gotMeta, got, err := ReadParquet(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return gotMeta, got, buf.Bytes()
}

// Records written to Parquet read back the same, value for value, over
// several row groups (arrow-go v18 writes a sliced batch of fixed-size
// lists wrongly: each row group must be a batch of its own), with fixed
// and variable vector lengths; the vectors are FixedSizeList<float32>
// when their lengths agree, the file is zstd-compressed, and the settings
// and names are in its key-value metadata.
func TestParquetRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n, dim int
		fixed  bool
		groups int
	}{
		{"one", 1, 5, true, 1},
		{"fixed", 1000, 64, true, 1},
		{"variable", 1000, -1, false, 1},
		{"row groups", 2*RowsPerGroup + 3, 3, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, recs := randomRecords(t, rng, tc.n, tc.dim)
			if tc.dim > 0 {
				meta.Names = make([]string, tc.dim)
				for k := range meta.Names {
					meta.Names[k] = fmt.Sprintf("f%d|3D, averaged", k)
				}
			}
			gotMeta, got, data := writeRead(t, meta, recs)
			sameRecords(t, got, recs)
			if fmt.Sprint(gotMeta.Names) != fmt.Sprint(meta.Names) || len(gotMeta.Settings) != 1 {
				t.Errorf("metadata %+v, want %+v", gotMeta, meta)
			}
			for h, s := range meta.Settings {
				if !bytes.Equal(gotMeta.Settings[h], s) {
					t.Errorf("settings %s: %s, want %s", h, gotMeta.Settings[h], s)
				}
			}
			checkLayout(t, data, tc.fixed, tc.groups)
		})
	}
}

// checkLayout checks the vectors' Arrow type, the row groups and the
// compression of a file WriteParquet wrote.
func checkLayout(t testing.TB, data []byte, fixed bool, groups int) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if pf.NumRowGroups() != groups {
		t.Errorf("%d row groups, want %d", pf.NumRowGroups(), groups)
	}
	for g := range pf.NumRowGroups() {
		rg := pf.MetaData().RowGroup(g)
		for c := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := cc.Compression().String(); !strings.EqualFold(got, "zstd") {
				t.Errorf("row group %d column %d compressed with %s, want zstd", g, c, got)
			}
		}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := sc.FieldsByName(valuesColumn)
	if len(f) != 1 {
		t.Fatalf("no column %s in %s", valuesColumn, sc)
	}
	want := arrow.LIST
	if fixed {
		want = arrow.FIXED_SIZE_LIST
	}
	if f[0].Type.ID() != want || f[0].Type.(arrow.ListLikeType).Elem().ID() != arrow.FLOAT32 {
		t.Errorf("vectors stored as %s, want %s of float32", f[0].Type, want)
	}
}

// WriteParquet refuses records whose settings the metadata lacks, metadata
// whose settings do not hash to their key, and invalid records, naming the
// record; ReadParquet refuses a file without the settings metadata.
func TestParquetRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	meta, recs := randomRecords(t, rng, 3, 4)
	var buf bytes.Buffer
	other := recs[1]
	other.Settings = "0123456789abcdef"
	err := WriteParquet(&buf, meta, []Record{recs[0], other})
	if !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("record with unknown settings: err = %v", err)
	}
	for h := range meta.Settings {
		bad := Metadata{Settings: map[string]json.RawMessage{h: json.RawMessage(`{"bins":32}`)}}
		if err := WriteParquet(&buf, bad, recs); !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), MetaSettings) {
			t.Errorf("settings that do not hash to their key: err = %v", err)
		}
	}
	named := Metadata{Settings: meta.Settings, Names: []string{"a"}}
	if err := WriteParquet(&buf, named, recs); !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), "4 values for 1 names") {
		t.Errorf("names of another length: err = %v", err)
	}
	noKind := recs[2]
	noKind.Kind = ""
	if err := WriteParquet(&buf, meta, []Record{noKind}); !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), "kind") {
		t.Errorf("record without kind: err = %v", err)
	}
	if _, _, err := ReadParquet(bytes.NewReader([]byte("PAR1 not parquet PAR1"))); err == nil {
		t.Error("ReadParquet read garbage")
	}
}

// A record round-trips through JSON with NaN as null; Validate refuses
// what must not leave the extractor, naming the field.
func TestJSON(t *testing.T) {
	_, recs := randomRecords(t, rand.New(rand.NewPCG(5, 6)), 50, -1)
	for i := range recs {
		data, err := Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		sameRecords(t, []Record{got}, recs[i:i+1])
	}
	base := recs[0]
	for _, tc := range []struct {
		edit func(r *Record)
		want string
	}{
		{func(r *Record) { r.Kind = "" }, "kind"},
		{func(r *Record) { r.Kind = "hist.hu" }, "kind"},
		{func(r *Record) { r.Version = 0 }, "version 0"},
		{func(r *Record) { r.Settings = "" }, "settings_hash"},
		{func(r *Record) { r.Bin = -1 }, "bin -1"},
		{func(r *Record) { r.Slice = -2 }, "slice -2"},
		{func(r *Record) { r.Object = -1 }, "object -1"},
		{func(r *Record) { r.Patient = "DOE^JOHN" }, "patient"},
		{func(r *Record) { r.Patient = "PID-0001" }, "patient"},
		{func(r *Record) { r.Data = json.RawMessage("{") }, "data"},
		{func(r *Record) { r.Values = Vector{float32(math.Inf(1))} }, "values[0]"},
	} {
		r := base
		tc.edit(&r)
		if _, err := Marshal(&r); !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %q, got %v", tc.want, err)
		}
	}
}

// Pseudonymise is HMAC-SHA256 (RFC 4231's test case 2), cut to 128 bits;
// it depends on the key, and an empty ID names no one.
func TestPseudonymise(t *testing.T) {
	if got := Pseudonymise([]byte("Jefe"), "what do ya want for nothing?"); got != "5bdcc146bf60754e6a042426089575c7" {
		t.Errorf("HMAC-SHA256 test vector: %s", got)
	}
	a, b := Pseudonymise([]byte("key a"), "PID-1"), Pseudonymise([]byte("key b"), "PID-1")
	if a == b || !isPseudonym(a) || Pseudonymise([]byte("key a"), "PID-1") != a {
		t.Errorf("pseudonyms %s and %s of one ID under two keys", a, b)
	}
	if Pseudonymise([]byte("key"), "") != "" || Pseudonymise(nil, "PID") != "" {
		t.Error("an empty ID or key gave a pseudonym")
	}
}

func TestSplitKind(t *testing.T) {
	for in, want := range map[string]string{"hist-hu-v1": "hist-hu 1", "vimage-xyz-v12": "vimage-xyz 12", "radiomics": "error", "x-v0": "error", "-v1": "error"} {
		k, v, err := SplitKind(in)
		got := fmt.Sprint(k, " ", v)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("SplitKind(%q) = %s, want %s", in, got, want)
		}
	}
}

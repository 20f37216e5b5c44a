package features

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, c := range []struct {
		series string
		slice  int
		key    string
	}{
		{"1.2.840.113619.2.55.3", -1, "1.2.840.113619.2.55.3"},
		{"1.2.840.113619.2.55.3", 0, "1.2.840.113619.2.55.3:0"},
		{"1.2.840.113619.2.55.3", 511, "1.2.840.113619.2.55.3:511"},
		{"x", 7, "x:7"},
	} {
		v := Vector{SeriesUID: c.series, Slice: c.slice}
		if got := v.Key(); got != c.key {
			t.Errorf("Key(%q, %d) = %q, want %q", c.series, c.slice, got, c.key)
		}
		series, slice, err := ParseKey(c.key)
		if err != nil || series != c.series || slice != c.slice {
			t.Errorf("ParseKey(%q) = %q, %d, %v; want %q, %d", c.key, series, slice, err, c.series, c.slice)
		}
	}
	// Leading zeros are accepted; Key writes the canonical form.
	if series, slice, err := ParseKey("1.2:007"); err != nil || series != "1.2" || slice != 7 || Key(series, slice) != "1.2:7" {
		t.Errorf("ParseKey(1.2:007) = %q, %d, %v", series, slice, err)
	}
	for _, bad := range []string{"", ":3", "1.2:", "1.2:-1", "1.2:+3", "1.2:3a", "1.2: 3", "1.2:3:4", "1.2:99999999999999999999"} {
		if _, _, err := ParseKey(bad); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q): err = %v, want ErrKey", bad, err)
		}
	}
}

func testVector() Vector {
	return Vector{StudyUID: "1.2.3", SeriesUID: "1.2.3.4", Bin: 2, Slice: 17, Kind: KindHistHU,
		Values: []float32{0, 1, 0.1, 1.0 / 3, math.SmallestNonzeroFloat32, math.MaxFloat32, 1e-30, 0.7}}
}

func TestMarshalRoundTrip(t *testing.T) {
	vol := newVolume(6, 5, 4)
	for i := range vol.Data {
		vol.Data[i] = float32(i%17) * 0.003
	}
	vs, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(vs, testVector()) {
		data, err := Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %+v gave %+v", v, got)
		}
	}

	// The field names are the stream's schema.
	data, err := Marshal(new(testVector()))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	if len(names) != 6 || fields["study_uid"] != "1.2.3" || fields["series_uid"] != "1.2.3.4" ||
		fields["bin"] != 2.0 || fields["slice"] != 17.0 || fields["kind"] != KindHistHU || fields["values"] == nil {
		t.Errorf("encoded as %s", data)
	}

	// Newer writers may add fields.
	if _, err := Unmarshal([]byte(`{"study_uid":"1","series_uid":"2","bin":0,"slice":-1,"kind":"k","values":[1],"extra":true}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	for name, edit := range map[string]func(*Vector){
		"no study":     func(v *Vector) { v.StudyUID = "" },
		"no series":    func(v *Vector) { v.SeriesUID = "" },
		"colon":        func(v *Vector) { v.SeriesUID = "1.2:3" },
		"bin":          func(v *Vector) { v.Bin = -1 },
		"slice":        func(v *Vector) { v.Slice = -2 },
		"kind":         func(v *Vector) { v.Kind = "" },
		"no values":    func(v *Vector) { v.Values = nil },
		"NaN":          func(v *Vector) { v.Values[3] = float32(math.NaN()) },
		"Inf":          func(v *Vector) { v.Values[3] = float32(math.Inf(-1)) },
		"empty values": func(v *Vector) { v.Values = []float32{} },
	} {
		v := testVector()
		edit(&v)
		if _, err := Marshal(&v); !errors.Is(err, ErrVector) {
			t.Errorf("%s: Marshal err = %v, want ErrVector", name, err)
		}
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{}`, `{"study_uid":"1","series_uid":"2","bin":0,"slice":-1,"kind":"k","values":[1]} {}`,
		`{"study_uid":"1","series_uid":"2","bin":0,"slice":-1,"kind":"k","values":["1"]}`,
		`{"study_uid":"1","series_uid":"2","bin":0,"slice":-1,"kind":"k","values":[1e39]}`,
		`{"study_uid":"1","series_uid":"2","bin":0,"slice":-1,"kind":"k","values":[]}`,
		`{"study_uid":"1","series_uid":"2","bin":0.5,"slice":-1,"kind":"k","values":[1]}`,
	} {
		if v, err := Unmarshal([]byte(bad)); !errors.Is(err, ErrVector) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want ErrVector", bad, v, err)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("Unmarshal(%s): empty message", bad)
		}
	}
}

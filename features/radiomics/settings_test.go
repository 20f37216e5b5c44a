package radiomics

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// TestPresetsRoundTrip checks that every preset is valid and survives JSON
// (the form a CLI's --preset or a job would carry), and that an unknown
// name is refused with the known ones.
func TestPresetsRoundTrip(t *testing.T) {
	names := PresetNames()
	want := []string{"ibsi-a", "ibsi-b", "ibsi-c", "ibsi-d", "ibsi-e", "ibsi-phantom"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("presets %v, want %v", names, want)
	}
	for _, name := range names {
		s := MustPreset(name)
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Settings
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Errorf("%s: %s comes back as %+v", name, b, back)
		}
	}
	if _, err := Preset("ibsi-f"); err == nil {
		t.Error("unknown preset accepted")
	}
}

// TestFeatureJSON checks that a NaN value is written as null and read back
// as NaN, and a number as itself.
func TestFeatureJSON(t *testing.T) {
	in := []Feature{{Tag: "cm.corr", Code: "NI2N", Aggregation: "3D, merged", Value: math.NaN()}, {Tag: "stat.mean", Code: "Q4LE", Value: -49.25}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"tag":"cm.corr","ibsi_code":"NI2N","aggregation":"3D, merged","value":null},{"tag":"stat.mean","ibsi_code":"Q4LE","aggregation":"","value":-49.25}]`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
	var out []Feature
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out[0].Value) || out[1] != in[1] || out[0].Tag != in[0].Tag {
		t.Errorf("read back %+v", out)
	}
}

// TestDefinitions checks that every feature has a tag of its family, a
// four-character IBSI code and a name, and that tags are unique.
func TestDefinitions(t *testing.T) {
	seen := map[string]bool{}
	defs := Definitions()
	for _, d := range defs {
		if len(d.Code) != 4 || d.Name == "" || seen[d.Tag] {
			t.Errorf("%+v", d)
		}
		seen[d.Tag] = true
	}
	if len(defs) != 25+2+18+23+7+25+16+16+16+5+17 {
		t.Errorf("%d features", len(defs))
	}
}

package spatial

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// The example image O: four objects A to D (labels 1 to 4, classes "A" to
// "D") in the plane, as Petraglia et al. (2001) illustrate the virtual image
// with objects A to D of an image. Their figure could not be read here, so
// this layout was constructed for the test and its relations worked out by
// hand from the extents (mm):
//
//	     x        y
//	A  [0, 4]   [0, 3]
//	B  [4, 9]   [0, 5]
//	C  [1, 3]   [5, 8]
//	D  [2, 9]   [1, 5]
//
// x: A | B (A ends where B begins), A % C, A / D, C < B, D ] B (same end, D
// begins first), C / D.
// y: B [ A (same beginning, B longer), A < C, A / D, B | C, B ] D, D | C.
var exampleO = []Object{
	{Label: 1, Class: "A", Min: [3]float64{0, 0, 0}, Max: [3]float64{4, 3, 1}},
	{Label: 2, Class: "B", Min: [3]float64{4, 0, 0}, Max: [3]float64{9, 5, 1}},
	{Label: 3, Class: "C", Min: [3]float64{1, 5, 0}, Max: [3]float64{3, 8, 1}},
	{Label: 4, Class: "D", Min: [3]float64{2, 1, 0}, Max: [3]float64{9, 5, 1}},
}

func TestSliceExample(t *testing.T) {
	// Given out of label order: Slice sorts them.
	vi, err := Slice([]Object{exampleO[2], exampleO[0], exampleO[3], exampleO[1]}, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"1 | 2", "1 % 3", "1 / 4", "3 < 2", "4 ] 2", "3 / 4"},
		{"2 [ 1", "1 < 3", "1 / 4", "2 | 3", "2 ] 4", "4 | 3"},
	}
	if vi.Axes != 2 || len(vi.Relations) != 2 || vi.Kind() != KindSlice {
		t.Fatalf("axes %d, %d relation sets, kind %s", vi.Axes, len(vi.Relations), vi.Kind())
	}
	for k := range 2 {
		if len(vi.Relations[k]) != len(want[k]) {
			t.Fatalf("%s: %d triples, want %d", axisNames[k], len(vi.Relations[k]), len(want[k]))
		}
		for i, tr := range vi.Relations[k] {
			if tr.String() != want[k][i] {
				t.Errorf("%s pair %d: %s, want %s", axisNames[k], i, tr, want[k][i])
			}
		}
	}
	// Looked up in either order.
	for _, c := range []struct {
		axis int
		a, b int32
		want Relation
	}{
		{0, 1, 2, Meets}, {0, 2, 1, MetBy}, {0, 2, 3, After}, {0, 3, 2, Before}, {0, 2, 4, Finishes},
		{1, 1, 2, Starts}, {1, 2, 1, StartedBy}, {1, 3, 4, MetBy},
	} {
		if got, ok := vi.Relation(c.axis, c.a, c.b); !ok || got != c.want {
			t.Errorf("%s relation of %d to %d: %v %v, want %v", axisNames[c.axis], c.a, c.b, got, ok, c.want)
		}
	}
	for _, c := range [][3]int32{{0, 1, 1}, {0, 1, 9}, {2, 1, 2}, {-1, 1, 2}} {
		if _, ok := vi.Relation(int(c[0]), c[1], c[2]); ok {
			t.Errorf("relation on axis %d of %d to %d found", c[0], c[1], c[2])
		}
	}
}

func TestVolumeZ(t *testing.T) {
	objs := []Object{
		{Label: 5, Class: "bone", Min: [3]float64{0, 0, 0}, Max: [3]float64{1, 1, 10}},
		{Label: 7, Class: "iodine", Min: [3]float64{0, 0, 2}, Max: [3]float64{1, 1, 8}},
	}
	vi, err := Volume(objs, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if vi.Kind() != KindVolume || len(vi.Relations) != 3 {
		t.Fatalf("kind %s, %d relation sets", vi.Kind(), len(vi.Relations))
	}
	for k, want := range []string{"5 = 7", "5 = 7", "5 % 7"} {
		if got := vi.Relations[k][0].String(); got != want {
			t.Errorf("%s: %s, want %s", axisNames[k], got, want)
		}
	}
	// A record round trip keeps the image valid and equal.
	data, err := json.Marshal(vi)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"rel":"contains"`) {
		t.Errorf("record %s does not name the relation", data)
	}
	var back VirtualImage
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil || back.Relations[2][0] != vi.Relations[2][0] {
		t.Errorf("round trip: %v, %+v", err, back.Relations)
	}
}

func TestBuildErrors(t *testing.T) {
	good := exampleO[0]
	for _, c := range []struct {
		name string
		objs []Object
		s    Settings
		says string
	}{
		{"label 0", []Object{{Class: "A", Max: [3]float64{1, 1, 1}}}, DefaultSettings(), "label 0"},
		{"twice", []Object{good, good}, DefaultSettings(), "label 1 given twice"},
		{"class", []Object{{Label: 2, Max: [3]float64{1, 1, 1}}}, DefaultSettings(), "object 2 has no class"},
		{"NaN", []Object{{Label: 2, Class: "A", Min: [3]float64{0, math.NaN(), 0}, Max: [3]float64{1, 1, 1}}}, DefaultSettings(), "on y, want finite"},
		{"empty", []Object{{Label: 2, Class: "A", Max: [3]float64{0, 1, 1}}}, DefaultSettings(), "[0, 0] mm on x"},
		{"short for tol", []Object{good}, Settings{TolMM: 2}, "longer than twice tol_mm = 4"},
		{"tol", []Object{good}, Settings{TolMM: -1}, "tol_mm -1"},
	} {
		if _, err := Slice(c.objs, c.s); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInput saying %q", c.name, err, c.says)
		}
	}
	// A slice ignores z; a volume does not.
	flat := Object{Label: 1, Class: "A", Max: [3]float64{1, 1, 0}}
	if _, err := Slice([]Object{flat}, DefaultSettings()); err != nil {
		t.Errorf("slice object with no z extent: %v", err)
	}
	if _, err := Volume([]Object{flat}, DefaultSettings()); err == nil || !strings.Contains(err.Error(), "on z") {
		t.Errorf("volume object with no z extent: err = %v", err)
	}
}

func TestValidateTampered(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(vi *VirtualImage)
		says   string
	}{
		{"axes", func(vi *VirtualImage) { vi.Axes = 4 }, "4 axes"},
		{"order", func(vi *VirtualImage) { vi.Objects[0], vi.Objects[1] = vi.Objects[1], vi.Objects[0] }, "increasing labels"},
		{"missing axis", func(vi *VirtualImage) { vi.Relations = vi.Relations[:1] }, "relations on 1 axes"},
		{"missing triple", func(vi *VirtualImage) { vi.Relations[1] = vi.Relations[1][1:] }, "y has 5 relations"},
		{"wrong pair", func(vi *VirtualImage) { vi.Relations[0][0].B = 3 }, "want objects 1 and 2"},
		{"inverse relation", func(vi *VirtualImage) { vi.Relations[0][0].Rel = MetBy }, "forward"},
	} {
		vi, err := Slice(exampleO, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		c.tamper(vi)
		if err := vi.Validate(); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInput saying %q", c.name, err, c.says)
		}
	}
}

func TestSpatialSettingsHash(t *testing.T) {
	if a, b := DefaultSettings().Hash(), (Settings{TolMM: 0.002}).Hash(); a == b || len(a) != 16 || a != DefaultSettings().Hash() {
		t.Errorf("hashes %q and %q", a, b)
	}
}

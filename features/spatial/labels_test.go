package spatial

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// labelGrid is 5 x 4 x 2 voxels of 1 x 2 x 3 mm whose voxel (0, 0, 0) is
// centred at (10, 20, 30) mm.
var labelGrid = fdk.Grid{Dim: [3]int{5, 4, 2}, Spacing: [3]float64{1, 2, 3}, Origin: fdk.Vec3{10, 20, 30}}

// labelImage: slice 0 has object 1 at x 0..1, y 0 and object 2 at x 3,
// y 1..2; slice 1 has object 1 at x 1..2, y 3.
func labelImage() []int32 {
	l := make([]int32, 5*4*2)
	at := func(x, y, z int, v int32) { l[x+5*(y+4*z)] = v }
	at(0, 0, 0, 1)
	at(1, 0, 0, 1)
	at(3, 1, 0, 2)
	at(3, 2, 0, 2)
	at(1, 3, 1, 1)
	at(2, 3, 1, 1)
	return l
}

func TestObjectsFromLabels(t *testing.T) {
	classes := map[int32]string{1: "bone", 2: "iodine"}
	volume, perSlice, err := Objects(labelImage(), labelGrid, classes)
	if err != nil {
		t.Fatal(err)
	}
	// A voxel at index i covers origin + (i ± 1/2)·spacing; worked out by
	// hand from the layout above.
	want := []Object{
		{Label: 1, Class: "bone", Min: [3]float64{9.5, 19, 28.5}, Max: [3]float64{12.5, 27, 34.5}},
		{Label: 2, Class: "iodine", Min: [3]float64{12.5, 21, 28.5}, Max: [3]float64{13.5, 25, 31.5}},
	}
	if !slices.Equal(volume, want) {
		t.Errorf("volume objects %+v, want %+v", volume, want)
	}
	wantSlices := [][]Object{
		{
			{Label: 1, Class: "bone", Min: [3]float64{9.5, 19, 28.5}, Max: [3]float64{11.5, 21, 31.5}},
			{Label: 2, Class: "iodine", Min: [3]float64{12.5, 21, 28.5}, Max: [3]float64{13.5, 25, 31.5}},
		},
		{{Label: 1, Class: "bone", Min: [3]float64{10.5, 25, 31.5}, Max: [3]float64{12.5, 27, 34.5}}},
	}
	if len(perSlice) != 2 || !slices.Equal(perSlice[0], wantSlices[0]) || !slices.Equal(perSlice[1], wantSlices[1]) {
		t.Errorf("slice objects %+v, want %+v", perSlice, wantSlices)
	}
	// In slice 0 the objects' voxels touch along y (y index 0 against 1):
	// the virtual image says so exactly.
	vi, err := Slice(perSlice[0], DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if x, y := vi.Relations[0][0].String(), vi.Relations[1][0].String(); x != "1 < 2" || y != "1 | 2" {
		t.Errorf("slice 0: x %s, y %s, want 1 < 2 and 1 | 2", x, y)
	}
}

func TestObjectsErrors(t *testing.T) {
	classes := map[int32]string{1: "bone", 2: "iodine"}
	negative := labelImage()
	negative[4+5*(3+4*1)] = -2
	badGrid := labelGrid
	badGrid.Spacing[1] = 0
	for _, c := range []struct {
		name    string
		labels  []int32
		g       fdk.Grid
		classes map[int32]string
		says    string
	}{
		{"size", make([]int32, 39), labelGrid, classes, "39 entries"},
		{"negative", negative, labelGrid, classes, "voxel (4, 3, 1) has label -2"},
		{"class", labelImage(), labelGrid, map[int32]string{1: "bone"}, "label 2 (voxel (3, 1, 0)) has no class"},
		{"grid", labelImage(), badGrid, classes, "spacing y"},
	} {
		if _, _, err := Objects(c.labels, c.g, c.classes); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInput saying %q", c.name, err, c.says)
		}
	}
}

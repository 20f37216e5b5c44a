package fdk_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// Slabs of a grid reconstruct, one by one, to exactly the slices of the
// whole grid's reconstruction, field-of-view mask included: a job split
// across workers gives the same series bit for bit as one worker. The grid
// is off the isocentre and its spacing and origin are not exact in binary,
// so that a slab computing its voxel positions from its own origin (not the
// whole grid's) would differ in the last bits.
func TestSlabsEqualWhole(t *testing.T) {
	ph := phantom.SheppLogan(116)
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{3.1, 3.1, 2.7}, fdk.Vec3{0.3, -0.7, 4.1})
	for _, tc := range []struct {
		name string
		geom *fdk.Geometry
	}{
		{"full scan", fdktest.RTKGeometry(60, 360, 0, 128)},
		{"short scan Parker", fdktest.RTKGeometry(50, 240, 0, 128)},
		{"displaced detector", fdktest.RTKGeometry(60, 360, 120, 80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			projs, whole := projectAndReconstruct(t, ph, tc.geom, grid)
			plane := grid.Dim[0] * grid.Dim[1]
			for _, r := range [][2]int{{0, 7}, {7, 8}, {8, 30}} {
				slab, err := grid.Slab(r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				if want := grid.Position(0, 0, r[0])[2]; math.Abs(slab.Origin[2]-want) > 1e-9 {
					t.Errorf("slab [%d, %d) origin z %g mm, want %g", r[0], r[1], slab.Origin[2], want)
				}
				vol, err := fdk.Reconstruct(tc.geom, slab, clone(projs), fdk.Options{})
				if err != nil {
					t.Fatal(err)
				}
				want := whole.Data[r[0]*plane : r[1]*plane]
				diff, nonzero := 0, 0
				for i, v := range vol.Data {
					if math.Float32bits(v) != math.Float32bits(want[i]) {
						diff++
					}
					if v != 0 {
						nonzero++
					}
				}
				if diff > 0 || nonzero == 0 {
					t.Errorf("slab [%d, %d): %d of %d voxels differ from the whole grid's (%d non-zero)", r[0], r[1], diff, len(want), nonzero)
				}
			}
		})
	}
}

// A slab must lie inside its grid and hold a slice; slabs of slabs keep
// their place in the whole grid.
func TestSlabRange(t *testing.T) {
	grid := fdktest.RTKGrid()
	for _, r := range [][2]int{{-1, 3}, {5, 5}, {6, 5}, {0, 129}} {
		if _, err := grid.Slab(r[0], r[1]); !errors.Is(err, fdk.ErrGeometry) {
			t.Errorf("Slab(%d, %d) = %v, want ErrGeometry", r[0], r[1], err)
		}
	}
	outer, err := grid.Slab(10, 50)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := outer.Slab(5, 9)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := grid.Slab(15, 19)
	if err != nil {
		t.Fatal(err)
	}
	if inner != direct {
		t.Errorf("slab [5, 9) of slab [10, 50) = %+v, want slab [15, 19) %+v", inner, direct)
	}
}

func clone(projs [][]float32) [][]float32 {
	out := make([][]float32, len(projs))
	for i, p := range projs {
		out[i] = slices.Clone(p)
	}
	return out
}

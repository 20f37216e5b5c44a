package fdk_test

import (
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// GeometryFOV is the field of view a Reconstructor masks with, row by row,
// on a displaced detector (whose views the reconstructor widens) as on a
// centred one, without reconstructing.
func TestGeometryFOV(t *testing.T) {
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{6.1, 6.1, 5.7}, fdk.Vec3{0.3, -0.7, 4.1})
	geometries := map[string]*fdk.Geometry{
		"full scan":          fdktest.RTKGeometry(60, 360, 0, 128),
		"displaced detector": fdktest.RTKGeometry(60, 360, 120, 80),
	}
	for name, geom := range geometries {
		t.Run(name, func(t *testing.T) {
			rec, err := fdk.New(geom, grid, 1, fdk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Abort()
			got, err := fdk.GeometryFOV(geom, grid)
			if err != nil {
				t.Fatal(err)
			}
			want := rec.FOV()
			if got.Grid() != want.Grid() {
				t.Fatalf("grid %v, want %v", got.Grid(), want.Grid())
			}
			inside := 0
			for r := range grid.Dim[1] * grid.Dim[2] {
				g0, g1 := got.Span(r)
				w0, w1 := want.Span(r)
				if g0 != w0 || g1 != w1 {
					t.Fatalf("row %d: voxels %d to %d, the reconstructor's %d to %d", r, g0, g1, w0, w1)
				}
				inside += max(0, w1-w0+1)
			}
			if inside == 0 || inside == grid.Voxels() {
				t.Errorf("%d of %d voxels inside: the test cannot tell a field of view from none", inside, grid.Voxels())
			}
		})
	}
}

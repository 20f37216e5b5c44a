package fdk_test

import (
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// A half-fan scan's field of view is that of the detector it is widened to
// for back-projection: RTK's displaced-detector geometry (80 columns of
// 4 mm, centre 120 mm off the axis) sees exactly what a centred detector of
// 140 columns sees, and a volume inside it is complete, though the measured
// detector alone misses most of it in some view.
func TestHalfFanFieldOfView(t *testing.T) {
	g := fdktest.RTKGeometry(180, 360, 120, 80)
	centred := fdktest.RTKGeometry(180, 360, 0, 140)
	views, err := centred.Views()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		grid     fdk.Grid
		complete bool
	}{
		{"RTK volume", fdktest.RTKGrid(), false}, // its corners leave even the widened detector
		{"inner volume", fdk.CenteredGrid([3]int{96, 96, 64}, [3]float64{2, 2, 2}, fdk.Vec3{}), true},
	} {
		rec, err := fdk.New(g, tc.grid, 1, fdk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := rec.CheckFOV()
		rec.Abort()
		want := fdk.CheckFOV(views, centred.Detector, tc.grid)
		t.Logf("%s: %v", tc.name, got)
		if got.Voxels != want.Voxels || got.Outside != want.Outside || got.Complete() != tc.complete {
			t.Errorf("%s: %d of %d voxels outside, want %d of %d as on the centred 140-column detector (complete: %v)",
				tc.name, got.Outside, got.Voxels, want.Outside, want.Voxels, tc.complete)
		}
	}
}

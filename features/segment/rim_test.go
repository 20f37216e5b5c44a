package segment

import (
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestAutoAirMargin segments a water block in air whose outer millimetre
// (2 voxels) reads in the lipid range, as the reconstruction's blur makes
// where air meets water, with a lipid block inside touching that rim.
// Without a margin the lipid object takes in the whole rim (the opening
// keeps a component whole once its block survives); with
// AirMarginVoxels 2 it is exactly the block, and no object holds a voxel
// of the rim.
func TestAutoAirMargin(t *testing.T) {
	all := func(fdk.Vec3) bool { return true }
	outerLo, outerHi := fdk.Vec3{-6.25, -4.25, 0}, fdk.Vec3{10.25, 8.25, 30}
	innerLo, innerHi := fdk.Vec3{-5.25, -3.25, 0}, fdk.Vec3{9.25, 7.25, 30}
	blockLo, blockHi := fdk.Vec3{-5.25, -3.25, 0}, fdk.Vec3{-1.25, 0.75, 30} // 8x8 voxels, every slice
	bins := phantomBins([]material{
		{all, [3]float64{-990, -995, -998}},
		{box(outerLo, outerHi), [3]float64{-100, -100, -100}},
		{box(innerLo, innerHi), [3]float64{0, 0, 0}},
		{box(blockLo, blockHi), [3]float64{-100, -100, -100}},
	})
	block := 8 * 8 * testGrid.Dim[2]
	for _, tc := range []struct {
		margin int
		whole  bool // the lipid object is the block alone
	}{{0, false}, {2, true}} {
		s := DefaultSettings()
		s.AirMarginVoxels = tc.margin
		seg, err := Auto(bins, s)
		if err != nil {
			t.Fatal(err)
		}
		o := findObject(t, seg, fdk.Vec3{-3.25, -1.25, 0})
		if got := o.Class == Lipid && o.Voxels == block; got != tc.whole {
			t.Errorf("margin %d: the lipid block's object is %s of %d voxels, the block %d: want it the block alone: %v", tc.margin, o.Class, o.Voxels, block, tc.whole)
		}
		if tc.margin == 0 {
			continue
		}
		for v, c := range seg.Map {
			p := testGrid.Position(v%testGrid.Dim[0], v/testGrid.Dim[0]%testGrid.Dim[1], v/(testGrid.Dim[0]*testGrid.Dim[1]))
			if c != 0 && seg.Objects[c-1].Class != Air && box(outerLo, outerHi)(p) && !box(innerLo, innerHi)(p) {
				t.Fatalf("margin %d: voxel at %v of the rim is in object %d (%s)", tc.margin, p, c, seg.Objects[c-1].Class)
			}
		}
	}
}

package segment

import (
	"math"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// lipidConfirm is a decomposing job's rule: the border between lipid and
// water drawn on the lipid map.
func lipidConfirm() []ConfirmRule {
	return []ConfirmRule{{Class: Lipid, Material: "lipid", Unit: "volume fraction", Min: 0.15, EdgeFraction: 0.5, Else: Water}}
}

// TestAutoConfirm: on HU alone, a lipid box joined by a rod of two voxels
// of lipid HU (water whose noise fell under −30 HU) to a sheet of lipid
// HU (the partial volume at a body's surface) is one lipid object of 527
// voxels, the sheet kept whole by the opening by reconstruction; and of a
// sphere of 25 % lipid whose HU lies near −30 (its core under, its shell a
// checkerboard of −40 and −20 HU, as noise splits such a vial), the
// lipid object is the core and the shell's voxels that touch it. Given a
// lipid map that reads 1 in the box and 0.25 in the sphere, and the rule
// that draws the lipid class on it, the lipid objects are the box,
// exactly, and the sphere's voxels whose neighbourhood's mean reads 0.15
// or more; the rod, the sheet, a speck of lipid HU and the rest are
// water, even where the map reads 0.5 around the speck: what grows must
// be what the opening keeps.
func TestAutoConfirm(t *testing.T) {
	rod := box(fdk.Vec3{-5.6, 8.3, 7.9}, fdk.Vec3{-5.4, 9.2, 8.1})   // voxel centres y 8.5 and 9
	sheet := box(fdk.Vec3{-9.6, 9.4, 6.2}, fdk.Vec3{-1.4, 9.6, 9.8}) // 17 x 1 x 5 voxels at y 9.5
	mixC := fdk.Vec3{8, 7, 18}
	mix := sphere(mixC, 3)
	odd := func(p fdk.Vec3) bool { // every other voxel of the sphere's shell
		n := 0.0
		for a := range 3 {
			n += math.Round((p[a] - testGrid.Origin[a]) / testGrid.Spacing[a])
		}
		return mix(p) && int(n)%2 == 1
	}
	bins := phantomBins(append(analyticPhantom(), material{rod, [3]float64{-60, -60, -60}}, material{sheet, [3]float64{-100, -100, -100}},
		material{mix, [3]float64{-20, -20, -20}}, material{odd, [3]float64{-40, -40, -40}}, material{sphere(mixC, 1.6), [3]float64{-40, -40, -40}}))
	lipidC := fdk.Vec3{(lipidLo[0] + lipidHi[0]) / 2, (lipidLo[1] + lipidHi[1]) / 2, (lipidLo[2] + lipidHi[2]) / 2}
	centre := 36 + testGrid.Dim[0]*(30+testGrid.Dim[1]*17) // (8, 7, 17.75) mm
	want := confirmedVoxels(mix, 0.25, 0.15)
	seg, err := Auto(bins, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if o := findObject(t, seg, lipidC); o.Class != Lipid || o.Voxels != 11*8*5+2+85 {
		t.Fatalf("on HU alone the lipid object is %s of %d voxels, want lipid of %d (box, rod and sheet)", o.Class, o.Voxels, 11*8*5+2+85)
	}
	if o := objectAt(seg, centre); o.Class != Lipid || o.Voxels > want*7/10 {
		t.Fatalf("on HU alone the 25 %% lipid sphere is a %q object of %d voxels, want lipid of under 70 %% of %d", o.Class, o.Voxels, want)
	}
	lipid := mapOf(func(p fdk.Vec3) float64 {
		switch {
		case box(lipidLo, lipidHi)(p):
			return 1
		case mix(p):
			return 0.25
		case sphere(fdk.Vec3{-8.75, -6, 17.75}, 1.5)(p): // noise in the map around the speck of two lipid voxels
			return 0.5
		}
		return 0
	})
	s := DefaultSettings()
	s.Confirm = lipidConfirm()
	seg, err = Auto(bins, s, Map{Material: "lipid", Volume: lipid})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range seg.Objects {
		t.Logf("object %d %-8s %6d voxels centroid %6.2f", o.Label, o.Class, o.Voxels, o.CentroidMM)
	}
	checkBox(t, "lipid box", findObject(t, seg, lipidC), Lipid, lipidLo, lipidHi)
	if o := objectAt(seg, centre); o.Class != Lipid || o.Voxels != want {
		t.Errorf("the 25 %% lipid sphere is a %q object of %d voxels, want lipid of %d: those whose neighbourhood reads 0.15 or more", o.Class, o.Voxels, want)
	}
	total := 0
	for _, o := range seg.Objects {
		total += o.Voxels
	}
	if want := testGrid.Voxels() - 1; total != want || len(seg.Objects) != 6 {
		t.Errorf("%d objects hold %d voxels, want 6 holding all but the dense voxel of noise (%d): the sheets and specks of lipid HU are water", len(seg.Objects), total, want)
	}
	if seg.Settings.Hash() == DefaultSettings().Hash() || seg.Source != "hu and material maps" {
		t.Errorf("settings hash %s, source %q: want another hash than without the rule, and the maps named", seg.Settings.Hash(), seg.Source)
	}
}

// confirmedVoxels counts the voxels of testGrid in region whose
// neighbourhood's mean of a map reading level in region (0 elsewhere)
// reaches min, a voxel by voxel count of the 3×3×3 neighbours in region.
func confirmedVoxels(region func(fdk.Vec3) bool, level, min float64) int {
	n, g := 0, testGrid
	for k := 1; k < g.Dim[2]-1; k++ {
		for j := 1; j < g.Dim[1]-1; j++ {
			for i := 1; i < g.Dim[0]-1; i++ {
				in := 1
				for _, d := range neighbours(26) {
					if region(g.Position(i+d[0], j+d[1], k+d[2])) {
						in++
					}
				}
				if region(g.Position(i, j, k)) && level*float64(in)/27 >= min {
					n++
				}
			}
		}
	}
	return n
}

// objectAt returns the object holding voxel i, or the zero Object.
func objectAt(seg *Segmentation, i int) Object {
	if l := seg.Map[i]; l != 0 {
		return seg.Objects[l-1]
	}
	return Object{}
}

package segment

import (
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// lipidConfirm is the rule of a decomposing job: the lipid class holds
// what the lipid map confirms, the rest is water.
func lipidConfirm() []ConfirmRule {
	return []ConfirmRule{{Class: Lipid, Material: "lipid", Unit: "volume fraction", Min: 0.15, Else: Water}}
}

// TestAutoConfirm: a lipid box joined by a rod of two voxels of lipid HU
// (water whose noise fell under −30 HU) to a sheet of lipid HU (the
// partial volume at a body's surface) is one lipid object of 527 voxels
// on HU alone, the sheet kept whole by the opening by reconstruction.
// Given a lipid map that reads the box alone and a rule that the lipid
// class needs it, the lipid object is the box and the rod's first voxel
// (its neighbourhood's mean holds the box's face: 9/27 of lipid), and the
// rest of the rod, the sheet and the specks of lipid HU join the water.
func TestAutoConfirm(t *testing.T) {
	rod := box(fdk.Vec3{-5.6, 8.3, 7.9}, fdk.Vec3{-5.4, 9.2, 8.1})   // voxel centres y 8.5 and 9
	sheet := box(fdk.Vec3{-9.6, 9.4, 6.2}, fdk.Vec3{-1.4, 9.6, 9.8}) // 17 x 1 x 5 voxels at y 9.5
	bins := phantomBins(append(analyticPhantom(), material{rod, [3]float64{-60, -60, -60}}, material{sheet, [3]float64{-100, -100, -100}}))
	lipidC := fdk.Vec3{(lipidLo[0] + lipidHi[0]) / 2, (lipidLo[1] + lipidHi[1]) / 2, (lipidLo[2] + lipidHi[2]) / 2}
	seg, err := Auto(bins, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if o := findObject(t, seg, lipidC); o.Class != Lipid || o.Voxels != 11*8*5+2+85 {
		t.Fatalf("on HU alone the lipid object is %s of %d voxels, want lipid of %d (box, rod and sheet)", o.Class, o.Voxels, 11*8*5+2+85)
	}
	lipid := mapOf(func(p fdk.Vec3) float64 {
		if box(lipidLo, lipidHi)(p) {
			return 1
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
	if o := findObject(t, seg, lipidC); o.Class != Lipid || o.Voxels != 11*8*5+1 {
		t.Errorf("confirmed by the lipid map, the lipid object is %s of %d voxels, want lipid of %d: the box and the rod's first voxel", o.Class, o.Voxels, 11*8*5+1)
	}
	total := 0
	for _, o := range seg.Objects {
		total += o.Voxels
		if o.Class == Lipid && o.Voxels != 11*8*5+1 {
			t.Errorf("another lipid object of %d voxels at %.2f: the map confirms the box alone", o.Voxels, o.CentroidMM)
		}
	}
	if want := testGrid.Voxels() - 1; total != want || len(seg.Objects) != 5 {
		t.Errorf("%d objects hold %d voxels, want 5 holding all but the dense voxel of noise (%d): the sheets and specks of lipid HU are water", len(seg.Objects), total, want)
	}
	if seg.Settings.Hash() == DefaultSettings().Hash() || seg.Source != "hu and material maps" {
		t.Errorf("settings hash %s, source %q: want another hash than without the rule, and the maps named", seg.Settings.Hash(), seg.Source)
	}
}

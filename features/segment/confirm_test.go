package segment

import (
	"math"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// lipidConfirm is a decomposing job's rule: the lipid class drawn on the
// lipid map, at 0.15 or at 4 times the map's noise, whichever is higher,
// not within 2 voxels of air, of objects of −10 HU or less.
func lipidConfirm() []ConfirmRule {
	return []ConfirmRule{{Class: Lipid, MapRule: MapRule{Material: "lipid", Unit: "volume fraction", Floor: 0.15, NoiseSDs: 4}, EdgeFraction: 0.5,
		MaxHU: -10, SurfaceVoxels: 2, Else: Water}}
}

// TestAutoConfirm: on HU alone, a lipid box joined by a rod of two voxels
// of lipid HU (water whose noise fell under −30 HU) to a sheet of lipid
// HU (the partial volume at a body's surface) is one lipid object of 527
// voxels, the sheet kept whole by the opening by reconstruction; and of a
// sphere of 25 % lipid whose HU lies near −30 (its core under, its shell a
// checkerboard of −40 and −20 HU, as noise splits such a vial), the
// lipid object is the core and the shell's voxels that touch it. Given a
// lipid map (noise 0.05 per voxel) that reads 1 in the box, 0.25 in the
// sphere, 0.55 in a sphere of water HU joined to the box by a bar
// reading 0.2, and 0.19 around a speck of lipid HU, and the rule that
// draws the lipid class on it, the lipid objects are the voxels whose
// neighbourhood's mean reads half their level or more around the box,
// the 25 % sphere (there the floor, 0.15) and the 55 % sphere (though
// the bar joins it to the box over the floor); the rod, the sheet, the
// speck and the rest are water: the map's 0.19 there is under 4 times
// its noise (0.2). Said to be noiseless, the map makes that an object.
// Neither is a blob of the map reading 0.6 where the HU are water's
// (over the rule's −10 HU: what the bins cannot tell from water), nor a
// slab of it, of lipid HU, 2 voxels thick on the air box (within the
// rule's 2 voxels of air).
func TestAutoConfirm(t *testing.T) {
	rod := box(fdk.Vec3{-5.6, 8.3, 7.9}, fdk.Vec3{-5.4, 9.2, 8.1})   // voxel centres y 8.5 and 9
	sheet := box(fdk.Vec3{-9.6, 9.4, 6.2}, fdk.Vec3{-1.4, 9.6, 9.8}) // 17 x 1 x 5 voxels at y 9.5
	mixC := fdk.Vec3{8, 7, 18}
	diluteC := fdk.Vec3{-6.5, 0.5, 8}
	dilute := sphere(diluteC, 1.6)
	bar := box(fdk.Vec3{-7.1, 1.9, 7.2}, fdk.Vec3{-5.9, 4.3, 8.8}) // 3 x 5 x 3 voxels from the sphere to the box
	mix := sphere(mixC, 3)
	odd := func(p fdk.Vec3) bool { // every other voxel of the sphere's shell
		n := 0.0
		for a := range 3 {
			n += math.Round((p[a] - testGrid.Origin[a]) / testGrid.Spacing[a])
		}
		return mix(p) && int(n)%2 == 1
	}
	nearNull, nearNullC := sphere(fdk.Vec3{8, -1, 10}, 1.5), fdk.Vec3{8, -1, 10}                      // water by HU
	atAir, atAirC := box(fdk.Vec3{8.1, -4.6, 5.9}, fdk.Vec3{11.9, -3.9, 8.1}), fdk.Vec3{10, -4, 7.25} // 2 voxels thick on the air box
	speck := sphere(fdk.Vec3{-8.75, -6, 17.75}, 2.5)
	bins := phantomBins(append(analyticPhantom(), material{rod, [3]float64{-60, -60, -60}}, material{sheet, [3]float64{-100, -100, -100}},
		material{mix, [3]float64{-20, -20, -20}}, material{odd, [3]float64{-40, -40, -40}}, material{sphere(mixC, 1.6), [3]float64{-40, -40, -40}},
		material{dilute, [3]float64{-60, -60, -60}}, material{atAir, [3]float64{-60, -60, -60}}, material{speck, [3]float64{-20, -20, -20}}))
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
		case dilute(p):
			return 0.55
		case bar(p):
			return 0.2
		case speck(p): // noise in the map around the speck of two lipid voxels
			return 0.19
		case nearNull(p), atAir(p):
			return 0.6
		}
		return 0
	})
	s := DefaultSettings()
	s.Confirm = lipidConfirm()
	noiseless, err := Auto(bins, s, Map{Material: "lipid", Volume: lipid})
	if err != nil {
		t.Fatal(err)
	}
	if o := findObject(t, noiseless, fdk.Vec3{-8.75, -6, 17.75}); o.Class != Lipid {
		t.Errorf("the map's 0.19 around the speck, said to be noiseless, is a %q object; want lipid", o.Class)
	}
	seg, err = Auto(bins, s, Map{Material: "lipid", Volume: lipid, NoiseSD: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range seg.Objects {
		t.Logf("object %d %-8s %6d voxels centroid %6.2f", o.Label, o.Class, o.Voxels, o.CentroidMM)
	}
	near := func(c fdk.Vec3, mm float64) func(fdk.Vec3) bool {
		return func(p fdk.Vec3) bool { return math.Hypot(math.Hypot(p[0]-c[0], p[1]-c[1]), p[2]-c[2]) <= mm }
	}
	for _, c := range []struct {
		name   string
		at     fdk.Vec3
		cut    float64
		region func(fdk.Vec3) bool
	}{
		{"the lipid box", lipidC, 0.5, func(p fdk.Vec3) bool { return near(lipidC, 6)(p) && p[1] > 3.25 }},
		{"the 25 % lipid sphere", mixC, 0.15, near(mixC, 5)},
	} {
		if o, want := findObject(t, seg, c.at), meanAtLeast(lipid, c.cut, c.region); o.Class != Lipid || o.Voxels != want {
			t.Errorf("%s is a %q object of %d voxels, want lipid of %d: those around it whose neighbourhood's mean reads %g or more", c.name, o.Class, o.Voxels, want, c.cut)
		}
	}
	// Its level, the 0.9 quantile of its mean, is under 0.55 on so few
	// voxels: its cut lies between the floor and half of 0.55. Its region
	// is the bar up to the box's rim, two voxels from the box. Its top
	// reads more than half the box's level, in the box's component.
	diluteRegion := func(p fdk.Vec3) bool { return near(diluteC, 4)(p) && p[1] < 3.25 }
	lo, hi := meanAtLeast(lipid, 0.275, diluteRegion), meanAtLeast(lipid, 0.15, diluteRegion)
	if o := findObject(t, seg, diluteC); o.Class != Lipid || o.Voxels < lo || o.Voxels > hi {
		t.Errorf("the 55 %% lipid sphere is a %q object of %d voxels, want lipid of %d to %d: those around it whose neighbourhood's mean reads 0.275, and 0.15, or more", o.Class, o.Voxels, lo, hi)
	}
	for _, c := range []struct {
		name string
		at   fdk.Vec3
	}{{"a blob of the map of water's HU", nearNullC}, {"a blob of the map within 2 voxels of air", atAirC}} {
		if o := objectAt(seg, voxelAt(c.at)); o.Class == Lipid {
			t.Errorf("%s is a lipid object of %d voxels; want it not drawn", c.name, o.Voxels)
		}
	}
	total := 0
	for _, o := range seg.Objects {
		total += o.Voxels
	}
	if want := testGrid.Voxels() - 1; total != want || len(seg.Objects) != 7 {
		t.Errorf("%d objects hold %d voxels, want 7 holding all but the dense voxel of noise (%d): the sheets and specks of lipid HU are water", len(seg.Objects), total, want)
	}
	if seg.Settings.Hash() == DefaultSettings().Hash() || seg.Source != "hu and material maps" {
		t.Errorf("settings hash %s, source %q: want another hash than without the rule, and the maps named", seg.Settings.Hash(), seg.Source)
	}
}

// meanAtLeast counts the voxels of m in region whose 3×3×3
// neighbourhood's mean (cut at the volume's faces) reads min or more, a
// voxel by voxel sum.
func meanAtLeast(m *fdk.Volume, min float64, region func(fdk.Vec3) bool) int {
	n, g := 0, m.Grid
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				if !region(g.Position(i, j, k)) {
					continue
				}
				sum, count := 0.0, 0
				for _, d := range append(neighbours(26), [3]int{}) {
					if a, b, e := i+d[0], j+d[1], k+d[2]; a >= 0 && b >= 0 && e >= 0 && a < g.Dim[0] && b < g.Dim[1] && e < g.Dim[2] {
						sum += float64(m.Data[a+g.Dim[0]*(b+g.Dim[1]*e)])
						count++
					}
				}
				if sum/float64(count) >= min {
					n++
				}
			}
		}
	}
	return n
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

// voxelAt returns the index of testGrid's voxel whose centre is at p.
func voxelAt(p fdk.Vec3) int {
	g, ijk := testGrid, [3]int{}
	for a := range 3 {
		ijk[a] = int(math.Round((p[a] - g.Origin[a]) / g.Spacing[a]))
	}
	return ijk[0] + g.Dim[0]*(ijk[1]+g.Dim[1]*ijk[2])
}

// objectAt returns the object holding voxel i, or the zero Object.
func objectAt(seg *Segmentation, i int) Object {
	if l := seg.Map[i]; l != 0 {
		return seg.Objects[l-1]
	}
	return Object{}
}

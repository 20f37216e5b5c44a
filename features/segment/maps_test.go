package segment

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// A gadolinium sphere too faint for the HU classes (40 HU in every bin,
// inside the water class) for TestAutoMaps, clear of analyticPhantom's
// shapes.
var gdC, gdR = fdk.Vec3{8, 7, 18}, 3.0

// mapOf samples amount(p) at every voxel centre of testGrid.
func mapOf(amount func(p fdk.Vec3) float64) *fdk.Volume {
	v := fdk.NewVolume(testGrid)
	g := testGrid
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				v.Data[i+g.Dim[0]*(j+g.Dim[1]*k)] = float32(amount(g.Position(i, j, k)))
			}
		}
	}
	return v
}

// testMaps are the maps of analyticPhantom with the faint gadolinium
// sphere: gadolinium 1.8 mg/mL in it and 0.6 in a shell 0.6 mm around it
// (the partial volume of a blurred edge, over the detection threshold and
// under half the sphere's level), 5 mg/mL in one voxel of water (noise)
// and 9 in a voxel of the air box; iodine 8 mg/mL in the iodine sphere,
// hydroxyapatite 300 in the bone sphere; and the rules of those maps.
func testMaps() ([]Map, Settings) {
	gd := mapOf(func(p fdk.Vec3) float64 {
		switch {
		case sphere(gdC, gdR)(p):
			return 1.8
		case sphere(gdC, gdR+0.6)(p):
			return 0.6
		case sphere(fdk.Vec3{0, -6, 20}, 0.2)(p), sphere(fdk.Vec3{10, -6.5, 6.5}, 0.2)(p):
			return 5
		}
		return 0.05
	})
	inside := func(in func(fdk.Vec3) bool, amount float64) *fdk.Volume {
		return mapOf(func(p fdk.Vec3) float64 {
			if in(p) {
				return amount
			}
			return 0
		})
	}
	maps := []Map{
		{Material: "ha", Volume: inside(sphere(boneC, boneR), 300), NoiseSD: 1},
		{Material: "iodine", Volume: inside(sphere(iodineC, iodineR), 8), NoiseSD: 0.05},
		{Material: "gadolinium", Volume: gd, NoiseSD: 0.05},
	}
	s := DefaultSettings()
	s.Maps = []MapRule{{"iodine", "mg/mL", 5, 0.5}, {"gadolinium", "mg/mL", 5, 0.5}, {"ha", "mg/mL", 5, 50}}
	s.MapClasses, s.EdgeFraction = []Class{Lipid, Water, Dense}, 0.5
	return maps, s
}

// TestAutoMaps: given material maps, Auto makes an object of each
// component of voxels that a map shows, whole, with the material's name
// for class: the gadolinium sphere that the HU classes leave in the water
// (before maps were taken, the faint sphere was part of the water
// object), exactly its voxels (the rim of partial volume cut at half its
// level back to water), and the iodine and bone spheres as iodine and ha;
// a voxel of noise goes as the opening says, a voxel of the air box is
// not the maps' to take. The settings say that maps were used (their
// hash differs), and the interior of each object is its voxels that
// survive one erosion.
func TestAutoMaps(t *testing.T) {
	bins := phantomBins(analyticPhantom())
	maps, s := testMaps()
	seg, err := Auto(bins, s, maps...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range seg.Objects {
		t.Logf("object %d %-10s %6d voxels %8.2f mm³ centroid %6.2f", o.Label, o.Class, o.Voxels, o.VolumeMM3, o.CentroidMM)
	}
	if len(seg.Objects) != 6 {
		t.Fatalf("%d objects, want 6 (water, iodine, ha, lipid, air, gadolinium)", len(seg.Objects))
	}
	checkSphere(t, "gadolinium", findObject(t, seg, gdC), "gadolinium", gdC, gdR)
	checkSphere(t, "iodine", findObject(t, seg, iodineC), "iodine", iodineC, iodineR)
	checkSphere(t, "bone", findObject(t, seg, boneC), "ha", boneC, boneR)
	checkBox(t, "air", findObject(t, seg, fdk.Vec3{10, -6.5, 6.5}), Air, airLo, airHi)
	total := 0
	for _, o := range seg.Objects {
		total += o.Voxels
	}
	if want := testGrid.Voxels() - 3 - 144 - 1; total != want {
		t.Errorf("objects hold %d voxels, want %d: all but the 3 of noise, the 144 of the sheet and the map's voxel of noise", total, want)
	}
	if seg.Settings.Hash() == DefaultSettings().Hash() || seg.Source != "hu and material maps" {
		t.Errorf("settings hash %s, source %q: want another hash than without maps, and the maps named", seg.Settings.Hash(), seg.Source)
	}
	checkInterior(t, seg, findObject(t, seg, gdC).Label, sphere(gdC, gdR))
}

// checkInterior checks seg.Interior(1)'s object label against the voxels
// of in whose six face neighbours are all in it too, and that the other
// objects keep no voxel outside their own.
func checkInterior(t *testing.T, seg *Segmentation, label int64, in func(fdk.Vec3) bool) {
	t.Helper()
	core := seg.Interior(1)
	g, want, got := testGrid, 0, 0
	for k := 1; k < g.Dim[2]-1; k++ {
		for j := 1; j < g.Dim[1]-1; j++ {
			for i := 1; i < g.Dim[0]-1; i++ {
				all := true
				for _, d := range [][3]int{{0, 0, 0}, {-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}} {
					all = all && in(g.Position(i+d[0], j+d[1], k+d[2]))
				}
				if all {
					want++
				}
			}
		}
	}
	for i, m := range core.Map {
		if m != 0 && seg.Map[i] != m {
			t.Fatalf("voxel %d is in object %d's interior but in object %d", i, m, seg.Map[i])
		}
		if int64(m) == label {
			got++
		}
	}
	if got != want || len(core.Objects) != len(seg.Objects) {
		t.Errorf("object %d's interior holds %d voxels, want %d", label, got, want)
	}
}

// TestAutoMapsRejects: maps that do not match the rules, and rules that
// cannot work, are refused naming the field or the map.
func TestAutoMapsRejects(t *testing.T) {
	bins := phantomBins(analyticPhantom())
	// confirmEdit gives the settings lipidConfirm's rule, edited by edit.
	confirmEdit := func(edit func(*ConfirmRule)) func([]Map, *Settings) []Map {
		return func(m []Map, s *Settings) []Map {
			s.Confirm = lipidConfirm()
			edit(&s.Confirm[0])
			return m
		}
	}
	for _, c := range []struct {
		name string
		edit func(maps []Map, s *Settings) []Map
		want string
	}{
		{"a rule without its map", func(m []Map, s *Settings) []Map { return m[:2] }, "no gadolinium map"},
		{"a map without a rule", func(m []Map, s *Settings) []Map { s.Maps = s.Maps[:2]; return m }, "the ha map is given, and no rule"},
		{"a map off the grid", func(m []Map, s *Settings) []Map {
			m[1].Volume = fdk.NewVolume(fdk.Grid{Dim: [3]int{4, 4, 4}, Spacing: [3]float64{1, 1, 1}})
			return m
		}, "iodine map is not on the bins' grid"},
		{"a floor of 0", func(m []Map, s *Settings) []Map { s.Maps[0].Floor = 0; return m }, "iodine: floor 0"},
		{"a material named as a class", func(m []Map, s *Settings) []Map { s.Maps[2].Material = "water"; return m }, `material "water"`},
		{"an edge fraction of 1", func(m []Map, s *Settings) []Map { s.EdgeFraction = 1; return m }, "EdgeFraction"},
		{"a map class that is no class", func(m []Map, s *Settings) []Map { s.MapClasses = []Class{"bone"}; return m }, "MapClasses"},
		{"a NaN in a map", func(m []Map, s *Settings) []Map { m[1].Volume.Data[3+48] = float32(math.NaN()); return m }, "iodine map's voxel (3, 1, 0) is NaN"},
		{"a confirm rule without its map", confirmEdit(func(*ConfirmRule) {}), "Confirm: no lipid map"},
		{"a confirm rule of no class", confirmEdit(func(r *ConfirmRule) { r.Class = "fat" }), `Confirm: class "fat"`},
		{"a confirm rule to its own class", confirmEdit(func(r *ConfirmRule) { r.Else = Lipid }), `Confirm: lipid: else "lipid"`},
		{"a confirm rule's floor of 0", confirmEdit(func(r *ConfirmRule) { r.Floor = 0 }), "Confirm: lipid: floor 0 volume fraction"},
		{"a confirm rule's negative noise_sds", confirmEdit(func(r *ConfirmRule) { r.NoiseSDs = -1 }), "Confirm: lipid: noise_sds -1"},
		{"a confirm rule's NaN max_hu", confirmEdit(func(r *ConfirmRule) { r.MaxHU = math.NaN() }), "Confirm: lipid: max_hu NaN"},
		{"a confirm rule's negative surface_voxels", confirmEdit(func(r *ConfirmRule) { r.SurfaceVoxels = -1 }), "Confirm: lipid: surface_voxels -1"},
	} {
		maps, s := testMaps()
		maps = c.edit(maps, &s)
		_, err := Auto(bins, s, maps...)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrInput naming %q", c.name, err, c.want)
		}
	}
}

package segment

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// testGrid is anisotropic and off the isocentre, so that world coordinates
// are not voxel indices.
var testGrid = fdk.Grid{Dim: [3]int{48, 40, 24}, Spacing: [3]float64{0.5, 0.5, 0.75}, Origin: fdk.Vec3{-10, -8, 5}}

// muWater are three bins' water attenuations, 1/mm.
var muWater = [3]float64{0.06, 0.03, 0.02}

// material is a region of an analytic phantom and its HU in three bins.
type material struct {
	inside func(p fdk.Vec3) bool
	hu     [3]float64
}

func sphere(c fdk.Vec3, r float64) func(fdk.Vec3) bool {
	return func(p fdk.Vec3) bool {
		return (p[0]-c[0])*(p[0]-c[0])+(p[1]-c[1])*(p[1]-c[1])+(p[2]-c[2])*(p[2]-c[2]) <= r*r
	}
}

func box(lo, hi fdk.Vec3) func(fdk.Vec3) bool {
	return func(p fdk.Vec3) bool {
		return p[0] >= lo[0] && p[0] <= hi[0] && p[1] >= lo[1] && p[1] <= hi[1] && p[2] >= lo[2] && p[2] <= hi[2]
	}
}

// phantomBins samples materials at every voxel centre of testGrid (the
// last that holds a voxel wins; water, 0 HU, elsewhere) into three bins of
// attenuation.
func phantomBins(mats []material) []Bin {
	bins := make([]Bin, 3)
	for b := range bins {
		bins[b] = Bin{Index: b + 1, LowKeV: 20 + 15*float64(b), HighKeV: 35 + 15*float64(b), MuWater: muWater[b], Volume: fdk.NewVolume(testGrid)}
	}
	g := testGrid
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				var hu [3]float64
				for _, m := range mats {
					if m.inside(g.Position(i, j, k)) {
						hu = m.hu
					}
				}
				for b := range bins {
					bins[b].Volume.Data[i+g.Dim[0]*(j+g.Dim[1]*k)] = float32(muWater[b] * (1 + hu[b]/1000))
				}
			}
		}
	}
	return bins
}

// The analytic phantom of TestAuto: water, an iodine-like sphere that
// jumps at the second bin, a bone sphere, a lipid box and an air box, and
// specks of noise.
var (
	iodineC, iodineR = fdk.Vec3{-3, -2, 12}, 4.0
	boneC, boneR     = fdk.Vec3{5, 3, 13}, 3.0
	lipidLo, lipidHi = fdk.Vec3{-8.25, 4.25, 6.125}, fdk.Vec3{-2.75, 8.25, 9.875}  // voxel faces: 11x8x5 voxels
	airLo, airHi     = fdk.Vec3{6.25, -8.25, 4.625}, fdk.Vec3{13.75, -4.75, 8.375} // 15x7x5 voxels from the first slice
)

func analyticPhantom() []material {
	return []material{
		{sphere(iodineC, iodineR), [3]float64{150, 700, 350}},
		{sphere(boneC, boneR), [3]float64{1800, 1100, 700}},
		{box(lipidLo, lipidHi), [3]float64{-160, -120, -100}},
		// Air reconstructs near, never at, 0 attenuation: exactly 0 is
		// outside the field of view.
		{box(airLo, airHi), [3]float64{-990, -995, -998}},
		// A sheet one voxel thick of 27 mm³ in the lipid range, as partial
		// volume makes where air meets water, which the opening removes.
		{box(fdk.Vec3{-9.9, -7.9, 20.6}, fdk.Vec3{-1, -4, 20.9}), [3]float64{-100, -100, -100}},
		// Noise under the minimum volume: a dense voxel alone, and two
		// lipid voxels side by side.
		{sphere(fdk.Vec3{6, -3, 20}, 0.1), [3]float64{900, 900, 900}},
		{box(fdk.Vec3{-9.1, -6.1, 17.7}, fdk.Vec3{-8.4, -5.9, 17.9}), [3]float64{-150, -150, -150}},
	}
}

// findObject returns the object whose centroid is nearest c.
func findObject(t *testing.T, seg *Segmentation, c fdk.Vec3) Object {
	t.Helper()
	best, dist := -1, math.Inf(1)
	for i, o := range seg.Objects {
		if d := math.Hypot(math.Hypot(o.CentroidMM[0]-c[0], o.CentroidMM[1]-c[1]), o.CentroidMM[2]-c[2]); d < dist {
			best, dist = i, d
		}
	}
	if best < 0 {
		t.Fatal("no objects")
	}
	return seg.Objects[best]
}

// checkSphere checks an object against a sphere: exactly the voxels whose
// centres lie inside it, a volume within 3 % of 4/3 π r³ (the voxelisation
// error of voxels of 0.5 x 0.5 x 0.75 mm at r = 3 and 4 mm is +1.5 and
// -2.7 %), its centroid within a tenth of a voxel of the centre, and its box
// within a voxel of c ± r.
func checkSphere(t *testing.T, name string, o Object, class Class, c fdk.Vec3, r float64) {
	t.Helper()
	inside := 0
	for k := range testGrid.Dim[2] {
		for j := range testGrid.Dim[1] {
			for i := range testGrid.Dim[0] {
				if sphere(c, r)(testGrid.Position(i, j, k)) {
					inside++
				}
			}
		}
	}
	want := 4.0 / 3 * math.Pi * r * r * r
	if o.Class != class || o.Voxels != inside || math.Abs(o.VolumeMM3-want) > 0.03*want {
		t.Errorf("%s: class %q, %d voxels, %.1f mm³; want %q, %d voxels, %.1f mm³", name, o.Class, o.Voxels, o.VolumeMM3, class, inside, want)
	}
	for k := range 3 {
		sp := testGrid.Spacing[k]
		if math.Abs(o.CentroidMM[k]-c[k]) > 0.1*sp || math.Abs(o.MinMM[k]-(c[k]-r)) > sp || math.Abs(o.MaxMM[k]-(c[k]+r)) > sp {
			t.Errorf("%s axis %d: centroid %.3f, box %.3f to %.3f mm; want %.3f, %.3f to %.3f", name, k, o.CentroidMM[k], o.MinMM[k], o.MaxMM[k], c[k], c[k]-r, c[k]+r)
		}
	}
}

// checkBox checks an object against a box whose faces lie on voxel faces:
// volume, bounding box and centroid exact (to rounding).
func checkBox(t *testing.T, name string, o Object, class Class, lo, hi fdk.Vec3) {
	t.Helper()
	want := (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2])
	if o.Class != class || math.Abs(o.VolumeMM3-want) > 1e-9*want {
		t.Errorf("%s: class %q, %.3f mm³; want %q, %.3f mm³", name, o.Class, o.VolumeMM3, class, want)
	}
	for k := range 3 {
		if math.Abs(o.MinMM[k]-lo[k]) > 1e-9 || math.Abs(o.MaxMM[k]-hi[k]) > 1e-9 || math.Abs(o.CentroidMM[k]-(lo[k]+hi[k])/2) > 1e-9 {
			t.Errorf("%s axis %d: box %.4f to %.4f, centroid %.4f mm; want %.4f to %.4f, %.4f", name, k, o.MinMM[k], o.MaxMM[k], o.CentroidMM[k], lo[k], hi[k], (lo[k]+hi[k])/2)
		}
	}
}

// On all bins, the analytic phantom gives exactly its five objects (the
// thin sheet and the specks of noise removed), with their classes (the sphere whose HU jump at
// the second bin is contrast, the one whose HU fall is bone), volumes,
// boxes and centroids.
func TestAuto(t *testing.T) {
	bins := phantomBins(analyticPhantom())
	seg, err := Auto(bins, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range seg.Objects {
		t.Logf("object %d %-8s %6d voxels %8.2f mm³ centroid %6.2f box %v to %v", o.Label, o.Class, o.Voxels, o.VolumeMM3, o.CentroidMM, o.MinMM, o.MaxMM)
	}
	if len(seg.Objects) != 5 {
		t.Fatalf("%d objects, want 5 (water, contrast, bone, lipid, air)", len(seg.Objects))
	}
	checkSphere(t, "iodine", findObject(t, seg, iodineC), Contrast, iodineC, iodineR)
	checkSphere(t, "bone", findObject(t, seg, boneC), Bone, boneC, boneR)
	checkBox(t, "lipid", findObject(t, seg, fdk.Vec3{(lipidLo[0] + lipidHi[0]) / 2, (lipidLo[1] + lipidHi[1]) / 2, (lipidLo[2] + lipidHi[2]) / 2}), Lipid, lipidLo, lipidHi)
	checkBox(t, "air", findObject(t, seg, fdk.Vec3{10, -6.5, 6.5}), Air, airLo, airHi)
	total := 0
	for i, o := range seg.Objects {
		total += o.Voxels
		if o.Label != int64(i+1) {
			t.Errorf("object %d has label %d", i, o.Label)
		}
	}
	water := findObject(t, seg, fdk.Vec3{0, 0, 20})
	if water.Class != Water || total != testGrid.Voxels()-3-144 {
		t.Errorf("water is %q; objects hold %d voxels, want all %d but the 3 of noise and the 144 of the sheet", water.Class, total, testGrid.Voxels())
	}
	// Without the opening, the sheet is a lipid object of its own.
	s := DefaultSettings()
	s.OpeningVoxels = 0
	if open, err := Auto(bins, s); err != nil || len(open.Objects) != 6 || findObject(t, open, fdk.Vec3{-5.25, -5.75, 20.75}).Voxels != 18*8 {
		t.Errorf("without the opening: %v, want the sheet of 144 voxels as a sixth object", err)
	}
	// The map agrees with the objects.
	counts := make([]int, len(seg.Objects)+1)
	for _, m := range seg.Map {
		counts[m]++
	}
	for i, o := range seg.Objects {
		if counts[i+1] != o.Voxels {
			t.Errorf("object %d: %d voxels in the map, %d counted", o.Label, counts[i+1], o.Voxels)
		}
	}
}

// On one bin, dense objects stay Dense: one energy cannot tell contrast
// from bone. The bin is chosen by its scan index, not its position.
func TestAutoOneBin(t *testing.T) {
	s := DefaultSettings()
	s.Bin = 3
	seg, err := Auto(phantomBins(analyticPhantom()), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(seg.Objects) != 5 {
		t.Fatalf("%d objects, want 5", len(seg.Objects))
	}
	for _, c := range []fdk.Vec3{iodineC, boneC} {
		if o := findObject(t, seg, c); o.Class != Dense {
			t.Errorf("object at %v is %q on one bin, want dense", c, o.Class)
		}
	}
}

// Two boxes that touch only at an edge are two objects with
// 6-connectivity and one with 26; voxels of exactly 0 (outside the field
// of view) are in no object; small objects are dropped by volume.
func TestConnectivityFOVAndMinVolume(t *testing.T) {
	a := box(fdk.Vec3{-5.1, -5.1, 10}, fdk.Vec3{-3, -3, 12})
	b := box(fdk.Vec3{-2.9, -2.9, 10}, fdk.Vec3{-1, -1, 12}) // shares an edge with a, voxel-wise
	bins := phantomBins([]material{{a, [3]float64{900, 800, 700}}, {b, [3]float64{900, 800, 700}}})
	for _, bin := range bins {
		for j := range testGrid.Dim[1] { // the plane x = 0 leaves the field of view
			for k := range testGrid.Dim[2] {
				bin.Volume.Data[testGrid.Dim[0]*(j+testGrid.Dim[1]*k)] = 0
			}
		}
	}
	s := DefaultSettings()
	s.OpeningVoxels = 0
	for _, tc := range []struct {
		conn, dense int
	}{{6, 2}, {26, 1}} {
		s.Connectivity = tc.conn
		seg, err := Auto(bins, s)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range seg.Objects {
			if o.Class == Bone {
				n++
			}
			if o.MinIndex[0] == 0 {
				t.Errorf("%d-connectivity: object %d holds voxels outside the field of view", tc.conn, o.Label)
			}
		}
		if n != tc.dense {
			t.Errorf("%d-connectivity: %d bone objects, want %d", tc.conn, n, tc.dense)
		}
	}
	s.Connectivity = 6
	s.MinVolumeMM3 = 15 // just over the larger box, 5x5x3 voxels of 0.1875 mm³
	seg, err := Auto(bins, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range seg.Objects {
		if o.Class == Bone {
			t.Errorf("object %d of %.2f mm³ kept with a minimum of %.2f", o.Label, o.VolumeMM3, s.MinVolumeMM3)
		}
	}
}

// Bad settings and bins are errors naming the field or bin.
func TestAutoRejects(t *testing.T) {
	good := phantomBins(nil)
	for _, tc := range []struct {
		name string
		edit func(s *Settings, bins []Bin) []Bin
		want string
	}{
		{"connectivity", func(s *Settings, b []Bin) []Bin { s.Connectivity = 8; return b }, "Connectivity: 8"},
		{"thresholds", func(s *Settings, b []Bin) []Bin { s.ThresholdsHU[1] = -600; return b }, "ThresholdsHU"},
		{"classes", func(s *Settings, b []Bin) []Bin { s.Classes = s.Classes[1:]; return b }, "Classes: 4 classes for 4 thresholds"},
		{"bone by HU", func(s *Settings, b []Bin) []Bin { s.Classes[4] = Bone; return b }, `Classes: "bone"`},
		{"bin", func(s *Settings, b []Bin) []Bin { s.Bin = 7; return b }, "Bin: 7 is not among"},
		{"min volume", func(s *Settings, b []Bin) []Bin { s.MinVolumeMM3 = math.NaN(); return b }, "MinVolumeMM3"},
		{"no bins", func(s *Settings, b []Bin) []Bin { return nil }, "no energy bins"},
		{"water", func(s *Settings, b []Bin) []Bin { b[1].MuWater = 0; return b }, "bin 2: water attenuation 0"},
		{"order", func(s *Settings, b []Bin) []Bin { b[0], b[1] = b[1], b[0]; return b }, "increasing energy"},
		{"grid", func(s *Settings, b []Bin) []Bin {
			g := testGrid
			g.Spacing[0] = 1
			b[2].Volume = fdk.NewVolume(g)
			return b
		}, "bin 3 is on grid"},
		{"nan", func(s *Settings, b []Bin) []Bin { b[1].Volume.Data[5] = float32(math.NaN()); return b }, "bin 2: voxel (5, 0, 0) is NaN"},
		{"first nan in voxel order", func(s *Settings, b []Bin) []Bin {
			b[0].Volume.Data[9] = float32(math.NaN())
			b[2].Volume.Data[7] = float32(math.NaN())
			return b
		}, "bin 3: voxel (7, 0, 0) is NaN"},
	} {
		s := DefaultSettings()
		bins := append([]Bin(nil), good...)
		for i := range bins {
			v := *bins[i].Volume
			v.Data = append([]float32(nil), v.Data...)
			bins[i].Volume = &v
		}
		_, err := Auto(tc.edit(&s, bins), s)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInput mentioning %q", tc.name, err, tc.want)
		}
	}
}

// The settings hash is stable (a change of the defaults makes a new hash,
// which this golden value catches) and changes with every field.
func TestSettingsHash(t *testing.T) {
	s := DefaultSettings()
	const golden = "d2d1e415f53f5869"
	if h := s.Hash(); h != golden {
		t.Errorf("DefaultSettings().Hash() = %s, want %s: a change of the defaults needs a new hash in every record", h, golden)
	}
	s.ThresholdsHU[0] = math.Inf(-1)
	if h := s.Hash(); h != "" {
		t.Errorf("settings JSON cannot hold hash to %q, want empty", h)
	}
	s = DefaultSettings()
	seen := map[string]string{s.Hash(): "default"}
	for name, edit := range map[string]func(s *Settings){
		"bin":          func(s *Settings) { s.Bin = 2 },
		"classes":      func(s *Settings) { s.Classes[1] = Air },
		"thresholds":   func(s *Settings) { s.ThresholdsHU[0] = -400 },
		"connectivity": func(s *Settings) { s.Connectivity = 26 },
		"opening":      func(s *Settings) { s.OpeningVoxels = 2 },
		"min volume":   func(s *Settings) { s.MinVolumeMM3 = 2 },
		"jump":         func(s *Settings) { s.JumpHU = 50 },
		"mask":         func(s *Settings) { s.Mask = "ab" },
	} {
		s := DefaultSettings()
		edit(&s)
		if other, dup := seen[s.Hash()]; dup {
			t.Errorf("settings differing in %s hash like %s", name, other)
		}
		seen[s.Hash()] = name
	}
}

// StatsOf gives each bin's statistics as Stats does, from those Auto took
// to split the dense objects: the volume as Auto saw it, a copy each time;
// a volume Auto did not see is measured.
func TestStatsOf(t *testing.T) {
	bins := phantomBins(analyticPhantom())
	seg, err := Auto(bins, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bins {
		want, err := seg.Stats(b.Volume)
		if err != nil {
			t.Fatal(err)
		}
		got, err := seg.StatsOf(b.Volume)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("bin %d: StatsOf %v, %v; Stats %v", b.Index, got, err, want)
		}
		got[0].Mean = -1
	}
	v := bins[0].Volume
	kept, _ := seg.StatsOf(v)
	other := fdk.NewVolume(v.Grid)
	copy(other.Data, v.Data)
	for i := range v.Data {
		v.Data[i] *= 2
	}
	if again, _ := seg.StatsOf(v); !slices.Equal(again, kept) || kept[0].Mean == -1 {
		t.Errorf("StatsOf of bin %d after the volume changed: %v, want the kept %v", bins[0].Index, again, kept)
	}
	if st, err := seg.StatsOf(other); err != nil || st[0].Mean != kept[0].Mean || st[0].SD != kept[0].SD {
		t.Errorf("StatsOf a copy of bin %d: %v, %v, want it measured as %v", bins[0].Index, st, err, kept)
	}
}

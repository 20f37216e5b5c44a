package extract

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
)

// The synthetic scan: three bins of a 40 x 40 x 16 grid of RadiomicsVoxelMM
// voxels (so that the worker's resampling keeps every voxel's value), water
// everywhere but a lipid box, an air box, a bone sphere whose HU fall with
// energy, an iodine sphere whose HU jump at the second bin, and a column of
// voxels outside the field of view (exactly 0 in every bin).
var (
	scanGrid = fdk.Grid{Dim: [3]int{40, 40, 16}, Spacing: [3]float64{RadiomicsVoxelMM, RadiomicsVoxelMM, RadiomicsVoxelMM},
		Origin: fdk.Vec3{-6, -5, 2}}
	scanMuWater = [3]float64{0.06, 0.03, 0.02}
)

// scanMaterial is a region of the synthetic scan, in voxel indices, and its
// HU in each bin.
type scanMaterial struct {
	class  segment.Class
	inside func(i, j, k int) bool
	hu     [3]float64
}

func scanMaterials() []scanMaterial {
	ball := func(ci, cj, ck, r int) func(i, j, k int) bool {
		return func(i, j, k int) bool { return (i-ci)*(i-ci)+(j-cj)*(j-cj)+(k-ck)*(k-ck) <= r*r }
	}
	block := func(lo, hi [3]int) func(i, j, k int) bool {
		return func(i, j, k int) bool {
			return i >= lo[0] && i <= hi[0] && j >= lo[1] && j <= hi[1] && k >= lo[2] && k <= hi[2]
		}
	}
	return []scanMaterial{
		{segment.Lipid, block([3]int{4, 24, 3}, [3]int{11, 31, 8}), [3]float64{-100, -90, -80}},
		// Air reconstructs near, never at, 0 attenuation.
		{segment.Air, block([3]int{26, 4, 6}, [3]int{35, 9, 12}), [3]float64{-950, -950, -950}},
		{segment.Bone, ball(10, 10, 8, 4), [3]float64{1800, 1100, 700}},
		{segment.Contrast, ball(28, 28, 7, 5), [3]float64{150, 700, 350}},
	}
}

// outsideFOV is the column of voxels outside the field of view.
func outsideFOV(i, j, k int) bool { return i < 3 && j < 3 }

// scanBins samples the synthetic scan into three bins of attenuation.
func scanBins() []segment.Bin {
	bins := make([]segment.Bin, 3)
	for b := range bins {
		bins[b] = segment.Bin{Index: b + 1, LowKeV: 20 + 15*float64(b), HighKeV: 35 + 15*float64(b),
			MuWater: scanMuWater[b], Volume: fdk.NewVolume(scanGrid)}
	}
	mats := scanMaterials()
	g := scanGrid
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				var hu [3]float64
				for _, m := range mats {
					if m.inside(i, j, k) {
						hu = m.hu
					}
				}
				for b := range bins {
					mu := float32(scanMuWater[b] * (1 + hu[b]/1000))
					if outsideFOV(i, j, k) {
						mu = 0
					}
					bins[b].Volume.Data[i+g.Dim[0]*(j+g.Dim[1]*k)] = mu
				}
			}
		}
	}
	return bins
}

// wantVoxels counts each class's voxels in the synthetic scan, water being
// what no other material holds inside the field of view.
func wantVoxels() map[segment.Class]int {
	out := map[segment.Class]int{}
	g := scanGrid
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				if outsideFOV(i, j, k) {
					continue
				}
				c := segment.Water
				for _, m := range scanMaterials() {
					if m.inside(i, j, k) {
						c = m.class
					}
				}
				out[c]++
			}
		}
	}
	return out
}

// scanHU returns each class's HU in bin b (0 for water).
func scanHU(b int) map[segment.Class]float64 {
	out := map[segment.Class]float64{segment.Water: 0}
	for _, m := range scanMaterials() {
		out[m.class] = m.hu[b]
	}
	return out
}

var scanSeries = []string{"1.2.3.1", "1.2.3.2", "1.2.3.3"}

// scanIDs are the test's identifiers, with a pseudonym as the patient.
func scanIDs() IDs {
	return IDs{ScanID: "scan-1", JobID: "job-1", StudyUID: "1.2.3", Patient: records.Pseudonymise([]byte("key"), "PAT-7")}
}

// TestScanObjectsAndRecords checks Scan on the synthetic scan: the five
// objects with their classes and voxel counts, the number of records of
// each kind, every record's identifiers and settings hash, each object's
// radiomics mean equal to its material's HU in each bin, and the Parquet
// files holding every record.
func TestScanObjectsAndRecords(t *testing.T) {
	bins := scanBins()
	res, err := Scan(bins, scanSeries, scanIDs(), DefaultScanSettings())
	if err != nil {
		t.Fatal(err)
	}
	want := wantVoxels()
	byKind := map[string][]records.Record{}
	for _, r := range res.Records {
		byKind[r.KindVersion()] = append(byKind[r.KindVersion()], r)
	}
	objs := byKind[segment.Kind]
	if len(objs) != len(want)*len(bins) {
		t.Fatalf("%d object records, want %d objects in each of %d bins", len(objs), len(want), len(bins))
	}
	for _, r := range objs[:len(want)] {
		if n := int(r.Values[0]); n != want[segment.Class(r.Class)] {
			t.Errorf("object %d (%s): %d voxels, want %d", r.Object, r.Class, n, want[segment.Class(r.Class)])
		}
	}
	nz := scanGrid.Dim[2]
	for kind, n := range map[string]int{
		KindRadiomics:   len(want) * len(bins),
		"spectral-v1":   len(want),
		"hist-hu-v1":    (1 + nz) * len(bins),
		"mhist-hu-v1":   (1 + nz + len(want)) * len(bins),
		"vimage-xyz-v1": len(bins),
		"vimage-xy-v1":  nz * len(bins),
	} {
		if got := len(byKind[kind]); got != n {
			t.Errorf("%d %s records, want %d", got, kind, n)
		}
	}
	ids := scanIDs()
	for _, r := range res.Records {
		bin := binIndex(r.Bin)
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if r.ScanID != ids.ScanID || r.JobID != ids.JobID || r.StudyUID != ids.StudyUID || r.Patient != ids.Patient ||
			r.SeriesUID != scanSeries[bin] || r.Settings != res.SettingsHash {
			t.Fatalf("%s record of bin %d: identifiers %+v", r.KindVersion(), r.Bin, r)
		}
	}
	mean := slices.Index(res.Names[KindRadiomics], "stat.mean")
	if mean < 0 {
		t.Fatalf("no stat.mean among %v", res.Names[KindRadiomics])
	}
	for _, r := range byKind[KindRadiomics] {
		hu := scanHU(binIndex(r.Bin))[segment.Class(r.Class)]
		if got := float64(r.Values[mean]); math.Abs(got-hu) > 1e-3 {
			t.Errorf("bin %d, object %d (%s): mean %g HU, want %g", r.Bin, r.Object, r.Class, got, hu)
		}
	}
	checkParquet(t, res)
}

// slices0 returns the index in scanBins of the bin numbered b.
func binIndex(b int) int { return b - 1 }

// checkParquet writes res's Parquet files and reads them back: one file per
// kind, holding that kind's records.
func checkParquet(t *testing.T, res *Result) {
	t.Helper()
	paths, err := res.WriteParquet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		meta, recs, err := records.ReadParquet(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, ok := meta.Settings[res.SettingsHash]; !ok {
			t.Errorf("%s: no settings under hash %s", p, res.SettingsHash)
		}
		for _, r := range recs {
			if r.KindVersion()+".parquet" != filepath.Base(p) {
				t.Errorf("%s holds a %s record", p, r.KindVersion())
			}
		}
		n += len(recs)
	}
	if n != len(res.Records) {
		t.Errorf("the Parquet files hold %d records, want %d", n, len(res.Records))
	}
}

// TestScanRadiomicsCropIsExact checks that the worker's radiomics of each
// object on its cropped box equal the radiomics on the whole image (to
// 10⁻¹² relative: sums run in another order) when no interpolation centres
// a grid on the box: the crop loses nothing.
func TestScanRadiomicsCropIsExact(t *testing.T) {
	bins := scanBins()
	s := DefaultScanSettings()
	s.Radiomics.Interpolation = nil
	seg, err := segment.Auto(bins, s.Objects)
	if err != nil {
		t.Fatal(err)
	}
	got, err := scanRadiomics(bins, seg, s)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bins {
		hu := make([]float64, len(b.Volume.Data))
		for v, mu := range b.Volume.Data {
			hu[v] = b.HU(float64(mu))
		}
		want, err := Radiomics(hu, seg, func(v int) bool { return b.Volume.Data[v] == 0 }, s.Radiomics)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[i]) != len(want) {
			t.Fatalf("bin %d: %d objects, want %d", b.Index, len(got[i]), len(want))
		}
		for o := range want {
			for f, w := range want[o].Features {
				g := got[i][o].Features[f]
				same := math.Abs(g.Value-w.Value) <= 1e-12*math.Abs(w.Value) || (math.IsNaN(g.Value) && math.IsNaN(w.Value))
				if g.Tag != w.Tag || !same {
					t.Fatalf("bin %d, object %d: %s = %g on the crop, %s = %g on the whole image", b.Index, want[o].Label, g.Tag, g.Value, w.Tag, w.Value)
				}
			}
		}
	}
}

// TestScanSkipsEmptiedObjects checks that an object that re-segmentation
// leaves without voxels gets no radiomics record, and the others do,
// instead of the whole scan failing.
func TestScanSkipsEmptiedObjects(t *testing.T) {
	s := DefaultScanSettings()
	lo := -50.0
	s.Radiomics.Resegmentation.Min = &lo // air and lipid lie below
	res, err := Scan(scanBins(), scanSeries, scanIDs(), s)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	for _, r := range res.Records {
		if r.KindVersion() == KindRadiomics {
			classes[r.Class]++
		}
	}
	want := map[string]int{"water": 3, "bone": 3, "contrast": 3}
	if len(classes) != len(want) {
		t.Fatalf("radiomics records per class %v, want %v", classes, want)
	}
	for c, n := range want {
		if classes[c] != n {
			t.Fatalf("radiomics records per class %v, want %v", classes, want)
		}
	}
}

// TestScanBadInput checks that Scan refuses what it cannot use with an
// error that wraps an ErrInput and names the field, bin or voxel, before
// any feature is computed.
func TestScanBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string)
		want string
	}{
		{"no bins", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			return nil, nil
		}, "0 bins and 0 series"},
		{"series missing", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			return bins, series[:2]
		}, "3 bins and 2 series"},
		{"no margin", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			s.RadiomicsMargin = 0
			return bins, series
		}, "radiomics_margin_voxels: 0"},
		{"no grey levels", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			s.Radiomics.Discretisation.Bins = 0
			return bins, series
		}, "discretisation.bins: 0"},
		{"NaN voxel", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			bins[1].Volume.Data[5+40*(6+40*7)] = float32(math.NaN())
			return bins, series
		}, "bin 2: voxel (5, 6, 7) is NaN"},
		{"bins on other grids", func(bins []segment.Bin, series []string, s *ScanSettings) ([]segment.Bin, []string) {
			g := scanGrid
			g.Spacing[2] *= 2
			bins[2].Volume = fdk.NewVolume(g)
			return bins, series
		}, "bin 3 is on grid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := DefaultScanSettings()
			bins, series := c.edit(scanBins(), slices.Clone(scanSeries), &s)
			res, err := Scan(bins, series, scanIDs(), s)
			if err == nil {
				t.Fatalf("no error; %d records", len(res.Records))
			}
			isInput := errors.Is(err, ErrInput) || errors.Is(err, segment.ErrInput) || errors.Is(err, radiomics.ErrInput)
			if !isInput || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want one wrapping an ErrInput that says %q", err, c.want)
			}
		})
	}
}

// RadiomicsNames names the values of the radiomics records Scan makes
// with the same settings, in their order.
func TestRadiomicsNames(t *testing.T) {
	s := DefaultScanSettings()
	res, err := Scan(scanBins(), []string{"1.2.3.1", "1.2.3.2", "1.2.3.3"}, IDs{ScanID: "S", StudyUID: "1.2.3"}, s)
	if err != nil {
		t.Fatal(err)
	}
	names, err := RadiomicsNames(s.Radiomics)
	if err != nil {
		t.Fatal(err)
	}
	if want := res.Names[KindRadiomics]; len(want) == 0 || !slices.Equal(names, want) {
		t.Errorf("RadiomicsNames: %d names %q..., want Scan's %d", len(names), names[:min(3, len(names))], len(want))
	}
}

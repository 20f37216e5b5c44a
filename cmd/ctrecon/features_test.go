package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/ibsitest"
	"github.com/ctrecon/ctrecon/metaimage"
)

// featureJSON is one element of --json's array.
type featureJSON struct {
	Object      int64    `json:"object"`
	Tag         string   `json:"tag"`
	Code        string   `json:"ibsi_code"`
	Aggregation string   `json:"aggregation"`
	Value       *float64 `json:"value"`
}

// runFeaturesCmd runs ctrecon features with args and returns the --json
// array and the Parquet records.
func runFeaturesCmd(t *testing.T, args ...string) ([]featureJSON, []records.Record, records.Metadata) {
	t.Helper()
	dir := t.TempDir()
	pq, js := filepath.Join(dir, "f.parquet"), filepath.Join(dir, "f.json")
	var stderr bytes.Buffer
	if code := dispatch(append([]string{"features", "-o", pq, "--json", js}, args...), &stderr); code != 0 {
		t.Fatalf("ctrecon features %v: exit %d: %s", args, code, stderr.String())
	}
	var feats []featureJSON
	data, err := os.ReadFile(js)
	if err == nil {
		err = json.Unmarshal(data, &feats)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pq)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, recs, err := records.ReadParquet(f)
	if err != nil {
		t.Fatal(err)
	}
	return feats, recs, meta
}

// sameAsParquet checks that the JSON features of object label are the
// Parquet record's values, in the order of the file's names.
func sameAsParquet(t *testing.T, feats []featureJSON, rec records.Record, meta records.Metadata) {
	t.Helper()
	if len(meta.Names) != len(feats) || len(rec.Values) != len(feats) {
		t.Fatalf("%d JSON features, %d names, %d values in the Parquet record", len(feats), len(meta.Names), len(rec.Values))
	}
	for i, f := range feats {
		name := f.Tag
		if f.Aggregation != "" {
			name += "|" + f.Aggregation
		}
		want := float32(math.NaN())
		if f.Value != nil {
			want = float32(*f.Value)
		}
		if meta.Names[i] != name || math.Float32bits(rec.Values[i]) != math.Float32bits(want) {
			t.Errorf("feature %d: Parquet %s = %v, JSON %s = %v", i, meta.Names[i], rec.Values[i], name, want)
		}
	}
}

// ctrecon features on IBSI's CT phantom, read from its DICOM series in
// shared/data (never copied), reproduces every reference value of
// configurations A and C within IBSI's tolerance, in the JSON it writes;
// the Parquet record holds the same values.
func TestFeaturesIBSICTPhantom(t *testing.T) {
	dir := filepath.Join(ibsitest.Dir(t), "ct_phantom")
	for _, config := range []string{"A", "C"} {
		t.Run(config, func(t *testing.T) {
			feats, recs, meta := runFeaturesCmd(t, "-i", filepath.Join(dir, "dicom"), "--mask", filepath.Join(dir, "mask.mha"),
				"--preset", "ibsi-"+strings.ToLower(config))
			if len(recs) != 1 || recs[0].Object != 1 || recs[0].Kind != "radiomics" || recs[0].StudyUID == "" {
				t.Fatalf("records %+v, want one radiomics record of object 1 with the series' UIDs", recs)
			}
			sameAsParquet(t, feats, recs[0], meta)
			got := map[string]float64{}
			for _, f := range feats {
				if f.Value != nil {
					got[f.Tag+"|"+f.Aggregation] = *f.Value
				}
			}
			match, total := 0, 0
			for _, ref := range ibsitest.ReadReferences(t, filepath.Join(dir, "reference_configs_A-D.csv"), "config. "+config) {
				total++
				if v, ok := got[ref.Key()]; ok && ref.Matches(v) {
					match++
				} else {
					t.Errorf("%s: %v (present %v), reference %v ± %v", ref.Key(), v, ok, ref.Value, ref.Tolerance)
				}
			}
			t.Logf("configuration %s: %d of %d reference values matched", config, match, total)
			if total < 100 {
				t.Errorf("only %d reference values for configuration %s", total, config)
			}
		})
	}
}

// ctrecon features reads a DICOM series that ctrecon wrote (a cube of
// 200 HU and a cylinder of −100 HU in water) with a two-label .mha mask,
// and finds each object's HU mean, minimum and volume; bad input fails
// before any work, naming the flag or file.
func TestFeaturesCTRECONSeries(t *testing.T) {
	dir := t.TempDir()
	g := fdk.Grid{Dim: [3]int{24, 20, 10}, Spacing: [3]float64{0.5, 0.5, 1}, Origin: fdk.Vec3{-5.75, -4.75, -4.5}}
	const muWater = 0.02
	vol := fdk.NewVolume(g)
	labels := make([]int32, g.Voxels())
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				n := i + g.Dim[0]*(j+g.Dim[1]*k)
				hu := 0.0
				switch {
				case i >= 2 && i < 8 && j >= 2 && j < 8 && k >= 2 && k < 8:
					hu, labels[n] = 200, 1
				case (i-16)*(i-16)+(j-10)*(j-10) <= 9 && k >= 1 && k < 9:
					hu, labels[n] = -100, 2
				}
				vol.Data[n] = float32(muWater * (1 + hu/1000))
			}
		}
	}
	st := dicomio.Study{StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID(), PatientName: "DOE^JANE", PatientID: "PID-42"}
	series, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: 0, LowKeV: 20, HighKeV: 120, MuWater: muWater}, vol, dicomio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mask := filepath.Join(dir, "mask.mha")
	if err := metaimage.WriteLabels(mask, g, labels, "MET_UCHAR"); err != nil {
		t.Fatal(err)
	}
	feats, recs, _ := runFeaturesCmd(t, "-i", series.Dir, "--mask", mask, "--bin-width", "25", "--families", "morph,stat")
	if len(recs) != 2 || recs[0].SeriesUID != series.SeriesInstanceUID || recs[0].Patient != "" {
		t.Fatalf("records %+v: want 2 of series %s, no patient", recs, series.SeriesInstanceUID)
	}
	want := map[int64]map[string]float64{
		1: {"stat.mean": 200, "stat.min": 200, "morph.approx.vol": 6 * 6 * 6 * 0.25},
		2: {"stat.mean": -100, "stat.max": -100, "morph.approx.vol": 29 * 8 * 0.25},
	}
	found := 0
	for _, f := range feats {
		if w, ok := want[f.Object][f.Tag]; ok {
			found++
			if f.Value == nil || math.Abs(*f.Value-w) > 0.5 {
				t.Errorf("object %d %s = %v, want %v", f.Object, f.Tag, f.Value, w)
			}
		}
	}
	if found != 6 {
		t.Errorf("%d of the 6 features looked for were in the JSON", found)
	}

	other := filepath.Join(dir, "other.mha")
	if err := metaimage.WriteLabels(other, fdk.Grid{Dim: [3]int{24, 20, 9}, Spacing: g.Spacing, Origin: g.Origin}, labels[:24*20*9], "MET_UCHAR"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-i", filepath.Join(dir, "missing"), "--preset", "ibsi-a"}, []string{"missing"}},
		{[]string{"-i", series.Dir, "--mask", other, "--preset", "ibsi-a"}, []string{"other.mha", "DimSize"}},
		{[]string{"-i", series.Dir, "--preset", "ibsi-x"}, []string{"--preset", "ibsi-x"}},
		{[]string{"-i", series.Dir, "--preset", "ibsi-a", "--settings", "s.json"}, []string{"--settings", "--preset"}},
		{[]string{"-i", series.Dir}, []string{"--preset"}},
		{[]string{"-i", series.Dir, "--preset", "ibsi-a", "--range", "1"}, []string{"--range"}},
		{[]string{"-i", series.Dir, "--settings", filepath.Join(dir, "none.json")}, []string{"--settings", "none.json"}},
	} {
		var stderr bytes.Buffer
		args := append([]string{"features", "-o", filepath.Join(dir, "bad.parquet")}, tc.args...)
		if code := dispatch(args, &stderr); code != 1 {
			t.Errorf("%v: exit %d, want 1", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: error %q does not name %q", tc.args, stderr.String(), w)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.parquet")); err == nil {
			t.Errorf("%v: wrote the output", tc.args)
		}
	}
}

// writeBinSeries writes a water cylinder with a 200 HU cube as energy bin 2
// of a new study, its voxels outside a 4 mm field of view padded
// (PixelPaddingValue), and returns the series.
func writeBinSeries(t *testing.T, dir string) dicomio.Series {
	t.Helper()
	g := fdk.Grid{Dim: [3]int{24, 20, 6}, Spacing: [3]float64{0.5, 0.5, 1}, Origin: fdk.Vec3{-5.75, -4.75, -2.5}}
	const muWater = 0.02
	vol := fdk.NewVolume(g)
	for n := range vol.Data {
		vol.Data[n] = muWater
		if i, j := n%24, n/24%20; i >= 10 && i < 14 && j >= 8 && j < 12 {
			vol.Data[n] = muWater * 1.2
		}
	}
	geom := fdk.Geometry{SID: 100, SDD: 200, Detector: fdk.Detector{Cols: 40, Rows: 128, PitchU: 0.4, PitchV: 0.4}}
	for v := range 36 {
		geom.Angles = append(geom.Angles, float64(v)*2*math.Pi/36)
	}
	fov, err := fdk.GeometryFOV(&geom, g)
	if err != nil {
		t.Fatal(err)
	}
	st := dicomio.Study{StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID()}
	series, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: 2, LowKeV: 33.5, HighKeV: 50.5, MuWater: muWater}, vol, dicomio.Options{FOV: fov})
	if err != nil {
		t.Fatal(err)
	}
	return series
}

// ctrecon features without --mask on a series ctrecon wrote with a field
// of view leaves the padding voxels (PixelPaddingValue) out of the whole
// image, and its record names the series' study, series and energy bin
// (2, from the series, not 0), not the folder. Fails on the code before
// issue 10's fixes (stat.min −33792, bin 0, scan_id the folder's name).
func TestFeaturesPaddingAndIdentifiers(t *testing.T) {
	series := writeBinSeries(t, t.TempDir())
	feats, recs, _ := runFeaturesCmd(t, "-i", series.Dir, "--bin-width", "25", "--families", "stat")
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if r.Bin != 2 || r.ScanID != series.StudyInstanceUID || r.StudyUID != series.StudyInstanceUID || r.SeriesUID != series.SeriesInstanceUID {
		t.Errorf("record bin %d scan_id %q study %q series %q, want bin 2, scan_id and study %s, series %s",
			r.Bin, r.ScanID, r.StudyUID, r.SeriesUID, series.StudyInstanceUID, series.SeriesInstanceUID)
	}
	found := 0
	for _, f := range feats {
		switch f.Tag {
		case "stat.min", "stat.mean", "stat.max":
			found++
			if f.Value == nil || *f.Value < -1 || *f.Value > 201 {
				t.Errorf("%s = %s: want within [0, 200] HU, no padding voxel", f.Tag, formatValue(f.Value))
			}
		}
	}
	if found != 3 {
		t.Errorf("%d of stat.min, stat.mean, stat.max in the JSON", found)
	}
}

// formatValue formats a JSON feature value, null for nil.
func formatValue(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

// ctrecon features refuses an existing -o or --json file before reading
// the image, naming the flag, and leaves it as it was; the files it
// writes are mode 0644. Fails on the code before issue 10's fixes (it
// overwrote silently, and the Parquet file was 0600).
func TestFeaturesOutputFiles(t *testing.T) {
	dir := t.TempDir()
	series := writeBinSeries(t, dir)
	pq, js := filepath.Join(dir, "f.parquet"), filepath.Join(dir, "f.json")
	args := []string{"features", "-i", series.Dir, "--bin-width", "25", "--families", "stat", "-o", pq, "--json", js}
	var stderr bytes.Buffer
	if code := dispatch(args, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, p := range []string{pq, js} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v, mode %v: want 0644", p, err, fi.Mode().Perm())
		}
	}
	before, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, keep, other string }{{"-o", pq, filepath.Join(dir, "g.json")}, {"--json", js, filepath.Join(dir, "g.parquet")}} {
		stderr.Reset()
		a := []string{"features", "-i", series.Dir, "--bin-width", "25", "-o", pq, "--json", js}
		if tc.flag == "--json" {
			a = []string{"features", "-i", series.Dir, "--bin-width", "25", "-o", tc.other, "--json", js}
		} else {
			a = []string{"features", "-i", series.Dir, "--bin-width", "25", "-o", pq, "--json", tc.other}
		}
		if code := dispatch(a, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.flag+" "+tc.keep) || !strings.Contains(stderr.String(), "exists") {
			t.Errorf("%s existing: exit %d, error %q: want 1 and an error naming %s %s", tc.flag, code, stderr.String(), tc.flag, tc.keep)
		}
		if _, err := os.Stat(tc.other); err == nil {
			t.Errorf("%s existing: wrote %s", tc.flag, tc.other)
		}
	}
	if after, err := os.ReadFile(pq); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the existing Parquet file changed (%v)", err)
	}
}

// ctrecon features names the file of its input folder that is not DICOM,
// and the files between which a slice is missing, in words. Fails on the
// code before issue 10's fixes (a parser error; "not on the grid").
func TestFeaturesSeriesFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(dir string) error
		want  []string
	}{
		{"not DICOM", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "notes.dcm"), []byte("not an image\n"), 0o644)
		}, []string{"notes.dcm is not a DICOM file"}},
		{"missing slice", func(dir string) error {
			return os.Remove(filepath.Join(dir, "IM_0004.dcm"))
		}, []string{"1 slice(s) missing between", "IM_0003.dcm", "IM_0005.dcm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			series := writeBinSeries(t, t.TempDir())
			if err := tc.spoil(series.Dir); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			out := filepath.Join(t.TempDir(), "f.parquet")
			if code := dispatch([]string{"features", "-i", series.Dir, "--bin-width", "25", "-o", out}, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("error %q does not say %q", stderr.String(), w)
				}
			}
		})
	}
}

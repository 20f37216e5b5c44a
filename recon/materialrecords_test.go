package recon

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// TestMaterialRecordsPerObject runs a job that decomposes a simulated scan
// of vials (counting noise; the physics calibration) with its features:
// every object the extraction found has a materials-v1 record, in
// features.jsonl and in features/materials-v1.parquet alike; the object of
// each gadolinium vial (found by its objects-v1 centroid) reads its
// gadolinium within the bounds (10 % or 0.5 mg/mL), the other
// vials' objects under 0.5 mg/mL of gadolinium; and a search library
// given all the job's records answers the filter "gadolinium > 1" with
// exactly the gadolinium vials' objects.
func TestMaterialRecordsPerObject(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and reconstructs a vial scan")
	}
	vials := []sinogram.Vial{
		scansim.NewVial("gadolinium 7 mg/mL", 9, 0, 2.2, 0, map[string]float64{"gadolinium": 7}),
		scansim.NewVial("iodine 8 mg/mL", 0, 9, 2.2, 0, map[string]float64{"iodine": 8}),
		scansim.NewVial("gadolinium 4 mg/mL", -9, 0, 2.2, 0, map[string]float64{"gadolinium": 4}),
		scansim.NewVial("HA 300 mg/mL", 0, -9, 2.2, 0, map[string]float64{"ha": 300}),
		scansim.NewVial("lipid", 6.4, 6.4, 2.2, 1, nil),
	}
	spec := scansim.DefaultSpec()
	spec.ScanID, spec.Seed, spec.Vials = "VIALS", 5, vials
	spec.Views, spec.EnergyStep, spec.OpenCounts, spec.Dtype = 90, 2, 200000, sinogram.Uint32
	job, _, recs, objects, mats := vialJob(t, spec, func(j *Job) { j.MaterialSmoothMM = 0.5 })
	if len(objects) == 0 || len(mats) != len(objects) {
		t.Fatalf("%d objects, %d %s records: want one per object", len(objects), len(mats), KindMaterials)
	}
	f, err := os.Open(filepath.Join(job.Output, FeaturesDir, KindMaterials+".parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, pq, err := records.ReadParquet(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(pq) != len(mats) || !slices.Equal(meta.Names, job.Materials) {
		t.Errorf("Parquet: %d records named %v; want %d named %v", len(pq), meta.Names, len(mats), job.Materials)
	}
	gd := slices.Index(job.Materials, "gadolinium")
	want := map[int64]bool{} // the gadolinium vials' objects
	var table strings.Builder
	for _, v := range vials {
		label := vialObject(t, objects, v)
		amounts := mats[label].Values
		fmt.Fprintf(&table, "%-20s object %2d: %v\n", v.Name, label, amounts)
		got, true_ := float64(amounts[gd]), v.MgPerML["gadolinium"]
		if true_ > 0 {
			want[label] = true
			if math.Abs(got-true_) > max(0.1*true_, 0.5) {
				t.Errorf("%s: object %d reads %.3f mg/mL of gadolinium, want within 10 %% or 0.5 mg/mL", v.Name, label, got)
			}
		} else if !(got < 0.5) {
			t.Errorf("%s: object %d reads %.3f mg/mL of gadolinium, want under 0.5", v.Name, label, got)
		}
	}
	t.Logf("each vial's object's %s record (%v):\n%s", KindMaterials, job.Materials, table.String())
	picked := searchObjects(t, recs, "gadolinium > 1")
	if fmt.Sprint(picked) != fmt.Sprint(want) {
		t.Errorf("gadolinium above 1 mg/mL picks the objects %v, want the gadolinium vials' %v", picked, want)
	}
}

// readRecords reads a features.jsonl file.
func readRecords(t *testing.T, path string) []records.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []records.Record
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		r, err := records.Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// vialObject returns the label of the one object whose centroid lies in
// vial v (objects-v1 records: the centroid is values 8 and 9, x and y mm).
func vialObject(t *testing.T, objects map[int64]records.Record, v sinogram.Vial) int64 {
	t.Helper()
	var found []int64
	for label, r := range objects {
		if math.Hypot(float64(r.Values[8])-v.CenterMM[0], float64(r.Values[9])-v.CenterMM[1]) < v.RadiusMM/2 {
			found = append(found, label)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: objects %v have their centroid in the vial, want one", v.Name, found)
	}
	return found[0]
}

// vialJob simulates spec with its vials in a water cylinder 30 mm
// across, runs a job that decomposes it into all five materials with the
// physics calibration and extracts its features (64×64×8 voxels of
// 0.5 mm, a Hann window at a quarter), as edit (nil: none) changes it,
// and returns the job, its report, its records, and its objects-v1 and
// materials-v1 records by object.
func vialJob(t *testing.T, spec scansim.Spec, edit func(*Job)) (Job, *Report, []records.Record, map[int64]records.Record, map[int64]records.Record) {
	t.Helper()
	var err error
	if spec.Phantom, err = scansim.VialPhantom(30, spec.Vials); err != nil {
		t.Fatal(err)
	}
	scan := filepath.Join(t.TempDir(), "scan")
	if err := scansim.Simulate(scan, spec); err != nil {
		t.Fatal(err)
	}
	job := Job{ID: "vials", Input: scan, Output: filepath.Join(t.TempDir(), "out"), Device: "cpu",
		Volume:    VolumeSpec{Dim: [3]int{64, 64, 8}, VoxelMM: [3]float64{0.5, 0.5, 0.5}},
		Filter:    FilterSpec{Window: "hann", Cutoff: 0.25},
		Materials: []string{"water", "lipid", "ha", "iodine", "gadolinium"}}
	if edit != nil {
		edit(&job)
	}
	rep, err := Run(context.Background(), job, Options{Features: true})
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, filepath.Join(job.Output, FeaturesName))
	objects, mats := map[int64]records.Record{}, map[int64]records.Record{}
	for _, r := range recs {
		switch r.KindVersion() {
		case segment.Kind:
			objects[r.Object] = r
		case KindMaterials:
			mats[r.Object] = r
		}
	}
	return job, rep, recs, objects, mats
}

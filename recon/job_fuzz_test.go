package recon

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/fuzztest"
)

// FuzzParseJob feeds ParseJob arbitrary job specs, seeded with jobs of
// every field and with the hostile specs in testdata/fuzz/FuzzParseJob.
// Properties: no panic; allocation bounded by the spec's size; an error
// wraps ErrJob and says what is wrong; an accepted job validates, its
// volume is a grid fdk accepts, and its JSON parses back to the same job.
func FuzzParseJob(f *testing.F) {
	f.Add([]byte(`{"id":"j","input":"in","output":"out","volume":{"dim":[8,8,8]},"filter":{"window":"hann"}}`))
	full := Job{ID: "J-1", ScanID: "S-1", Bins: []int{0, 2}, Device: "cuda", Output: "out", PACS: "http://pacs/dicom-web",
		Volume:   VolumeSpec{Dim: [3]int{64, 32, 8}, VoxelMM: [3]float64{0.5, 0.5, 0}, OffsetMM: [3]float64{1, -2, 3}},
		Filter:   FilterSpec{Window: "shepp-logan", Cutoff: 0.8, Padding: 3},
		WaterROI: &Sphere{CenterMM: [3]float64{1, 2, 3}, RadiusMM: 2.5}, WriteMHA: true,
		PatientName: "Doe^Jane", PatientID: "P1", StudyID: "S", StudyDesc: "mouse"}
	data, err := json.Marshal(full)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, spec []byte) {
		var j *Job
		var err error
		fuzztest.AllocBound(t, len(spec), 64, 1<<20, func() { j, err = ParseJob(spec) })
		if err != nil {
			if !errors.Is(err, ErrJob) || len(strings.TrimPrefix(err.Error(), ErrJob.Error()+": ")) == 0 {
				t.Fatalf("error %q does not wrap ErrJob and say what is wrong", err)
			}
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("accepted a job that does not validate: %v", err)
		}
		if d := j.Volume.Dim; float64(d[0])*float64(d[1])*float64(d[2]) > 1<<34 {
			t.Fatalf("accepted a volume of %d x %d x %d voxels", d[0], d[1], d[2])
		}
		// What is zero is chosen from the scan's field of view: stand-ins.
		j2 := *j
		for k := range 3 {
			j2.Volume.Dim[k] = max(j2.Volume.Dim[k], 1)
			if j2.Volume.VoxelMM[k] == 0 {
				j2.Volume.VoxelMM[k] = 0.1
			}
		}
		if _, err := j2.Grid(nil); err != nil {
			t.Fatalf("accepted a volume fdk refuses: %v", err)
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseJob(out)
		if err != nil {
			t.Fatalf("its own JSON %s is refused: %v", out, err)
		}
		if back, _ := json.Marshal(again); !bytes.Equal(back, out) {
			t.Fatalf("%s parses back as %s", out, back)
		}
	})
}

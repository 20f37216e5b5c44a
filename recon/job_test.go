package recon

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A volume's dim, voxel_mm and offset_mm take one number for all three
// axes, as --dim, --voxel and --offset do, or an array of three. Before,
// "voxel_mm": 0.5 was refused as a number where an array belongs, and an
// array of two was zero-filled to three without a word.
func TestJobVolumeOneNumberOrThree(t *testing.T) {
	for _, tc := range []struct {
		volume string
		want   VolumeSpec
	}{
		{`{"dim":[8,8,4],"voxel_mm":0.5}`, VolumeSpec{Dim: [3]int{8, 8, 4}, VoxelMM: [3]float64{0.5, 0.5, 0.5}}},
		{`{"dim":16,"voxel_mm":[0.5,0.5,1],"offset_mm":[1,2,3]}`,
			VolumeSpec{Dim: [3]int{16, 16, 16}, VoxelMM: [3]float64{0.5, 0.5, 1}, OffsetMM: [3]float64{1, 2, 3}}},
		{`{"dim":8,"offset_mm":-2.5}`, VolumeSpec{Dim: [3]int{8, 8, 8}, OffsetMM: [3]float64{-2.5, -2.5, -2.5}}},
		// What is left out is chosen to cover the scan's field of view.
		{`{"voxel_mm":0.3}`, VolumeSpec{VoxelMM: [3]float64{0.3, 0.3, 0.3}}},
		{`{"dim":0}`, VolumeSpec{}},
		{`{}`, VolumeSpec{}},
	} {
		job, err := ParseJob([]byte(`{"id":"j","input":"in","volume":` + tc.volume + `}`))
		if err != nil {
			t.Errorf("%s: %v", tc.volume, err)
			continue
		}
		if job.Volume != tc.want {
			t.Errorf("%s: volume %+v, want %+v", tc.volume, job.Volume, tc.want)
		}
		// What Submit sends, the worker reads back the same.
		spec, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := ParseJob(spec); err != nil || again.Volume != tc.want {
			t.Errorf("%s: round trip %s gives %+v, %v", tc.volume, spec, again.Volume, err)
		}
	}
}

// A value JSON cannot put in a field is refused naming the field, in the
// job's terms (volume.dim, not Go's VolumeSpec.volume.dim of type [3]int),
// and the JSON it wants; a syntax error names its line and column.
func TestJobDecodeErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{`{"input":"in","volume":{"dim":[8,8]}}`, []string{"volume.dim: got [8,8], want a whole number or an array of 3"}},
		{`{"input":"in","volume":{"dim":8.5}}`, []string{"volume.dim: got 8.5, want a whole number"}},
		{`{"input":"in","volume":{"dim":[0,8,8]}}`, []string{"volume.dim[0]: must be at least 1, got 0 (or all three 0"}},
		{`{"input":"in","volume":{"dim":[8,8,8],"voxel_mm":[1,1,1,1]}}`, []string{"volume.voxel_mm: got [1,1,1,1], want a number or an array of 3"}},
		{`{"input":"in","volume":{"dim":[8,8,8],"voxel_mm":"0.5"}}`, []string{"volume.voxel_mm", `got "0.5"`}},
		{`{"input":"in","volume":{"dim":[8,8,8]},"bins":"0,2"}`, []string{"bins: got string, want an array"}},
		{`{"input":"in","volume":{"dim":[8,8,8]},"filter":{"cutoff":"half"}}`, []string{"filter.cutoff: got string, want a number"}},
		{"{\n  \"input\": \"in\",\n  \"volume\": {\"dim\": [8, 8, 8],}\n}", []string{"line 3, column 31"}},
		{`{"input":"in","volume":{"dim":[8,8,8]}} {"input":"other"}`, []string{"more after the job's JSON object"}},
	} {
		_, err := ParseJob([]byte(tc.spec))
		if !errors.Is(err, ErrJob) {
			t.Errorf("%s: err = %v, want ErrJob", tc.spec, err)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want it to say %q", tc.spec, err, want)
			}
		}
	}
}

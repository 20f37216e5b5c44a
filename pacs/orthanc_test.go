package pacs

import (
	"context"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/orthanctest"
)

// A two-bin study written by dicomio and uploaded with STOW-RS is found in
// Orthanc by its StudyInstanceUID, with both series and every instance.
func TestUploadToOrthanc(t *testing.T) {
	root := orthanctest.Start(t)
	grid := fdk.CenteredGrid([3]int{16, 12, 5}, [3]float64{0.5, 0.5, 1}, fdk.Vec3{})
	vol := fdk.NewVolume(grid)
	for i := range vol.Data {
		vol.Data[i] = 0.02 * float32(i%7) / 6
	}
	st := dicomio.Study{PatientName: "Phantom^Water", PatientID: "CTR-0001", StudyID: "1",
		StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID(), StudyTime: time.Now()}
	dir := t.TempDir()
	var all []Instance
	for i, keV := range [][2]float64{{15, 35}, {35, 50}} {
		s, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: i, LowKeV: keV[0], HighKeV: keV[1], MuWater: 0.02}, vol, dicomio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range s.Instances {
			all = append(all, Instance{Path: in.Path, SOPInstanceUID: in.SOPInstanceUID})
		}
	}
	c := &Client{BaseURL: root, Batch: 4}
	res, err := c.Store(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stored) != 10 {
		t.Fatalf("stored %d of 10", len(res.Stored))
	}
	var series, instances []map[string]any
	orthanctest.GetJSON(t, root+"/studies/"+st.StudyInstanceUID+"/series", &series)
	orthanctest.GetJSON(t, root+"/studies/"+st.StudyInstanceUID+"/instances", &instances)
	if len(series) != 2 || len(instances) != 10 {
		t.Errorf("Orthanc has %d series and %d instances of the study, want 2 and 10", len(series), len(instances))
	}
}

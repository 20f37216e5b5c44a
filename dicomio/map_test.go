package dicomio

import (
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/peertest"
)

// TestWriteMap writes a material map in each unit, reads every voxel back
// through the rescale (within half a stored step), and has dciodvfy check
// every file as a CT image without errors.
func TestWriteMap(t *testing.T) {
	tool := peertest.Tool(t, "dciodvfy", "dicom3tools")
	vol, _ := testVolume()
	for i := range vol.Data {
		vol.Data[i] = float32(math.Abs(float64(vol.Data[i])) * 100) // 0 to 6 mg/mL or fraction
		if vol.Data[i] > 2 {
			vol.Data[i] = 0.5
		}
	}
	dir := t.TempDir()
	for n, m := range []Map{
		{Name: "iodine", Unit: UnitMgPerML, Slope: 0.01, Comment: "test", SeriesNumber: 101},
		{Name: "water", Unit: UnitPercent, Slope: 0.01, Comment: "test", SeriesNumber: 102},
	} {
		s, err := WriteMap(dir, testStudy(), m, vol, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(s.Dir, "material_"+m.Name) {
			t.Errorf("series folder %s, want material_%s", s.Dir, m.Name)
		}
		scale := []float64{1, 100}[n]
		g := vol.Grid
		for k, inst := range s.Instances {
			got, _, _, err := ReadSliceHU(inst.Path)
			if err != nil {
				t.Fatal(err)
			}
			for p, v := range got {
				want := float64(vol.Data[k*g.Dim[0]*g.Dim[1]+p]) * scale
				if math.Abs(v-want) > m.Slope/2+1e-9 {
					t.Fatalf("%s slice %d pixel %d: read %g, wrote %g", m.Name, k, p, v, want)
				}
			}
		}
		dciodvfy(t, tool, s)
	}
	if _, err := WriteMap(dir, testStudy(), Map{Name: "x", Unit: "HU", Slope: 1, SeriesNumber: 1}, vol, testOptions); err == nil || !strings.Contains(err.Error(), "Map.Unit") {
		t.Errorf("a map in HU: got %v, want an error naming Map.Unit", err)
	}
}

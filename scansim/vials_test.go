package scansim

import (
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/sinogram"
)

// TestVialPhantom checks that each vial of the calibration and test
// phantoms lies inside the phantom apart from every other, that its
// region's densities add up, with the water beneath, to what the vial
// states, and that the volumes it states fill it.
func TestVialPhantom(t *testing.T) {
	const diameter = 30.0
	for _, vials := range [][]sinogram.Vial{CalibrationVials(diameter), TestVials(diameter, 1), TestVials(diameter, 2), TestVials(diameter, 3)} {
		regions, err := VialPhantom(diameter, vials)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vials {
			if d := math.Hypot(v.CenterMM[0], v.CenterMM[1]) + v.RadiusMM; d > diameter/2-1 {
				t.Errorf("%s reaches %.1f mm from the axis, beyond the phantom's wall", v.Name, d)
			}
			for _, w := range vials[i+1:] {
				if d := math.Hypot(v.CenterMM[0]-w.CenterMM[0], v.CenterMM[1]-w.CenterMM[1]); d < v.RadiusMM+w.RadiusMM+1 {
					t.Errorf("%s and %s are %.1f mm apart: they touch", v.Name, w.Name, d)
				}
			}
			density := map[string]float64{Water: 1} // the phantom's water beneath
			for _, c := range regions[i+1].Components {
				density[c.Material] += c.Density
			}
			volume := 0.0
			for m, f := range v.VolumeFraction {
				if got, want := density[vialMaterials[m]], f*materialDensity[vialMaterials[m]]; math.Abs(got-want) > 1e-12 {
					t.Errorf("%s: %s %g g/cm³, want %g", v.Name, m, got, want)
				}
				volume += f
			}
			for m, c := range v.MgPerML {
				if got := density[vialMaterials[m]]; math.Abs(got-c/1000) > 1e-12 {
					t.Errorf("%s: %s %g g/cm³, want %g", v.Name, m, got, c/1000)
				}
				volume += c / 1000 / materialDensity[vialMaterials[m]]
			}
			if math.Abs(volume-1) > 1e-12 {
				t.Errorf("%s: its contents take %g of its volume, want 1", v.Name, volume)
			}
		}
	}
	_, err := VialPhantom(diameter, []sinogram.Vial{{Name: "odd", RadiusMM: 1, MgPerML: map[string]float64{"barium": 1}}})
	if err == nil || !strings.Contains(err.Error(), `"barium"`) {
		t.Errorf("a vial of barium: got %v, want an error naming it", err)
	}
}

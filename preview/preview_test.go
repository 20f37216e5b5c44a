package preview

import (
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// A volume bright only where x > y must show that half bright in the axial
// panel, and the panels must have the sizes the spacing implies.
func TestRender(t *testing.T) {
	g := fdk.Grid{Dim: [3]int{20, 20, 10}, Spacing: [3]float64{1, 1, 2}}
	v := fdk.NewVolume(g)
	for k := range 10 {
		for j := range 20 {
			for i := range 20 {
				if i > j {
					v.Data[i+20*(j+20*k)] = 1
				}
			}
		}
	}
	img := Render(v, Window{0, 1})
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 20*3+8 || h != 20 {
		t.Fatalf("size %dx%d, want 68x20", w, h)
	}
	if img.GrayAt(15, 2).Y != 255 || img.GrayAt(2, 15).Y != 0 {
		t.Errorf("axial panel: (15,2)=%d want 255, (2,15)=%d want 0", img.GrayAt(15, 2).Y, img.GrayAt(2, 15).Y)
	}
	// Coronal panel at y = 10: bright where x > 10, at every height.
	if img.GrayAt(24+15, 0).Y != 255 || img.GrayAt(24+5, 19).Y != 0 {
		t.Errorf("coronal panel wrong: %d %d", img.GrayAt(24+15, 0).Y, img.GrayAt(24+5, 19).Y)
	}
}

package preview

import (
	"image/color"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestOverlay draws a red layer holding a cube over a uniform grey volume
// and checks that the picture shows the layer's colour where the cube is
// and only grey elsewhere in the panels, and refuses a layer on another
// grid.
func TestOverlay(t *testing.T) {
	g := fdk.CenteredGrid([3]int{32, 32, 8}, [3]float64{1, 1, 1}, fdk.Vec3{})
	base, layer := fdk.NewVolume(g), fdk.NewVolume(g)
	for i := range base.Data {
		base.Data[i] = 0.5
	}
	for k := range 8 {
		for j := 12; j < 20; j++ {
			for i := 12; i < 20; i++ {
				layer.Data[(k*32+j)*32+i] = 10
			}
		}
	}
	red := color.RGBA{0xff, 0x20, 0x20, 0xff}
	img, err := Overlay(Volume{Volume: base, Title: "t"}, Window{0, 1}, []Layer{{Volume: layer, Name: "iodine", Unit: "mg/mL", Color: red, Full: 10}})
	if err != nil {
		t.Fatal(err)
	}
	reddish, greyish := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.RGBAAt(x, y)
			switch {
			case c.R > 0xd0 && c.G < 0x60 && c.B < 0x60:
				reddish++
			case c.R == c.G && c.G == c.B && c.R > 0x70 && c.R < 0x90:
				greyish++
			}
		}
	}
	// The cube is a quarter of the axial panel's width: thousands of
	// pixels at 16 pixels per mm; the grey background more still.
	if reddish < 1000 || greyish < 10000 {
		t.Errorf("%d red and %d mid-grey pixels: want the layer drawn over the grey", reddish, greyish)
	}
	other := fdk.NewVolume(fdk.CenteredGrid([3]int{16, 16, 8}, [3]float64{1, 1, 1}, fdk.Vec3{}))
	if _, err := Overlay(Volume{Volume: base}, Window{0, 1}, []Layer{{Volume: other, Name: "x"}}); err == nil {
		t.Error("a layer on another grid: no error")
	}
}

package preview

import (
	"fmt"
	"image"
	"strings"
	"testing"
)

// binVolumes returns three bins' volumes of one grid whose left half is
// water (0 HU) and right half 500 HU, each bin with its own water
// attenuation.
func binVolumes() []Volume {
	var vs []Volume
	for b, mu := range []float64{0.07, 0.04, 0.02} {
		v := filled([3]int{32, 32, 9}, [3]float64{0.5, 0.5, 0.5}, func(i, _, _ int) float64 {
			if i < 16 {
				return mu
			}
			return 1.5 * mu
		})
		vs = append(vs, Volume{Volume: v, MuWater: mu, Title: fmt.Sprintf("bin %d", b)})
	}
	return vs
}

// A montage has one tile per volume, each titled, in one window: the same
// HU is the same grey in every tile (0 HU a quarter and 500 HU half way
// up -500 to 1500 HU), and the header states the slice and the window.
func TestMontage(t *testing.T) {
	vs := binVolumes()
	p, err := montage(vs, Window{-500, 1500})
	if err != nil {
		t.Fatal(err)
	}
	img := p.draw()
	labels := []label{{"axial  z = +0.0 mm    window -500 to 1500 HU, the same in every tile", image.Pt(pad, pad), textColor}}
	for i, c := range p.cells {
		labels = append(labels, label{vs[i].Title, c.layout().title.Add(p.at[i]), textColor})
	}
	checkLabels(t, img, labels)
	if len(p.cells) != len(vs) {
		t.Fatalf("%d tiles, want %d", len(p.cells), len(vs))
	}
	// Count the tiles on the picture: runs of non-black along a row a
	// quarter of the way down the panels.
	r := p.cells[0].layout().panel.Add(p.at[0])
	y, tiles := r.Min.Y+r.Dy()/4, 0
	for x := 1; x < img.Bounds().Dx(); x++ {
		if img.RGBAAt(x-1, y).R == 0 && img.RGBAAt(x, y).R != 0 {
			tiles++
		}
	}
	if tiles != len(vs) {
		t.Errorf("%d tiles along row %d, want %d", tiles, y, len(vs))
	}
	for i, c := range p.cells {
		r := c.layout().panel.Add(p.at[i])
		water := img.RGBAAt(r.Min.X+r.Dx()/4, r.Min.Y+r.Dy()/4).R
		contrast := img.RGBAAt(r.Min.X+3*r.Dx()/4, r.Min.Y+r.Dy()/4).R
		if water < 63 || water > 64 || contrast < 127 || contrast > 128 {
			t.Errorf("tile %d (water %g/mm): 0 HU grey %d (want 64), 500 HU grey %d (want 128)", i, vs[i].MuWater, water, contrast)
		}
	}
}

func TestMontageErrors(t *testing.T) {
	other := binVolumes()
	other[2].Volume = filled([3]int{32, 32, 8}, [3]float64{0.5, 0.5, 0.5}, constant(0))
	mixed := binVolumes()
	mixed[1].MuWater = 0
	for _, tc := range []struct {
		name string
		vs   []Volume
		want string
	}{
		{"none", nil, "at least one volume"},
		{"grids differ", other, "volume 2 (bin 2): grid"},
		{"HU for some only", mixed, "volume 1 (bin 1): MuWater"},
	} {
		if _, err := Montage(tc.vs, Window{-500, 1500}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

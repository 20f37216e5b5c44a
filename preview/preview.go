// Package preview renders the three central orthogonal slices of a volume
// side by side as one grey-scale PNG, so a reconstruction can be checked by
// eye without a viewer.
package preview

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
)

// Window maps values Lo..Hi to black..white. The zero Window means the 1st to
// 99th percentile of the volume.
type Window struct{ Lo, Hi float64 }

// Render returns the axial (xy), coronal (xz) and sagittal (yz) slices
// through the volume's centre, left to right, separated by a 4-pixel gap.
// Each slice is sampled at the smallest voxel spacing so that millimetres
// look the same along every axis; z points up in the coronal and sagittal
// views.
func Render(v *fdk.Volume, win Window) *image.Gray {
	if win.Lo == win.Hi {
		win = percentiles(v.Data)
	}
	g := v.Grid
	step := math.Min(g.Spacing[0], math.Min(g.Spacing[1], g.Spacing[2]))
	size := func(axis int) int { return max(1, int(math.Round(float64(g.Dim[axis])*g.Spacing[axis]/step))) }
	c := [3]int{g.Dim[0] / 2, g.Dim[1] / 2, g.Dim[2] / 2}
	panels := []struct{ a, b int }{{0, 1}, {0, 2}, {1, 2}} // horizontal axis, vertical axis
	const gap = 4
	w, h := gap*(len(panels)-1), 0
	for _, p := range panels {
		w += size(p.a)
		h = max(h, size(p.b))
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	x0 := 0
	for _, p := range panels {
		pw, ph := size(p.a), size(p.b)
		for py := range ph {
			for px := range pw {
				idx := c
				idx[p.a] = min(g.Dim[p.a]-1, int((float64(px)+0.5)*step/g.Spacing[p.a]))
				j := min(g.Dim[p.b]-1, int((float64(py)+0.5)*step/g.Spacing[p.b]))
				if p.b == 2 { // z up
					j = g.Dim[2] - 1 - j
				}
				idx[p.b] = j
				img.SetGray(x0+px, py, grey(float64(v.At(idx[0], idx[1], idx[2])), win))
			}
		}
		x0 += pw + gap
	}
	return img
}

func grey(x float64, win Window) color.Gray {
	t := (x - win.Lo) / (win.Hi - win.Lo)
	return color.Gray{Y: uint8(math.Round(255 * math.Max(0, math.Min(1, t))))}
}

// percentiles returns the 1st and 99th percentile of a sample of data.
func percentiles(data []float32) Window {
	stride := max(1, len(data)/100000)
	var s []float64
	for i := 0; i < len(data); i += stride {
		if x := float64(data[i]); !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Window{0, 1}
	}
	slices.Sort(s)
	w := Window{s[len(s)/100], s[len(s)*99/100]}
	if w.Hi <= w.Lo {
		w.Hi = w.Lo + 1
	}
	return w
}

// WritePNG renders v and writes it to path.
func WritePNG(path string, v *fdk.Volume, win Window) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, Render(v, win)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

package preview

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"

	"golang.org/x/image/draw"

	"github.com/ctrecon/ctrecon/fdk"
)

// Volume is a reconstructed volume as a picture shows it.
type Volume struct {
	*fdk.Volume
	// MuWater is water's attenuation in the volume's units (1/mm). When
	// positive, windows are in Hounsfield units, HU = 1000 (μ − MuWater) /
	// MuWater; otherwise they are in the volume's units.
	MuWater float64
	// Title names the volume in pictures, e.g. "bin 2  33.5-50.5 keV";
	// empty for none.
	Title string
}

// display returns x (in v's units) in the units of windows: HU when v has
// MuWater.
func (v Volume) display(x float64) float64 {
	if v.MuWater > 0 {
		return 1000 * (x - v.MuWater) / v.MuWater
	}
	return x
}

// fromDisplay is the inverse of display.
func (v Volume) fromDisplay(d float64) float64 {
	if v.MuWater > 0 {
		return v.MuWater * (1 + d/1000)
	}
	return d
}

// Window maps values Lo..Hi to black..white: Hounsfield units for a Volume
// with MuWater, else the volume's units. A Window with Lo == Hi (the zero
// Window) means the 1st to 99th percentile of what is shown.
type Window struct{ Lo, Hi float64 }

// auto reports whether w asks for percentiles.
func (w Window) auto() bool { return w.Lo == w.Hi }

// label states w for a picture's header.
func (w Window) label(hu, auto bool) string {
	unit := "/mm"
	if hu {
		unit = "HU"
	}
	s := fmt.Sprintf("window %.4g to %.4g %s", w.Lo, w.Hi, unit)
	if auto {
		s += " (1st to 99th percentile)"
	}
	return s
}

// Render returns the axial, coronal and sagittal slices through the centre
// of v (the voxel at Dim/2), windowed by win, each with its labels, below a
// header naming v and the window. The axial panel is on the left; the
// coronal and sagittal panels are stacked to its right when both fit in its
// height (a volume of few slices), else they follow it in a row. See the
// package documentation for the scale, interpolation and orientation.
func Render(v Volume, win Window) *image.RGBA { return render(v, win).draw() }

// render arranges Render's picture.
func render(v Volume, win Window) picture {
	auto := win.auto()
	if auto {
		win = percentiles([]Volume{v}, func(v Volume) []float32 { return v.Data })
	}
	g := v.Grid
	ppm := pixelsPerMM(g, MinLongSide)
	var c [3]cell
	for i, p := range []plane{axial, coronal, sagittal} {
		at := g.Dim[p.normal()] / 2
		c[i] = newCell(v, p, at, win, ppm, position(g, p, at))
	}
	columns := [][]cell{{c[0]}, {c[1]}, {c[2]}}
	if c[1].layout().size.Y+gap+c[2].layout().size.Y <= c[0].layout().size.Y {
		columns = [][]cell{{c[0]}, {c[1], c[2]}}
	}
	return arrange(join(v.Title, win.label(v.MuWater > 0, auto)), columns)
}

// join joins the non-empty parts of a header line.
func join(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "    ")
}

// Outer margin and the gap between cells, in pixels.
const (
	pad = 12
	gap = 16
)

// A picture is a header line above cells, on black.
type picture struct {
	header string
	cells  []cell
	at     []image.Point // each cell's top left
	size   image.Point
}

// arrange places columns of cells below a header line, left to right and
// each top to bottom.
func arrange(header string, columns [][]cell) picture {
	p := picture{header: header}
	top := pad + lineHeight() + gap/2
	x, h := pad, 0
	for _, col := range columns {
		y, w := top, 0
		for _, c := range col {
			size := c.layout().size
			p.cells, p.at = append(p.cells, c), append(p.at, image.Pt(x, y))
			y += size.Y + gap
			w = max(w, size.X)
		}
		x += w + gap
		h = max(h, y-gap)
	}
	p.size = image.Pt(max(pad+textWidth(header)+pad, x-gap+pad), h+pad)
	return p
}

// draw draws p.
func (p picture) draw() *image.RGBA {
	img := image.NewRGBA(image.Rectangle{Max: p.size})
	draw.Draw(img, img.Bounds(), image.Black, image.Point{}, draw.Src)
	drawText(img, p.header, pad, pad, textColor)
	for i, c := range p.cells {
		c.draw(img, p.at[i])
	}
	return img
}

// percentiles returns the 1st and 99th percentile, in display units, of a
// sample of part(v) of every volume.
func percentiles(vs []Volume, part func(Volume) []float32) Window {
	var s []float64
	for _, v := range vs {
		data := part(v)
		stride := max(1, len(data)*len(vs)/100000)
		for i := 0; i < len(data); i += stride {
			if x := float64(data[i]); !math.IsNaN(x) {
				s = append(s, v.display(x))
			}
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

// WritePNG writes img to path as a PNG.
func WritePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

package preview

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"

	"github.com/ctrecon/ctrecon/fdk"
)

// MinLongSide is the least number of pixels along the longest extent of a
// volume in Render's panels.
const MinLongSide = 512

// barThickness is the height of a scale bar in pixels.
const barThickness = 4

// pixelsPerMM returns the scale of every panel of a volume on grid g: one
// pixel per voxel along the finest axis, or more where that makes the
// longest extent shorter than longSide pixels.
func pixelsPerMM(g fdk.Grid, longSide int) float64 {
	finest, longest := math.Inf(1), 0.0
	for k := range 3 {
		finest = math.Min(finest, g.Spacing[k])
		longest = math.Max(longest, float64(g.Dim[k])*g.Spacing[k])
	}
	return math.Max(1/finest, float64(longSide)/longest)
}

// A cell is one panel with its labels: a title line, the slice with
// orientation letters on its four edges, and a scale bar below.
type cell struct {
	title string
	plane plane
	at    int         // the slice's index along the plane's normal
	src   image.Image // the windowed slice, one pixel per voxel, oriented as drawn
	size  image.Point // the slice as drawn, in pixels
	ppm   float64     // pixels per millimetre
}

// newCell returns the cell of v's slice at index at along p's normal,
// windowed by win (display units), drawn at ppm pixels per millimetre.
func newCell(v Volume, p plane, at int, win Window, ppm float64, title string) cell {
	g := v.Grid
	size := func(axis int) int { return max(1, int(math.Round(float64(g.Dim[axis])*g.Spacing[axis]*ppm))) }
	return cell{title: title, plane: p, at: at, ppm: ppm, size: image.Pt(size(p.h), size(p.v)),
		src: slice(v.Volume, p, at, v.fromDisplay(win.Lo), v.fromDisplay(win.Hi))}
}

// slice returns the plane p of v through voxel index at along p's normal,
// lo..hi (v's units) mapped to black..white, one pixel per voxel, oriented
// as drawn.
func slice(v *fdk.Volume, p plane, at int, lo, hi float64) *image.Gray16 {
	w, h := v.Grid.Dim[p.h], v.Grid.Dim[p.v]
	img := image.NewGray16(image.Rect(0, 0, w, h))
	var idx [3]int
	idx[p.normal()] = at
	for y := range h {
		idx[p.v] = y
		if p.up {
			idx[p.v] = h - 1 - y
		}
		for x := range w {
			idx[p.h] = x
			img.SetGray16(x, y, grey16(float64(v.At(idx[0], idx[1], idx[2])), lo, hi))
		}
	}
	return img
}

// grey16 maps lo..hi to black..white, clipping outside; NaN is black.
func grey16(x, lo, hi float64) color.Gray16 {
	t := (x - lo) / (hi - lo)
	if math.IsNaN(t) {
		return color.Gray16{}
	}
	return color.Gray16{Y: uint16(math.Round(0xffff * math.Max(0, math.Min(1, t))))}
}

// position names a slice: its plane and where it lies on the normal axis,
// e.g. "axial  z = +0.2 mm".
func position(g fdk.Grid, p plane, at int) string {
	n := p.normal()
	return fmt.Sprintf("%s  %s = %+.1f mm", p.name, axisNames[n], g.Origin[n]+float64(at)*g.Spacing[n])
}

// cellLayout is where each part of a cell goes, relative to its top left.
type cellLayout struct {
	title    image.Point     // the title line's left end
	panel    image.Rectangle // the slice
	letters  [4]image.Point  // left, right, top and bottom letters' line starts
	bar      image.Rectangle // the scale bar
	barMM    float64         // its length in millimetres
	barLabel image.Point     // its label's line start
	size     image.Point     // the whole cell
}

// layout places the parts of c: margins one line high around the panel for
// the letters, the title above, the scale bar below.
func (c cell) layout() cellLayout {
	lh := lineHeight()
	m := lh
	var l cellLayout
	l.title = image.Pt(m, 0)
	l.panel = image.Rectangle{Min: image.Pt(m, lh+m)}
	l.panel.Max = l.panel.Min.Add(c.size)
	left, right, top, bottom := c.plane.letters()
	midY := l.panel.Min.Y + (c.size.Y-lh)/2
	midX := func(s string) int { return l.panel.Min.X + (c.size.X-textWidth(s))/2 }
	l.letters = [4]image.Point{
		{(m - textWidth(left)) / 2, midY},
		{l.panel.Max.X + (m-textWidth(right))/2, midY},
		{midX(top), lh},
		{midX(bottom), l.panel.Max.Y},
	}
	l.barMM = niceLength(0.3 * float64(c.size.X) / c.ppm)
	barTop := l.panel.Max.Y + m + (lh-barThickness)/2
	l.bar = image.Rect(m, barTop, m+int(math.Round(l.barMM*c.ppm)), barTop+barThickness)
	l.barLabel = image.Pt(l.bar.Max.X+lh/2, l.panel.Max.Y+m)
	l.size = image.Pt(max(l.panel.Max.X+m, m+textWidth(c.title), l.barLabel.X+textWidth(barLabel(l.barMM))),
		l.panel.Max.Y+m+lh)
	return l
}

// niceLength returns the longest 1, 2 or 5 times a power of ten not over x
// (x > 0): a scale bar's length in millimetres.
func niceLength(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, f := range []float64{5, 2} {
		if f*p <= x {
			return f * p
		}
	}
	return p
}

// barLabel is the text beside a scale bar of mm millimetres.
func barLabel(mm float64) string { return fmt.Sprintf("%g mm", mm) }

// draw draws c onto dst with its top left at o.
func (c cell) draw(dst *image.RGBA, o image.Point) {
	l := c.layout()
	draw.CatmullRom.Scale(dst, l.panel.Add(o), c.src, c.src.Bounds(), draw.Src, nil)
	drawText(dst, c.title, o.X+l.title.X, o.Y+l.title.Y, textColor)
	left, right, top, bottom := c.plane.letters()
	for i, s := range []string{left, right, top, bottom} {
		drawText(dst, s, o.X+l.letters[i].X, o.Y+l.letters[i].Y, letterColor)
	}
	draw.Draw(dst, l.bar.Add(o), image.NewUniform(textColor), image.Point{}, draw.Src)
	drawText(dst, barLabel(l.barMM), o.X+l.barLabel.X, o.Y+l.barLabel.Y, textColor)
}

package preview

import (
	"fmt"
	"image"
	"image/color"

	"golang.org/x/image/draw"

	"github.com/ctrecon/ctrecon/fdk"
)

// Layer is a map drawn in colour over a grey volume, such as one
// material's concentration.
type Layer struct {
	*fdk.Volume // on the grey volume's grid
	// Name and Unit label the layer in the legend, e.g. "iodine", "mg/mL".
	Name, Unit string
	Color      color.RGBA
	// Full is the value drawn in full colour; values from 0 to Full are
	// blended over the grey in proportion, 0 and below not at all.
	Full float64
}

// overlayOpacity is the most a layer covers the grey beneath it, so that
// the anatomy stays visible under a full-colour voxel.
const overlayOpacity = 0.85

// Overlay returns Render's three central slices of base in grey, windowed
// by win, with each layer blended over them in its colour (later layers
// over earlier ones), and a legend line under the header naming each
// layer's colour and its range. Layers on another grid than base are an
// error.
func Overlay(base Volume, win Window, layers []Layer) (*image.RGBA, error) {
	for _, l := range layers {
		if l.Grid != base.Grid {
			return nil, fmt.Errorf("preview: overlay layer %s is on another grid than the volume", l.Name)
		}
	}
	p := render(base, win)
	for i, c := range p.cells {
		p.cells[i].src = tint(c, layers)
	}
	// The legend takes a line under the header.
	lh := lineHeight()
	for i := range p.at {
		p.at[i].Y += lh
	}
	p.size.Y += lh
	p.size.X = max(p.size.X, pad+legendWidth(layers)+pad)
	img := p.draw()
	x := pad
	for _, l := range layers {
		sw := image.Rect(x, pad+lh+3, x+lh-6, pad+2*lh-3)
		draw.Draw(img, sw, image.NewUniform(l.Color), image.Point{}, draw.Src)
		drawText(img, legendText(l), x+lh, pad+lh, l.Color)
		x += lh + textWidth(legendText(l)) + gap
	}
	return img, nil
}

func legendText(l Layer) string { return fmt.Sprintf("%s 0-%g %s", l.Name, l.Full, l.Unit) }

func legendWidth(layers []Layer) int {
	w := 0
	for _, l := range layers {
		w += lineHeight() + textWidth(legendText(l)) + gap
	}
	return w
}

// tint returns c's grey slice with the layers' same slice blended over it.
func tint(c cell, layers []Layer) *image.RGBA64 {
	b := c.src.Bounds()
	out := image.NewRGBA64(b)
	draw.Draw(out, b, c.src, b.Min, draw.Src)
	for _, l := range layers {
		a := slice(l.Volume, c.plane, c.at, 0, l.Full)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				f := overlayOpacity * float64(a.Gray16At(x, y).Y) / 0xffff
				if f == 0 {
					continue
				}
				g := out.RGBA64At(x, y)
				mix := func(under uint16, over uint8) uint16 {
					return uint16((1-f)*float64(under) + f*float64(over)*0x101)
				}
				out.SetRGBA64(x, y, color.RGBA64{mix(g.R, l.Color.R), mix(g.G, l.Color.G), mix(g.B, l.Color.B), 0xffff})
			}
		}
	}
	return out
}

package preview

import (
	"fmt"
	"image"
)

// montageLongSide is the least number of pixels along the longest extent
// of a volume in a montage's tiles: smaller than a preview's panels so that
// the five bins of a MARS scan side by side fit a screen 1920 pixels wide.
const montageLongSide = 320

// Montage returns the same axial slice (the central one, at Dim/2) of every
// volume side by side, left to right in the order given, each tile titled
// with its volume's Title, all in one window: the same value (in HU for
// volumes with MuWater, each converted with its own) is the same grey in
// every tile, so that a contrast agent's K-edge shows as a jump in
// brightness between the bins either side of it. The zero Window is the 1st
// to 99th percentile of all the slices.
//
// The volumes must share one grid, and either all have MuWater or none.
func Montage(vs []Volume, win Window) (*image.RGBA, error) {
	p, err := montage(vs, win)
	if err != nil {
		return nil, err
	}
	return p.draw(), nil
}

// montage arranges Montage's picture.
func montage(vs []Volume, win Window) (picture, error) {
	if len(vs) == 0 {
		return picture{}, fmt.Errorf("preview: a montage needs at least one volume")
	}
	g := vs[0].Grid
	for i, v := range vs[1:] {
		if v.Grid != g {
			return picture{}, fmt.Errorf("preview: montage volume %d (%s): grid %+v differs from volume 0's %+v", i+1, v.Title, v.Grid, g)
		}
		if (v.MuWater > 0) != (vs[0].MuWater > 0) {
			return picture{}, fmt.Errorf("preview: montage volume %d (%s): MuWater %g and volume 0's %g are not both positive: one window cannot be in HU for some volumes only",
				i+1, v.Title, v.MuWater, vs[0].MuWater)
		}
	}
	at := g.Dim[2] / 2
	n := g.Dim[0] * g.Dim[1]
	auto := win.auto()
	if auto {
		win = percentiles(vs, func(v Volume) []float32 { return v.Data[at*n : (at+1)*n] })
	}
	ppm := pixelsPerMM(g, montageLongSide)
	columns := make([][]cell, len(vs))
	for i, v := range vs {
		columns[i] = []cell{newCell(v, axial, at, win, ppm, v.Title)}
	}
	header := join(position(g, axial, at), win.label(vs[0].MuWater > 0, auto)+", the same in every tile")
	return arrange(header, columns), nil
}

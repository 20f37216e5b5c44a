package spatial

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
)

// Objects returns the objects of a label image on grid g, for Volume and
// Slice: each positive label's bounding extents over the whole volume, and
// per axial slice z (perSlice[z], empty where no object is) over that slice
// alone, with z's extent that of the slice. Labels are as histogram.Selection
// takes them: one per voxel, x fastest, 0 for background. classes gives each
// label's class.
//
// A voxel (i, j, k) covers Origin + (index ± 1/2)·Spacing on each axis, so
// objects in neighbouring voxels touch exactly (|) and an object is at
// least one voxel long. Objects come in increasing label order. Errors wrap
// ErrInput and name the voxel or label: a bad grid, a label image of the
// wrong size, a negative label, a label with no class.
func Objects(labels []int32, g fdk.Grid, classes map[int32]string) (volume []Object, perSlice [][]Object, err error) {
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if len(labels) != g.Voxels() {
		return nil, nil, fmt.Errorf("%w: label image has %d entries, the grid %v has %d voxels", ErrInput, len(labels), g.Dim, g.Voxels())
	}
	nx, ny := g.Dim[0], g.Dim[1]
	whole := map[int32]*box{}
	perSlice = make([][]Object, g.Dim[2])
	for z := range g.Dim[2] {
		inSlice := map[int32]*box{}
		// The box of the last label seen: runs of one label need no map
		// look-up.
		var last int32
		var lastBox *box
		for y := range ny {
			for x := range nx {
				l := labels[x+nx*(y+ny*z)]
				switch {
				case l == last && l != 0:
					lastBox.grow([3]int{x, y, z})
					continue
				case l < 0:
					return nil, nil, fmt.Errorf("%w: voxel (%d, %d, %d) has label %d, want 0 (background) or positive", ErrInput, x, y, z, l)
				case l == 0:
					continue
				case classes[l] == "":
					return nil, nil, fmt.Errorf("%w: label %d (voxel (%d, %d, %d)) has no class", ErrInput, l, x, y, z)
				}
				grow(inSlice, l, [3]int{x, y, z})
				last, lastBox = l, inSlice[l]
			}
		}
		for l, b := range inSlice {
			grow(whole, l, b.lo)
			grow(whole, l, b.hi)
		}
		perSlice[z] = toObjects(inSlice, g, classes)
	}
	return toObjects(whole, g, classes), perSlice, nil
}

// box is the index range an object covers, inclusive.
type box struct{ lo, hi [3]int }

// grow widens label l's box in boxes to hold voxel v.
func grow(boxes map[int32]*box, l int32, v [3]int) {
	b := boxes[l]
	if b == nil {
		boxes[l] = &box{lo: v, hi: v}
		return
	}
	b.grow(v)
}

// grow widens b to hold voxel v.
func (b *box) grow(v [3]int) {
	for k := range 3 {
		b.lo[k], b.hi[k] = min(b.lo[k], v[k]), max(b.hi[k], v[k])
	}
}

// toObjects turns index boxes into objects in mm, in label order.
func toObjects(boxes map[int32]*box, g fdk.Grid, classes map[int32]string) []Object {
	out := make([]Object, 0, len(boxes))
	for l, b := range boxes {
		o := Object{Label: l, Class: classes[l]}
		for k := range 3 {
			o.Min[k] = g.Origin[k] + (float64(b.lo[k])-0.5)*g.Spacing[k]
			o.Max[k] = g.Origin[k] + (float64(b.hi[k])+0.5)*g.Spacing[k]
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Object) int { return cmp.Compare(a.Label, b.Label) })
	return out
}

package extract

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/radiomics"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/metaimage"
)

// ErrInput is wrapped by the errors about an input file or settings; the
// message names the file or field.
var ErrInput = errors.New("cannot extract features")

// Image is a 3D image to describe: a CT series or a volume.
type Image struct {
	Path string
	Grid fdk.Grid
	// Values are the intensities, x fastest: HU for a CT series, whatever
	// the file holds for a volume (ctrecon's .mha: attenuation in 1/mm).
	Values []float64
	// Padding marks the voxels outside the field of view, x fastest: the
	// series' PixelPaddingValue; nil when there are none.
	Padding []bool
	// The series' identifiers; empty for a volume file. Bin is the energy
	// bin its SeriesDescription names (dicomio.CTSeries.EnergyBin), or 0.
	StudyUID, SeriesUID, PatientID string
	Bin                            int
}

// ReadImage reads a folder of DICOM CT images (dicomio.ReadCTSeries) or
// a MetaImage volume (.mha, float or any integer element type). Errors
// name the path.
func ReadImage(path string) (*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if fi.IsDir() {
		ct, err := dicomio.ReadCTSeries(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInput, err)
		}
		bin, _ := ct.EnergyBin()
		return &Image{Path: path, Grid: ct.Grid, Values: ct.HU, Padding: ct.Padding, StudyUID: ct.StudyInstanceUID,
			SeriesUID: ct.SeriesInstanceUID, PatientID: ct.PatientID, Bin: bin}, nil
	}
	if filepath.Ext(path) != ".mha" {
		return nil, fmt.Errorf("%w: %s: want a folder of DICOM images or a .mha volume", ErrInput, path)
	}
	if v, err := metaimage.Read(path); err == nil {
		img := &Image{Path: path, Grid: v.Grid, Values: make([]float64, len(v.Data))}
		for i, x := range v.Data {
			img.Values[i] = float64(x)
		}
		return img, nil
	}
	g, ints, err := metaimage.ReadLabels(path) // an integer image: HU as MET_SHORT
	if err != nil {
		return nil, fmt.Errorf("%w: %s: want a float or integer volume: %w", ErrInput, path, err)
	}
	img := &Image{Path: path, Grid: g, Values: make([]float64, len(ints))}
	for i, x := range ints {
		img.Values[i] = float64(x)
	}
	return img, nil
}

// Objects returns the regions of interest of img: each label of the mask
// file (segment.FromMask, which refuses a mask not on img's grid, naming
// the file and field), or with no mask one object, the whole image less
// its padding voxels (outside the field of view).
func Objects(img *Image, mask string) (*segment.Segmentation, error) {
	if mask != "" {
		seg, err := segment.FromMask(mask, img.Grid)
		if err != nil {
			return nil, err
		}
		if len(seg.Objects) == 0 {
			return nil, fmt.Errorf("%w: %s: the mask has no label other than 0", ErrInput, mask)
		}
		return seg, nil
	}
	n := img.Grid.Voxels()
	seg := &segment.Segmentation{Grid: img.Grid, Source: "whole image", Map: make([]int32, n),
		Objects: []segment.Object{{Label: 0}}}
	for i := range seg.Map {
		if !img.padded(i) {
			seg.Map[i] = 1
			seg.Objects[0].Voxels++
		}
	}
	if seg.Objects[0].Voxels == 0 {
		return nil, fmt.Errorf("%w: %s: every voxel is padding (PixelPaddingValue)", ErrInput, img.Path)
	}
	return seg, nil
}

// padded reports whether voxel i is padding, outside the field of view.
func (img *Image) padded(i int) bool { return img.Padding != nil && img.Padding[i] }

// radiomicsImage converts values on grid g to radiomics' image type.
func radiomicsImage(g fdk.Grid, values []float64) *radiomics.Image {
	return &radiomics.Image{Grid: radiomics.Grid{Size: g.Dim, Spacing: g.Spacing, Origin: g.Origin}, Data: values}
}

// ObjectFeatures are one object's radiomics features.
type ObjectFeatures struct {
	Label    int64               `json:"object"`
	Class    segment.Class       `json:"class,omitempty"`
	Features []radiomics.Feature `json:"features"`
}

// Radiomics computes the radiomics features of each object of seg on the
// image values (on seg's grid), leaving out voxels where skip says so
// (nil: none). Each object is computed on the whole image, as IBSI's
// reference values assume: interpolation's grid is centred on the image,
// and local intensity's peak search reads around the mask. An object left
// without voxels by skip is skipped.
func Radiomics(values []float64, seg *segment.Segmentation, skip func(i int) bool, s radiomics.Settings) ([]ObjectFeatures, error) {
	img := radiomicsImage(seg.Grid, values)
	whole := box{hi: [3]int{seg.Grid.Dim[0] - 1, seg.Grid.Dim[1] - 1, seg.Grid.Dim[2] - 1}}
	out := make([]ObjectFeatures, 0, len(seg.Objects))
	for k, o := range seg.Objects {
		mask := objectMask(seg, k, whole, skip)
		if mask == nil {
			continue
		}
		feats, err := radiomics.Compute(img, mask, s)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", o.Label, err)
		}
		out = append(out, ObjectFeatures{Label: o.Label, Class: o.Class, Features: feats})
	}
	return out, nil
}

// box is a block of a grid's voxels, from voxel lo to voxel hi inclusive.
type box struct{ lo, hi [3]int }

// objectBox returns object o's bounding box grown by margin voxels on
// every side, within grid g.
func objectBox(g fdk.Grid, o segment.Object, margin int) box {
	var b box
	for a := range 3 {
		b.lo[a] = max(o.MinIndex[a]-margin, 0)
		b.hi[a] = min(o.MaxIndex[a]+margin, g.Dim[a]-1)
	}
	return b
}

// grid returns the radiomics grid of box b of g: g's spacing, its origin
// at b's first voxel.
func (b box) grid(g fdk.Grid) radiomics.Grid {
	return radiomics.Grid{Size: [3]int{b.hi[0] - b.lo[0] + 1, b.hi[1] - b.lo[1] + 1, b.hi[2] - b.lo[2] + 1},
		Spacing: g.Spacing, Origin: g.Position(b.lo[0], b.lo[1], b.lo[2])}
}

// rows calls fn for every row of b along x: the index of its first voxel
// in b's own array (x fastest) and in g's, and its length.
func (b box) rows(g fdk.Grid, fn func(dst, src, n int)) {
	n := b.hi[0] - b.lo[0] + 1
	dst := 0
	for k := b.lo[2]; k <= b.hi[2]; k++ {
		for j := b.lo[1]; j <= b.hi[1]; j++ {
			fn(dst, b.lo[0]+g.Dim[0]*(j+g.Dim[1]*k), n)
			dst += n
		}
	}
}

// objectMask returns the mask of seg's object k on box b, less the voxels
// where skip says so (nil: none), or nil when no voxel is left.
func objectMask(seg *segment.Segmentation, k int, b box, skip func(i int) bool) *radiomics.Mask {
	g := b.grid(seg.Grid)
	mask := &radiomics.Mask{Grid: g, Data: make([]bool, g.Voxels())}
	label, found := int32(k+1), false
	b.rows(seg.Grid, func(dst, src, n int) {
		for i, m := range seg.Map[src : src+n] {
			if m == label && (skip == nil || !skip(src+i)) {
				mask.Data[dst+i] = true
				found = true
			}
		}
	})
	if !found {
		return nil
	}
	return mask
}

// scanID names the scan in img's records: a series' StudyInstanceUID, which
// every energy bin of one scan shares, else the file's name.
func (img *Image) scanID() string {
	if img.StudyUID != "" {
		return img.StudyUID
	}
	return filepath.Base(filepath.Clean(img.Path))
}

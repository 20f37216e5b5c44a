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
	// The series' identifiers; empty for a volume file.
	StudyUID, SeriesUID, PatientID string
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
		return &Image{Path: path, Grid: ct.Grid, Values: ct.HU, StudyUID: ct.StudyInstanceUID,
			SeriesUID: ct.SeriesInstanceUID, PatientID: ct.PatientID}, nil
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
// the file and field), or with no mask one object, the whole image.
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
		Objects: []segment.Object{{Label: 0, Voxels: n}}}
	for i := range seg.Map {
		seg.Map[i] = 1
	}
	return seg, nil
}

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
// (nil: none). An object left without voxels is skipped.
func Radiomics(values []float64, seg *segment.Segmentation, skip func(i int) bool, s radiomics.Settings) ([]ObjectFeatures, error) {
	img := radiomicsImage(seg.Grid, values)
	out := make([]ObjectFeatures, 0, len(seg.Objects))
	for k, o := range seg.Objects {
		mask := &radiomics.Mask{Grid: img.Grid, Data: make([]bool, len(values))}
		n := 0
		for i, m := range seg.Map {
			if int(m) == k+1 && (skip == nil || !skip(i)) {
				mask.Data[i] = true
				n++
			}
		}
		if n == 0 {
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

package dicomio

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ReadSliceHU reads one single-frame CT image as written by WriteSeries and
// returns its pixels in Hounsfield units, row-major: for checking a series
// against what was reconstructed. Pixels holding the PixelPaddingValue
// (outside the field of view) have no value and are NaN.
func ReadSliceHU(path string) (hu []float64, cols, rows int, err error) {
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	number := func(t tag.Tag) (float64, error) {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return 0, err
		}
		s := strings.TrimSpace(strings.Trim(e.Value.String(), "[]"))
		return strconv.ParseFloat(strings.Fields(strings.ReplaceAll(s, `\`, " "))[0], 64)
	}
	slope, err1 := number(tag.RescaleSlope)
	intercept, err2 := number(tag.RescaleIntercept)
	c, err3 := number(tag.Columns)
	r, err4 := number(tag.Rows)
	e, err5 := ds.FindElementByTag(tag.PixelData)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
		}
	}
	info := dicom.MustGetPixelDataInfo(e.Value)
	if len(info.Frames) != 1 || info.Frames[0].NativeData.RawDataSlice() == nil {
		return nil, 0, 0, fmt.Errorf("%s: want one native frame", path)
	}
	raw, ok := info.Frames[0].NativeData.RawDataSlice().([]uint16)
	cols, rows = int(c), int(r)
	if !ok || len(raw) != cols*rows {
		return nil, 0, 0, fmt.Errorf("%s: pixel data is not %dx%d 16-bit samples", path, cols, rows)
	}
	padding := math.NaN() // no stored value equals it
	if e, err := ds.FindElementByTag(tag.PixelPaddingValue); err == nil {
		padding = float64(dicom.MustGetInts(e.Value)[0])
	}
	hu = make([]float64, len(raw))
	for i, v := range raw {
		stored := float64(int16(v)) // signed (PixelRepresentation 1)
		hu[i] = stored*slope + intercept
		if stored == padding {
			hu[i] = math.NaN()
		}
	}
	return hu, cols, rows, nil
}

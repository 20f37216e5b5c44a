package search

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features"
)

// ErrNotDICOM is the error for an upload that is not a DICOM file.
var ErrNotDICOM = errors.New("not a DICOM file")

// histogramOfDICOM returns the Hounsfield histogram (features.KindHistHU)
// of the single-frame CT image in data, as the extractor computes one for
// a slice: its query vector for a search by an uploaded file. Errors wrap
// ErrNotDICOM for data without the DICOM preamble, or name what the image
// lacks.
func histogramOfDICOM(data []byte) ([]float32, error) {
	if len(data) < 132 || !bytes.Equal(data[128:132], []byte("DICM")) {
		return nil, fmt.Errorf("%w: no DICM marker at byte 128 (a DICOM Part 10 file has one)", ErrNotDICOM)
	}
	f, err := os.CreateTemp("", "ctrecon-upload-*.dcm")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, err
	}
	hu, cols, rows, err := dicomio.ReadSliceHU(f.Name())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	// HU back to attenuation against a water of 1/mm; padding (NaN) is
	// outside the field of view, 0, which the histogram does not count.
	const muWater = 1
	vol := fdk.NewVolume(fdk.Grid{Dim: [3]int{cols, rows, 1}, Spacing: [3]float64{1, 1, 1}})
	for i, h := range hu {
		if !math.IsNaN(h) {
			vol.Data[i] = float32(max(muWater*(1+h/1000), 1e-9))
		}
	}
	hs, err := features.Histograms(vol, muWater, features.IDs{StudyUID: "1", SeriesUID: "1"})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	return hs[0].Values, nil
}

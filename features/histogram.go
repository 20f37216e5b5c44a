package features

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/histogram"
)

// The Hounsfield histogram's fixed binning, histogram.HU. Changing it makes a
// new kind.
const (
	// KindHistHU is the kind of the vectors Histograms returns.
	KindHistHU = "hist-hu-v1"
	// HistBins is the number of bins, each HistBinWidthHU wide.
	HistBins = histogram.HUBins
	// HistMinHU and HistMaxHU bound the binned range: air to dense bone.
	HistMinHU = histogram.HUMin
	HistMaxHU = histogram.HUMax
	// HistBinWidthHU is (HistMaxHU − HistMinHU) / HistBins = 46.875 HU.
	HistBinWidthHU = (HistMaxHU - HistMinHU) / HistBins
)

// IDs identifies the volume a set of vectors comes from: one energy bin of a
// study, written as its own DICOM series.
type IDs struct {
	StudyUID  string
	SeriesUID string
	Bin       int
}

// ErrInput is wrapped by the errors of Histograms about its arguments; the
// message names the argument or voxel.
var ErrInput = histogram.ErrInput

// ErrEmpty is wrapped by the error of Histograms for a volume with no voxel
// inside the field of view (every voxel exactly 0): a failed reconstruction
// rather than one to index.
var ErrEmpty = histogram.ErrEmpty

// Histograms returns the normalised Hounsfield histogram (KindHistHU) of the
// whole volume (Slice -1) followed by one per axial slice (Slice = z index)
// that has at least one voxel inside the field of view, in increasing z.
//
// The voxels are counted by histogram.Count with the binning histogram.HU,
// whose doc comment gives the conversion to HU, the binning and why voxels of
// exactly 0 attenuation (outside the field of view) are not counted. The
// counts are divided by their total, so the values sum to 1 (up to float32
// rounding) whatever the size of the volume or slice. Slices with no voxel
// counted are skipped. The volume's histogram is the counts of all slices
// together, not the mean of the slice histograms.
//
// Errors wrap ErrInput (a NaN voxel, a bad volume or muWater), ErrVector (bad
// ids) or ErrEmpty.
func Histograms(vol *fdk.Volume, muWater float64, ids IDs) ([]Vector, error) {
	if err := validateIDs(ids.StudyUID, ids.SeriesUID, ids.Bin); err != nil {
		return nil, err
	}
	c, err := histogram.Count(vol, muWater, histogram.HU, histogram.Selection{})
	if err != nil {
		return nil, err
	}
	return HistogramsOf(c, ids)
}

// HistogramsOf returns Histograms' vectors from counts that histogram.Count
// made with the binning histogram.HU and no mask (labels, which leave the
// volume's and slices' counts alone, may name objects), for a caller that
// has them already: the worker counts each bin once for these and its
// metric histograms. Errors wrap ErrInput (counts of another binning),
// ErrVector (bad ids) or ErrEmpty.
func HistogramsOf(c *histogram.Counts, ids IDs) ([]Vector, error) {
	if err := validateIDs(ids.StudyUID, ids.SeriesUID, ids.Bin); err != nil {
		return nil, err
	}
	if c.Binning != histogram.HU {
		return nil, fmt.Errorf("%w: the counts have binning %+v, want histogram.HU", ErrInput, c.Binning)
	}
	if c.Volume.N == 0 {
		return nil, fmt.Errorf("%w: every voxel of series %s is 0", ErrEmpty, ids.SeriesUID)
	}
	nonEmpty := 0
	for z := range c.Slices {
		if c.Slices[z].N > 0 {
			nonEmpty++
		}
	}

	// One backing array for all the vectors; each slice is capped so that
	// appending to one cannot overwrite the next.
	values := make([]float32, (1+nonEmpty)*HistBins)
	vector := func(slice int, h *histogram.Histogram) Vector {
		v := values[:HistBins:HistBins]
		values = values[HistBins:]
		inv := 1 / float64(h.N)
		for i, k := range h.Counts {
			v[i] = float32(float64(k) * inv)
		}
		return Vector{StudyUID: ids.StudyUID, SeriesUID: ids.SeriesUID, Bin: ids.Bin, Slice: slice, Kind: KindHistHU, Values: v}
	}
	out := make([]Vector, 0, 1+nonEmpty)
	out = append(out, vector(-1, &c.Volume))
	for z := range c.Slices {
		if c.Slices[z].N > 0 {
			out = append(out, vector(z, &c.Slices[z]))
		}
	}
	return out, nil
}

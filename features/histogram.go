package features

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/fdk"
)

// The Hounsfield histogram's fixed binning. Changing it makes a new kind.
const (
	// KindHistHU is the kind of the vectors Histograms returns.
	KindHistHU = "hist-hu-v1"
	// HistBins is the number of bins, each HistBinWidthHU wide.
	HistBins = 64
	// HistMinHU and HistMaxHU bound the binned range: air to dense bone.
	HistMinHU = -1000.0
	HistMaxHU = 2000.0
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
var ErrInput = errors.New("cannot compute features")

// ErrEmpty is wrapped by the error of Histograms for a volume with no voxel
// inside the field of view (every voxel exactly 0): a failed reconstruction
// rather than one to index.
var ErrEmpty = errors.New("no voxel inside the field of view")

// Histograms returns the normalised Hounsfield histogram (KindHistHU) of the
// whole volume (Slice -1) followed by one per axial slice (Slice = z index)
// that has at least one voxel inside the field of view, in increasing z.
//
// Voxels of attenuation μ (1/mm) are converted with water's attenuation in
// the bin, muWater, to HU = 1000 (μ − muWater) / muWater. Bin i of HistBins
// counts HU in [HistMinHU + i·w, HistMinHU + (i+1)·w) with w = HistBinWidthHU;
// HU below HistMinHU fall into bin 0 and HU at or above HistMaxHU into the
// last bin, so every counted voxel is in some bin. A voxel within rounding of
// a bin edge may land on either side. The counts are divided by their total,
// so the values sum to 1 (up to float32 rounding) whatever the size of the
// volume or slice.
//
// Voxels of exactly 0 attenuation are not counted. fdk's field-of-view mask
// sets the voxels no complete set of views sees to exactly 0, and their
// values mean nothing; counting them would put a volume's corners into the
// air bin and make the histogram depend on the grid rather than the object.
// A reconstruction inside the field of view is practically never exactly 0
// (noise and filtering leave small values even in air), and the rare voxel
// that is would be air at −1000 HU, whose share matters least. Slices with no
// voxel left are skipped. The volume's histogram is the counts of all slices
// together, not the mean of the slice histograms.
//
// A NaN voxel is an error naming it; ±Inf are clamped into the end bins.
// Errors wrap ErrInput, ErrVector (bad ids) or ErrEmpty.
func Histograms(vol *fdk.Volume, muWater float64, ids IDs) ([]Vector, error) {
	if err := validateIDs(ids.StudyUID, ids.SeriesUID, ids.Bin); err != nil {
		return nil, err
	}
	if vol == nil {
		return nil, fmt.Errorf("%w: volume is nil", ErrInput)
	}
	if !(muWater > 0) || math.IsInf(muWater, 1) {
		return nil, fmt.Errorf("%w: muWater = %g, water's attenuation must be positive and finite (1/mm)", ErrInput, muWater)
	}
	g := vol.Grid
	if g.Dim[0] < 1 || g.Dim[1] < 1 || g.Dim[2] < 1 {
		return nil, fmt.Errorf("%w: volume dim %v, each must be at least 1", ErrInput, g.Dim)
	}
	if len(vol.Data) != g.Voxels() {
		return nil, fmt.Errorf("%w: volume holds %d voxels, its grid %v has %d", ErrInput, len(vol.Data), g.Dim, g.Voxels())
	}

	// HU − HistMinHU = 1000 μ/μw − 1000 − HistMinHU, in bin widths.
	scale := 1000 / muWater / HistBinWidthHU
	offset := (-1000 - HistMinHU) / HistBinWidthHU
	plane, nz := g.Dim[0]*g.Dim[1], g.Dim[2]
	counts := make([]sliceCounts, nz)
	parallel(nz, func(z int) {
		counts[z] = countSlice(vol.Data[z*plane:(z+1)*plane], scale, offset)
	})

	var total sliceCounts
	nonEmpty := 0
	for z := range counts {
		c := &counts[z]
		if c.nan >= 0 {
			return nil, fmt.Errorf("%w: voxel (%d, %d, %d) is NaN", ErrInput, c.nan%g.Dim[0], c.nan/g.Dim[0], z)
		}
		if c.n > 0 {
			nonEmpty++
		}
		total.n += c.n
		for i := range c.bins {
			total.bins[i] += c.bins[i]
		}
	}
	if total.n == 0 {
		return nil, fmt.Errorf("%w: every voxel of series %s is 0", ErrEmpty, ids.SeriesUID)
	}

	// One backing array for all the vectors; each slice is capped so that
	// appending to one cannot overwrite the next.
	values := make([]float32, (1+nonEmpty)*HistBins)
	vector := func(slice int, c *sliceCounts) Vector {
		v := values[:HistBins:HistBins]
		values = values[HistBins:]
		inv := 1 / float64(c.n)
		for i, k := range c.bins {
			v[i] = float32(float64(k) * inv)
		}
		return Vector{StudyUID: ids.StudyUID, SeriesUID: ids.SeriesUID, Bin: ids.Bin, Slice: slice, Kind: KindHistHU, Values: v}
	}
	out := make([]Vector, 0, 1+nonEmpty)
	out = append(out, vector(-1, &total))
	for z := range counts {
		if counts[z].n > 0 {
			out = append(out, vector(z, &counts[z]))
		}
	}
	return out, nil
}

// sliceCounts is the histogram of one slice before normalisation.
type sliceCounts struct {
	bins [HistBins]int64
	n    int64 // voxels counted
	nan  int   // index of the first NaN voxel in the slice, or -1
}

// countSlice bins the nonzero voxels of s at (μ·scale + offset) bin widths.
func countSlice(s []float32, scale, offset float64) sliceCounts {
	c := sliceCounts{nan: -1}
	for i, m := range s {
		if m == 0 {
			continue
		}
		if m != m {
			c.nan = i
			return c
		}
		f := float64(m)*scale + offset
		b := 0
		switch {
		case f >= HistBins:
			b = HistBins - 1
		case f > 0:
			b = int(f)
		}
		c.bins[b]++
	}
	for _, k := range c.bins {
		c.n += k
	}
	return c
}

// parallel calls fn(i) for i in [0, n) on all cores.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

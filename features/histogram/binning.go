package histogram

import (
	"errors"
	"fmt"
	"math"
)

// ErrInput is wrapped by the errors about arguments: a bad binning, volume,
// selection or setting; the message names it.
var ErrInput = errors.New("cannot compute histogram")

// ErrEmpty is wrapped by the errors for a volume or histogram with no voxel
// to count (every voxel 0, that is outside the field of view, or masked
// out): a failed reconstruction or an empty region rather than one to index.
var ErrEmpty = errors.New("no voxel inside the field of view")

// The binning of the HU histograms the worker publishes (features.KindHistHU).
// Changing it makes a new kind.
const (
	// HUBins is the number of bins, each (HUMax − HUMin) / HUBins = 46.875 HU.
	HUBins = 64
	// HUMin and HUMax bound the binned range: air to dense bone.
	HUMin = -1000.0
	HUMax = 2000.0
)

// HU is the binning HUBins, HUMin, HUMax.
var HU = Binning{Bins: HUBins, MinHU: HUMin, MaxHU: HUMax}

// Binning divides [MinHU, MaxHU) into Bins bins of equal width. Bin i counts
// HU in [MinHU + i·w, MinHU + (i+1)·w) with w = Width(); HU below MinHU
// count in bin 0 and HU at or above MaxHU in the last bin, so that every
// voxel is in some bin.
type Binning struct {
	Bins  int     `json:"bins"`
	MinHU float64 `json:"min_hu"`
	MaxHU float64 `json:"max_hu"`
}

// Width returns the width of one bin in HU.
func (b Binning) Width() float64 { return (b.MaxHU - b.MinHU) / float64(b.Bins) }

// Center returns the HU at the centre of bin i.
func (b Binning) Center(i int) float64 { return b.MinHU + (float64(i)+0.5)*b.Width() }

// Validate reports a binning with no bins or an empty or infinite range.
// Errors wrap ErrInput.
func (b Binning) Validate() error {
	switch {
	case b.Bins < 1:
		return fmt.Errorf("%w: binning has %d bins, want at least 1", ErrInput, b.Bins)
	case math.IsNaN(b.MinHU) || math.IsNaN(b.MaxHU) || math.IsInf(b.MinHU, 0) || math.IsInf(b.MaxHU, 0):
		return fmt.Errorf("%w: binning range [%g, %g) HU is not finite", ErrInput, b.MinHU, b.MaxHU)
	case !(b.MaxHU > b.MinHU):
		return fmt.Errorf("%w: binning range [%g, %g) HU is empty", ErrInput, b.MinHU, b.MaxHU)
	}
	return nil
}

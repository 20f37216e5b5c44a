package radiomics

import (
	"errors"
	"fmt"
	"math"
)

// ErrInput is wrapped by every error about Compute's arguments: the image,
// the mask or the settings. The message names the field or voxel.
var ErrInput = errors.New("radiomics")

// ErrEmptyROI wraps ErrInput for a mask that interpolation or
// re-segmentation leave without a voxel: an object too small or thin for
// the settings rather than a fault, which a caller may skip.
var ErrEmptyROI = fmt.Errorf("%w: no voxel of the ROI is left", ErrInput)

// Grid places a 3D array of voxels in the world: voxel (i, j, k), with i
// fastest in memory, has its centre at Origin + (i·Spacing[0],
// j·Spacing[1], k·Spacing[2]) in millimetres. Slices are the z planes (k).
type Grid struct {
	Size    [3]int     `json:"size"`
	Spacing [3]float64 `json:"spacing_mm"`
	Origin  [3]float64 `json:"origin_mm"`
}

// Voxels returns the number of voxels.
func (g Grid) Voxels() int { return g.Size[0] * g.Size[1] * g.Size[2] }

// index returns the position of voxel (i, j, k) in the array.
func (g Grid) index(i, j, k int) int { return i + g.Size[0]*(j+g.Size[1]*k) }

// coords returns the indices (i, j, k) of array position n.
func (g Grid) coords(n int) (i, j, k int) {
	i = n % g.Size[0]
	n /= g.Size[0]
	return i, n % g.Size[1], n / g.Size[1]
}

// check reports a grid with no voxels or a spacing that is not a positive
// finite length.
func (g Grid) check(what string) error {
	for a := range 3 {
		if g.Size[a] < 1 {
			return fmt.Errorf("%w: %s: size %v has an empty axis", ErrInput, what, g.Size)
		}
		if s := g.Spacing[a]; !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("%w: %s: spacing %v mm is not positive and finite", ErrInput, what, g.Spacing)
		}
		if o := g.Origin[a]; math.IsNaN(o) || math.IsInf(o, 0) {
			return fmt.Errorf("%w: %s: origin %v mm is not finite", ErrInput, what, g.Origin)
		}
	}
	return nil
}

// sameGrid reports whether two grids are the same to within a micrometre
// (positions read from DICOM text rarely agree to the last bit).
func sameGrid(a, b Grid) bool {
	const tol = 1e-3 // mm
	for k := range 3 {
		if a.Size[k] != b.Size[k] || math.Abs(a.Spacing[k]-b.Spacing[k]) > tol || math.Abs(a.Origin[k]-b.Origin[k]) > tol {
			return false
		}
	}
	return true
}

// Image is a scalar image: one intensity per voxel (HU for CT).
type Image struct {
	Grid
	Data []float64
}

// Mask is a region of interest on a grid: true inside.
type Mask struct {
	Grid
	Data []bool
}

// checkInputs checks that the image is finite, the mask on the image's grid
// and not empty, before any work starts.
func checkInputs(img *Image, mask *Mask) error {
	if img == nil || mask == nil {
		return fmt.Errorf("%w: no image or no mask", ErrInput)
	}
	if err := img.check("image"); err != nil {
		return err
	}
	if err := mask.check("mask"); err != nil {
		return err
	}
	if len(img.Data) != img.Voxels() {
		return fmt.Errorf("%w: image: %d values for %v voxels", ErrInput, len(img.Data), img.Size)
	}
	if len(mask.Data) != mask.Voxels() {
		return fmt.Errorf("%w: mask: %d values for %v voxels", ErrInput, len(mask.Data), mask.Size)
	}
	if !sameGrid(img.Grid, mask.Grid) {
		return fmt.Errorf("%w: the mask's grid (size %v, spacing %v mm, origin %v mm) is not the image's (size %v, spacing %v mm, origin %v mm)",
			ErrInput, mask.Size, mask.Spacing, mask.Origin, img.Size, img.Spacing, img.Origin)
	}
	for n, v := range img.Data {
		if v-v != 0 { // NaN and ±Inf, in one comparison
			i, j, k := img.coords(n)
			return fmt.Errorf("%w: image voxel (%d, %d, %d) is %v: every voxel must be finite (interpolation and local intensity read outside the mask too)", ErrInput, i, j, k, v)
		}
	}
	for _, in := range mask.Data {
		if in {
			return nil
		}
	}
	return fmt.Errorf("%w: the mask is empty", ErrInput)
}

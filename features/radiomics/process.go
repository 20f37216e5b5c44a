package radiomics

import (
	"fmt"
	"math"
)

// roi is a region of interest after IBSI's image processing, cropped to
// the bounding box of its morphological mask.
type roi struct {
	s Settings
	// img is the processed image on its whole grid: local intensity
	// features read around the ROI.
	img *Image
	// offset is the crop's voxel (0, 0, 0) in img.
	offset [3]int
	// Grid is the crop's.
	Grid
	// x holds the crop's intensities; morph and inten its masks.
	x            []float64
	morph, inten []bool
	// values are the intensities inside the intensity mask (IBSI X_gl),
	// in array order.
	values []float64
	// grey holds the discretised grey levels 1..ng inside the intensity
	// mask and 0 outside it.
	grey []int32
	ng   int
	// ivh is the intensity-volume histogram, made with the discretisation
	// so that its errors come before any feature is computed.
	ivh *ivh
	// zones caches the GLSZM and GLDZM zones, per slice ([true]) and of
	// the volume ([false]).
	zones map[bool][]zoneSet
	// pad is the padded grey levels and mask of the texture matrices,
	// made on first use (roi.padded).
	pad *padded
}

// prepare runs interpolation, re-segmentation and discretisation. pre,
// when not nil, is mask already interpolated under s (InterpolateMask).
func prepare(img *Image, mask *Mask, pre *InterpolatedMask, s Settings) (*roi, error) {
	morph := mask.Data
	if in := s.Interpolation; in != nil {
		img = Resample(img, in.Spacing, in.InPlane, in.Method)
		if in.Round {
			for k, v := range img.Data {
				img.Data[k] = math.RoundToEven(v)
			}
		}
		if pre == nil {
			pre = interpolateMask(mask, *in)
		}
		morph = pre.morph
	}
	r := crop(img, morph)
	var err error
	if r == nil {
		return nil, errEmpty("interpolating the mask")
	}
	r.s = s
	if err = r.resegment(); err != nil {
		return nil, err
	}
	if err = r.discretise(); err != nil {
		return nil, err
	}
	if s.wants("ivh") {
		if r.ivh, err = newIVH(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// InterpolatedMask is a morphological mask on an interpolation grid,
// made once by InterpolateMask for the images that share its mask (the
// energy bins of one scan), whose interpolation then costs half as much.
type InterpolatedMask struct {
	// Source is the mask it was made from, on the original grid.
	Source *Mask
	in     Interpolation
	morph  []bool
}

// InterpolateMask interpolates mask as Compute would under s, which must
// have an Interpolation. Errors wrap ErrInput and name the setting or the
// mask at fault.
func InterpolateMask(mask *Mask, s Settings) (*InterpolatedMask, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Interpolation == nil {
		return nil, fmt.Errorf("%w: settings: interpolation: none, so no mask to interpolate", ErrInput)
	}
	if mask == nil {
		return nil, fmt.Errorf("%w: no mask", ErrInput)
	}
	if err := mask.check("mask"); err != nil {
		return nil, err
	}
	if len(mask.Data) != mask.Voxels() {
		return nil, fmt.Errorf("%w: mask: %d values for %v voxels", ErrInput, len(mask.Data), mask.Size)
	}
	return interpolateMask(mask, *s.Interpolation), nil
}

// interpolateMask resamples mask as in says and thresholds it.
func interpolateMask(mask *Mask, in Interpolation) *InterpolatedMask {
	m := &Image{Grid: mask.Grid, Data: make([]float64, len(mask.Data))}
	for k, v := range mask.Data {
		if v {
			m.Data[k] = 1
		}
	}
	m = Resample(m, in.Spacing, in.InPlane, in.MaskMethod)
	morph := make([]bool, len(m.Data))
	// A value that should be exactly the threshold may come out a hair
	// below it (IBSI warns of 0.4999...).
	for k, v := range m.Data {
		morph[k] = v >= in.MaskThreshold-1e-9
	}
	return &InterpolatedMask{Source: mask, in: in, morph: morph}
}

// crop returns the ROI cut to the bounding box of the mask, or nil for an
// empty mask. Its intensity mask is the morphological one.
func crop(img *Image, mask []bool) *roi {
	lo := img.Size
	hi := [3]int{-1, -1, -1}
	for n, in := range mask {
		if !in {
			continue
		}
		i, j, k := img.coords(n)
		for a, c := range [3]int{i, j, k} {
			lo[a] = min(lo[a], c)
			hi[a] = max(hi[a], c)
		}
	}
	if hi[0] < 0 {
		return nil
	}
	r := &roi{img: img, offset: lo}
	r.Spacing = img.Spacing
	for a := range 3 {
		r.Size[a] = hi[a] - lo[a] + 1
		r.Origin[a] = img.Origin[a] + float64(lo[a])*img.Spacing[a]
	}
	n := r.Voxels()
	r.x = make([]float64, n)
	r.morph = make([]bool, n)
	for k := range r.Size[2] {
		for j := range r.Size[1] {
			src := img.index(lo[0], lo[1]+j, lo[2]+k)
			dst := r.index(0, j, k)
			copy(r.x[dst:dst+r.Size[0]], img.Data[src:src+r.Size[0]])
			copy(r.morph[dst:dst+r.Size[0]], mask[src:src+r.Size[0]])
		}
	}
	r.inten = r.morph
	return r
}

// resegment makes the intensity mask: the morphological mask less the
// voxels outside the range, then less the outliers of what is left.
func (r *roi) resegment() error {
	rs := r.s.Resegmentation
	lo, hi := math.Inf(-1), math.Inf(1)
	if rs.Min != nil {
		lo = *rs.Min
	}
	if rs.Max != nil {
		hi = *rs.Max
	}
	keep := func(lo, hi float64) {
		inten := make([]bool, len(r.inten))
		for k, in := range r.inten {
			inten[k] = in && r.x[k] >= lo && r.x[k] <= hi
		}
		r.inten = inten
	}
	if rs.Min != nil || rs.Max != nil {
		keep(lo, hi)
	}
	if rs.OutlierSD > 0 {
		var n, sum, sum2 float64
		for k, in := range r.inten {
			if in {
				n++
				sum += r.x[k]
			}
		}
		mean := sum / n
		for k, in := range r.inten {
			if in {
				sum2 += (r.x[k] - mean) * (r.x[k] - mean)
			}
		}
		sd := math.Sqrt(sum2 / n)
		keep(mean-rs.OutlierSD*sd, mean+rs.OutlierSD*sd)
	}
	r.values = r.values[:0]
	for k, in := range r.inten {
		if in {
			r.values = append(r.values, r.x[k])
		}
	}
	if len(r.values) == 0 {
		return errEmpty(fmt.Sprintf("re-segmentation to [%v, %v]", lo, hi))
	}
	return nil
}

// discretise bins the intensity mask's intensities into grey levels for
// the intensity histogram and the texture families.
func (r *roi) discretise() error {
	bin, _, err := binner(r.s.Discretisation, r.s.Resegmentation, r.values, "discretisation")
	if err != nil {
		return err
	}
	r.grey = make([]int32, len(r.x))
	for k, in := range r.inten {
		if in {
			g := int32(bin(r.x[k]))
			r.grey[k] = g
			r.ng = max(r.ng, int(g))
		}
	}
	return nil
}

// binner returns the function that gives the bin (1, 2, ...) of an
// intensity under a discretisation of the ROI's intensities values, and
// where the first bin starts. Fixed bin number spans the ROI's intensities
// (IBSI K15C). Fixed bin size (Q3RU) starts at the discretisation's Min,
// else at the re-segmentation range's lower bound, else at the ROI's
// lowest intensity, and fails for a start above the ROI's lowest intensity
// (bins below 1).
func binner(d Discretisation, rs Resegmentation, values []float64, field string) (func(float64) int, float64, error) {
	lo, hi := extremes(values)
	switch d.Method {
	case FixedBinNumber:
		nb := float64(d.Bins)
		return func(x float64) int {
			if x >= hi {
				return d.Bins
			}
			// Multiplying first keeps an exact quotient exact.
			return int(math.Floor(nb*(x-lo)/(hi-lo))) + 1
		}, lo, nil
	case FixedBinSize:
		start := lo
		if rs.Min != nil {
			start = *rs.Min
		}
		if d.Min != nil {
			start = *d.Min
		}
		if start > lo {
			return nil, 0, fmt.Errorf("%w: settings: %s: fixed bin size starts at %v, above the ROI's lowest intensity %v", ErrInput, field, start, lo)
		}
		return func(x float64) int { return int(math.Floor((x-start)/d.BinWidth)) + 1 }, start, nil
	}
	return nil, 0, fmt.Errorf("%w: settings: %s.method: %q", ErrInput, field, d.Method)
}

// extremes returns the lowest and highest of values.
func extremes(values []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range values {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

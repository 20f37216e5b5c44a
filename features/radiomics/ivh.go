package radiomics

import (
	"math"
	"slices"
	"sort"
)

// ivh is the cumulative intensity-volume histogram (IBSI P88C), evaluated
// at the intensities minG, minG + step, ..., maxG.
type ivh struct {
	// keys are the voxels' discretised intensities as steps above minG,
	// sorted: integers for binned intensities, so that comparisons with the
	// evaluation points are exact.
	keys             []float64
	minG, maxG, step float64
	points           int
}

// newIVH discretises the intensity mask's intensities as IBSI's three
// cases say: NoDiscretisation (calibrated discrete intensities: step 1,
// the range that of re-segmentation or else of the ROI), FixedBinSize
// (calibrated continuous: bin centres, the range that of re-segmentation
// less half a bin at each end) and FixedBinNumber (arbitrary units: bins
// 1..N).
func newIVH(r *roi) (*ivh, error) {
	d, rs := r.s.IVH, r.s.Resegmentation
	lo, hi := extremes(r.values)
	if rs.Min != nil {
		lo = *rs.Min
	}
	if rs.Max != nil {
		hi = *rs.Max
	}
	h := &ivh{keys: make([]float64, len(r.values)), step: 1}
	if d.Method == NoDiscretisation {
		h.minG, h.maxG = lo, hi
		for k, v := range r.values {
			h.keys[k] = v - lo
		}
	} else {
		bin, start, err := binner(d, rs, r.values, "ivh_discretisation")
		if err != nil {
			return nil, err
		}
		h.minG, h.maxG = 1, float64(d.Bins)
		if d.Method == FixedBinSize {
			h.step = d.BinWidth
			h.minG, h.maxG = start+h.step/2, hi-h.step/2
		}
		for k, v := range r.values {
			h.keys[k] = float64(bin(v) - 1)
		}
	}
	slices.Sort(h.keys)
	h.points = int(math.Floor((h.maxG-h.minG)/h.step+1e-9)) + 1
	h.points = max(h.points, 1)
	return h, nil
}

// volume returns ν at evaluation point m: the fraction of voxels whose
// discretised intensity is at least minG + m·step.
func (h *ivh) volume(m int) float64 {
	below := sort.SearchFloat64s(h.keys, float64(m))
	return 1 - float64(below)/float64(len(h.keys))
}

// fraction returns γ at evaluation point m: its intensity's fraction of the
// range.
func (h *ivh) fraction(m int) float64 {
	if h.maxG == h.minG {
		return 0
	}
	return float64(m) * h.step / (h.maxG - h.minG)
}

// volumeAt is V_x: the volume fraction at the lowest intensity whose
// intensity fraction is at least x.
func (h *ivh) volumeAt(x float64) float64 {
	for m := range h.points {
		if h.fraction(m) >= x-1e-12 {
			return h.volume(m)
		}
	}
	return 0
}

// intensityAt is I_x: the lowest intensity present in at most a fraction x
// of the volume; one step above the range when every point holds more.
func (h *ivh) intensityAt(x float64) float64 {
	for m := range h.points {
		if h.volume(m) <= x {
			return h.minG + float64(m)*h.step
		}
	}
	return h.minG + float64(h.points)*h.step
}

// area is the area under the IVH curve ν(γ), by the trapezoidal rule; 0
// for a single point.
func (h *ivh) area() float64 {
	var a float64
	for m := 1; m < h.points; m++ {
		a += (h.fraction(m) - h.fraction(m-1)) * (h.volume(m) + h.volume(m-1)) / 2
	}
	return a
}

// ivhFeatures are IBSI's intensity-volume histogram features.
var ivhFeatures = []def[*ivh]{
	{Definition{"ivh.v10", "BC2M", "Volume fraction at 10% intensity"}, func(h *ivh) float64 { return h.volumeAt(0.1) }},
	{Definition{"ivh.v90", "BC2M", "Volume fraction at 90% intensity"}, func(h *ivh) float64 { return h.volumeAt(0.9) }},
	{Definition{"ivh.i10", "GBPN", "Intensity at 10% volume"}, func(h *ivh) float64 { return h.intensityAt(0.1) }},
	{Definition{"ivh.i90", "GBPN", "Intensity at 90% volume"}, func(h *ivh) float64 { return h.intensityAt(0.9) }},
	{Definition{"ivh.diff.v10v90", "DDTU", "Volume fraction difference between 10% and 90% intensity"}, func(h *ivh) float64 { return h.volumeAt(0.1) - h.volumeAt(0.9) }},
	{Definition{"ivh.diff.i10i90", "CNV2", "Intensity difference between 10% and 90% volume"}, func(h *ivh) float64 { return h.intensityAt(0.1) - h.intensityAt(0.9) }},
	{Definition{"ivh.auc", "9CMM", "Area under the IVH curve"}, (*ivh).area},
}

func init() {
	familyTable["ivh"] = family{
		defs: func() []Definition { return definitions(ivhFeatures) },
		compute: func(r *roi) []Feature {
			return emit(nil, ivhFeatures, values(ivhFeatures, r.ivh), "")
		},
	}
}

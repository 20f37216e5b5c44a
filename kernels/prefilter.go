package kernels

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/fdk"
)

// Weighting gives the FDK pre-weights in the separable form the GPU
// applies: pixel (c, r) of view v is multiplied by Pixel()[r*cols+c] ·
// Column(v)[c]. The pixel image (cosine weights) is shared by all views,
// which holds when they share a principal point, as every circular orbit
// does; the column factors carry the view's angular share and its Parker
// or Wang weights.
type Weighting interface {
	Pixel() []float32
	Column(v int) []float32
}

// Prefilter is the weighting and ramp filtering StartFDK applies on the
// GPU to each raw image before back-projecting it.
type Prefilter struct {
	Weights Weighting
	// Ramp filters rows of the back-projected detector's width; the GPU
	// convolves with its spatial kernel (see rampTaps).
	Ramp *fdk.RampFilter
	// Cols is the raw images' width. PadLeft is the number of zero columns
	// the back-projected detector adds on their left (a displaced detector
	// is widened to be symmetric; see fdk.Weights.Extension).
	Cols, PadLeft int
}

func (p *Prefilter) validate(det fdk.Detector) error {
	switch {
	case p.Weights == nil || p.Ramp == nil:
		return fmt.Errorf("kernels: prefilter needs weights and a ramp filter")
	case p.Cols < 1 || p.PadLeft < 0 || p.Cols+p.PadLeft > det.Cols:
		return fmt.Errorf("kernels: %d raw columns padded by %d on the left do not fit a %d-column detector", p.Cols, p.PadLeft, det.Cols)
	case len(p.Weights.Pixel()) != p.Cols*det.Rows:
		return fmt.Errorf("kernels: pixel weights of %d values for a %dx%d image", len(p.Weights.Pixel()), p.Cols, det.Rows)
	}
	return nil
}

// rampTaps returns the spatial kernel of f for rows of cols samples: h[d]
// for d in (-cols, cols) at index d + cols - 1. f's FFT is zero-padded to
// at least twice the row, so its circular convolution is a linear one with
// exactly these taps; they are read off f's responses to two impulses, one
// at each end of a row, which keeps the GPU's filter equal to the CPU's
// whatever window and cut-off f was built with.
func rampTaps(f *fdk.RampFilter, cols int) []float32 {
	img := make([]float32, 2*cols)
	img[0], img[2*cols-1] = 1, 1
	f.Clone().FilterRows(img, cols)
	taps := make([]float32, 2*cols-1)
	for i := range cols {
		taps[cols-1+i] = img[i] // impulse at 0: out[i] = h[i]
		taps[i] = img[cols+i]   // impulse at cols-1: out[i] = h[i-cols+1]
	}
	return taps
}

// separable is a Weighting computed on the host once per geometry.
type separable struct {
	pix  []float32
	cols [][]float32
}

func (s *separable) Pixel() []float32       { return s.pix }
func (s *separable) Column(v int) []float32 { return s.cols[v] }

// SeparableWeights splits w, the weights of geom's views, into the
// Weighting the GPU applies: fdk's cosine image, shared by views with the
// same principal point, and each view's column factors (angular share times
// Parker or Wang weight), exactly what w.Apply multiplies by.
func SeparableWeights(w *fdk.Weights, geom *fdk.Geometry, views []fdk.View) (Weighting, error) {
	pu, pv := views[0].PrincipalU, views[0].PrincipalV
	for i, v := range views {
		// Matrices built from angles put the principal point within
		// rounding of the same pixel; a millionth of a pixel changes no
		// float32 weight.
		if math.Abs(v.PrincipalU-pu) > 1e-6 || math.Abs(v.PrincipalV-pv) > 1e-6 {
			return nil, fmt.Errorf("kernels: view %d's principal point (%.3f, %.3f) differs from view 0's (%.3f, %.3f): the cosine weights are not shared by the views, weight on the host instead",
				i, v.PrincipalU, v.PrincipalV, pu, pv)
		}
	}
	s := &separable{pix: w.CosineImage(0), cols: make([][]float32, len(views))}
	for v := range views {
		s.cols[v] = w.Columns(v)
	}
	return s, nil
}

// PrepareFDK derives what StartFDK needs for geom as fdk.New derives it for
// the CPU: the back-projected views and detector (widened by zero columns
// for a displaced detector) and the prefilter with opts' window, cut-off and
// padding.
func PrepareFDK(geom *fdk.Geometry, opts fdk.Options) ([]fdk.View, fdk.Detector, Prefilter, error) {
	views, err := geom.Views()
	if err != nil {
		return nil, fdk.Detector{}, Prefilter{}, err
	}
	w, err := fdk.NewWeights(geom, views)
	if err != nil {
		return nil, fdk.Detector{}, Prefilter{}, err
	}
	left, right := w.Extension()
	det := geom.Detector
	det.Cols += left + right
	cutoff, pad := opts.Cutoff, opts.Padding
	if cutoff == 0 {
		cutoff = 1
	}
	if pad == 0 {
		pad = 2
	}
	ramp, err := fdk.NewRampFilter(det.Cols, geom.PitchU*geom.SID/geom.SDD, opts.Window, cutoff, pad)
	if err != nil {
		return nil, fdk.Detector{}, Prefilter{}, err
	}
	sw, err := SeparableWeights(w, geom, views)
	if err != nil {
		return nil, fdk.Detector{}, Prefilter{}, err
	}
	_, widened := fdk.Widen(geom.Detector, views, left, right)
	return widened, det, Prefilter{Weights: sw, Ramp: ramp, Cols: geom.Cols, PadLeft: left}, nil
}

package material

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/sinogram"
)

// Linearization is the water beam-hardening correction of a scan's bins
// (water precorrection: G. T. Herman, Phys. Med. Biol. 24, 81, 1979; M.
// Kachelrieß, K. Sourbelle, W. A. Kalender, Med. Phys. 33, 1269, 2006):
// each line integral p of a bin is replaced by μ_ref·L, where L is the
// length of water that gives p under the bin's polychromatic spectrum,
//
//	p = −ln(Σ_k w_k e^(−μ_k L) / Σ_k w_k),
//
// so that water reads μ_ref wherever it lies. Without it the low bins'
// beam hardening (15-25 keV photons lose e⁵ to e^1.5 across 30 mm of
// water) cups the image: a vial near the axis reads about 1.5 % less in
// the lowest bin than the same vial near the rim, which the decomposition
// turns into 0.1 of lipid in place of water. The spectrum is the one
// Physics uses. It is safe for concurrent use.
type Linearization struct {
	bins []lut
}

// lut maps a line integral to the corrected one by linear interpolation
// on a uniform grid of p.
type lut struct {
	step float64   // of p between entries
	out  []float64 // corrected line integral at p = i·step
	// slope0 and slopeEnd extend the table below 0 (noise in air) and
	// past its end.
	slope0, slopeEnd float64
}

// lutEntries and lutMaxWaterMM size each bin's table: water up to
// lutMaxWaterMM in lutEntries steps of p.
const (
	lutEntries    = 4096
	lutMaxWaterMM = 300
)

// NewLinearization prepares the water correction of bins (a scan's, in
// its order) under tube. Each bin's reference attenuation μ_ref is its
// mu_water_per_mm where the scan gives one (so that water keeps its HU
// calibration), else water's attenuation averaged over the open beam.
func NewLinearization(tube sinogram.Tube, bins []sinogram.EnergyBin) (*Linearization, error) {
	spectra, err := binSpectra(tube, bins)
	if err != nil {
		return nil, fmt.Errorf("water linearization: %w", err)
	}
	l := &Linearization{bins: make([]lut, len(bins))}
	for b, s := range spectra {
		ref := bins[b].MuWater
		if !(ref > 0) {
			ref = hardened(s.w, s.mu, 0)[0]
		}
		l.bins[b] = waterLUT(s, ref)
	}
	return l, nil
}

// waterLUT tabulates bin s's water length against its line integral.
func waterLUT(s binSpectrum, ref float64) lut {
	pOf := func(L float64) float64 {
		var num, den float64
		for k, w := range s.w {
			num += w * math.Exp(-s.mu[k][0]*L)
			den += w
		}
		return -math.Log(num / den)
	}
	pMax := pOf(lutMaxWaterMM)
	t := lut{step: pMax / (lutEntries - 1), out: make([]float64, lutEntries)}
	// p(L) increases and is concave: bisect L for each tabulated p.
	lo := 0.0
	for i := 1; i < lutEntries; i++ {
		p := float64(i) * t.step
		a, b := lo, float64(lutMaxWaterMM)
		for range 60 {
			m := (a + b) / 2
			if pOf(m) < p {
				a = m
			} else {
				b = m
			}
		}
		lo = a
		t.out[i] = ref * (a + b) / 2
	}
	t.slope0 = ref / hardened(s.w, s.mu, 0)[0]
	t.slopeEnd = ref / hardened(s.w, s.mu, lutMaxWaterMM)[0]
	return t
}

// Apply corrects one view's line integrals of the scan's bin b in place.
func (l *Linearization) Apply(b int, p []float32) {
	t := &l.bins[b]
	last := len(t.out) - 1
	for i, v := range p {
		x := float64(v) / t.step
		switch {
		case x <= 0:
			p[i] = float32(float64(v) * t.slope0)
		case x >= float64(last):
			p[i] = float32(t.out[last] + (float64(v)-float64(last)*t.step)*t.slopeEnd)
		default:
			k := int(x)
			f := x - float64(k)
			p[i] = float32(t.out[k] + f*(t.out[k+1]-t.out[k]))
		}
	}
}

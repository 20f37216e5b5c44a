package material

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Physics computes the calibration of every known material for a scan's
// tube and bins from first principles, as the simulator models the
// scanner: the tube spectrum (scansim.TubeSpectrum: Kramers' law through
// the tube's aluminium filtration) split among the bins, an ideal
// detector, and the NIST mass attenuation tables (scansim.MassAttenuation).
// In each bin a material's attenuation per unit is its mass attenuation
// averaged over the bin's photons as they leave a depth t of water,
//
//	A_mb = Σ_k w_bk e^(−μ_w,k t) μ_m,k / Σ_k w_bk e^(−μ_w,k t),
//
// with t chosen per bin to give the scan's own water calibration
// (mu_water_per_mm; t = 0 where it has none), so that the calibration
// hardens the beam as the scan's water reads. It has no noise estimate:
// the bins are weighted by water's attenuation instead.
func Physics(tube sinogram.Tube, bins []sinogram.EnergyBin) (*Calibration, error) {
	spectra, err := binSpectra(tube, bins)
	if err != nil {
		return nil, fmt.Errorf("physics calibration: %w", err)
	}
	cal := &Calibration{Format: FormatName, Version: FormatVersion, Source: SourcePhysics}
	for _, m := range Known {
		cal.Materials = append(cal.Materials, CalibratedMaterial{Name: m.Name, Unit: m.Unit})
	}
	for i, b := range bins {
		cal.Bins = append(cal.Bins, Bin{b.LowKeV, b.HighKeV})
		s := spectra[i]
		avg := hardened(s.w, s.mu, waterDepth(s.w, s.mu, b.MuWater))
		for j := range Known {
			cal.Materials[j].PerUnit = append(cal.Materials[j].PerUnit, avg[j])
		}
	}
	return cal, cal.Check()
}

// binSpectrum is one bin's photons as the simulator models them: w[k] the
// tube's photons in energy interval k that the bin counts (an ideal
// detector), mu[k][j] every known material's attenuation per unit there
// (perUnit; Known[0] is water).
type binSpectrum struct {
	w  []float64
	mu [][]float64
}

// binSpectra splits tube's spectrum (scansim.TubeSpectrum: Kramers' law
// through the tube's aluminium, in 1 keV intervals split at the bins'
// thresholds and the K-edges) among bins.
func binSpectra(tube sinogram.Tube, bins []sinogram.EnergyBin) ([]binSpectrum, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("no bins")
	}
	var breaks []float64
	for _, b := range bins {
		breaks = append(breaks, b.LowKeV, b.HighKeV)
	}
	breaks = append(breaks, scansim.IodineKEdge, scansim.GadoliniumKEdge)
	sp, err := scansim.TubeSpectrum(tube.KVp, tube.FiltrationMMAl, bins[0].LowKeV, 1, breaks)
	if err != nil {
		return nil, err
	}
	out := make([]binSpectrum, len(bins))
	for i, b := range bins {
		for k, c := range sp.Counts {
			if e := sp.Energy(k); e >= b.LowKeV && e < b.HighKeV {
				row, err := perUnit(e)
				if err != nil {
					return nil, err
				}
				out[i].w = append(out[i].w, c)
				out[i].mu = append(out[i].mu, row)
			}
		}
		if len(out[i].w) == 0 {
			return nil, fmt.Errorf("bin %g-%g keV counts no photons of a %g kVp tube", b.LowKeV, b.HighKeV, tube.KVp)
		}
	}
	return out, nil
}

// perUnit returns every known material's attenuation per unit amount at
// energy e keV: 1/mm of the pure material, or 1/mm per mg/mL.
func perUnit(e float64) ([]float64, error) {
	row := make([]float64, len(Known))
	for j, m := range Known {
		mu, err := scansim.MassAttenuation(m.table, e) // cm²/g
		if err != nil {
			return nil, err
		}
		rho := 1e-3 // g/cm³ per mg/mL
		if m.Base() {
			rho, _ = scansim.Density(m.table)
		}
		row[j] = mu * rho / 10 // 1/cm to 1/mm
	}
	return row, nil
}

// hardened averages each material's attenuation (mu[k][j], interval k,
// material j) over the photons w[k] left after t mm of water.
func hardened(w []float64, mu [][]float64, t float64) []float64 {
	out := make([]float64, len(Known))
	var den float64
	for k, wk := range w {
		x := wk * math.Exp(-mu[k][0]*t) // Known[0] is water
		den += x
		for j := range out {
			out[j] += x * mu[k][j]
		}
	}
	for j := range out {
		out[j] /= den
	}
	return out
}

// waterDepth returns the depth of water, 0 to 200 mm, after which the
// bin's water attenuation is muWater (it falls as the beam hardens); the
// nearer end where none gives it, 0 without a calibration.
func waterDepth(w []float64, mu [][]float64, muWater float64) float64 {
	lo, hi := 0.0, 200.0
	if !(muWater > 0) || hardened(w, mu, lo)[0] <= muWater {
		return lo
	}
	if hardened(w, mu, hi)[0] >= muWater {
		return hi
	}
	for range 60 {
		mid := (lo + hi) / 2
		if hardened(w, mu, mid)[0] > muWater {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

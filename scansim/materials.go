package scansim

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Materials the simulator knows, by the names a Component uses.
const (
	Water          = "water"
	Lipid          = "lipid" // adipose tissue (ICRU-44)
	Hydroxyapatite = "hydroxyapatite"
	Iodine         = "iodine"
	Gadolinium     = "gadolinium"
	Aluminium      = "aluminium"
)

// K-edge energies in keV, as the NIST tables list them.
const (
	IodineKEdge     = 33.1694
	GadoliniumKEdge = 50.2391
)

// Densities in g/cm³ of the pure materials, from the same NIST tables
// (hydroxyapatite: the crystal's 3.16).
var materialDensity = map[string]float64{
	Water: 1.0, Lipid: 0.95, Hydroxyapatite: 3.16, Iodine: 4.93, Gadolinium: 7.895, Aluminium: 2.699,
}

// muPoint is one row of a mass attenuation table: energy in keV and μ/ρ in
// cm²/g (total, with coherent scattering). An absorption edge is two rows at
// the same energy, below then above.
type muPoint struct{ keV, mu float64 }

// The tables are J. H. Hubbell and S. M. Seltzer, "Tables of X-Ray Mass
// Attenuation Coefficients and Mass Energy-Absorption Coefficients" (NIST
// Standard Reference Database 126, NISTIR 5632, version 1.4, 2004),
// https://physics.nist.gov/PhysRefData/XrayMassCoef/: ElemTab/z01, z08, z13,
// z15, z20, z53 and z64 and ComTab/water and adipose, the rows from 10 to
// 150 keV, μ/ρ column (the photon cross-section database XCOM also draws
// on). Between rows μ/ρ is interpolated linearly in log E and log μ/ρ, as
// NIST recommends, never across an edge.
var (
	muWater = []muPoint{{10, 5.329}, {15, 1.673}, {20, 0.8096}, {30, 0.3756}, {40, 0.2683},
		{50, 0.2269}, {60, 0.2059}, {80, 0.1837}, {100, 0.1707}, {150, 0.1505}}
	// Adipose tissue (ICRU-44), 0.95 g/cm³: the lipid of the phantom.
	muAdipose = []muPoint{{10, 3.268}, {15, 1.083}, {20, 0.5677}, {30, 0.3063}, {40, 0.2396},
		{50, 0.2123}, {60, 0.1974}, {80, 0.1800}, {100, 0.1688}, {150, 0.1500}}
	muAluminium = []muPoint{{10, 26.23}, {15, 7.955}, {20, 3.441}, {30, 1.128}, {40, 0.5685},
		{50, 0.3681}, {60, 0.2778}, {80, 0.2018}, {100, 0.1704}, {150, 0.1378}}
	muIodine = []muPoint{{10, 162.6}, {15, 55.12}, {20, 25.43}, {30, 8.561},
		{IodineKEdge, 6.553}, {IodineKEdge, 35.82},
		{40, 22.10}, {50, 12.32}, {60, 7.579}, {80, 3.510}, {100, 1.942}, {150, 0.6978}}
	muGadolinium = []muPoint{{10, 269.3}, {15, 93.35}, {20, 43.63}, {30, 14.84}, {40, 6.920}, {50, 3.859},
		{GadoliniumKEdge, 3.812}, {GadoliniumKEdge, 18.64},
		{60, 11.75}, {80, 5.573}, {100, 3.109}, {150, 1.100}}
	muCalcium = []muPoint{{10, 93.41}, {15, 29.79}, {20, 13.06}, {30, 4.080}, {40, 1.830},
		{50, 1.019}, {60, 0.6578}, {80, 0.3656}, {100, 0.2571}, {150, 0.1674}}
	muPhosphorus = []muPoint{{10, 40.35}, {15, 12.39}, {20, 5.352}, {30, 1.700}, {40, 0.8096},
		{50, 0.4916}, {60, 0.3494}, {80, 0.2324}, {100, 0.1865}, {150, 0.1432}}
	muOxygen = []muPoint{{10, 5.952}, {15, 1.836}, {20, 0.8651}, {30, 0.3779}, {40, 0.2585},
		{50, 0.2132}, {60, 0.1907}, {80, 0.1678}, {100, 0.1551}, {150, 0.1361}}
	muHydrogen = []muPoint{{10, 0.3854}, {15, 0.3764}, {20, 0.3695}, {30, 0.3570}, {40, 0.3458},
		{50, 0.3355}, {60, 0.3260}, {80, 0.3091}, {100, 0.2944}, {150, 0.2651}}
)

// Hydroxyapatite, Ca10(PO4)6(OH)2, follows the mixture rule (Bragg
// additivity, as XCOM does for compounds) over its elements' mass fractions,
// from the IUPAC atomic weights.
var hydroxyapatiteFractions = func() []struct {
	w  float64
	mu []muPoint
} {
	type el struct {
		n, mass float64
		mu      []muPoint
	}
	els := []el{{10, 40.078, muCalcium}, {6, 30.973762, muPhosphorus}, {26, 15.999, muOxygen}, {2, 1.008, muHydrogen}}
	total := 0.0
	for _, e := range els {
		total += e.n * e.mass
	}
	out := make([]struct {
		w  float64
		mu []muPoint
	}, len(els))
	for i, e := range els {
		out[i].w, out[i].mu = e.n*e.mass/total, e.mu
	}
	return out
}()

var muTables = map[string][]muPoint{
	Water: muWater, Lipid: muAdipose, Aluminium: muAluminium, Iodine: muIodine, Gadolinium: muGadolinium,
}

// MaterialNames lists the materials MassAttenuation knows.
func MaterialNames() []string {
	names := []string{Hydroxyapatite}
	for n := range muTables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Energy range of the tables, keV.
const (
	minTableKeV = 10
	maxTableKeV = 150
)

// MassAttenuation returns μ/ρ of material at energy keV, in cm²/g (see the
// tables' source above). At an edge's own energy it returns the value above
// the edge.
func MassAttenuation(material string, keV float64) (float64, error) {
	if !(keV >= minTableKeV && keV <= maxTableKeV) {
		return 0, fmt.Errorf("mass attenuation of %s at %g keV: outside the tabulated %g-%g keV", material, keV, float64(minTableKeV), float64(maxTableKeV))
	}
	if material == Hydroxyapatite {
		mu := 0.0
		for _, f := range hydroxyapatiteFractions {
			mu += f.w * logLogInterp(f.mu, keV)
		}
		return mu, nil
	}
	t, ok := muTables[material]
	if !ok {
		return 0, fmt.Errorf("unknown material %q (known: %v)", material, MaterialNames())
	}
	return logLogInterp(t, keV), nil
}

// logLogInterp interpolates t linearly in log-log between the last row at or
// below e and the next row above it, so that at an edge the upper value wins
// and no segment crosses an edge.
func logLogInterp(t []muPoint, e float64) float64 {
	i := sort.Search(len(t), func(i int) bool { return t[i].keV > e }) - 1
	i = max(0, min(i, len(t)-2))
	a, b := t[i], t[i+1]
	f := math.Log(e/a.keV) / math.Log(b.keV/a.keV)
	return math.Exp(math.Log(a.mu) + f*math.Log(b.mu/a.mu))
}

// Spectrum is an x-ray tube's photon spectrum sampled on energy intervals:
// Counts[k] photons (relative) with energies in [Edges[k], Edges[k+1]),
// represented by their midpoint Energy(k).
type Spectrum struct {
	Edges  []float64 // keV, increasing
	Counts []float64
}

// Energy returns the midpoint of interval k, keV.
func (s *Spectrum) Energy(k int) float64 { return (s.Edges[k] + s.Edges[k+1]) / 2 }

// TubeSpectrum returns the photons a tungsten-anode tube at kVp emits through
// alMM millimetres of aluminium, from lowKeV to kVp in intervals of at most
// step keV, split at every energy in breaks (bin thresholds, K-edges) so that
// no interval straddles one.
//
// The unfiltered spectrum is Kramers' law (H. A. Kramers, Phil. Mag. 46, 836,
// 1923): bremsstrahlung energy per unit photon energy proportional to
// kVp - E, so photons per keV proportional to (kVp - E)/E. It is then
// attenuated by exp(-μ_Al(E)·ρ_Al·t). Tungsten's characteristic K lines
// (58-69 keV) and the anode's self-filtration are left out: the spectrum is
// a smooth Kramers-like continuum, which is what the simulator needs to give
// each energy bin a realistic, hardened mix of energies.
func TubeSpectrum(kVp, alMM, lowKeV, step float64, breaks []float64) (*Spectrum, error) {
	switch {
	case !(kVp > lowKeV) || kVp > maxTableKeV:
		return nil, fmt.Errorf("tube spectrum: kVp %g must lie between the lowest energy %g keV and %d keV", kVp, lowKeV, maxTableKeV)
	case lowKeV < minTableKeV:
		return nil, fmt.Errorf("tube spectrum: lowest energy %g keV is below the tables' %d keV", lowKeV, minTableKeV)
	case !(alMM >= 0) || math.IsInf(alMM, 0):
		return nil, fmt.Errorf("tube spectrum: aluminium filtration %g mm must be zero or positive", alMM)
	case !(step > 0):
		return nil, fmt.Errorf("tube spectrum: energy step %g keV must be positive", step)
	}
	edges := []float64{lowKeV, kVp}
	for e := math.Ceil(lowKeV/step) * step; e < kVp; e += step {
		edges = append(edges, e)
	}
	for _, b := range breaks {
		if b > lowKeV && b < kVp {
			edges = append(edges, b)
		}
	}
	sort.Float64s(edges)
	edges = slices.CompactFunc(edges, func(a, b float64) bool { return math.Abs(b-a) < 1e-9 })
	s := &Spectrum{Edges: edges, Counts: make([]float64, len(edges)-1)}
	for k := range s.Counts {
		e := s.Energy(k)
		mu, _ := MassAttenuation(Aluminium, e)
		s.Counts[k] = (kVp - e) / e * (edges[k+1] - edges[k]) * math.Exp(-mu*materialDensity[Aluminium]*alMM/10)
	}
	return s, nil
}

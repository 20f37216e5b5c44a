package scansim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The tables give NIST's values at NIST's energies, and jump at the K-edges
// by NIST's ratios.
func TestMassAttenuationTables(t *testing.T) {
	for _, tc := range []struct {
		material  string
		keV, want float64
	}{
		// NIST SRD 126: ComTab/water, ElemTab/z53, z64, z13.
		{Water, 30, 0.3756}, {Water, 100, 0.1707},
		{Iodine, 20, 25.43}, {Iodine, IodineKEdge, 35.82}, {Iodine, 60, 7.579},
		{Gadolinium, GadoliniumKEdge, 18.64}, {Gadolinium, 40, 6.920},
		{Aluminium, 15, 7.955}, {Lipid, 50, 0.2123},
	} {
		got, err := MassAttenuation(tc.material, tc.keV)
		if err != nil || math.Abs(got/tc.want-1) > 1e-12 {
			t.Errorf("%s at %g keV: %g, %v; want %g", tc.material, tc.keV, got, err, tc.want)
		}
	}
	below, _ := MassAttenuation(Iodine, IodineKEdge-1e-6)
	if math.Abs(below/6.553-1) > 1e-4 {
		t.Errorf("iodine just below its K-edge: %g, want 6.553", below)
	}
	// Hydroxyapatite by the mixture rule: Ca 39.89 %, P 18.50 %, O 41.41 %,
	// H 0.20 % by mass, at 30 keV: 0.3989·4.080 + 0.1850·1.700 + 0.4141·0.3779
	// + 0.0020·0.3570.
	ha, _ := MassAttenuation(Hydroxyapatite, 30)
	if want := 0.39895*4.080 + 0.18499*1.700 + 0.41407*0.3779 + 0.002007*0.3570; math.Abs(ha/want-1) > 1e-3 {
		t.Errorf("hydroxyapatite at 30 keV: %g, want %g", ha, want)
	}
	// Between rows μ/ρ falls with energy, continuously except at edges.
	for _, m := range MaterialNames() {
		prev, _ := MassAttenuation(m, 15)
		for e := 15.25; e <= 120; e += 0.25 {
			mu, err := MassAttenuation(m, e)
			if err != nil {
				t.Fatal(err)
			}
			edge := (m == Iodine && e-0.25 < IodineKEdge && e >= IodineKEdge) || (m == Gadolinium && e-0.25 < GadoliniumKEdge && e >= GadoliniumKEdge)
			if !edge && !(mu < prev && mu > 0.8*prev) {
				t.Errorf("%s: %g at %g keV after %g", m, mu, e, prev)
			}
			prev = mu
		}
	}
	for _, bad := range []struct {
		m string
		e float64
	}{{"unobtainium", 30}, {Water, 5}, {Water, 200}, {Water, math.NaN()}} {
		if _, err := MassAttenuation(bad.m, bad.e); err == nil {
			t.Errorf("%s at %g keV accepted", bad.m, bad.e)
		}
	}
}

func TestTubeSpectrum(t *testing.T) {
	breaks := []float64{25, 33.5, IodineKEdge}
	mean := func(al float64) float64 {
		s, err := TubeSpectrum(120, al, 15, 1, breaks)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range breaks {
			if !slices.Contains(s.Edges, b) {
				t.Errorf("edges lack the break at %g keV", b)
			}
		}
		if s.Edges[0] != 15 || s.Edges[len(s.Edges)-1] != 120 {
			t.Errorf("edges from %g to %g, want 15 to 120", s.Edges[0], s.Edges[len(s.Edges)-1])
		}
		var n, ne float64
		for k, c := range s.Counts {
			if !(c > 0) || s.Edges[k+1]-s.Edges[k] > 1+1e-9 {
				t.Fatalf("interval %g-%g keV: %g photons", s.Edges[k], s.Edges[k+1], c)
			}
			n += c
			ne += c * s.Energy(k)
		}
		return ne / n
	}
	// Filtration hardens the beam.
	if m0, m1, m3 := mean(0), mean(1), mean(3); !(m0 < m1 && m1 < m3) {
		t.Errorf("mean energies %g, %g, %g keV through 0, 1, 3 mm Al do not rise", m0, m1, m3)
	}
	if _, err := TubeSpectrum(200, 1, 15, 1, nil); err == nil {
		t.Error("200 kVp accepted beyond the tables")
	}
}

// expNeg agrees with math.Exp to 1e-9 relative.
func TestExpNeg(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		a := 700 * rng.Float64() * rng.Float64()
		if i%10 == 0 {
			a = -rng.Float64()
		}
		if got, want := expNeg(a), math.Exp(-a); math.Abs(got/want-1) > 1e-9 {
			t.Fatalf("expNeg(%g) = %g, want %g", a, got, want)
		}
	}
	if expNeg(800) != 0 || expNeg(0) != 1 {
		t.Errorf("expNeg(800) = %g, expNeg(0) = %g", expNeg(800), expNeg(0))
	}
}

// Counts have Poisson's mean and variance on both sides of the switch
// between the two samplers, and zero mean gives zero.
func TestPoissonCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, lambda := range []float64{0.05, 3, 9.9, 10, 40, 3000} {
		const n = 200000
		var sum, sq, zeros float64
		for range n {
			k := poissonCount(lambda, rng)
			if k < 0 || k != math.Floor(k) {
				t.Fatalf("λ %g: drew %g", lambda, k)
			}
			sum += k
			sq += k * k
			if k == 0 {
				zeros++
			}
		}
		mean := sum / n
		variance := sq/n - mean*mean
		t.Logf("λ %g: mean %.4f variance %.4f", lambda, mean, variance)
		if math.Abs(mean-lambda) > 5*math.Sqrt(lambda/n) {
			t.Errorf("λ %g: mean %g", lambda, mean)
		}
		if math.Abs(variance/lambda-1) > 0.03 {
			t.Errorf("λ %g: variance %g", lambda, variance)
		}
		if p0 := math.Exp(-lambda); lambda < 5 && math.Abs(zeros/n-p0) > 5*math.Sqrt(p0/n) {
			t.Errorf("λ %g: P(0) = %g, want %g", lambda, zeros/n, p0)
		}
	}
	if poissonCount(0, rng) != 0 {
		t.Error("Poisson(0) is not 0")
	}
}

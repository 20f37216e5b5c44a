package histogram

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// curveOf builds a metric histogram from (HU, density) pairs.
func curveOf(xy ...float64) *Metric {
	m := &Metric{}
	for i := 0; i < len(xy); i += 2 {
		m.Points = append(m.Points, Point{HU: xy[i], Density: xy[i+1]})
	}
	return m
}

// TestDMHandComputed checks DM against areas worked out by hand. Where the
// curves cross, the implementation published with the metric histogram
// gives half the area (noted per case).
func TestDMHandComputed(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b *Metric
		want float64
	}{
		// Two triangles of base 1/2 and height 1/2: published 0.25.
		{"X crossing", curveOf(0, 0, 1, 1), curveOf(0, 1, 1, 0), 0.5},
		// The difference runs from -2 to +1 and crosses at 2: triangles
		// 2·2/2 and 1·1/2. Published 1.25.
		{"uneven crossing", curveOf(0, 0, 3, 3), curveOf(0, 2, 3, 2), 2.5},
		{"no crossing", curveOf(0, 0, 1, 1), curveOf(0, 0, 1, 0), 0.5},
		{"touching at one end", curveOf(0, 1, 2, 1), curveOf(0, 1, 2, 3), 2},
		// Tent over a flat line: crossings at 0.5 and 1.5, triangles of
		// 0.25, 0.5 and 0.25.
		{"tent over flat", curveOf(0, 0, 1, 2, 2, 0), curveOf(0, 1, 2, 1), 1},
		// Boxes of area 1 with no HU in common: the largest DM.
		{"disjoint", curveOf(0, 1, 1, 1), curveOf(2, 1, 3, 1), 2},
		// A alone on [0,1] (1), both on [1,2] (|1-2| = 1), B alone on
		// [2,3] (2).
		{"partly overlapping ranges", curveOf(0, 1, 2, 1), curveOf(1, 2, 3, 2), 4},
		// The same curve drawn with an extra collinear point.
		{"same curve, more points", curveOf(0, 0, 1, 1, 2, 2), curveOf(0, 0, 2, 2), 0},
	} {
		if got := DM(c.a, c.b); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s: DM = %.17g, want %g", c.name, got, c.want)
		}
		if got := DM(c.b, c.a); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s reversed: DM = %.17g, want %g", c.name, got, c.want)
		}
	}
}

// randomCurve returns a valid metric histogram of 2 to 12 points somewhere
// in [-1000, 1000] HU, with densities that are 0 now and then.
func randomCurve(rng *rand.Rand) *Metric {
	n := 2 + rng.IntN(11)
	x := -1000 + 1000*rng.Float64()
	m := &Metric{}
	for range n {
		y := rng.Float64() * 1e-3
		if rng.IntN(4) == 0 {
			y = 0
		}
		m.Points = append(m.Points, Point{HU: x, Density: y})
		x += 1 + 200*rng.Float64()
	}
	return m
}

// TestDMIntegral compares DM with the midpoint rule: an independent
// reference for the exact areas, crossings included. The rule samples |a − b|
// inside each interval between the curves' points, where both are linear or
// 0, so the jumps at the ends of a curve's range cost nothing. It is exact
// where a − b keeps its sign and errs by at most h²·|slope of a − b|/4 in the
// one sample interval where a − b crosses 0; the test adds that bound up.
func TestDMIntegral(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		a, b := randomCurve(rng), randomCurve(rng)
		var xs []float64
		for _, m := range []*Metric{a, b} {
			for _, p := range m.Points {
				xs = append(xs, p.HU)
			}
		}
		slices.Sort(xs)
		const n = 2000 // samples per interval
		var sum, bound float64
		for k := 0; k+1 < len(xs); k++ {
			h := (xs[k+1] - xs[k]) / n
			diff := func(i int) float64 {
				x := xs[k] + (float64(i)+0.5)*h
				return valueAt(a, x) - valueAt(b, x)
			}
			for i := range n {
				sum += math.Abs(diff(i)) * h
			}
			if n > 1 && h > 0 {
				slope := (diff(n-1) - diff(0)) / (float64(n-1) * h)
				bound += h * h * math.Abs(slope) / 4
			}
		}
		if got := DM(a, b); math.Abs(got-sum) > bound+1e-12*sum {
			t.Errorf("DM = %.12g, the integral %.12g ± %.2g", got, sum, bound)
		}
	}
}

// valueAt evaluates a curve by its definition, searching all its segments.
func valueAt(m *Metric, x float64) float64 {
	for i := 0; i+1 < len(m.Points); i++ {
		p, q := m.Points[i], m.Points[i+1]
		if x >= p.HU && x <= q.HU {
			return p.Density + (q.Density-p.Density)*(x-p.HU)/(q.HU-p.HU)
		}
	}
	return 0
}

// TestDMMetric checks the metric axioms on random curves: identity,
// symmetry (bit for bit), positivity for different curves and the triangle
// inequality.
func TestDMMetric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const slack = 1e-15 // rounding of sums of a few dozen areas below 1
	for range 2000 {
		a, b, c := randomCurve(rng), randomCurve(rng), randomCurve(rng)
		if d := DM(a, a); d != 0 {
			t.Fatalf("DM(a, a) = %g", d)
		}
		ab, ba := DM(a, b), DM(b, a)
		if ab != ba {
			t.Fatalf("DM(a, b) = %.17g, DM(b, a) = %.17g", ab, ba)
		}
		if !(ab > 0) {
			t.Fatalf("DM = %g between different random curves", ab)
		}
		if ac, bc := DM(a, c), DM(b, c); ac > ab+bc+slack {
			t.Fatalf("DM(a, c) = %.17g > DM(a, b) + DM(b, c) = %.17g", ac, ab+bc)
		}
	}
}

package fdk

import (
	"math"
	"testing"
)

// Combined redundancy weights keep a ray and its conjugate adding up to 1,
// reduce to either weight where the other is neutral (1/2), and give a ray
// all of its line when either weight leaves its conjugate unmeasured.
func TestCombine(t *testing.T) {
	ws := []float64{0, 0.01, 0.2, 0.5, 0.7, 0.99, 1}
	for _, p := range ws {
		for _, q := range ws {
			w, conj := combine(p, q), combine(1-p, 1-q)
			if p*q+(1-p)*(1-q) > 0 && math.Abs(w+conj-1) > 1e-12 {
				t.Errorf("combine(%g, %g) = %g, its conjugate's %g: sum %g, want 1", p, q, w, conj, w+conj)
			}
		}
		if got := combine(p, 0.5); math.Abs(got-p) > 1e-15 {
			t.Errorf("combine(%g, 1/2) = %g, want %g", p, got, p)
		}
		if got := combine(0.5, p); math.Abs(got-p) > 1e-15 {
			t.Errorf("combine(1/2, %g) = %g, want %g", p, got, p)
		}
		if got := combine(p, 1); got != 1 {
			t.Errorf("combine(%g, 1) = %g, want 1: the conjugate is off the detector", p, got)
		}
		if got := combine(1, p); p > 0 && got != 1 {
			t.Errorf("combine(1, %g) = %g, want 1: the conjugate is outside the arc", p, got)
		}
	}
}

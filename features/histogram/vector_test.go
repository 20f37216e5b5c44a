package histogram

import (
	"math"
	"slices"
	"testing"
)

// DM between two encoded metric histograms is the area between their
// curves: a triangle of height 0.002 over 1000 HU against a flat curve of
// 0.001 over the same range: the curves cross at 500 HU (areas 0.25 and
// 0.25), and a 2-point vector padded to 4 points changes nothing.
func TestDMIndexMetric(t *testing.T) {
	tri := Metric{Points: []Point{{HU: 0, Density: 0}, {HU: 500, Density: 0.002}, {HU: 1000, Density: 0}}}
	flat := Metric{Points: []Point{{HU: 0, Density: 0.001}, {HU: 1000, Density: 0.001}}}
	a, err := tri.Vector(4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := flat.Vector(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != VectorLen(4) || a[0] != 3 || b[0] != 2 || b[5] != 0 {
		t.Errorf("encoded %v and %v", a, b)
	}
	// |tri − flat| is four triangles of base 250 HU and height 0.001.
	if d, want := DMIndexMetric.Distance(a, b), 4*0.5*250*0.001; math.Abs(d-want) > 1e-6*want { // float32 densities
		t.Errorf("DM = %g, want %g", d, want)
	}
	if d := DMIndexMetric.Distance(a, a); d != 0 {
		t.Errorf("DM(a, a) = %g", d)
	}
	if _, err := tri.Vector(2); err == nil {
		t.Error("3 points fitted into a vector of 2")
	}
	// PairsOfVector undoes VectorOfPairs: the padding goes.
	pairs := []float32{0, 0, 500, 0.002, 1000, 0}
	if got := PairsOfVector(a); !slices.Equal(got, pairs) {
		t.Errorf("PairsOfVector(%v) = %v, want %v", a, got, pairs)
	}
}

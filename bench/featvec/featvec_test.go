package featvec

import (
	"math"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/features/histogram"
)

// DM between two encoded metric histograms is the area between their
// curves: a triangle of height 0.002 over 1000 HU against a flat curve of
// 0.001 over the same range: the curves cross at 500 HU (areas 0.25 and
// 0.25), and a 2-point vector padded to 4 points changes nothing.
func TestDM(t *testing.T) {
	tri := histogram.Metric{Points: []histogram.Point{{HU: 0, Density: 0}, {HU: 500, Density: 0.002}, {HU: 1000, Density: 0}}}
	flat := histogram.Metric{Points: []histogram.Point{{HU: 0, Density: 0.001}, {HU: 1000, Density: 0.001}}}
	a, err := Metric(&tri, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Metric(&flat, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != MetricLen(4) || a[0] != 3 || b[0] != 2 || b[5] != 0 {
		t.Errorf("encoded %v and %v", a, b)
	}
	// |tri − flat| is four triangles of base 250 HU and height 0.001.
	if d, want := DM.Distance(a, b), 4*0.5*250*0.001; math.Abs(d-want) > 1e-6*want { // float32 densities
		t.Errorf("DM = %g, want %g", d, want)
	}
	if d := DM.Distance(a, a); d != 0 {
		t.Errorf("DM(a, a) = %g", d)
	}
	if _, err := Metric(&tri, 2); err == nil {
		t.Error("3 points fitted into a vector of 2")
	}
}

// Standardise leaves out the constant column and the one with a NaN and
// scales the rest to mean 0 and SD 1 (population SD).
func TestStandardise(t *testing.T) {
	rows := [][]float32{{1, 5, 10, float32(math.NaN())}, {3, 5, 20, 1}, {5, 5, 30, 2}}
	got, kept := Standardise(rows)
	if !slices.Equal(kept, []int{0, 2}) {
		t.Fatalf("kept %v, want [0 2]", kept)
	}
	s := float32(math.Sqrt(1.5)) // (−1, 0, 1)·√(3/2)
	want := [][]float32{{-s, -s}, {0, 0}, {s, s}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(got[i][j]-want[i][j])) > 1e-6 {
				t.Errorf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}

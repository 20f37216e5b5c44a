package material

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestHardeningErrors checks the correction's per-ray error δ (see
// Hardening) against what it must be: zero, within float32 rounding, on
// rays through water alone, whatever their length (the water
// linearization's reference is the linear model's water); positive in
// the lowest bin on rays through a rod of hydroxyapatite 300 mg/mL in
// water (the mineral hardens the beam, so the scanner measures less than
// the linear model), and ten times less in the highest bin, which the
// mineral hardens little.
func TestHardeningErrors(t *testing.T) {
	tube, scanBins, _ := defaultBins(t)
	lin, err := NewLinearization(tube, scanBins)
	if err != nil {
		t.Fatal(err)
	}
	bins := []int{0, 1, 2, 3, 4}
	h, err := NewHardening(lin, tube, scanBins, bins)
	if err != nil {
		t.Fatal(err)
	}
	g := fdk.CenteredGrid([3]int{40, 40, 4}, [3]float64{1, 1, 1}, fdk.Vec3{})
	maps := make([]*fdk.Volume, len(Known))
	for j := range maps {
		maps[j] = fdk.NewVolume(g)
	}
	const ha = 300.0 // mg/mL in the rod
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				p, n := g.Position(i, j, k), i+g.Dim[0]*(j+g.Dim[1]*k)
				if r := math.Hypot(p[0], p[1]); r < 15 {
					maps[0].Data[n] = 1 // water
				}
				if math.Hypot(p[0]-6, p[1]) < 3 {
					maps[0].Data[n] = float32(1 - ha/3160)
					maps[2].Data[n] = ha
				}
			}
		}
	}
	geom := &fdk.Geometry{SID: 160, SDD: 240, Detector: fdk.Detector{Cols: 60, Rows: 3, PitchU: 1.5, PitchV: 1.5}, Angles: []float64{0}}
	views, err := geom.Views()
	if err != nil {
		t.Fatal(err)
	}
	errs := h.viewErrors(newProjector(maps), &views[0], geom.Detector)
	// The source lies on +x: columns see y = (col − 29.5)·1.5/1.5 mm at
	// the isocentre, and every ray crosses the rod at x = 6 near y = 0.
	row := geom.Cols // the middle row
	for c := range geom.Cols {
		y := (float64(c) - 29.5) * geom.PitchU * geom.SID / geom.SDD
		d := float64(errs[0][row+c])
		switch {
		case math.Abs(y) > 3.5 && math.Abs(y) < 14:
			for b := range bins {
				if e := errs[b][row+c]; math.Abs(float64(e)) > 1e-4 {
					t.Errorf("bin %d, ray at y %.1f mm (water only): δ %.3g, want 0", b, y, e)
				}
			}
		case math.Abs(y) < 2.5:
			if !(d > 0.01) {
				t.Errorf("bin 0, ray at y %.1f mm through the rod: δ %.3g, want over 0.01", y, d)
			}
			if hi := float64(errs[len(bins)-1][row+c]); !(hi < d/10) {
				t.Errorf("ray at y %.1f mm through the rod: δ %.3g in the highest bin, want under a tenth of the lowest's %.3g", y, hi, d)
			}
		}
	}
}

// TestHardeningTooFewBins checks that the beam-hardening correction's
// refusal of 3 bins (it estimates all five known materials) says what it
// needs and how many bins would do, without telling the user to choose
// fewer materials: a job's own set of 4 is not what is too large. Before,
// it passed on the decomposer's "5 materials need 5 independent
// equations ... choose at most 4 materials" (fails on that code).
func TestHardeningTooFewBins(t *testing.T) {
	tube, scanBins, _ := defaultBins(t)
	lin, err := NewLinearization(tube, scanBins)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewHardening(lin, tube, scanBins, []int{0, 2, 4})
	if err == nil {
		t.Fatal("3 bins: no error")
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{"materials other than water", "all 5 known materials", "3 bins", "at least 4 energy bins"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "choose") {
		t.Errorf("error tells the user to choose materials: %s", msg)
	}

	// Four bins, the highest from 50.5 to 120 keV: equations enough, but
	// nearly dependent; that refusal does not ask for fewer materials
	// either.
	four := slices.Clone(scanBins[:4])
	four[3].HighKeV = scanBins[4].HighKeV
	if lin, err = NewLinearization(tube, four); err != nil {
		t.Fatal(err)
	}
	_, err = NewHardening(lin, tube, four, []int{0, 1, 2, 3})
	if err == nil || !errors.Is(err, ErrNearlyDependent) || strings.Contains(err.Error(), "choose") ||
		!strings.Contains(err.Error(), "all 5 known materials") || !strings.Contains(err.Error(), "K-edges") {
		t.Errorf("4 bins 15-25, 25-33.5, 33.5-50.5, 50.5-120 keV: got %v, want an error saying the correction cannot tell all 5 known materials apart, without choosing materials", err)
	}
}

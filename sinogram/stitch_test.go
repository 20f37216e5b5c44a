package sinogram_test

import (
	"math"
	"testing"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// exactTol bounds the difference between preprocessed and exact line
// integrals of a noiseless float32 scan at measured pixels: float32
// rounding of the counts and of the result, measured 1.2e-7 (half a float32
// ulp at 1 to 2); gapTol the same at rows interpolated across a gap,
// measured 6e-7. Each is about four times the measurement.
const exactTol, gapTol = 5e-7, 3e-6

// noiselessSpec is a small noiseless scan with float32 counts and no
// defects, so that preprocessing must reproduce the exact line integrals.
func noiselessSpec() scansim.Spec {
	spec := scansim.DefaultSpec()
	spec.Views = 4
	spec.KVp = 80
	spec.Thresholds = []float64{20, 40}
	spec.Dtype = sinogram.Float32
	spec.Noiseless = true
	spec.Dead, spec.Hot, spec.Noisy, spec.Masked = 0, 0, 0, 0
	spec.Phantom = scansim.SpectralPhantom(20)
	return spec
}

// Two positions of a camera of 2x2 chips, 65 pixels apart, stitch into one
// virtual detector: each position's gap columns are covered by the other's
// pixels, so only the gap rows between chip rows are interpolated, and
// every measured pixel matches the exact line integral.
func TestCameraStitching(t *testing.T) {
	spec := noiselessSpec()
	spec.Layout = sinogram.Layout{Chip: sinogram.Medipix3RX, ChipPixels: 128, Pitch: 0.110, ChipsX: 2, ChipsY: 2, GapX: 2, GapY: 3}
	spec.CameraShifts = []int{0, 65}
	sim, scan := simulateScan(t, spec)
	g := &scan.Geometry
	if g.Cols != 2*128+2+65 || g.Rows != 2*128+3 {
		t.Fatalf("virtual detector %dx%d, want %dx%d", g.Cols, g.Rows, 2*128+2+65, 2*128+3)
	}
	pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gapRow := func(r int) bool { return r >= 128 && r < 131 }
	for v := range scan.Views {
		exact, err := sim.ExactLineIntegrals(v)
		if err != nil {
			t.Fatal(err)
		}
		for b := range scan.Bins {
			got, rep, err := pp.LineIntegrals(v, b)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Gap != 3*g.Cols || rep.Bad != 0 || rep.Clamped != 0 {
				t.Errorf("view %d bin %d: report %+v, want only the %d pixels of the gap rows", v, b, rep, 3*g.Cols)
			}
			var worst, worstGap float64
			for r := range g.Rows {
				for c := range g.Cols {
					i := r*g.Cols + c
					d := math.Abs(float64(got[i] - exact[b][i]))
					if !(d <= math.MaxFloat64) {
						t.Fatalf("view %d bin %d pixel (%d, %d): %v", v, b, c, r, got[i])
					}
					if gapRow(r) {
						worstGap = max(worstGap, d)
					} else {
						worst = max(worst, d)
					}
				}
			}
			t.Logf("view %d bin %d: measured pixels within %.3g of exact, gap rows within %.3g", v, b, worst, worstGap)
			if worst > exactTol {
				t.Errorf("view %d bin %d: measured pixels differ from exact by up to %g", v, b, worst)
			}
			// The phantom's cylinders barely change along z: rows
			// interpolated across the gap are nearly exact.
			if worstGap > gapTol {
				t.Errorf("view %d bin %d: gap rows differ from exact by up to %g", v, b, worstGap)
			}
		}
	}
}

// A frame that counts nothing (a shutter closed mid-scan) is not an error:
// its pixels are clamped to half a count, reported, and stay finite.
func TestZeroCountsClamped(t *testing.T) {
	spec := noiselessSpec()
	spec.Layout.ChipsX = 2
	_, scan := simulateScan(t, spec)
	pixels := scan.Layout.RawCols() * scan.Layout.RawRows()
	if _, err := scan.WriteFrame(sinogram.ProjectionFrame, 2, 1, 0, 0, make([]float64, pixels)); err != nil {
		t.Fatal(err)
	}
	pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, rep, err := pp.LineIntegrals(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clamped != pixels {
		t.Errorf("%d pixels clamped, want all %d", rep.Clamped, pixels)
	}
	for i, x := range img {
		// ln(open counts / half a count): about ln(2·20000·share).
		if !(x > 5 && x < 12) {
			t.Fatalf("pixel %d: %v, want ln(flat / 0.5)", i, x)
		}
	}
}

// simulateScan writes spec's scan to a temporary folder and reads it back.
func simulateScan(t testing.TB, spec scansim.Spec) (*scansim.Simulator, *sinogram.Scan) {
	t.Helper()
	sim, err := scansim.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sim.Write(dir); err != nil {
		t.Fatal(err)
	}
	scan, err := sinogram.ReadScan(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sim, scan
}

package sinogram_test

import (
	"math"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/sinogram"
)

// ringResidualTol is the fraction of a column offset the ring correction
// may leave.
const ringResidualTol = 0.1

// columnOffset returns the mean over views and rows of got - want in
// column c.
func columnOffset(got, want [][]float32, cols, c int) float64 {
	sum, n := 0.0, 0
	for v := range got {
		for i := c; i < len(got[v]); i += cols {
			sum += float64(got[v][i] - want[v][i])
			n++
		}
	}
	return sum / float64(n)
}

// Synthetic offsets on three detector columns, as a miscalibrated pixel
// column gives, are removed from every view; the rest of the sinogram
// barely changes.
func TestCorrectRings(t *testing.T) {
	g := &fdk.Geometry{SID: 160, SDD: 240, Detector: fdk.Detector{Cols: 120, Rows: 6, PitchU: 0.3, PitchV: 0.3}}
	for i := range 180 {
		g.Angles = append(g.Angles, float64(i)*2*math.Pi/180)
	}
	ph := phantom.Phantom{
		{Kind: phantom.Cylinder, Center: fdk.Vec3{2, -1, 0}, Axes: fdk.Vec3{12, 12, 50}, Density: 0.02},
		{Kind: phantom.Cylinder, Center: fdk.Vec3{-5, 4, 0}, Axes: fdk.Vec3{3, 3, 50}, Density: 0.02},
	}
	clean, err := ph.ProjectGeometry(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int]float32{30: 0.05, 31: -0.03, 75: 0.02}
	views := make([][]float32, len(clean))
	for v, img := range clean {
		views[v] = append([]float32(nil), img...)
		for i := range views[v] {
			views[v][i] += offsets[i%g.Cols]
		}
	}
	if err := sinogram.CorrectRings(views, g.Cols, g.Rows, 9); err != nil {
		t.Fatal(err)
	}
	for c, o := range offsets {
		left := columnOffset(views, clean, g.Cols, c)
		t.Logf("column %d: offset %g, %.5f left", c, o, left)
		if !(math.Abs(left) <= ringResidualTol*math.Abs(float64(o))) {
			t.Errorf("column %d: offset %g, %g left after correction", c, o, left)
		}
	}
	var sq float64
	n := 0
	for v := range views {
		for i := range views[v] {
			if _, hit := offsets[i%g.Cols]; !hit {
				d := float64(views[v][i] - clean[v][i])
				sq += d * d
				n++
			}
		}
	}
	rms := math.Sqrt(sq / float64(n))
	t.Logf("other columns changed by %.3g rms", rms)
	if rms > 0.002 {
		t.Errorf("other columns changed by %g rms", rms)
	}
	if err := sinogram.CorrectRings(views, g.Cols+1, g.Rows, 9); err == nil {
		t.Error("wrong image size accepted")
	}
}

// The preprocessor's ring correction removes the offset of a detector
// column whose gain changed after the flats were taken.
func TestPreprocessorRingCorrection(t *testing.T) {
	spec := noiselessSpec()
	spec.Views = 24
	spec.Layout.ChipsX = 2
	sim, scan := simulateScan(t, spec)
	// Raw column 40 of bin 0 loses 5 % of its counts in every projection:
	// its line integrals rise by -ln 0.95.
	const col, gain = 40, 0.95
	raw := scan.Layout.RawCols()
	for v := range scan.Views {
		f, err := scan.ReadFrame(sinogram.ProjectionFrame, v, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := col; i < len(f); i += raw {
			f[i] *= gain
		}
		if _, err := scan.WriteFrame(sinogram.ProjectionFrame, v, 0, 0, 0, f); err != nil {
			t.Fatal(err)
		}
	}
	exact := make([][][]float32, scan.Views)
	for v := range exact {
		var err error
		if exact[v], err = sim.ExactLineIntegrals(v); err != nil {
			t.Fatal(err)
		}
	}
	want := -math.Log(gain)
	for _, ring := range []bool{false, true} {
		pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{RingCorrection: ring})
		if err != nil {
			t.Fatal(err)
		}
		for b := range scan.Bins {
			var got, ref [][]float32
			for v := range scan.Views {
				img, rep, err := pp.LineIntegrals(v, b)
				if err != nil {
					t.Fatal(err)
				}
				if rep.RingCorrected != ring {
					t.Fatalf("report says ring corrected %v, want %v", rep.RingCorrected, ring)
				}
				got, ref = append(got, img), append(ref, exact[v][b])
			}
			off := columnOffset(got, ref, scan.Geometry.Cols, col)
			t.Logf("ring correction %v, bin %d: column %d offset %.5f", ring, b, col, off)
			switch {
			case b == 0 && !ring && !(math.Abs(off-want) < 1e-3):
				t.Errorf("uncorrected bin 0: column offset %g, want %g", off, want)
			case b == 0 && ring && !(math.Abs(off) <= ringResidualTol*want):
				t.Errorf("corrected bin 0: column offset %g left of %g", off, want)
			case b == 1 && !(math.Abs(off) <= ringResidualTol*want):
				t.Errorf("bin 1 (no offset): column offset %g", off)
			}
		}
	}
}

package sinogram_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Tolerances of the simulated-scan checks, each stated against what the
// test measures (it logs every value).
const (
	// waterTolHU and airTolHU bound the water and air ROI means, in HU, in
	// every bin: measured up to 14 HU (water at the centre, 15-25 keV, beam
	// hardening) and 2.6 HU (air).
	waterTolHU = 20
	airTolHU   = 8
	// noiseRatioTol bounds |measured/predicted - 1| of the mean absolute
	// difference between preprocessed and exact line integrals: the
	// prediction is counting noise alone, so preprocessing may add little.
	// Measured up to 1.5 % (its standard error is 0.3 %).
	noiseRatioTol = 0.03
	// biasTol bounds the mean difference (a line integral is biased by about
	// 1/(2N) at N counts, a few thousandths at worst here; measured 0.0015).
	biasTol = 0.005
	// falsePositives bounds the good pixels flagged bad per bin, of 65536.
	falsePositives = 8
	// insertTol is the relative tolerance of an insert's HU against the
	// value its composition gives with the bin's hardened spectrum: measured
	// up to 5.9 % (gadolinium, 15-25 keV).
	insertTol = 0.1
)

// TestSpectralScan simulates the default MARS-like scan (30 mm phantom of
// water, iodine, gadolinium, hydroxyapatite and lipid; 4 chips at 110 µm;
// five bins at 120 kVp) with 90 views, writes it in the native format,
// reads it back, preprocesses it and reconstructs it with fdk.
func TestSpectralScan(t *testing.T) {
	spec := scansim.DefaultSpec()
	spec.Views = 90 // enough for ROI means on 0.6 mm voxels; keeps the test short
	sim, scan := simulateScan(t, spec)
	pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("LineIntegrals", func(t *testing.T) { checkLineIntegrals(t, sim, pp) })
	t.Run("BadPixels", func(t *testing.T) { checkBadPixels(t, sim, pp) })
	t.Run("HU", func(t *testing.T) { checkHU(t, sim, pp) })
}

// interpolatedPixels marks the virtual detector pixels of camera 0 that
// preprocessing must fill: chip gaps and the bin's bad pixels.
func interpolatedPixels(pp *sinogram.Preprocessor, bin int) []bool {
	s := pp.Scan()
	l, g := s.Layout, &s.Geometry
	out := make([]bool, g.Pixels())
	for c := range g.Cols {
		if c%(l.ChipPixels+l.GapX) >= l.ChipPixels {
			for r := range g.Rows {
				out[r*g.Cols+c] = true
			}
		}
	}
	for _, b := range pp.BadPixels(bin, 0) {
		out[b.Y*g.Cols+b.X+b.X/l.ChipPixels*l.GapX] = true
	}
	return out
}

// checkLineIntegrals compares preprocessed line integrals with the
// simulator's exact ones: everywhere finite, unbiased, and at measured
// pixels as far off as counting noise predicts, no farther.
func checkLineIntegrals(t *testing.T, sim *scansim.Simulator, pp *sinogram.Preprocessor) {
	s := pp.Scan()
	open := sim.OpenCounts()
	for _, v := range []int{0, 37} {
		exact, err := sim.ExactLineIntegrals(v)
		if err != nil {
			t.Fatal(err)
		}
		for b := range s.Bins {
			got, rep, err := pp.LineIntegrals(v, b)
			if err != nil {
				t.Fatal(err)
			}
			interp := interpolatedPixels(pp, b)
			gaps := 2 * (s.Layout.ChipsX - 1) * s.Geometry.Rows
			if rep.Gap != gaps || rep.Bad != len(pp.BadPixels(b, 0)) {
				t.Errorf("view %d bin %d: report %+v, want %d gap and %d bad pixels", v, b, rep, gaps, len(pp.BadPixels(b, 0)))
			}
			var sumD, sumAbs, sumPred, sumAbsInterp float64
			var n, nInterp int
			for i, x := range got {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("view %d bin %d pixel %d: %v", v, b, i, x)
				}
				d := float64(x) - float64(exact[b][i])
				if interp[i] {
					sumAbsInterp += math.Abs(d)
					nInterp++
					continue
				}
				// Counting noise of -ln(n/flat): n ~ N0·e^-p counts in the
				// projection, N0 in each of the flats.
				n0 := open[b]
				sigma := math.Sqrt(math.Exp(float64(exact[b][i]))/n0 + 1/(n0*float64(s.Flats)))
				sumD += d
				sumAbs += math.Abs(d)
				sumPred += math.Sqrt(2/math.Pi) * sigma
				n++
			}
			bias, mad, pred := sumD/float64(n), sumAbs/float64(n), sumPred/float64(n)
			madInterp := sumAbsInterp / float64(nInterp)
			t.Logf("view %d bin %d: mean diff %+.5f, mean |diff| %.5f (counting noise predicts %.5f), at %d interpolated pixels %.5f",
				v, b, bias, mad, pred, nInterp, madInterp)
			if !(math.Abs(bias) <= biasTol) {
				t.Errorf("view %d bin %d: mean difference %g from the exact line integrals", v, b, bias)
			}
			if !(math.Abs(mad/pred-1) <= noiseRatioTol) {
				t.Errorf("view %d bin %d: mean |difference| %g, counting noise predicts %g", v, b, mad, pred)
			}
			// An interpolated pixel averages two noisy neighbours and adds a
			// small curvature error.
			if !(madInterp <= 1.5*mad+0.005) {
				t.Errorf("view %d bin %d: interpolated pixels off by %g on average, measured ones by %g", v, b, madInterp, mad)
			}
		}
	}
}

// checkBadPixels checks that every injected defect is found, with the
// right kind, in every bin, and that few good pixels are flagged.
func checkBadPixels(t *testing.T, sim *scansim.Simulator, pp *sinogram.Preprocessor) {
	injected := sim.Defects()
	for b := range pp.Scan().Bins {
		found := map[[2]int]sinogram.Defect{}
		for _, p := range pp.BadPixels(b, 0) {
			found[[2]int{p.X, p.Y}] = p.Defect
		}
		for _, d := range injected {
			got := found[[2]int{d.X, d.Y}]
			var want sinogram.Defect
			switch {
			case d.Defect&sinogram.Masked != 0:
				want = sinogram.Masked
			case d.Defect&sinogram.Dead != 0:
				want = sinogram.Dead
			case d.Defect&sinogram.Hot != 0:
				want = sinogram.Hot
			case d.Defect&sinogram.Noisy != 0:
				want = sinogram.Noisy
			}
			if got&want == 0 {
				t.Errorf("bin %d: injected %v pixel (%d, %d) found as %v", b, d.Defect, d.X, d.Y, got)
			}
		}
		extra := len(found) - len(injected)
		t.Logf("bin %d: %d bad pixels flagged, %d injected", b, len(found), len(injected))
		if extra > falsePositives {
			t.Errorf("bin %d: %d good pixels flagged bad", b, extra)
		}
	}
}

// roi averages vol over voxels whose centre lies within r0..r1 mm of
// (cx, cy) in the x-y plane and, if away is set, farther than away mm from
// every insert centre.
func roi(t *testing.T, vol *fdk.Volume, cx, cy, r0, r1 float64, inserts [][2]float64, away float64) float64 {
	g := vol.Grid
	sum, n := 0.0, 0
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				p := g.Position(i, j, k)
				if d := math.Hypot(p[0]-cx, p[1]-cy); d < r0 || d > r1 {
					continue
				}
				near := false
				for _, c := range inserts {
					near = near || math.Hypot(p[0]-c[0], p[1]-c[1]) <= away
				}
				if near {
					continue
				}
				x := vol.At(i, j, k)
				if x == 0 {
					t.Fatalf("ROI at (%g, %g) r %g-%g: voxel (%d, %d, %d) is zero: outside the field of view", cx, cy, r0, r1, i, j, k)
				}
				sum += float64(x)
				n++
			}
		}
	}
	if n < 50 {
		t.Fatalf("ROI at (%g, %g) r %g-%g: only %d voxels", cx, cy, r0, r1, n)
	}
	return sum / float64(n)
}

// expectedHU is the HU of a region of the phantom from its composition and
// the bin's spectrum after calibration water, weighted as the water
// calibration is.
func expectedHU(t *testing.T, sim *scansim.Simulator, bin sinogram.EnergyBin, comps []scansim.Component, waterMM float64) float64 {
	sp := sim.Spectrum()
	var num, den float64
	for k, c := range sp.Counts {
		e := sp.Energy(k)
		if e < bin.LowKeV || e >= bin.HighKeV {
			continue
		}
		muw, _ := scansim.MassAttenuation(scansim.Water, e)
		w := c * math.Exp(-muw*waterMM/10)
		mu := muw // the water the insert sits in
		for _, cp := range comps {
			m, err := scansim.MassAttenuation(cp.Material, e)
			if err != nil {
				t.Fatal(err)
			}
			mu += cp.Density * m
		}
		num += w * mu
		den += w * muw
	}
	return 1000 * (num/den - 1)
}

// checkHU reconstructs every bin and reads water, air and the inserts in
// Hounsfield units with the scan's water calibration.
func checkHU(t *testing.T, sim *scansim.Simulator, pp *sinogram.Preprocessor) {
	s := pp.Scan()
	// 64x64x8 voxels of 0.6 mm cover the phantom and some air. The detector
	// pixel at the isocentre is 0.073 mm: a Hann window cut at a quarter of
	// its Nyquist frequency band-limits the projections to about the voxel
	// grid, so that counting noise and the angular aliasing of 90 views do
	// not swamp the ROI means.
	grid := fdk.CenteredGrid([3]int{64, 64, 8}, [3]float64{0.6, 0.6, 0.6}, fdk.Vec3{})
	rec, err := fdk.New(&s.Geometry, grid, len(s.Bins), fdk.Options{Window: fdk.Hann, Cutoff: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for v := range s.Views {
		bins, _, err := pp.View(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Add(v, bins); err != nil {
			t.Fatal(err)
		}
	}
	vols, err := rec.Finish()
	if err != nil {
		t.Fatal(err)
	}
	spec := scansim.DefaultSpec()
	radius := 15.0 // SpectralPhantom(30)
	inserts := map[string][2]float64{}
	var centres [][2]float64
	for _, r := range spec.Phantom[1:] {
		c := [2]float64{r.Shape.Center[0], r.Shape.Center[1]}
		inserts[r.Name] = c
		centres = append(centres, c)
	}
	insertR := spec.Phantom[1].Shape.Axes[0]
	names := []string{"iodine 10 mg/ml", "gadolinium 10 mg/ml", "hydroxyapatite 400 mg/ml", "lipid"}
	hu := make(map[string][]float64)
	var table strings.Builder
	fmt.Fprintf(&table, "%-12s %9s %8s %8s %8s %8s %8s %8s %8s\n", "bin keV", "muW 1/mm", "water", "centre", "air", "I", "Gd", "HA", "lipid")
	for b, vol := range vols {
		bin := s.Bins[b]
		toHU := func(mu float64) float64 {
			h, err := bin.HU(mu)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		water := toHU(roi(t, vol, 0, 0, 0, radius-2, centres, insertR+1.5))
		centre := toHU(roi(t, vol, 0, 0, 0, 4, nil, 0))
		air := toHU(roi(t, vol, 0, 0, radius+1.5, radius+2.5, nil, 0))
		hu["water"] = append(hu["water"], water)
		hu["centre"] = append(hu["centre"], centre)
		hu["air"] = append(hu["air"], air)
		fmt.Fprintf(&table, "%5.1f-%-6.1f %9.5f %8.1f %8.1f %8.1f", bin.LowKeV, bin.HighKeV, bin.MuWater, water, centre, air)
		for _, name := range names {
			c := inserts[name]
			h := toHU(roi(t, vol, c[0], c[1], 0, 0.6*insertR, nil, 0))
			hu[name] = append(hu[name], h)
			fmt.Fprintf(&table, " %8.1f", h)
		}
		table.WriteString("\n")
		for _, w := range []struct {
			name string
			v    float64
		}{{"water", water}, {"water at the centre", centre}} {
			if !(math.Abs(w.v) <= waterTolHU) {
				t.Errorf("bin %d (%g-%g keV): %s reads %.1f HU, want 0 ± %d", b, bin.LowKeV, bin.HighKeV, w.name, w.v, waterTolHU)
			}
		}
		if !(math.Abs(air+1000) <= airTolHU) {
			t.Errorf("bin %d (%g-%g keV): air reads %.1f HU, want -1000 ± %d", b, bin.LowKeV, bin.HighKeV, air, airTolHU)
		}
		for _, r := range spec.Phantom[1:] {
			if r.Name == "lipid" || r.Name == "hydroxyapatite 400 mg/ml" {
				continue // their HU depends on more than the K-edge physics checked here
			}
			want := expectedHU(t, sim, bin, r.Components, spec.CalibrationWaterMM)
			got := hu[r.Name][b]
			t.Logf("bin %d %s: %.1f HU, composition predicts %.1f", b, r.Name, got, want)
			if !(math.Abs(got-want) <= insertTol*math.Abs(want)) {
				t.Errorf("bin %d (%g-%g keV): %s reads %.1f HU, its composition gives %.1f", b, bin.LowKeV, bin.HighKeV, r.Name, got, want)
			}
		}
	}
	t.Logf("HU per bin (water: whole water region; centre: 4 mm disc on the axis; air: ring outside the phantom):\n%s", table.String())
	// K-edges: the bin starting just above an edge holds the contrast agent's
	// largest HU, and it jumps from the bin below.
	for _, edge := range []struct {
		name string
		keV  float64
	}{{"iodine 10 mg/ml", scansim.IodineKEdge}, {"gadolinium 10 mg/ml", scansim.GadoliniumKEdge}} {
		above := -1
		for b, bin := range s.Bins {
			if bin.LowKeV >= edge.keV && above < 0 {
				above = b
			}
		}
		if above < 1 {
			t.Fatalf("no bin starts above the %s K-edge at %g keV", edge.name, edge.keV)
		}
		h := hu[edge.name]
		for b := range h {
			if b != above && !(h[above] > h[b]) {
				t.Errorf("%s: %.1f HU in bin %d (above the K-edge) is not above bin %d's %.1f", edge.name, h[above], above, b, h[b])
			}
		}
		if !(h[above] > 1.5*h[above-1]) {
			t.Errorf("%s: no jump across the K-edge at %g keV: %.1f HU below, %.1f above", edge.name, edge.keV, h[above-1], h[above])
		}
	}
}

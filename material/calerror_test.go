package material

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// TestCalibrationBias checks the first-order propagation against a Monte
// Carlo of the thing it models: the world's attenuations differ from the
// calibration's by draws of its standard errors, a voxel of known content
// is measured in that world (the model exactly, no noise) and decomposed
// under the calibration (Solve); the spread of the amounts' errors over
// the draws must match CalibrationBias within 10 % for every map. The
// voxel holds every material well inside the non-negative region, where
// the non-negativity does not bind.
func TestCalibrationBias(t *testing.T) {
	cal, bins, _ := physicsDecomposer(t)
	for j := range cal.Materials {
		m := &cal.Materials[j]
		m.PerUnitSD = make([]float64, len(m.PerUnit))
		for b, a := range m.PerUnit {
			m.PerUnitSD[b] = 2e-4 * a * float64(1+(j+b)%3) // unequal, to catch a swapped index
		}
	}
	d, err := NewDecomposer(cal, bins, Known)
	if err != nil {
		t.Fatal(err)
	}
	amounts := []float64{1, 0.3, 100, 5, 5} // water, lipid, ha, iodine, gadolinium
	for j, m := range Known[1:] {
		amounts[0] -= amounts[j+1] * m.Displaced // volume conservation
	}
	want, err := d.CalibrationBias(cal, bins, amounts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const draws = 4000
	errs := make([][]float64, len(Known))
	for range draws {
		mu := make([]float64, len(bins))
		for _, m := range cal.Materials {
			k := slices.IndexFunc(Known, func(k Material) bool { return k.Name == m.Name })
			for b := range mu {
				mu[b] += amounts[k] * (m.PerUnit[b] + m.PerUnitSD[b]*rng.NormFloat64())
			}
		}
		got, err := d.Solve(mu)
		if err != nil || got == nil {
			t.Fatalf("Solve(%v): %v, %v", mu, got, err)
		}
		for j := range got {
			errs[j] = append(errs[j], got[j]-amounts[j])
		}
	}
	for j, m := range Known {
		sd := stat.StdDev(errs[j], nil)
		t.Logf("%-10s propagated %.4g, Monte Carlo %.4g %s", m.Name, want[j], sd, m.Unit)
		if math.Abs(sd-want[j]) > 0.1*sd {
			t.Errorf("%s: CalibrationBias %.4g, Monte Carlo spread %.4g (want within 10 %%)", m.Name, want[j], sd)
		}
	}
	none, err := d.CalibrationBias(cal, bins, make([]float64, len(Known)))
	if err != nil || slices.Max(none) != 0 {
		t.Errorf("an empty voxel's bias: %v, %v; want zeros", none, err)
	}
}

// TestCalibrateStandardErrors calibrates, a hundred times, on vials whose
// voxels are the physics attenuations plus independent Gaussian noise,
// and compares each fitted attenuation's spread over the calibrations
// with the standard errors Calibrate states (their root mean square). The
// stated error is the larger of two estimates of the vials' error (see
// Calibrate), so it may exceed the spread: measured 0.97 to 1.27 times
// it; want 0.85 to 1.4.
func TestCalibrateStandardErrors(t *testing.T) {
	tube, sbins, _ := defaultBins(t)
	phys, err := Physics(tube, sbins)
	if err != nil {
		t.Fatal(err)
	}
	vials := scansim.CalibrationVials(28)
	scan := &sinogram.Scan{Vials: vials, Bins: sbins}
	all := []int{0, 1, 2, 3, 4}
	g := fdk.CenteredGrid([3]int{40, 40, 2}, [3]float64{0.75, 0.75, 0.75}, fdk.Vec3{})
	truth := make([][]float64, len(vials)) // per vial, per bin: 1/mm
	for i, v := range vials {
		for b := range sbins {
			for _, m := range phys.Materials {
				truth[i] = append(truth[i], 0)
				truth[i][b] += (v.MgPerML[m.Name] + v.VolumeFraction[m.Name]) * m.PerUnit[b]
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const runs = 100
	fitted := map[string][][]float64{} // material → bin → runs
	stated := map[string][]float64{}   // material → bin → sum of squares
	for range runs {
		vols := make([]*fdk.Volume, len(sbins))
		for b := range vols {
			vols[b] = fdk.NewVolume(g)
			for i := range g.Voxels() {
				p := g.Position(i%g.Dim[0], i/g.Dim[0]%g.Dim[1], i/(g.Dim[0]*g.Dim[1]))
				for v, vial := range vials {
					if math.Hypot(p[0]-vial.CenterMM[0], p[1]-vial.CenterMM[1]) <= vial.RadiusMM {
						vols[b].Data[i] = float32(truth[v][b] + 0.002*rng.NormFloat64())
					}
				}
			}
		}
		cal, err := Calibrate(scan, all, vols)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cal.Materials {
			if fitted[m.Name] == nil {
				fitted[m.Name], stated[m.Name] = make([][]float64, len(all)), make([]float64, len(all))
			}
			for b := range all {
				fitted[m.Name][b] = append(fitted[m.Name][b], m.PerUnit[b])
				stated[m.Name][b] += m.PerUnitSD[b] * m.PerUnitSD[b] / runs
			}
		}
	}
	for name, bins := range fitted {
		for b, a := range bins {
			sd, want := stat.StdDev(a, nil), math.Sqrt(stated[name][b])
			if r := want / sd; r < 0.85 || r > 1.4 {
				t.Errorf("%s, bin %d: stated standard error %.3g, spread over %d calibrations %.3g (ratio %.2f, want 0.85 to 1.4)", name, b, want, runs, sd, r)
			}
		}
	}
}

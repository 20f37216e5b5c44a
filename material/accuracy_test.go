package material_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/materialtest"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// phantomDiameter is the vial phantoms' diameter, mm.
const phantomDiameter = 30

// vialSpec is a noisy simulated scan of a water phantom holding vials:
// the default MARS-like scan at 90 views and 800 000 open-beam counts per
// pixel and frame (uint32 counters), energy intervals of 2 keV.
//
// The dose is what the 0.1 on water and lipid needs: water, lipid
// and hydroxyapatite are nearly dependent in these bins, and at 200 000
// counts the noise of a vial region's mean bins alone spreads its water
// fraction by 0.02 to 0.06 (standard deviation, Monte Carlo over the
// region means' measured noise, NNLS), so that one vial in twenty or so
// missed 0.1 whatever the decomposition did; four times the photons
// halve that.
func vialSpec(t *testing.T, id string, vials []sinogram.Vial, seed uint64) scansim.Spec {
	t.Helper()
	spec := scansim.DefaultSpec()
	spec.ScanID, spec.Seed, spec.Vials = id, seed, vials
	spec.Views, spec.EnergyStep = 90, 2
	spec.OpenCounts, spec.Dtype = accuracyCounts, sinogram.Uint32
	var err error
	if spec.Phantom, err = scansim.VialPhantom(phantomDiameter, vials); err != nil {
		t.Fatal(err)
	}
	return spec
}

// simulate writes spec's scan into a new folder.
func simulate(t *testing.T, spec scansim.Spec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), spec.ScanID)
	start := time.Now()
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	t.Logf("simulated %s in %.1f s", spec.ScanID, time.Since(start).Seconds())
	return dir
}

// reconstruct runs the job on the scan folder on the CPU, on 64x64x16
// voxels of 0.5 mm with a Hann filter cut at a quarter of Nyquist (about
// the voxels' own band), into a new output folder, and returns it.
func reconstruct(t *testing.T, scan string, job recon.Job) string {
	t.Helper()
	job.Input, job.Output, job.Device = scan, filepath.Join(t.TempDir(), "out"), "cpu"
	job.Volume = recon.VolumeSpec{Dim: recon.Triple[int]{64, 64, 16}, VoxelMM: recon.Triple[float64]{0.5, 0.5, 0.5}}
	job.Filter = recon.FilterSpec{Window: "hann", Cutoff: 0.25}
	start := time.Now()
	if _, err := recon.Run(context.Background(), job, recon.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("reconstructed %s in %.1f s", filepath.Base(scan), time.Since(start).Seconds())
	return job.Output
}

// accuracyCounts is the test scans' open-beam counts per pixel and frame
// (see vialSpec).
const accuracyCounts = 800000

// accuracyScans are the test scans: each seed draws other vials
// (scansim.TestVials: concentrations, order and places) and other
// counting noise; the last scan counts a quarter of the photons (twice
// the noise), at which the maps' means of a decomposition voxel by voxel
// put 0.4 of lipid in water vials (0.13 with 0.5 mm smoothing).
var accuracyScans = []struct {
	seed   uint64
	counts float64
}{{12, accuracyCounts}, {13, accuracyCounts}, {14, accuracyCounts}, {12, accuracyCounts / 4}}

// calibrationDose is how many times the test scans' photons the
// calibration scan counts: a lab calibrates once, at a high dose or
// averaging repeated scans, so that the calibration's own noise does not
// bias every later decomposition. At the test scans' dose the fitted
// hydroxyapatite attenuation in the high bins is uncertain by about 0.3 %,
// which moves up to 0.05 between water and lipid in a vial of 300 mg/mL
// (water, lipid and hydroxyapatite are nearly dependent: one volume of
// lipid for one of water plus 43 mg/mL of mineral changes no bin by more
// than 0.2 % of water's attenuation).
const calibrationDose = 4

// TestAccuracy is the decomposition's must-show: a calibration scan of
// vials (scansim.CalibrationVials) is simulated with counting noise,
// reconstructed and calibrated (make_calibration); scans of other vials
// at other places (scansim.TestVials, accuracyScans) are reconstructed and
// decomposed into all five materials with that calibration, as a job does
// by default (each voxel regularised toward the local prior along water,
// lipid and mineral, material.Decomposer.PriorMM); each vial's content,
// and that of a region of the phantom's water clear of every vial, is
// compared with what its scan.json says. It prints a table per scan.
//
// A vial's content is measured two ways, each held to the issue's
// bounds: as a lab measures it, each bin's mean over the vial's region
// decomposed (material.RegionAmounts); and as the mean of each map over
// the same region, the per-voxel decomposition a reader of the maps sees.
// Bounds: iodine and gadolinium within 10 % or 0.5 mg/mL, whichever is
// larger; hydroxyapatite within 10 %; iodine in a gadolinium vial and the
// reverse under 0.5 mg/mL; water and lipid fractions within 0.1.
//
// Measured (the tables: bench/RESULTS.md, "Accuracy on drawn vial sets"):
// the worst water or lipid region read is 0.025, 0.065 and 0.019 off on
// seeds 12, 13 and 14 (0.061, 0.074 and 0.010 without the second
// beam-hardening pass, material.Hardening); iodine, gadolinium and
// hydroxyapatite within 0.9 %; cross-talk at most 0.009 mg/mL. The maps'
// means: lipid in water vials at most 0.04, water and lipid elsewhere
// within 0.06, on the noisier scan too; decomposed voxel by voxel they
// put 0.25 to 0.3 of lipid in water vials (0.42 on the noisier scan).
// What is left is mostly the noise along the near-dependent water,
// lipid and mineral direction (see vialSpec).
func TestAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and reconstructs four scans (several minutes)")
	}
	all := []string{"water", "lipid", "ha", "iodine", "gadolinium"}
	calSpec := vialSpec(t, "CAL", scansim.CalibrationVials(phantomDiameter), 11)
	calSpec.OpenCounts *= calibrationDose
	calOut := reconstruct(t, simulate(t, calSpec), recon.Job{MakeCalibration: true})
	calFile := filepath.Join(calOut, recon.CalibrationName)
	cal, err := material.Read(calFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("calibration: %s; residual RMS per bin %.2g /mm; noise per bin %.2g /mm", cal.Describe(), cal.Fit.ResidualRMSPerMM, cal.NoisePerMM)
	for _, sc := range accuracyScans {
		t.Run(fmt.Sprintf("seed=%d,counts=%g", sc.seed, sc.counts), func(t *testing.T) {
			spec := vialSpec(t, fmt.Sprintf("TEST-%d-%g", sc.seed, sc.counts), scansim.TestVials(phantomDiameter, sc.seed), sc.seed)
			spec.OpenCounts = sc.counts
			out := reconstruct(t, simulate(t, spec), recon.Job{Materials: all, Calibration: calFile, WriteMHA: true})
			rep, err := recon.ReadReport(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Materials == nil || rep.Materials.Calibration != calFile {
				t.Fatalf("report's materials %+v: want the calibration %s named", rep.Materials, calFile)
			}
			checkVials(t, cal, spec, all, out)
		})
	}
}

// checkVials compares each vial's amounts in the test job's output folder
// out with what spec states, and logs the table.
func checkVials(t *testing.T, cal *material.Calibration, spec scansim.Spec, all []string, out string) {
	t.Helper()
	maps := map[string]*fdk.Volume{}
	var err error
	for _, m := range all {
		if maps[m], err = metaimage.Read(filepath.Join(out, "material_"+m+".mha")); err != nil {
			t.Fatal(err)
		}
	}
	d, bins := testDecomposer(t, cal, spec, all, out)
	var table strings.Builder
	fmt.Fprintf(&table, "%-20s", "vial")
	for _, m := range all {
		fmt.Fprintf(&table, " %28s", m+": region (map) [true]")
	}
	table.WriteString("\n")
	worst := 0.0
	for _, v := range append(spec.Vials, waterRegion(spec.Vials)) {
		region, err := material.RegionAmounts(d, bins, v)
		if err != nil || region == nil {
			t.Fatalf("%s: region amounts %v, %v", v.Name, region, err)
		}
		fmt.Fprintf(&table, "%-20s", v.Name)
		for j, m := range all {
			mapMean, _, _ := material.VialStats(maps[m], v)
			if m == "water" || m == "lipid" {
				mapMean /= 100 // the maps are in percent of volume
			}
			want := v.MgPerML[m] + v.VolumeFraction[m]
			fmt.Fprintf(&table, " %8.3f (%7.3f) [%7.3f]", region[j], mapMean, want)
			if m == "water" || m == "lipid" {
				worst = max(worst, math.Abs(region[j]-want))
			}
			if msg := materialtest.Miss(v, m, region[j], want, materialtest.BaseTol); msg != "" {
				t.Errorf("%s: %s reads %.3f over the region, true %.3f: %s", v.Name, m, region[j], want, msg)
			}
			if msg := materialtest.Miss(v, m, mapMean, want, materialtest.BaseTol); msg != "" {
				t.Errorf("%s: the %s map's mean is %.3f, true %.3f: %s", v.Name, m, mapMean, want, msg)
			}
		}
		table.WriteString("\n")
	}
	t.Logf("seed %d, %g counts: each vial's content: its region's mean bins decomposed (material.RegionAmounts), the mean of each map over the region (inner %.0f %% of its radius), the truth; mg/mL, water and lipid volume fractions; worst water or lipid region read %.3f off:\n%s",
		spec.Seed, spec.OpenCounts, 100*material.ROIFraction, worst, table.String())
}

// testDecomposer reads the test job's bin volumes from its output folder
// and prepares the decomposition the job made.
func testDecomposer(t *testing.T, cal *material.Calibration, spec scansim.Spec, names []string, out string) (*material.Decomposer, []*fdk.Volume) {
	t.Helper()
	mats, err := material.ParseSet(names)
	if err != nil {
		t.Fatal(err)
	}
	var bins []material.Bin
	var vols []*fdk.Volume
	th := append(spec.Thresholds, spec.KVp)
	for b := range spec.Thresholds {
		bins = append(bins, material.Bin{LowKeV: th[b], HighKeV: th[b+1]})
		v, err := metaimage.Read(filepath.Join(out, fmt.Sprintf("volume_bin%d.mha", b)))
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, v)
	}
	d, err := material.NewDecomposer(cal, bins, mats)
	if err != nil {
		t.Fatal(err)
	}
	return d, vols
}

// waterRegion returns a region of the phantom's water, the size of the
// vials, whose edge is farthest from every vial's and from the phantom's
// edge (searched on a 1° by 0.25 mm polar grid): a pure-water vial.
func waterRegion(vials []sinogram.Vial) sinogram.Vial {
	best, at := math.Inf(-1), [2]float64{}
	for deg := 0.0; deg < 360; deg++ {
		for r := 0.0; r < phantomDiameter/2; r += 0.25 {
			s, c := math.Sincos(deg * math.Pi / 180)
			p := [2]float64{r * c, r * s}
			clear := phantomDiameter/2 - r
			for _, v := range vials {
				clear = min(clear, math.Hypot(p[0]-v.CenterMM[0], p[1]-v.CenterMM[1])-v.RadiusMM)
			}
			if clear > best {
				best, at = clear, p
			}
		}
	}
	return scansim.NewVial("water", at[0], at[1], vials[0].RadiusMM, 0, nil)
}

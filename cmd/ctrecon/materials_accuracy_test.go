package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/materialtest"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// cliTestCounts is the open-beam counts per pixel of the test scan of
// TestMaterialAccuracyFromCLI: ten times phantom --spectral's default.
// At the default the noise of a vial's mean bins alone moves up to 0.6
// of volume between water and lipid (the 28 % lipid vial's read 0.89 of
// lipid), whatever the decomposition does: water, lipid and mineral are
// nearly dependent in these bins.
const cliTestCounts = 200000

// TestMaterialAccuracyFromCLI is issue 15's must-show on the command
// line's path: phantom --spectral --vials calibration (at its default
// dose, 20 000 counts), calibrate, a scan of other vials at other places
// (scansim.TestVials, seed 12) at cliTestCounts, and recon --materials of
// all five with --calibration; each test vial's map means (inner 60 % of
// its radius, material.VialStats) against its scan.json, with the
// issue's bounds (materialtest.Miss). It prints the table.
//
// The calibration is reconstructed on 0.25 mm voxels (Hann cut at half
// the detector's Nyquist frequency, about that grid's band), the test
// scan on 0.5 mm (Hann at a quarter): a calibration holds attenuations
// per mm, whatever the grid, but its measured voxel noise weights the
// bins. Before the decomposition used only the bins' relative noise, that
// noise's level (13 % of water's attenuation here; 38 to 66 % from the
// ramp filter at 0.5 mm, as a fresh user calibrated) set how the
// decomposition traded mineral for gadolinium: the HA vials read 246 and
// 176 mg/mL (true 296 and 232) with 4.0 and 4.4 mg/mL of gadolinium.
//
// The test scan is simulated in process (scansim.Spec.OpenCounts), as
// phantom --spectral would write it with a counts flag, which it lacks
// so far; energy intervals of 2 keV (the simulator's default is 1) halve
// its cost.
func TestMaterialAccuracyFromCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and reconstructs two spectral scans")
	}
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	if err := runPhantom([]string{"--spectral", "--vials", "calibration", "--views", "90", "-o", at("cal")}); err != nil {
		t.Fatal(err)
	}
	if err := runCalibrate([]string{"-i", at("cal"), "-o", at("calout"), "--device", "cpu",
		"--dim", "128,128,8", "--voxel", "0.25", "--filter", "hann", "--cutoff", "0.5"}); err != nil {
		t.Fatal(err)
	}
	spec := scansim.DefaultSpec()
	if err := vialPhantom(&spec, "test:12"); err != nil {
		t.Fatal(err)
	}
	spec.Views, spec.EnergyStep, spec.OpenCounts, spec.Dtype = 90, 2, cliTestCounts, sinogram.Uint32
	if err := scansim.Simulate(at("test"), spec); err != nil {
		t.Fatal(err)
	}
	all := strings.Split(material.KnownNames(), ",")
	if err := runRecon([]string{"-i", at("test"), "-o", at("out"), "--device", "cpu",
		"--dim", "64,64,8", "--voxel", "0.5", "--filter", "hann", "--cutoff", "0.25",
		"--materials", strings.Join(all, ","), "--calibration", filepath.Join(at("calout"), recon.CalibrationName)}); err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(at("out"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Materials == nil || len(rep.Materials.Maps) != len(all) {
		t.Fatalf("report's materials %+v: want a map of each of %v", rep.Materials, all)
	}
	if slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.HasPrefix(w, "filter:") }) {
		t.Errorf("report's warnings %q: the filter suits the voxels, want no warning about it", rep.Warnings)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s", "vial: read (true)")
	for _, m := range all {
		fmt.Fprintf(&table, " %18s", m)
	}
	for _, v := range spec.Vials {
		fmt.Fprintf(&table, "\n%-22s", v.Name)
		for _, mr := range rep.Materials.Maps {
			got := mapMean(t, mr, v)
			want := v.MgPerML[mr.Material] + v.VolumeFraction[mr.Material]
			fmt.Fprintf(&table, " %8.3f (%7.3f)", got, want)
			if msg := materialtest.Miss(v, mr.Material, got, want, materialtest.BaseTol); msg != "" {
				t.Errorf("%s: the %s map's mean is %.3f, true %.3f: %s", v.Name, mr.Material, got, want, msg)
			}
		}
	}
	t.Logf("each test vial's map means (mg/mL; water and lipid as volume fractions), calibration %s:\n%s", rep.Materials.Source, table.String())
}

// mapMean returns the mean of the map mr (its DICOM series, as a reader
// gets it) over vial v's region (material.VialStats), in the
// decomposition's unit: water and lipid as volume fractions, not the
// maps' percent.
func mapMean(t *testing.T, mr recon.MapReport, v sinogram.Vial) float64 {
	t.Helper()
	s, err := dicomio.ReadCTSeries(mr.Dir)
	if err != nil {
		t.Fatal(err)
	}
	vol := fdk.NewVolume(s.Grid)
	for i, x := range s.HU { // the rescaled value: the map's unit
		vol.Data[i] = float32(x)
	}
	mean, _, n := material.VialStats(vol, v)
	if n == 0 {
		t.Fatalf("%s: no voxel of the %s map in the vial", v.Name, mr.Material)
	}
	if mr.Unit == recon.PercentOfVolume {
		mean /= 100
	}
	return mean
}

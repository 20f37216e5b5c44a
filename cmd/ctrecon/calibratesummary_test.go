package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/recon"
)

// TestCalibrateSummary checks what calibrate says about its own quality
// (issue 15, a user's trial): the vials used, the materials calibrated,
// the known material no vial holds (gadolinium, its vials dropped from
// scan.json), the fit's condition number, the residual RMS of every bin,
// and each material's bias from the fit's own error in a voxel of water
// or lipid; and that it warns, naming gadolinium, that the calibration
// lacks it, and that the bias of a 200 000-count scan of 8 views exceeds
// material.NoiseLimit, both warnings kept in the file for the jobs that
// use it. Before, calibrate printed the file's path alone, and a scan
// without gadolinium vials silently gave a calibration without it (fails
// on that code).
func TestCalibrateSummary(t *testing.T) {
	dir := t.TempDir()
	scan := filepath.Join(dir, "cal")
	// At 200 000 counts: at the default 20 000 these 8 views fit iodine a
	// negative attenuation in a bin, which the calibration refuses.
	if err := runPhantom(append(slices.Clone(smallVialScan), "--noise", "200000", "-o", scan, "--vials", "calibration")); err != nil {
		t.Fatal(err)
	}
	dropVials(t, scan, "gadolinium")
	out := filepath.Join(dir, "calout")
	stdout, _ := captureOutput(t, func() error { return runCalibrate(append(smallVolume, "-i", scan, "-o", out)) })
	t.Log(stdout)

	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Calibration
	if c == nil {
		t.Fatal("report.json has no calibration")
	}
	if want := []string{"water", "lipid", "ha", "iodine"}; !slices.Equal(c.Materials, want) || !slices.Equal(c.Missing, []string{"gadolinium"}) {
		t.Errorf("materials %v, missing %v; want %v and gadolinium", c.Materials, c.Missing, want)
	}
	if len(c.Bias) != 4 || c.Bias[0].Material != "water" || !(c.Bias[0].BiasSD > 100*material.NoiseLimit(material.Known[0])) {
		t.Errorf("bias %+v (unassessed: %s), want 4 with water's over %g %%", c.Bias, c.BiasUnassessed, 100*material.NoiseLimit(material.Known[0]))
	}
	wants := []string{"material calibration: " + filepath.Join(out, recon.CalibrationName),
		"fit over 8 vials, condition number", "materials calibrated: water, lipid, ha, iodine",
		"no vials of: gadolinium", "bias the fit's own error puts into every job's maps"}
	for _, b := range c.Bins {
		wants = append(wants, "bin "+b.String()+": residual RMS ")
	}
	for _, m := range c.Bias {
		wants = append(wants, m.Material+": ")
	}
	for _, w := range wants {
		if !strings.Contains(stdout, w) {
			t.Errorf("calibrate's output lacks %q", w)
		}
	}

	cal, err := material.Read(filepath.Join(out, recon.CalibrationName))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(cal.Warnings, "\n")
	for _, w := range []string{"no vial of the calibration scan holds gadolinium", "its fit is too uncertain", "water "} {
		if !strings.Contains(all, w) {
			t.Errorf("the calibration's warnings lack %q:\n%s", w, all)
		}
	}
	checkInheritedWarnings(t, scan, filepath.Join(out, recon.CalibrationName))
}

// checkInheritedWarnings decomposes scan with the calibration cal, made by
// TestCalibrateSummary, and checks that the job inherits the calibration's
// warning that it lacks gadolinium, and warns of the fit's bias once, for
// its own maps, and does not inherit a warning it gives itself: before, it
// repeated the calibration's warning of the bias over all its materials
// beside its own, and the calibration's beam-hardening warning, the same
// as its own.
func checkInheritedWarnings(t *testing.T, scan, cal string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if err := runRecon(append(slices.Clone(smallVolume), "-i", scan, "-o", out, "--materials", "water,lipid,ha", "--calibration", cal)); err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Warnings, "\n")
	if n := strings.Count(all, "fit is too uncertain"); n != 1 || !strings.Contains(all, "no vial of the calibration scan holds gadolinium") {
		t.Errorf("the job warns of the calibration's bias %d times (want once) and of its missing gadolinium (want it inherited):\n%s", n, all)
	}
	i := slices.IndexFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "made by a job that warned") })
	for j, w := range rep.Warnings {
		if i >= 0 && j != i && strings.Contains(rep.Warnings[i], w) {
			t.Errorf("the job's warning %q is inherited from the calibration too", w)
		}
	}
}

// dropVials removes from scan's scan.json the vials holding material, as a
// calibration phantom without them would list.
func dropVials(t *testing.T, scan, material string) {
	t.Helper()
	path := filepath.Join(scan, "scan.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	vials, _ := doc["vials"].([]any)
	kept := slices.DeleteFunc(slices.Clone(vials), func(v any) bool {
		solutes, _ := v.(map[string]any)["mg_per_ml"].(map[string]any)
		_, ok := solutes[material]
		return ok
	})
	if len(kept) == len(vials) {
		t.Fatalf("scan.json lists no vial of %s", material)
	}
	doc["vials"] = kept
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMaterialNamesAnyCase checks that --materials reads names in any
// case (Water,Iodine: the maps are water's and iodine's) and refuses an
// empty item naming the flag, as a job file's materials field does.
// Before, Water was refused as unknown while water,,iodine was silently
// read as water,iodine (fails on that code).
func TestMaterialNamesAnyCase(t *testing.T) {
	dir, scan := phantomScans(t) // 2 bins: 20-40 and 40-120 keV
	out := filepath.Join(dir, "out")
	captureOutput(t, func() error {
		return runRecon([]string{"-i", scan, "-o", out, "--dim", "8", "--device", "cpu", "--materials", "Water,Iodine"})
	})
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rep.Materials.Maps {
		got = append(got, m.Material)
	}
	if !slices.Equal(got, []string{"water", "iodine"}) {
		t.Errorf("--materials Water,Iodine made maps %v", got)
	}

	bad := filepath.Join(dir, "bad")
	err = runRecon([]string{"-i", scan, "-o", bad, "--dim", "8", "--device", "cpu", "--materials", "water,,iodine"})
	if want := `--materials: item 2 of "water,,iodine" is empty`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("--materials water,,iodine: got %v, want an error saying %q", err, want)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--materials water,,iodine: recon wrote %s", bad)
	}
	if _, err := recon.ParseJob([]byte(`{"input": "x", "materials": ["water", "", "iodine"]}`)); err == nil || !strings.Contains(err.Error(), "materials: item 2") {
		t.Errorf(`job materials ["water", "", "iodine"]: got %v`, err)
	}
}

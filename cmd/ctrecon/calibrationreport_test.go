package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"
)

// TestMaterialReportNamesCalibration checks that a materials job's
// report.json names the calibration it used: the file's path, its
// SHA-256, and the calibration scan's identifiers that calibrate wrote
// into the file (scan ID, acquisition time, patient ID, the DICOM study
// of its bins); a calibration file written before those were kept (the
// scan ID alone) still loads, and its report names that scan ID; a job
// without a calibration says physics. Before, the report gave the path
// alone, and every simulated scan was SIM-0001.
func TestMaterialReportNamesCalibration(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	for _, p := range [][]string{{"-o", at("cal"), "--vials", "calibration"}, {"-o", at("test"), "--vials", "test:3"}} {
		if err := runPhantom(append(smallVialScan, p...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := runCalibrate(append(smallVolume, "-i", at("cal"), "-o", at("calout"))); err != nil {
		t.Fatal(err)
	}
	calScan, err := sinogram.ReadScan(at("cal"))
	if err != nil {
		t.Fatal(err)
	}
	calRep, err := recon.ReadReport(at("calout"))
	if err != nil {
		t.Fatal(err)
	}
	want := material.ScanIdentity{ScanID: "SIM-CALIBRATION", Acquired: calScan.Acquired, PatientID: calScan.Patient.ID, StudyInstanceUID: calRep.StudyInstanceUID}
	calFile := at("calout/" + recon.CalibrationName)

	decompose := func(out, calibration string) *recon.MaterialsReport {
		t.Helper()
		args := append(smallVolume, "-i", at("test"), "-o", at(out), "--materials", "water,iodine,gadolinium")
		if calibration != "" {
			args = append(args, "--calibration", calibration)
		}
		if err := runRecon(args); err != nil {
			t.Fatal(err)
		}
		rep, err := recon.ReadReport(at(out))
		if err != nil {
			t.Fatal(err)
		}
		return rep.Materials
	}
	sum := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		return hex.EncodeToString(s[:])
	}

	m := decompose("out", calFile)

	// The calibrate job warned (its Ram-Lak filter passes far more than
	// the voxels hold): the file keeps the warnings, and a job using it
	// repeats each once (inherited, or as its own where it gives the
	// same).
	cal, err := material.Read(calFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(calRep.Warnings) == 0 || !slices.Equal(cal.Warnings, calRep.Warnings) {
		t.Errorf("calibration file's warnings %q, want the calibrate job's %q (and some)", cal.Warnings, calRep.Warnings)
	}
	if rep, err := recon.ReadReport(at("out")); err != nil {
		t.Fatal(err)
	} else {
		w := strings.Join(rep.Warnings, "\n")
		for _, cw := range calRep.Warnings {
			if n := strings.Count(w, cw); n != 1 {
				t.Errorf("a job using a calibration made with warnings warns %d times of %q, want once: %q", n, cw, w)
			}
		}
	}
	if m.Calibration != calFile || m.CalibrationSHA256 != sum(calFile) || m.CalibrationScan == nil || *m.CalibrationScan != want {
		t.Errorf("report names calibration %s, sha256 %s, scan %+v; want %s, %s, %+v", m.Calibration, m.CalibrationSHA256, m.CalibrationScan, calFile, sum(calFile), want)
	}

	// A file from before the scan's identifiers were kept.
	var old map[string]any
	data, _ := os.ReadFile(calFile)
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scan_acquired", "scan_patient_id", "scan_study_instance_uid"} {
		if _, ok := old[k]; !ok {
			t.Errorf("calibration file lacks %s", k)
		}
		delete(old, k)
	}
	oldFile := at("old.json")
	data, _ = json.Marshal(old)
	if err := os.WriteFile(oldFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m = decompose("out-old", oldFile)
	if m.CalibrationSHA256 != sum(oldFile) || m.CalibrationScan == nil || *m.CalibrationScan != (material.ScanIdentity{ScanID: "SIM-CALIBRATION"}) {
		t.Errorf("an older calibration file: report's sha256 %s, scan %+v; want %s and the scan ID alone", m.CalibrationSHA256, m.CalibrationScan, sum(oldFile))
	}

	m = decompose("out-physics", "")
	if m.Calibration != material.SourcePhysics || m.CalibrationSHA256 != "" || m.CalibrationScan != nil {
		t.Errorf("physics: report names calibration %q, sha256 %q, scan %+v; want physics alone", m.Calibration, m.CalibrationSHA256, m.CalibrationScan)
	}
}

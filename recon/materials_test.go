package recon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/internal/peertest"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/sinogram"
)

// TestRunMaterials decomposes the simulated scan into all five materials
// with the physics calibration: every map is a DICOM series of its own in
// the bins' study and frame of reference, with its unit as RescaleType,
// that dciodvfy checks as a CT image without errors; the report names the
// calibration; the overlay is written; the same job run again writes the
// same series UIDs.
func TestRunMaterials(t *testing.T) {
	tool := peertest.Tool(t, "dciodvfy", "dicom3tools")
	job := smallJob(t)
	job.Materials = []string{"water", "lipid", "ha", "iodine", "gadolinium"}
	rep, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Materials
	if m == nil || m.Calibration != material.SourcePhysics || !strings.HasPrefix(m.Source, "the bins' share of the tube spectrum") || len(m.Maps) != 5 {
		t.Fatalf("report's materials: %+v", m)
	}
	if m.PriorMM != material.DefaultPriorMM {
		t.Errorf("report's prior_mm %g: want the default local prior, %g mm", m.PriorMM, material.DefaultPriorMM)
	}
	if _, err := os.Stat(m.Overlay); err != nil {
		t.Errorf("overlay: %v", err)
	}
	binFile := filepath.Join(rep.Bins[0].Dir, "IM_0001.dcm")
	bin := dicomAttrs(t, binFile, tag.StudyInstanceUID, tag.FrameOfReferenceUID, tag.SeriesInstanceUID)
	for _, mr := range m.Maps {
		file := filepath.Join(mr.Dir, mr.Instances[0].File)
		got := dicomAttrs(t, file, tag.StudyInstanceUID, tag.FrameOfReferenceUID, tag.SeriesInstanceUID, tag.RescaleType, tag.ImageType)
		unit := "MGML"
		if mr.Unit == PercentOfVolume {
			unit = "PCT"
		}
		if got[0] != bin[0] || got[1] != bin[1] || got[2] == bin[2] || got[2] != mr.SeriesInstanceUID || got[3] != unit || !strings.HasPrefix(got[4], "DERIVED") {
			t.Errorf("%s: study, frame, series, rescale type, image type %q; the bins' %q, want %s", mr.Material, got, bin, unit)
		}
		for _, in := range mr.Instances {
			out, _ := exec.Command(tool, filepath.Join(mr.Dir, in.File)).CombinedOutput()
			for line := range strings.Lines(string(out)) {
				if strings.HasPrefix(line, "Error") {
					t.Errorf("dciodvfy %s: %s", in.File, strings.TrimSpace(line))
				}
			}
		}
	}
	job.Output = t.TempDir()
	again, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, mr := range again.Materials.Maps {
		if mr.SeriesInstanceUID != m.Maps[i].SeriesInstanceUID {
			t.Errorf("%s: series UID %s on the second run, %s on the first", mr.Material, mr.SeriesInstanceUID, m.Maps[i].SeriesInstanceUID)
		}
	}
}

// TestRunMaterialsRefusedBeforeWork: a decomposition that cannot be made
// on the job's bins fails in the check stage, before the reconstruction,
// naming the field and saying why, and leaves no output folder; a
// calibration or material_voxelwise without materials is refused when the
// job is parsed.
func TestRunMaterialsRefusedBeforeWork(t *testing.T) {
	other := material.Calibration{Format: material.FormatName, Version: material.FormatVersion, Source: material.SourcePhysics,
		Bins:      []material.Bin{{LowKeV: 20, HighKeV: 40}, {LowKeV: 40, HighKeV: 120}},
		Materials: []material.CalibratedMaterial{{Name: "iodine", Unit: material.MgPerML, PerUnit: []float64{0.002, 0.001}}}}
	calFile := filepath.Join(t.TempDir(), "other-bins.json")
	if err := other.Write(calFile); err != nil {
		t.Fatal(err)
	}
	// Water and "lipid" attenuating alike in every bin: the equations
	// cannot tell them apart, and the refusal names the file.
	scan, err := sinogram.ReadScan(scanDir(t))
	if err != nil {
		t.Fatal(err)
	}
	alike := material.Calibration{Format: material.FormatName, Version: material.FormatVersion, Source: material.SourcePhysics}
	var water, lipid []float64
	for i, b := range scan.Bins {
		alike.Bins = append(alike.Bins, material.Bin{LowKeV: b.LowKeV, HighKeV: b.HighKeV})
		water, lipid = append(water, 0.04-0.005*float64(i)), append(lipid, 0.9999*(0.04-0.005*float64(i)))
	}
	alike.Materials = []material.CalibratedMaterial{{Name: "water", Unit: material.VolumeFraction, PerUnit: water},
		{Name: "lipid", Unit: material.VolumeFraction, PerUnit: lipid}}
	alikeFile := filepath.Join(t.TempDir(), "alike.json")
	if err := alike.Write(alikeFile); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(j *Job)
		want string
	}{
		{"ill-conditioned calibration", func(j *Job) { j.Materials, j.Calibration = []string{"water", "lipid"}, alikeFile },
			"check: invalid job: calibration: " + alikeFile + ": material decomposition: the equations of water, lipid in the bins"},
		{"too many materials", func(j *Job) { j.Bins, j.Materials = []int{0, 1}, []string{"water", "lipid", "ha", "iodine"} },
			"check: invalid job: materials: material decomposition: too many materials: 4 materials (water, lipid, ha, iodine) need 4 independent equations"},
		{"other bins", func(j *Job) { j.Materials, j.Calibration = []string{"water", "iodine"}, calFile },
			"check: invalid job: calibration: " + calFile + ": the calibration was made for the 2 bins 20-40 keV, 40-120 keV; the scan's bin 15-25 keV is not among them"},
		{"no vials", func(j *Job) { j.MakeCalibration = true }, "make_calibration: calibrate: the scan lists no vials"},
	} {
		job := smallJob(t)
		job.Output = filepath.Join(t.TempDir(), "out")
		c.edit(&job)
		_, err := Run(context.Background(), job, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if _, serr := os.Stat(job.Output); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s: the output folder %s exists after the refusal", c.name, job.Output)
		}
	}
	if _, err := ParseJob([]byte(`{"input": "x", "calibration": "c.json"}`)); err == nil || !strings.Contains(err.Error(), "calibration: a calibration is for a decomposition") {
		t.Errorf("calibration without materials: got %v", err)
	}
	if _, err := ParseJob([]byte(`{"input": "x", "materials": ["iodine", "iodine"]}`)); err == nil || !strings.Contains(err.Error(), `materials: material "iodine" listed twice`) {
		t.Errorf("a material twice: got %v", err)
	}
	if _, err := ParseJob([]byte(`{"input": "x", "material_voxelwise": true}`)); err == nil || !strings.Contains(err.Error(), "material_voxelwise: only with materials") {
		t.Errorf("material_voxelwise without materials: got %v", err)
	}
}

// The misfit warning's advice never asks for more materials than the
// bins and volume conservation determine: on a 3-bin scan it named all
// five known materials, which the job then refused (a user's trial).
func TestMisfitAdvice(t *testing.T) {
	if a := misfitAdvice(3); !strings.Contains(a, "at most 4 with these 3 bins") || !strings.Contains(a, "more energy bins") {
		t.Errorf("3 bins: advice %q, want at most 4 materials or more bins", a)
	}
	if a := misfitAdvice(5); strings.Contains(a, "at most") || !strings.Contains(a, "every material the object may hold") {
		t.Errorf("5 bins: advice %q, want every material", a)
	}
}

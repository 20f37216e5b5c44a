package recon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// report.json checks the field of view of a half-fan scan against the
// detector the reconstruction widens it to: a volume that the measured
// detector's short side (8 mm past the axis) misses in most views but the
// widened one (30 mm each way) sees whole gets no field-of-view warning.
func TestReportHalfFanFieldOfView(t *testing.T) {
	dir := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = 24, []float64{20}
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	// Only the geometry matters here: move the detector 16 mm (10.7 at the
	// isocentre) along its columns after the fact.
	scan, err := sinogram.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	scan.Geometry.OffsetU = 16
	if err := scan.WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	job := Job{ID: "half-fan", Input: dir, Output: t.TempDir(),
		Volume: VolumeSpec{Dim: [3]int{48, 48, 2}, VoxelMM: [3]float64{0.6, 0.6, 0.6}}}
	if _, err := Run(context.Background(), job, Options{}); err != nil {
		t.Fatal(err)
	}
	var rep Report
	data, err := os.ReadFile(filepath.Join(job.Output, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	for _, w := range rep.Warnings {
		if strings.Contains(w, "field of view") {
			t.Errorf("report.json: %s", w)
		}
	}
}

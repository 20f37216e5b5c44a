package recon

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// report.json checks the field of view of a half-fan scan against the
// detector the reconstruction widens it to: a volume that the measured
// detector's short side (8 mm past the axis) misses in most views but the
// widened one (30 mm each way) sees whole gets no field-of-view warning.
func TestReportHalfFanFieldOfView(t *testing.T) {
	dir, _ := oneBinScan(t, 24)
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

// oneBinScan simulates the default spectral scan with views views and one
// energy bin (20 keV up) in a folder of the test's.
func oneBinScan(t *testing.T, views int) (string, scansim.Spec) {
	t.Helper()
	dir := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = views, []float64{20}
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

// A job that leaves out the voxel size, the dimensions or both gets a grid
// that covers the scan's field of view (the simulated MARS scan's: 37.7 mm
// across, 9.4 mm high, worked out by hand), and report.json gives the grid
// and the field of view, with no field-of-view warning; so does a grid
// given whole that spans it. A grid that reaches past it is warned about.
// Before, a missing voxel size was the detector pitch at the isocentre,
// 0.073 mm (--dim 96,96,48 imaged 7 mm of the 30 mm phantom), dimensions
// were required, and the spanning grid's corners were warned about.
func TestJobGridCoversFieldOfView(t *testing.T) {
	dir, spec := oneBinScan(t, 12)
	// The field of view: the fan's edges pass the axis at r, and the rows
	// see ±h of it.
	r := spec.SID * math.Sin(math.Atan(259*0.11/spec.SDD))
	h := 64 * 0.11 * spec.SID / spec.SDD
	span := [3]float64{2 * r, 2 * r, 2 * h}
	for _, tc := range []struct {
		name    string
		volume  VolumeSpec
		dim     [3]int     // wanted; zero: any
		extent  [3]float64 // wanted, mm; zero: any
		warning bool       // about the field of view
	}{
		{"dimensions", VolumeSpec{Dim: Triple[int]{96, 96, 48}}, [3]int{96, 96, 48}, span, false},
		{"voxel size", VolumeSpec{VoxelMM: Triple[float64]{0.3, 0.3, 0.3}}, [3]int{126, 126, 32}, [3]float64{}, false},
		{"neither", VolumeSpec{}, [3]int{512, 512, 128}, [3]float64{span[0], span[1], 0}, false},
		{"a grid that spans it", VolumeSpec{Dim: Triple[int]{64, 64, 16}, VoxelMM: Triple[float64]{0.6, 0.6, 0.5}}, [3]int{}, [3]float64{}, false},
		{"a grid past it", VolumeSpec{Dim: Triple[int]{128, 128, 32}, VoxelMM: Triple[float64]{0.3, 0.3, 0.3}}, [3]int{}, [3]float64{}, true},
	} {
		job := Job{ID: "grid", Input: dir, Output: filepath.Join(t.TempDir(), "out"), Volume: tc.volume}
		rep, err := Run(context.Background(), job, Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		g := rep.Grid
		t.Logf("%s: %v; %v", tc.name, g, rep.FieldOfView)
		for k := range 3 {
			if tc.dim[k] != 0 && g.Dim[k] != tc.dim[k] || tc.extent[k] != 0 && math.Abs(float64(g.Dim[k])*g.Spacing[k]/tc.extent[k]-1) > 1e-3 {
				t.Errorf("%s: grid %v, want %v voxels spanning %.2f mm", tc.name, g, tc.dim, tc.extent)
				break
			}
		}
		if want := (fdk.Cylinder{Radius: r, ZMin: -h, ZMax: h}); rep.FieldOfView == nil ||
			math.Abs(rep.FieldOfView.Radius/r-1) > 1e-3 || math.Abs(rep.FieldOfView.ZMax/h-1) > 1e-3 {
			t.Errorf("%s: report's field of view %v, want %v", tc.name, rep.FieldOfView, want)
		}
		warned := strings.Contains(strings.Join(rep.Warnings, "\n"), "field of view")
		if warned != tc.warning {
			t.Errorf("%s: field-of-view warning %v, want %v: %q", tc.name, warned, tc.warning, rep.Warnings)
		}
	}
}

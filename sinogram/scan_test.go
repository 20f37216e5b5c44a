package sinogram_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/scantest"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// tinySpec is a one-chip scan of three views in two bins, with noise, two
// flats and a dark: small enough to simulate once per test case.
func tinySpec() scansim.Spec {
	spec := scansim.DefaultSpec()
	spec.Views = 3
	spec.KVp = 80
	spec.Thresholds = []float64{20, 40}
	spec.Layout.ChipsX = 1
	spec.Flats, spec.Darks = 2, 1
	spec.Dead, spec.Hot, spec.Noisy, spec.Masked = 2, 1, 1, 1
	spec.Phantom = scansim.SpectralPhantom(8)
	spec.CalibrationWaterMM = 4
	return spec
}

func writeTiny(t *testing.T) (string, *scansim.Simulator) {
	t.Helper()
	sim, err := scansim.New(tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sim.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir, sim
}

// editManifest rewrites dir/scan.json through edit, as a generic JSON
// value, so that it can hold what WriteManifest would refuse.
var editManifest = scantest.EditManifest

func field(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// Every kind of bad input fails with an error that wraps the right sentinel
// and names the file, field or frame.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		// break damages the scan folder.
		breakIt func(t *testing.T, dir string)
		// preprocess: the error comes from NewPreprocessor, after ReadScan
		// accepted the folder.
		preprocess bool
		want       error
		mention    []string
	}{
		{"truncated frame", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "proj", "v0001_b1_c0.raw"), 1000); err != nil {
				t.Fatal(err)
			}
		}, false, sinogram.ErrFormat, []string{"view 1 bin 1 camera 0", "v0001_b1_c0.raw", "1000 bytes"}},
		{"missing frame", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "proj", "v0002_b0_c0.raw")); err != nil {
				t.Fatal(err)
			}
		}, false, sinogram.ErrIncomplete, []string{"view 2 bin 0 camera 0", "v0002_b0_c0.raw"}},
		{"missing bin", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				bins := m["energy_bins"].([]any)
				m["energy_bins"] = append(bins, map[string]any{"low_kev": 60.0, "high_kev": 80.0, "mode": "charge-summing"})
			})
		}, false, sinogram.ErrIncomplete, []string{"energy bin 2 (60-80 keV)", "none of its"}},
		{"flat of zeros", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "flat", "b1_c0_01.raw"), make([]byte, 2*128*128), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true, sinogram.ErrCalibration, []string{"flat 1 of bin 1 camera 0", "b1_c0_01.raw", "zero"}},
		{"unknown dtype", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "counts")["dtype"] = "int12" })
		}, false, sinogram.ErrManifest, []string{"counts.dtype", "int12"}},
		{"chip layout contradicts detector", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "detector_layout")["chips_x"] = 2 })
		}, false, sinogram.ErrManifest, []string{"geometry.detector", "128x128", "258x128"}},
		{"chips overflow", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				field(m, "detector_layout")["chips_x"] = 1 << 62
				field(m, "detector_layout")["chips_y"] = 4
				field(m, "geometry", "detector")["cols"] = 1<<63 - 2
				field(m, "geometry", "detector")["rows"] = 518
			})
		}, false, sinogram.ErrManifest, []string{"detector_layout", "1 to 64 chips"}},
		{"a billion flats", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["flats"] = 1e9 })
		}, false, sinogram.ErrManifest, []string{"flats", "1000000000"}},
		{"too many frames", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				// 8 bins x 32 positions x (2100 views + 1024 flats + 1024
				// darks) is just over 2^20 frames.
				var cams, bins, angles []any
				for i := range 32 {
					cams = append(cams, map[string]any{"shift_pixels": i})
				}
				for i := range 8 {
					bins = append(bins, map[string]any{"low_kev": 20.0 + 5*float64(i), "high_kev": 25.0 + 5*float64(i), "mode": "charge-summing"})
				}
				for i := range 2100 {
					angles = append(angles, float64(i)*0.003)
				}
				m["camera_positions"], m["energy_bins"], m["views"] = cams, bins, 2100
				m["flats"], m["darks"] = 1024, 1024
				field(m, "geometry")["angles_rad"] = angles
				field(m, "geometry", "detector")["cols"] = 128 + 31
			})
		}, false, sinogram.ErrManifest, []string{"views", "2100 views", "1061888 frames, at most 1048576"}},
		{"chip pitch", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "detector_layout")["pitch_mm"] = 0.055 })
		}, false, sinogram.ErrManifest, []string{"detector_layout", "128 pixels", "0.055"}},
		{"bins out of order", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				b := m["energy_bins"].([]any)
				b[0], b[1] = b[1], b[0]
			})
		}, false, sinogram.ErrManifest, []string{"energy_bins[1]", "increasing"}},
		{"angles count vs views", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["views"] = 4 })
		}, false, sinogram.ErrManifest, []string{"geometry.angles_rad", "3 angles for 4 views"}},
		{"matrices count vs views", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				g := field(m, "geometry")
				delete(g, "angles_rad")
				p := [][]float64{{0, 1, 0, 64}, {0, 0, 1, 64}, {-1.0 / 160, 0, 0, 1}}
				g["matrices"] = []any{p, p}
			})
		}, false, sinogram.ErrManifest, []string{"geometry.matrices", "2 matrices for 3 views"}},
		{"camera positions leave a hole", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) {
				m["camera_positions"] = []any{map[string]any{"shift_pixels": 0}, map[string]any{"shift_pixels": 200}}
			})
		}, false, sinogram.ErrManifest, []string{"camera_positions[1]", "128-199"}},
		{"template without view", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "files")["projection"] = "proj_{bin}.raw" })
		}, false, sinogram.ErrManifest, []string{"files.projection", "{view}"}},
		{"template leaves the folder", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "files")["flat"] = "../b{bin}_{index}.raw" })
		}, false, sinogram.ErrManifest, []string{"files.flat", ".."}},
		{"unknown placeholder", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "files")["dark"] = "d{bin}_{frame}.raw" })
		}, false, sinogram.ErrManifest, []string{"files.dark", "{frame}"}},
		{"misspelt field", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["energy_bin"] = m["energy_bins"] })
		}, false, sinogram.ErrManifest, []string{"energy_bin"}},
		{"one exposure only", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "counts")["exposure_ms"] = 100 })
		}, false, sinogram.ErrManifest, []string{"exposure_ms"}},
		{"bad study UID", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "study")["instance_uid"] = "1.2.03" })
		}, false, sinogram.ErrManifest, []string{"study.instance_uid"}},
		{"geometry", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { field(m, "geometry")["sdd_mm"] = 100 })
		}, false, fdk.ErrGeometry, []string{"sdd_mm"}},
		{"mask of the wrong size", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "bad_pixels.u8"), make([]byte, 10), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, sinogram.ErrFormat, []string{"bad-pixel mask", "10 bytes"}},
		{"no manifest", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, sinogram.ManifestName)); err != nil {
				t.Fatal(err)
			}
		}, false, sinogram.ErrManifest, []string{sinogram.ManifestName}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeTiny(t)
			tc.breakIt(t, dir)
			scan, err := sinogram.ReadScan(dir)
			if tc.preprocess {
				if err != nil {
					t.Fatalf("ReadScan: %v", err)
				}
				_, err = sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
			}
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q does not wrap %q", err, tc.want)
			}
			for _, s := range tc.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// A frame damaged after the scan was opened is caught when it is read.
func TestFrameDamagedLater(t *testing.T) {
	dir, _ := writeTiny(t)
	scan, err := sinogram.ReadScan(dir)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(scan.FramePath(sinogram.ProjectionFrame, 1, 0, 0, 0), 7); err != nil {
		t.Fatal(err)
	}
	_, _, err = pp.LineIntegrals(1, 0)
	if !errors.Is(err, sinogram.ErrFormat) || !strings.Contains(err.Error(), "view 1 bin 0") {
		t.Errorf("got %v, want ErrFormat naming view 1 bin 0", err)
	}
	if _, _, err := pp.LineIntegrals(0, 0); err != nil {
		t.Errorf("an undamaged view: %v", err)
	}
}

// A float32 frame holding NaN is rejected, naming the pixel.
func TestDecodeFrameRejectsNaN(t *testing.T) {
	data, _, err := sinogram.EncodeFrame([]float64{1, 2, 3}, sinogram.Float32)
	if err != nil {
		t.Fatal(err)
	}
	data[4], data[5], data[6], data[7] = 0, 0, 0xc0, 0x7f // pixel 1: NaN
	if _, err := sinogram.DecodeFrame(data, sinogram.Float32, 3, "f.raw"); !errors.Is(err, sinogram.ErrFormat) || !strings.Contains(err.Error(), "pixel 1") {
		t.Errorf("got %v, want ErrFormat naming pixel 1", err)
	}
	if _, err := sinogram.DecodeFrame(data[:8], sinogram.Float32, 3, "f.raw"); !errors.Is(err, sinogram.ErrFormat) {
		t.Errorf("short frame: got %v", err)
	}
}

// Frames of every dtype read back what was written; integer counters round
// and saturate.
func TestFrameRoundTrip(t *testing.T) {
	counts := []float64{0, 1, 2.4, 2.6, 65534, 65535, 70000, 1e6}
	for _, tc := range []struct {
		dtype     string
		want      []float64
		saturated int
	}{
		{sinogram.Uint16, []float64{0, 1, 2, 3, 65534, 65535, 65535, 65535}, 3},
		{sinogram.Uint32, []float64{0, 1, 2, 3, 65534, 65535, 70000, 1e6}, 0},
		{sinogram.Float32, []float64{0, 1, float64(float32(2.4)), float64(float32(2.6)), 65534, 65535, 70000, 1e6}, 0},
	} {
		data, sat, err := sinogram.EncodeFrame(counts, tc.dtype)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sinogram.DecodeFrame(data, tc.dtype, len(counts), "x")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) || sat != tc.saturated {
			t.Errorf("%s: read %v (%d saturated), want %v (%d)", tc.dtype, got, sat, tc.want, tc.saturated)
		}
	}
	if _, _, err := sinogram.EncodeFrame(counts, "int8"); err == nil {
		t.Error("unknown dtype accepted")
	}
}

// A manifest with every optional field survives WriteManifest and
// ReadManifest unchanged, and a simulated folder reads back as written.
func TestManifestRoundTrip(t *testing.T) {
	dir, sim := writeTiny(t)
	scan, err := sinogram.ReadScan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(scan, sim.Scan()) {
		t.Errorf("read %+v\nwrote %+v", scan, sim.Scan())
	}

	full := *sim.Scan()
	full.Patient = sinogram.Patient{ID: "P-17", Name: "Doe^Jane", BirthDate: "19800102", Sex: "F", Position: "FFP"}
	full.Study = sinogram.Study{InstanceUID: "1.2.826.0.1.3680043.2.1125.7", ID: "S1", Description: "mouse, iodine", Date: "20260131"}
	full.Acquired = "2026-01-31T23:30:00.25-03:30"
	full.Tube = sinogram.Tube{KVp: 80, CurrentUA: 30, FiltrationMMAl: 1.8, FocalSpotMicron: 50}
	full.Counts = sinogram.Counts{Dtype: sinogram.Uint16, ExposureMS: 100, FlatExposureMS: 200}
	full.Bins = append([]sinogram.EnergyBin(nil), full.Bins...)
	full.Bins[1].Mode = sinogram.SinglePixel
	// Two camera positions widen the virtual detector; matrices and angles
	// both given, as a scanner that logs its angles might.
	full.Cameras = []sinogram.Camera{{ShiftPixels: 0}, {ShiftPixels: 100}}
	full.Geometry.Cols += 100
	full.Geometry.COROffset, full.Geometry.OffsetU, full.Geometry.Tilt = 0.2, -0.5, 0.003
	views, err := full.Geometry.Views()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		full.Geometry.Matrices = append(full.Geometry.Matrices, v.P)
	}
	full.Files = sinogram.Files{Projection: "p/{view:5}-{bin}-{cam}.u16", Flat: "f/{bin}-{cam}-{index}.u16", Dark: "d/{bin}-{cam}-{index}.u16"}
	out := t.TempDir()
	if err := full.WriteManifest(out); err != nil {
		t.Fatal(err)
	}
	back, err := sinogram.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, full) {
		t.Errorf("read back %+v\nwrote %+v", *back, full)
	}
	if got, want := back.FramePath(sinogram.ProjectionFrame, 7, 1, 1, 0), filepath.Join(out, "p", "00007-1-1.u16"); got != want {
		t.Errorf("frame path %s, want %s", got, want)
	}
	if cols, rows := back.VirtualDetector(); cols != 228 || rows != 128 {
		t.Errorf("virtual detector %dx%d, want 228x128", cols, rows)
	}

	bad := full
	bad.Bins = nil
	if err := bad.WriteManifest(t.TempDir()); !errors.Is(err, sinogram.ErrManifest) {
		t.Errorf("WriteManifest of a manifest without bins: %v", err)
	}
}

// HU needs a calibration and converts with it.
func TestEnergyBinHU(t *testing.T) {
	b := sinogram.EnergyBin{LowKeV: 20, HighKeV: 30, MuWater: 0.04}
	for _, tc := range []struct{ mu, hu float64 }{{0, -1000}, {0.04, 0}, {0.08, 1000}} {
		if got, err := b.HU(tc.mu); err != nil || got != tc.hu {
			t.Errorf("HU(%g) = %g, %v; want %g", tc.mu, got, err, tc.hu)
		}
	}
	if _, err := (sinogram.EnergyBin{LowKeV: 20, HighKeV: 30}).HU(0.04); err == nil {
		t.Error("HU without a water calibration accepted")
	}
}

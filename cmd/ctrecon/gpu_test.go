package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/gputest"
	"github.com/ctrecon/ctrecon/metaimage"
)

// The GPU's end-to-end checks: what `ctrecon recon --device cuda` writes
// matches `--device cpu`. They skip without a GPU and fail instead under
// CTRECON_REQUIRE_GPU=1 (kernels/gpu-check.sh).

// A spectral scan's DICOM series from the GPU are the CPU's within 1 HU,
// every pixel of every slice of every bin, and the report names the GPU.
func TestGPUSpectralReconMatchesCPU(t *testing.T) {
	gputest.Open(t).Close()
	dir := t.TempDir()
	if err := runPhantom([]string{"--spectral", "-o", dir + "/scan", "--views", "180"}); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"cpu", "cuda"} {
		args := []string{"-i", dir + "/scan", "-o", filepath.Join(dir, dev), "--dim", "128,128,32", "--voxel", "0.3", "--device", dev}
		if err := runRecon(args); err != nil {
			t.Fatalf("--device %s: %v", dev, err)
		}
	}
	var rep struct{ Device string }
	if data, err := os.ReadFile(filepath.Join(dir, "cuda", "report.json")); err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !strings.HasPrefix(rep.Device, "cuda") {
		t.Errorf("report names device %q, want the GPU", rep.Device)
	}
	slices, _ := filepath.Glob(filepath.Join(dir, "cpu", "dicom", "bin*", "IM_*.dcm"))
	if len(slices) != 5*32 {
		t.Fatalf("%d CPU slices, want 5 bins of 32", len(slices))
	}
	worst := 0.0
	for _, cpuPath := range slices {
		rel, _ := filepath.Rel(filepath.Join(dir, "cpu"), cpuPath)
		want, _, _, err := dicomio.ReadSliceHU(cpuPath)
		if err != nil {
			t.Fatal(err)
		}
		got, _, _, err := dicomio.ReadSliceHU(filepath.Join(dir, "cuda", rel))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			worst = math.Max(worst, math.Abs(got[i]-want[i]))
		}
	}
	t.Logf("largest difference between GPU and CPU DICOM pixels: %.2f HU", worst)
	if worst > 1 {
		t.Errorf("GPU and CPU DICOM differ by up to %.2f HU, want at most 1", worst)
	}
}

// A plastimatch projection folder reconstructs on the GPU to the CPU's
// volume within the texture unit's interpolation error.
func TestGPUPlastimatchReconMatchesCPU(t *testing.T) {
	gputest.Open(t).Close()
	dir := t.TempDir()
	if err := runPhantom([]string{"-o", dir + "/scan", "--views", "180", "--det", "256x192", "--pitch", "1.5"}); err != nil {
		t.Fatal(err)
	}
	vols := map[string]*fdk.Volume{}
	for _, dev := range []string{"cpu", "cuda"} {
		out := filepath.Join(dir, dev+".mha")
		if err := runRecon([]string{"-i", dir + "/scan", "-o", out, "--dim", "128,128,96", "--voxel", "1", "--device", dev}); err != nil {
			t.Fatalf("--device %s: %v", dev, err)
		}
		v, err := metaimage.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		vols[dev] = v
	}
	var d, n float64
	for i, w := range vols["cpu"].Data {
		e := float64(vols["cuda"].Data[i] - w)
		d += e * e
		n += float64(w) * float64(w)
	}
	rel := math.Sqrt(d / n)
	t.Logf("relative L2 difference GPU vs CPU: %.2e", rel)
	if !(rel < 1e-3) {
		t.Errorf("GPU volume differs from the CPU's by %.2e (relative L2), want < 1e-3", rel)
	}
}

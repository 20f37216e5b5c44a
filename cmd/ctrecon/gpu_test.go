package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/kernels"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"

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
	compareDICOM(t, filepath.Join(dir, "cpu"), filepath.Join(dir, "cuda"), 5*32)
}

// compareDICOM checks that every slice of every bin under got is the one
// under want within 1 HU, pixel by pixel (padding, NaN, where both pad).
func compareDICOM(t *testing.T, want, got string, slices int) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(want, "dicom", "bin*", "IM_*.dcm"))
	if len(paths) != slices {
		t.Fatalf("%d CPU slices, want %d", len(paths), slices)
	}
	worst, where, over, all := 0.0, "", 0, 0
	for _, path := range paths {
		rel, _ := filepath.Rel(want, path)
		w, _, _, err := dicomio.ReadSliceHU(path)
		if err != nil {
			t.Fatal(err)
		}
		g, _, _, err := dicomio.ReadSliceHU(filepath.Join(got, rel))
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if math.IsNaN(w[i]) != math.IsNaN(g[i]) {
				t.Fatalf("%s pixel %d: %g on the GPU, %g on the CPU: padding differs", rel, i, g[i], w[i])
			}
			if math.IsNaN(w[i]) {
				continue
			}
			all++
			d := math.Abs(g[i] - w[i])
			if d > 1 {
				over++
			}
			if d > worst {
				worst, where = d, fmt.Sprintf("%s pixel %d (CPU %.0f HU, GPU %.0f)", rel, i, w[i], g[i])
			}
		}
	}
	t.Logf("largest difference between GPU and CPU DICOM pixels: %.2f HU, at %s; %d of %d pixels over 1 HU", worst, where, over, all)
	if worst > 1 {
		t.Errorf("GPU and CPU DICOM differ by up to %.2f HU, want at most 1", worst)
	}
}

// A worker given --device auto on a machine with a GPU chooses it, and the
// job it runs writes the CPU's DICOM within 1 HU.
func TestGPUWorkerAutoChoosesGPU(t *testing.T) {
	gputest.Open(t).Close()
	dir := t.TempDir()
	if err := runPhantom([]string{"--spectral", "-o", dir + "/scan", "--views", "90"}); err != nil {
		t.Fatal(err)
	}
	grid := []string{"--dim", "96,96,16", "--voxel", "0.4"}
	if err := runRecon(append([]string{"-i", dir + "/scan", "-o", dir + "/cpu", "--device", "cpu"}, grid...)); err != nil {
		t.Fatal(err)
	}
	bp, release, err := recon.OpenDevice("auto", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, ok := bp.(*kernels.CUDA); !ok {
		t.Fatalf("--device auto chose %s, want the GPU", bp.Name())
	}
	b, _ := bustest.Start(t, bus.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	w := &recon.Worker{Bus: b, Dir: t.TempDir(), Backprojector: bp}
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	job := recon.Job{ID: "gpu-auto-1", Input: dir + "/scan", Output: dir + "/gpu", Device: "auto",
		Volume: recon.VolumeSpec{Dim: recon.Triple[int]{96, 96, 16}, VoxelMM: recon.Triple[float64]{0.4, 0.4, 0.4}}}
	if _, _, err := recon.Submit(ctx, b, job); err != nil {
		t.Fatal(err)
	}
	var st bus.Status
	for deadline := time.Now().Add(2 * time.Minute); !st.State.Final(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("job not over within 2 minutes: %+v", st)
		}
		st, _ = b.GetStatus(ctx, job.ID)
	}
	if st.State != bus.StateDone || !strings.HasPrefix(st.Device, "cuda") {
		t.Fatalf("job %s on %q (%s), want done on the GPU", st.State, st.Device, st.Reason)
	}
	compareDICOM(t, dir+"/cpu", dir+"/gpu", 5*16)
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

// A job that decomposes README's test vials reconstructed on the GPU
// writes the CPU's material maps: each map's mean over each vial's core
// (material.VialStats) within 0.02 mg/mL of iodine or gadolinium,
// 0.5 mg/mL of hydroxyapatite and 0.5 % of volume of water or lipid
// (the texture unit's interpolation moves the bins by about 1e-4 of
// their attenuation, and the near-dependent water, lipid and mineral
// carry it furthest).
func TestGPUMaterialsMatchCPU(t *testing.T) {
	gputest.Open(t).Close()
	dir := t.TempDir()
	if err := runPhantom([]string{"--spectral", "--vials", "test:12", "--views", "60", "--noise", "2000000", "-o", dir + "/scan"}); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"cpu", "cuda"} {
		args := []string{"-i", dir + "/scan", "-o", filepath.Join(dir, dev), "--voxel", "0.5", "--dim", "76,76,12", "--filter", "hann", "--cutoff", "0.25",
			"--mha", "--materials", "water,lipid,ha,iodine,gadolinium", "--device", dev}
		if err := runRecon(args); err != nil {
			t.Fatalf("--device %s: %v", dev, err)
		}
	}
	scan, err := sinogram.ReadScan(dir + "/scan")
	if err != nil {
		t.Fatal(err)
	}
	tolerance := map[string]float64{"water": 0.5, "lipid": 0.5, "ha": 0.5, "iodine": 0.02, "gadolinium": 0.02}
	for m, tol := range tolerance {
		maps := map[string]*fdk.Volume{}
		for _, dev := range []string{"cpu", "cuda"} {
			if maps[dev], err = metaimage.Read(filepath.Join(dir, dev, "material_"+m+".mha")); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range scan.Vials {
			cpu, _, _ := material.VialStats(maps["cpu"], v)
			gpu, _, _ := material.VialStats(maps["cuda"], v)
			t.Logf("%-10s %-22s CPU %8.3f GPU %8.3f", m, v.Name, cpu, gpu)
			if math.Abs(gpu-cpu) > tol {
				t.Errorf("%s map over %s: %.3f on the GPU, %.3f on the CPU: want within %g", m, v.Name, gpu, cpu, tol)
			}
		}
	}
}

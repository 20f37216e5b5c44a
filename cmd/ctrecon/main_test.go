package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/kernels"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/recon"
)

// phantom then recon on the command line reconstructs the phantom: the
// flags reach the geometry, the folder round-trips, the volume is written
// on the grid asked for, and the cylinder's mean is within 0.2 % of the
// truth (measured -0.044 %).
func TestPhantomThenRecon(t *testing.T) {
	dir := t.TempDir()
	err := runPhantom([]string{"-o", dir + "/scan", "--phantom", "cylinder", "--scale", "50", "--views", "90",
		"--det", "96x48", "--pitch", "2", "--offset-v", "3", "--cor", "1"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vol.mha")
	err = runRecon([]string{"-i", dir + "/scan", "-o", out, "--dim", "48,48,8", "--voxel", "2", "--device", "cpu",
		"--filter", "hann", "--png", dir + "/vol.png"})
	if err != nil {
		t.Fatal(err)
	}
	vol, err := metaimage.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if vol.Grid.Dim != [3]int{48, 48, 8} || vol.Grid.Spacing != [3]float64{2, 2, 2} {
		t.Fatalf("grid %+v, want 48x48x8 of 2 mm", vol.Grid)
	}
	ph, _ := phantom.ByName("cylinder", 50)
	var sum float64
	var n int
	for k := range 8 {
		for j := range 48 {
			for i := range 48 {
				if p := vol.Grid.Position(i, j, k); math.Hypot(p[0], p[1]) < 20 {
					sum += float64(vol.At(i, j, k))
					n++
				}
			}
		}
	}
	want := ph.Value(fdk.Vec3{})
	mean := sum / float64(n)
	t.Logf("mean inside the cylinder %.6g, truth %g (%+.3f %%)", mean, want, 100*(mean/want-1))
	if math.Abs(mean/want-1) > 0.002 {
		t.Errorf("mean inside the cylinder %g, want %g", mean, want)
	}
}

// A simulated spectral scan goes through `recon` into a DICOM series per
// bin, previews and a report.
func TestSpectralThenRecon(t *testing.T) {
	dir := t.TempDir()
	if err := runPhantom([]string{"--spectral", "-o", dir + "/scan", "--views", "24", "--thresholds", "20,40"}); err != nil {
		t.Fatal(err)
	}
	err := runRecon([]string{"-i", dir + "/scan", "-o", dir + "/out", "--dim", "32,32,2", "--voxel", "1", "--bins", "1", "--device", "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "preview_bin1.png", "dicom/bin1_40-120keV/IM_0001.dcm"} {
		if _, err := os.Stat(filepath.Join(dir, "out", name)); err != nil {
			t.Error(err)
		}
	}
	if err := runRecon([]string{"-i", dir + "/scan", "-o", dir + "/out2", "--bins", "5"}); err == nil || !strings.Contains(err.Error(), "bin 5") {
		t.Errorf("missing bin: err = %v", err)
	}
}

// Bad flags and inputs are errors naming what is wrong.
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	if err := runPhantom([]string{"-o", dir + "/scan", "--views", "10", "--det", "16x8"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runRecon, []string{"-o", "x.mha"}, "-i DIR"},
		{runRecon, []string{"-i", dir + "/none", "-o", dir + "/x.mha"}, "-i: " + dir + "/none: no such folder"},
		{runRecon, []string{"-i", dir + "/none", "-o", dir + "/x1"}, "-i: " + dir + "/none: no such folder"},
		{runRecon, []string{"-i", dir + "/scan/img0000.pfm", "-o", dir + "/x1"}, "is a file, not a scan folder"},
		{runRecon, []string{"-i", dir, "-o", dir + "/x1"}, "-i: " + dir + " holds neither a spectral scan (scan.json) nor plastimatch projections"},
		{runRecon, []string{"-i", dir + "/scan", "-o", dir + "/x.mha", "--dim", "0,4,4"}, "--dim"},
		{runRecon, []string{"-i", dir + "/scan", "-o", dir + "/x.mha", "--voxel", "1,2"}, "--voxel"},
		{runRecon, []string{"-i", dir + "/scan", "-o", dir + "/x.mha", "--filter", "gauss"}, "--filter"},
		{runRecon, []string{"-i", dir + "/scan", "-o", dir + "/x.mha", "--device", "tpu"}, "--device"},
		{runRecon, []string{"-i", dir + "/scan", "-o", dir + "/x.mha", "--cutoff", "2"}, "--cutoff"},
		{runPhantom, []string{"-o", dir + "/p", "--sdd", "500"}, "sdd_mm"},
		{runPhantom, []string{"-o", dir + "/p", "--det", "big"}, "--det"},
		{runPhantom, []string{"-o", dir + "/p", "--phantom", "teapot"}, "teapot"},
		{runPhantom, []string{"-o", dir + "/p", "--views", "0"}, "--views"},
		{runPhantom, []string{"-o", dir + "/p", "--det", "16x8", "--views", "4", "--noise", "-3"}, "--noise"},
	}
	for _, tc := range cases {
		err := tc.run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// --device cuda uses the GPU where kernels.Open finds one, and elsewhere
// fails naming the flag and why, writing nothing; --device auto uses the
// GPU where there is one and the CPU otherwise. The test holds on a machine
// with a GPU and on one without.
func TestDeviceCUDA(t *testing.T) {
	dir := t.TempDir()
	if err := runPhantom([]string{"-o", dir + "/scan", "--views", "10", "--det", "16x8"}); err != nil {
		t.Fatal(err)
	}
	gpu, openErr := kernels.Open(kernels.Options{})
	if openErr == nil {
		gpu.Close()
	}
	t.Logf("kernels.Open: %v", openErr)
	out := filepath.Join(dir, "x.mha")
	err := runRecon([]string{"-i", dir + "/scan", "-o", out, "--dim", "8,8,4", "--device", "cuda"})
	if openErr != nil {
		if err == nil || !strings.Contains(err.Error(), "--device cuda") || !strings.Contains(err.Error(), openErr.Error()) {
			t.Errorf("no GPU: err = %v, want it to name --device cuda and %q", err, openErr)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("no GPU, but %s was written", out)
		}
	} else if err != nil {
		t.Errorf("GPU present, but --device cuda failed: %v", err)
	} else if vol, rerr := metaimage.Read(out); rerr != nil || vol.Grid.Dim != [3]int{8, 8, 4} {
		t.Errorf("--device cuda wrote %v (%v), want an 8x8x4 volume", vol, rerr)
	}
	bp, release, err := recon.OpenDevice("auto", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	want := "cuda"
	if openErr != nil {
		want = "cpu"
	}
	if !strings.HasPrefix(bp.Name(), want) {
		t.Errorf("--device auto chose %s, want %s (kernels.Open: %v)", bp.Name(), want, openErr)
	}
}

// `serve --demo`, what `make run` runs: embedded NATS, a worker, a
// streamed simulated scan, DICOM, features and a search over HTTP.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a whole simulated scan")
	}
	data := t.TempDir()
	out, _ := captureOutput(t, func() error {
		return runServe([]string{"--demo", "--data", data, "--nats-port", "-1", "--http", "127.0.0.1:0", "--device", "cpu"})
	})
	// make run ends with a cohort's answer and the search page's URL.
	if !strings.Contains(out, "a cohort: objects over 10 mm³") || !regexp.MustCompile(`the search page, showing the series' nearest: http://127\.0\.0\.1:\d+/\?like=2\.25\.\d+\n$`).MatchString(out) {
		t.Errorf("the demo's output does not end with a cohort and the search page's URL:\n%s", out)
	}
	series, _ := filepath.Glob(filepath.Join(data, "worker", "out", "*", "dicom", "bin*"))
	if len(series) != 5 {
		t.Errorf("%d series written, want 5", len(series))
	}
	if montage, _ := filepath.Glob(filepath.Join(data, "worker", "out", "*", "montage.png")); len(montage) != 1 {
		t.Errorf("%d montage.png written, want 1", len(montage))
	}
}

// A job file with a misspelt field is rejected before anything is sent.
func TestSubmitRejectsBadJobFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(path, []byte(`{"scan_id":"S1","volume":{"dim":[8,8,8]},"filtre":{}}`), 0o644)
	err := runSubmit([]string{"--nats", "nats://127.0.0.1:1", path})
	if err == nil || !strings.Contains(err.Error(), "filtre") {
		t.Errorf("err = %v, want it to name the unknown field", err)
	}
}

// Bad submit and cancel flags are errors naming the flag, before anything
// is sent.
func TestSubmitAndCancelFlags(t *testing.T) {
	cases := []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runSubmit, []string{"--nats", "nats://127.0.0.1:1", "--scan", "S1", "--scan-wait", "-1s"}, "--scan-wait"},
		{runSubmit, []string{"--nats", "nats://127.0.0.1:1", "--scan", "S1", "--pacs", "http://pacs/dicom-web", "--pacs-timeout", "-1s"}, "--pacs-timeout"},
		{runSubmit, []string{"--nats", "nats://127.0.0.1:1", "--scan", "S1", "--pacs-timeout", "1m"}, "--pacs-timeout: only a job that uploads"},
		{runCancel, []string{"--nats", "nats://127.0.0.1:1"}, "JOB_ID"},
	}
	for _, tc := range cases {
		if err := tc.run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

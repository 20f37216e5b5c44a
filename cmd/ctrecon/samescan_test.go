package main

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/metaimage"
)

// Two scans of one scan ID (the spectral phantom simulated at two doses:
// both SIM-0001), submitted one after the other while no worker runs,
// are each reconstructed from their own files: each job's attenuation is
// that of `recon` on its own scan. Before, the second upload replaced the
// first's folder on the bus (one folder per scan ID), and the first job,
// done and silent, was the second scan's (trial 24).
func TestSubmitSameScanIDKeepsEachScan(t *testing.T) {
	dir := t.TempDir()
	b, srv := bustest.Start(t, bus.Config{})
	recon := []string{"--dim", "16,16,2", "--mha", "--device", "cpu"}
	for i, noise := range []string{"20000", "2000000"} {
		scan := filepath.Join(dir, fmt.Sprint("scan", i))
		if err := runPhantom([]string{"--spectral", "-o", scan, "--views", "8", "--thresholds", "20,40", "--noise", noise}); err != nil {
			t.Fatal(err)
		}
		if err := runRecon(append([]string{"-i", scan, "-o", filepath.Join(dir, fmt.Sprint("offline", i))}, recon...)); err != nil {
			t.Fatal(err)
		}
		if _, stderr := captureOutput(t, func() error {
			return runSubmit(append([]string{"--nats", srv.ClientURL(), "-i", scan, "--id", fmt.Sprint("same-", i)}, recon...))
		}); stderr != "" {
			t.Logf("submit: %s", stderr)
		}
	}
	startWorker(t, b)
	for i := range 2 {
		st := waitStatus(t, b, fmt.Sprint("same-", i), func(s bus.Status) bool { return s.State.Final() })
		if st.State != bus.StateDone {
			t.Fatalf("job same-%d: %s (%s)", i, st.State, st.Reason)
		}
		got, err := metaimage.Read(filepath.Join(st.Output, "volume_bin0.mha"))
		if err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			want, err := metaimage.Read(filepath.Join(dir, fmt.Sprint("offline", j), "volume_bin0.mha"))
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for k := range want.Data {
				worst = math.Max(worst, math.Abs(float64(got.Data[k]-want.Data[k])))
			}
			if same := worst <= 1e-6; same != (i == j) {
				t.Errorf("job same-%d differs from recon of scan %d by up to %.3g /mm: want it that scan's (0) and not the other's", i, j, worst)
			}
		}
	}
}

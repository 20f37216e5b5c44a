package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"
)

// buildCtrecon builds this command into a temporary folder, so that tests
// can run workers as separate processes and kill them.
func buildCtrecon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ctrecon")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startWorkerProcess runs `ctrecon worker` against url.
func startWorkerProcess(t *testing.T, bin, url string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "worker", "--nats", url, "--device", "cpu", "--data", t.TempDir())
	log, err := os.Create(filepath.Join(t.TempDir(), "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A worker process killed (SIGKILL) in the middle of a job: after the
// acknowledgement deadline another worker process gets the job, finishes it,
// and exactly one series set exists.
func TestKilledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs worker processes")
	}
	bin := buildCtrecon(t)
	ctx := context.Background()
	b, srv := bustest.Start(t, bus.Config{AckWait: 2 * time.Second})
	scanDir := t.TempDir()
	spec := sinogram.DefaultSimSpec()
	spec.Views = 90
	if err := sinogram.Simulate(scanDir, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := recon.Acquire(ctx, b, scanDir, recon.AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	job := recon.Job{ID: "killed-1", ScanID: spec.ScanID, Output: out,
		Volume: recon.VolumeSpec{Dim: [3]int{128, 128, 16}, VoxelMM: [3]float64{0.3, 0.3, 0.3}}}
	if _, _, err := recon.Submit(ctx, b, job); err != nil {
		t.Fatal(err)
	}
	first := startWorkerProcess(t, bin, srv.ClientURL())
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st, _ := b.GetStatus(ctx, "killed-1")
		if st.State == bus.StateRunning && st.Progress > 0.2 {
			break
		}
		if st.State == bus.StateDone || time.Now().After(deadline) {
			t.Fatalf("could not catch the first worker mid-job: %+v", st)
		}
	}
	first.Process.Kill()
	first.Wait()
	startWorkerProcess(t, bin, srv.ClientURL())
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, _ := b.GetStatus(ctx, "killed-1")
		if st.State == bus.StateDone {
			break
		}
		if st.State == bus.StateFailed || time.Now().After(deadline) {
			t.Fatalf("job did not finish after the kill: %+v", st)
		}
	}
	series, _ := filepath.Glob(filepath.Join(out, "dicom", "*"))
	if len(series) != 5 {
		t.Errorf("%d series folders, want exactly one per bin: %v", len(series), series)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, "dicom", ".*")); len(leftovers) != 0 {
		t.Errorf("partial series left behind: %v", leftovers)
	}
}

// Two worker processes on a three-node cluster with three replicas keep
// working when the node they may be connected to is stopped half-way
// through the scan: both jobs finish.
func TestWorkerProcessesOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster and worker processes")
	}
	bin := buildCtrecon(t)
	ctx := context.Background()
	nodes, err := bus.StartLocalCluster(ctx, 3, bus.EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		defer n.Shutdown()
	}
	urls := nodes[0].ClientURL() + "," + nodes[1].ClientURL() + "," + nodes[2].ClientURL()
	b := bustest.Connect(t, urls, bus.Config{Replicas: 3, AckWait: 2 * time.Second})
	scanDir := t.TempDir()
	spec := sinogram.DefaultSimSpec()
	spec.Views = 60
	if err := sinogram.Simulate(scanDir, spec); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c-1", "c-2"} {
		job := recon.Job{ID: id, ScanID: spec.ScanID, Volume: recon.VolumeSpec{Dim: [3]int{64, 64, 8}, VoxelMM: [3]float64{0.6, 0.6, 0.6}}}
		if _, _, err := recon.Submit(ctx, b, job); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		w := exec.Command(bin, "worker", "--nats", urls, "--device", "cpu", "--data", t.TempDir())
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { w.Process.Kill(); w.Wait() }()
	}
	_, err = recon.Acquire(ctx, b, scanDir, recon.AcquireOptions{Retry: time.Second, Progress: func(done, total int) {
		if done == total/2 {
			nodes[0].Shutdown()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c-1", "c-2"} {
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			st, _ := b.GetStatus(ctx, id)
			if st.State == bus.StateDone {
				break
			}
			if st.State == bus.StateFailed || time.Now().After(deadline) {
				t.Fatalf("job %s: %+v", id, st)
			}
		}
	}
}

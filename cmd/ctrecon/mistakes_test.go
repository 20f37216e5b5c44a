package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"
)

// phantom refuses an output folder that is not empty, naming it, whether
// it holds an earlier scan (a second run with fewer views would leave the
// first run's extra views beside its own) or the user's files, and
// touches nothing in it.
func TestPhantomRefusesNonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan")
	if err := runPhantom([]string{"-o", scan, "--views", "12", "--det", "16x8"}); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "user")
	if err := os.Mkdir(user, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(user, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-o", scan, "--views", "6", "--det", "16x8"},
		{"-o", user, "--views", "6", "--det", "16x8"},
		{"--spectral", "-o", scan, "--views", "6"},
		{"--spectral", "-o", user, "--views", "6"},
	} {
		out := args[slices.Index(args, "-o")+1]
		before, _ := os.ReadDir(out)
		err := runPhantom(args)
		if err == nil || !strings.Contains(err.Error(), "-o "+out) || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("phantom %v: err = %v, want a refusal naming -o %s", args, err, out)
		}
		if after, _ := os.ReadDir(out); len(after) != len(before) {
			t.Errorf("phantom %v: %d entries in %s, were %d", args, len(after), out, len(before))
		}
	}
	if data, _ := os.ReadFile(filepath.Join(user, "notes.txt")); string(data) != "mine" {
		t.Errorf("the user's file holds %q", data)
	}
}

// A second serve on the data folder of a running one (its JetStream store
// and its workers' folders) is refused, naming the folder and the process
// that holds it; the first keeps serving.
func TestServeDataFolderLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs serve processes")
	}
	bin := buildCtrecon(t)
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"serve", "--data", data, "--nats-port", "-1", "--http", "127.0.0.1:0", "--device", "cpu"}
	first := exec.Command(bin, args...)
	logPath := startLogged(t, first)
	t.Cleanup(func() { first.Process.Signal(syscall.SIGINT); first.Wait() })
	waitLog(t, logPath, "msg=serving")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	want := fmt.Sprintf("process %d", first.Process.Pid)
	if err == nil || !strings.Contains(string(out), data) || !strings.Contains(string(out), want) {
		t.Errorf("second serve on %s: err = %v, output:\n%s\nwant a refusal naming the folder and %s", data, err, out, want)
	}
	if first.ProcessState != nil {
		t.Errorf("the first serve stopped: %v", first.ProcessState)
	}
}

// recon stopped by SIGTERM (as kill, systemd and container runtimes stop
// it) mid-reconstruction exits with an error and leaves nothing beside
// its output: no staging folder, no temporary file, no output.
func TestReconTerminatedCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and reconstructs")
	}
	bin := buildCtrecon(t)
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan")
	if out, err := exec.Command(bin, "phantom", "--spectral", "--views", "30", "-o", scan).CombinedOutput(); err != nil {
		t.Fatalf("phantom: %v\n%s", err, out)
	}
	outs := filepath.Join(dir, "outs")
	if err := os.Mkdir(outs, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	// The default grid, 512x512x128 voxels, in one batch of every view: a
	// back-projection that runs for seconds.
	cmd := exec.CommandContext(ctx, bin, "recon", "-i", scan, "-o", filepath.Join(outs, "x8"), "--bins", "0", "--batch", "30", "--device", "cpu")
	logPath := startLogged(t, cmd)
	waitLog(t, logPath, "volume grid")
	time.Sleep(500 * time.Millisecond) // into the back-projection; not a timing assertion
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	err := cmd.Wait()
	data, _ := os.ReadFile(logPath)
	t.Logf("recon exited %.1f s after SIGTERM: %v\n%s", time.Since(signalled).Seconds(), err, data)
	if err == nil || ctx.Err() != nil {
		t.Errorf("recon after SIGTERM: err = %v, want it to stop with an error before the hang guard", err)
	}
	if cmd.ProcessState != nil && !cmd.ProcessState.Exited() {
		t.Errorf("recon was killed by the signal (%v) instead of stopping on it", cmd.ProcessState)
	}
	left, _ := os.ReadDir(outs)
	for _, e := range left {
		t.Errorf("left behind in %s: %s", outs, e.Name())
	}
}

// A voxel size that gives fewer than 8 voxels across the field of view, or
// more voxels than a volume may have, is refused before anything runs,
// naming --voxel (volume.voxel_mm in a job file) and the field of view in
// mm. Before, --voxel 1e9 reconstructed 1x1x1 voxels and --voxel 1e-6 was
// "volume: invalid geometry".
func TestVoxelSizeFitsFieldOfView(t *testing.T) {
	dir, scan := phantomScans(t)
	nowhere := []string{"--nats", "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runRecon, []string{"-i", scan, "-o", dir + "/out1", "--voxel", "1e9"}, "--voxel: 1e+09 mm is 3.8e-08 voxels across the field of view (a cylinder 37.7 mm across"},
		{runRecon, []string{"-i", scan, "-o", dir + "/out2", "--voxel", "1e-6"}, "--voxel: 1e-06 mm needs"},
		{runRecon, []string{"-i", dir + "/pfm", "-o", dir + "/x.mha", "--voxel", "1e9"}, "--voxel: 1e+09 mm is"},
		{runSubmit, append(nowhere, "-i", scan, "--voxel", "1e-6"), "--voxel: 1e-06 mm needs"},
	} {
		err := tc.run(tc.args)
		if !errors.Is(err, recon.ErrJob) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "field of view") {
			t.Errorf("%q: err = %v, want recon.ErrJob saying %q", tc.args, err, tc.want)
		}
	}
	job, err := recon.ParseJob([]byte(`{"input":"` + scan + `","volume":{"voxel_mm":1e9}}`))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := sinogram.ReadManifest(scan)
	if err != nil {
		t.Fatal(err)
	}
	if err := recon.Check(manifest, *job); err == nil || !strings.Contains(err.Error(), "volume.voxel_mm[0]: 1e+09 mm is") {
		t.Errorf("a job file with voxel_mm 1e9: err = %v, want it refused naming volume.voxel_mm", err)
	}
	for _, out := range []string{"out1", "out2", "x.mha"} {
		if _, err := os.Stat(filepath.Join(dir, out)); err == nil {
			t.Errorf("a refused recon wrote %s", out)
		}
	}
}

// status of a job that does not exist says so, naming it, instead of
// "bus: ... bus: not found".
func TestStatusUnknownJob(t *testing.T) {
	_, srv := bustest.Start(t, bus.Config{})
	err := runStatus([]string{"--nats", srv.ClientURL(), "nosuchjob"})
	if err == nil || !strings.HasPrefix(err.Error(), "no job nosuchjob") {
		t.Errorf("err = %v, want it to say there is no job nosuchjob", err)
	}
}

// startLogged starts cmd with its output in a log file, whose path it
// returns.
func startLogged(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	log, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return path
}

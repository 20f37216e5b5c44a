package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
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

// startWorkerProcess runs `ctrecon worker` against url, with its log in
// the file it returns.
func startWorkerProcess(t *testing.T, bin, url string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "worker", "--nats", url, "--device", "cpu", "--data", t.TempDir())
	path := filepath.Join(t.TempDir(), "worker.log")
	log, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	return cmd, path
}

// acquireSimulated streams a simulated scan of views views and returns
// its ID.
func acquireSimulated(t *testing.T, b *bus.Bus, views int) string {
	t.Helper()
	dir := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views = views
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := recon.Acquire(context.Background(), b, dir, recon.AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	return spec.ScanID
}

// submitLongJob builds ctrecon, starts a server whose ack wait is 2 s,
// streams a simulated scan and submits job id on it, into out, long enough
// for a worker to be caught in the middle.
func submitLongJob(t *testing.T, id, out string) (bin string, b *bus.Bus, srv *bus.Embedded) {
	t.Helper()
	bin = buildCtrecon(t)
	b, srv = bustest.Start(t, bus.Config{AckWait: 2 * time.Second})
	job := recon.Job{ID: id, ScanID: acquireSimulated(t, b, 90), Output: out,
		Volume: recon.VolumeSpec{Dim: [3]int{128, 128, 16}, VoxelMM: [3]float64{0.3, 0.3, 0.3}}}
	if _, _, err := recon.Submit(context.Background(), b, job); err != nil {
		t.Fatal(err)
	}
	return bin, b, srv
}

// A worker process killed (SIGKILL) in the middle of a job: after the
// acknowledgement deadline another worker process gets the job, finishes it,
// and exactly one series set exists.
func TestKilledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs worker processes")
	}
	ctx := context.Background()
	out := t.TempDir()
	bin, b, srv := submitLongJob(t, "killed-1", out)
	first, _ := startWorkerProcess(t, bin, srv.ClientURL())
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
	spec := scansim.DefaultSpec()
	spec.Views = 60
	if err := scansim.Simulate(scanDir, spec); err != nil {
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

// A worker process stopped (SIGSTOP) longer than the ack wait in the middle
// of a job, as a long pause or a partition would, while another worker
// process redoes the job, and then continued (SIGCONT): it finds that it
// lost the job, discards what it made and publishes nothing. The job has
// one output set, one study, one set of feature records on the stream and
// in the index, and the done status stays the second worker's.
func TestStalledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs worker processes")
	}
	ctx := context.Background()
	parent := t.TempDir()
	out := filepath.Join(parent, "study")
	bin, b, srv := submitLongJob(t, "stalled-1", out)
	first, firstLog := startWorkerProcess(t, bin, srv.ClientURL())
	held := func(cmd *exec.Cmd) string { return fmt.Sprintf("-%d-", cmd.Process.Pid) }
	waitStatus(t, b, "stalled-1", func(st bus.Status) bool {
		return st.State == bus.StateRunning && st.Progress > 0.2 && strings.Contains(st.Attempt, held(first))
	})
	if err := first.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	second, _ := startWorkerProcess(t, bin, srv.ClientURL())
	waitStatus(t, b, "stalled-1", func(st bus.Status) bool { return st.State == bus.StateDone })
	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitLog(t, firstLog, "lost the job to another attempt")

	st, err := b.GetStatus(ctx, "stalled-1")
	if err != nil || st.State != bus.StateDone || !strings.Contains(st.Attempt, held(second)) {
		t.Errorf("status %+v (%v), want done by the second worker", st, err)
	}
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if series, _ := filepath.Glob(filepath.Join(out, "dicom", "*")); len(series) != 5 {
		t.Errorf("%d series folders, want one per bin: %v", len(series), series)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("%s holds %v, want only the output folder", parent, entries)
	}
	want := map[string]bool{}
	for _, b := range rep.Bins {
		want[b.SeriesInstanceUID] = true
	}
	records, _ := os.ReadFile(filepath.Join(out, recon.FeaturesName))
	n := strings.Count(string(records), "\n")
	var stored int
	err = b.ConsumeFeatures(ctx, true, func(f bus.Feature) error {
		stored++
		if f.StudyUID != rep.StudyInstanceUID || !want[f.SeriesUID] {
			t.Errorf("feature record of study %s series %s: not the output's (study %s)", f.StudyUID, f.SeriesUID, rep.StudyInstanceUID)
		}
		if f.Pending == 0 {
			return bus.ErrStop
		}
		return nil
	})
	if err != nil || stored != n || n == 0 {
		t.Errorf("%d feature records on the stream (%v), want the output's %d", stored, err, n)
	}
	lib, follower := followSearch(t, b)
	for deadline := time.Now().Add(30 * time.Second); !follower.Ready() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if hist := strings.Count(string(records), `"kind":"hist-hu","version":1,`); histVectors(t, lib) != hist || hist == 0 {
		t.Errorf("the index holds %d HU histograms, want the output's %d", histVectors(t, lib), hist)
	}
}

// waitStatus polls the job's status until ok accepts it, failing the test
// after two minutes or when the job ends otherwise.
func waitStatus(t *testing.T, b *bus.Bus, id string, ok func(bus.Status) bool) bus.Status {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st, err := b.GetStatus(context.Background(), id)
		if err == nil && ok(st) {
			return st
		}
		if st.State.Final() || time.Now().After(deadline) {
			t.Fatalf("job %s: status %+v (%v) never came", id, st, err)
		}
	}
}

// waitLog waits until the log file holds text.
func waitLog(t *testing.T, path, text string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in %s:\n%s", text, path, data)
		}
	}
}

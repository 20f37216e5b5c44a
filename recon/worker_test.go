package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/nats-io/nats.go"
)

// precious returns a folder holding a file somebody cares about, and a
// check that the file is still there, byte for byte, and alone.
func precious(t *testing.T) (dir string, intact func()) {
	t.Helper()
	dir = t.TempDir()
	content := []byte("five years of measurements\n")
	if err := os.WriteFile(filepath.Join(dir, "thesis.dat"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, func() {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, "thesis.dat"))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("the user's file in %s: %q, %v; want it untouched", dir, got, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s holds %d entries, want only the user's file", dir, len(entries))
		}
	}
}

// A job whose output names a folder that holds something else is refused
// at submit, naming the folder; a worker that receives it anyway (from a
// submitter that could not see the folder), twice, refuses it too and
// leaves the folder as it was.
func TestForeignOutputIsKept(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	dir, intact := precious(t)
	j := smallJob(t)
	j.ID, j.Output = "foreign-1", dir
	if _, _, err := Submit(ctx, b, j); !errors.Is(err, ErrJob) || !strings.Contains(err.Error(), dir) {
		t.Errorf("submit: err = %v, want ErrJob naming %s", err, dir)
	}
	intact()
	spec, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second message stands for a redelivery
		msg := &nats.Msg{Subject: bus.SubjectJobs, Header: nats.Header{bus.HeaderJobID: []string{j.ID}}, Data: spec}
		if _, err := b.JetStream().PublishMsg(ctx, msg); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	w, _ := startWorker(t, b, t.TempDir())
	st := waitState(t, b, j.ID, time.Minute)
	if st.State != bus.StateFailed || !strings.Contains(st.Reason, dir) {
		t.Errorf("status %+v, want failed naming %s", st, dir)
	}
	for deadline := time.Now().Add(time.Minute); settled(w, OutcomeFailed) != 1 || jobsPending(t, b) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker settled %d failures, %d jobs pending", settled(w, OutcomeFailed), jobsPending(t, b))
		}
	}
	intact()
}

// The offline path refuses a folder that is not empty, and a run that
// fails leaves nothing behind: no output folder, no staging folder.
func TestRunOutputOwnership(t *testing.T) {
	dir, intact := precious(t)
	j := smallJob(t)
	j.Output = dir
	if _, err := Run(context.Background(), j, Options{}); !errors.Is(err, ErrJob) || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want ErrJob naming %s", err, dir)
	}
	intact()
	parent := t.TempDir()
	j.Output, j.Bins = filepath.Join(parent, "study"), []int{9}
	if _, err := Run(context.Background(), j, Options{}); err == nil {
		t.Fatal("a job with a missing bin ran")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a failed run left %v in %s", entries, parent)
	}
	j.Bins = []int{0}
	if _, err := Run(context.Background(), j, Options{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(j.Output, ReportName))
	if _, err := Run(context.Background(), j, Options{}); !errors.Is(err, ErrJob) || !strings.Contains(err.Error(), "earlier run") {
		t.Errorf("a second run into the first's output: %v, want refused", err)
	}
	if after, _ := os.ReadFile(filepath.Join(j.Output, ReportName)); !bytes.Equal(before, after) || len(before) == 0 {
		t.Error("the first run's report changed")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("%s holds %v, want the output folder alone", parent, entries)
	}
}

// A job for a scan that never comes waits (its status says so, naming the
// scans on the bus) without holding up the worker: a later job runs
// meanwhile. Cancelled, the waiting job stops at once and says who
// cancelled it.
func TestWaitingJobDoesNotHoldTheWorker(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	w, _ := startWorker(t, b, t.TempDir())
	late := streamJob(t, "late-1")
	late.ScanID = "NEVER-0001"
	if _, _, err := Submit(ctx, b, late); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, b, "late-1", func(st bus.Status) bool { return st.State == bus.StateWaiting })
	if !strings.Contains(st.Reason, "NEVER-0001") || !strings.Contains(st.Reason, "SIM-0001") {
		t.Errorf("waiting status %+v: want the scan waited for and the scans on the bus named", st)
	}
	runSmallJob(t, b, "after-late-1")
	if _, err := Cancel(ctx, b, "late-1", "tester"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); settled(w, OutcomeCancelled) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not stop the cancelled job")
		}
	}
	if st, _ := b.GetStatus(ctx, "late-1"); st.State != bus.StateCancelled || st.CancelledBy != "tester" {
		t.Errorf("status %+v, want cancelled by tester", st)
	}
	if _, err := Cancel(ctx, b, "late-1", "tester"); !errors.Is(err, ErrOver) {
		t.Errorf("cancelling twice: %v, want ErrOver", err)
	}
	if _, err := Cancel(ctx, b, "nobody", "tester"); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("cancelling an unknown job: %v, want ErrNotFound", err)
	}
}

// A job whose scan never comes fails after its scan wait, naming the scan
// and the scans that are on the bus.
func TestScanWaitDeadline(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{ScanID: "OTHER-0001"}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, b, t.TempDir())
	j := streamJob(t, "nowhere-1")
	j.ScanWaitS = 1
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, "nowhere-1", time.Minute)
	if st.State != bus.StateFailed || !strings.Contains(st.Reason, "SIM-0001") || !strings.Contains(st.Reason, "OTHER-0001") {
		t.Errorf("status %+v, want failed naming scan SIM-0001 and the scan on the bus, OTHER-0001", st)
	}
}

// A running job cancelled stops within moments, leaves no output and no
// staging folder, and its worker takes the next job; a queued job
// cancelled before any worker runs is never run.
func TestCancelRunningAndQueuedJobs(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	queued := smallJob(t)
	queued.ID = "queued-1"
	if _, _, err := Submit(ctx, b, queued); err != nil {
		t.Fatal(err)
	}
	if _, err := Cancel(ctx, b, "queued-1", "tester"); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	running := streamJob(t, "running-1")
	running.Output, running.Volume.Dim = filepath.Join(parent, "out"), [3]int{128, 128, 8}
	if _, _, err := Submit(ctx, b, running); err != nil {
		t.Fatal(err)
	}
	w, _ := startWorker(t, b, t.TempDir())
	waitFor(t, b, "running-1", func(st bus.Status) bool { return st.State == bus.StateRunning && st.Progress > 0.1 })
	if _, err := Cancel(ctx, b, "running-1", "tester"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); settled(w, OutcomeCancelled) != 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker stopped %d cancelled jobs, want 2", settled(w, OutcomeCancelled))
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("the cancelled job left %v", entries)
	}
	for _, id := range []string{"queued-1", "running-1"} {
		if st, _ := b.GetStatus(ctx, id); st.State != bus.StateCancelled || st.CancelledBy != "tester" {
			t.Errorf("job %s: %+v, want cancelled by tester", id, st)
		}
	}
	runSmallJob(t, b, "after-cancel-1")
}

// A worker that lost its job (another attempt claimed it after the ack
// wait) cannot write the job's status, fails its checks, and hears of it
// from its watch at once.
func TestClaimFencing(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	actx, loseA := context.WithCancelCause(ctx)
	defer loseA(nil)
	a, _, err := claimJob(actx, b, "fenced-1", "attempt-a", loseA)
	if err != nil {
		t.Fatal(err)
	}
	stop := a.watch(actx)
	defer stop()
	if err := a.put(ctx, bus.Status{State: bus.StateRunning, Progress: 0.5}); err != nil {
		t.Fatal(err)
	}
	b2, loseB := context.WithCancelCause(ctx)
	defer loseB(nil)
	if _, _, err := claimJob(b2, b, "fenced-1", "attempt-b", loseB); err != nil {
		t.Fatal(err)
	}
	select {
	case <-actx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not tell the first attempt it lost the job")
	}
	if err := a.put(ctx, bus.Status{State: bus.StateDone, Progress: 1}); !errors.Is(err, errLost) {
		t.Errorf("the losing attempt wrote its status: %v", err)
	}
	if err := a.check(ctx); !errors.Is(err, errLost) || !strings.Contains(err.Error(), "attempt-b") {
		t.Errorf("check: %v, want the job lost to attempt-b", err)
	}
	if st, _ := b.GetStatus(ctx, "fenced-1"); st.Attempt != "attempt-b" || st.State != bus.StateRunning {
		t.Errorf("status %+v, want attempt-b's", st)
	}
}

// A job whose scan is malformed fails, and the worker stops consuming the
// scan at once, not when it shuts down.
func TestFailedJobStopsScanConsumer(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	calib := t.TempDir()
	os.WriteFile(filepath.Join(calib, "flat.raw"), []byte{1, 2}, 0o644)
	if _, err := b.PutFolder(ctx, CalibrationFolder("BROKEN-1"), calib); err != nil {
		t.Fatal(err)
	}
	startWorker(t, b, t.TempDir())
	j := streamJob(t, "broken-1")
	j.ScanID = "BROKEN-1"
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	// Published after the job, or Submit's check would refuse the job.
	if _, err := b.PublishManifest(ctx, "BROKEN-1", []byte(`{"scan_id": "BROKEN-1"}`)); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, b, "broken-1", time.Minute); st.State != bus.StateFailed {
		t.Fatalf("job ended %s, want failed", st.State)
	}
	for deadline := time.Now().Add(10 * time.Second); consuming(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed job's scan consumer is still running")
		}
	}
}

// consuming reports whether a goroutine consumes a streamed scan.
func consuming() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*streamSource).open.func")
}

// Writers of the same frame (two jobs of one scan on one worker) each
// write through a temporary file of their own: every write succeeds and
// the file always holds one whole write.
func TestWriteAtomicConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "frame.raw")
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for w := range 8 {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(w)}, 64<<10)
			for range 50 {
				if err := writeAtomic(path, data); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || len(got) != 64<<10 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
		t.Fatalf("frame holds %d bytes mixed from several writes (%v)", len(got), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// runSmallJob submits a small job on the test scan's folder and fails the
// test unless it is done within a minute.
func runSmallJob(t *testing.T, b *bus.Bus, id string) {
	t.Helper()
	j := smallJob(t)
	j.ID = id
	if _, _, err := Submit(context.Background(), b, j); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, b, id, time.Minute); st.State != bus.StateDone {
		t.Fatalf("job %s ended %s: %s", id, st.State, st.Reason)
	}
}

// waitFor polls the job's status until ok accepts it.
func waitFor(t *testing.T, b *bus.Bus, id string, ok func(bus.Status) bool) bus.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := b.GetStatus(context.Background(), id)
		if err == nil && ok(st) {
			return st
		}
		if st.State.Final() || time.Now().After(deadline) {
			t.Fatalf("job %s: status %+v (%v) never came", id, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jobsPending returns how many jobs the JOBS work queue holds.
func jobsPending(t *testing.T, b *bus.Bus) uint64 {
	t.Helper()
	return streamMessages(t, b, bus.StreamJobs)
}

// streamMessages returns how many messages the stream holds.
func streamMessages(t *testing.T, b *bus.Bus, stream string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A folder of the user's files that appears at a job's output while the
// job waits for its streamed scan fails the job before it reconstructs
// (in its check stage, naming the folder), not at commit after the
// whole reconstruction; the files are untouched. The job decomposes with
// a sharp filter, which its check warns of before it fails: the failed
// status carries that warning.
func TestOutputCheckedBeforeReconstructing(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	startWorker(t, b, t.TempDir())
	dir := filepath.Join(t.TempDir(), "study")
	j := streamJob(t, "late-owner-1")
	j.Output = dir
	j.Materials, j.Filter = []string{"water", "iodine"}, FilterSpec{Window: "ram-lak", Cutoff: 1}
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, j.ID, func(st bus.Status) bool { return st.State == bus.StateWaiting })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "thesis.dat"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, j.ID, time.Minute)
	if st.State != bus.StateFailed || !strings.Contains(st.Reason, "check: ") || !strings.Contains(st.Reason, dir) {
		t.Errorf("status %+v, want failed in the check stage naming %s", st, dir)
	}
	if len(st.Warnings) != 1 || !strings.HasPrefix(st.Warnings[0], "filter: ") {
		t.Errorf("failed status's warnings %q, want the filter's", st.Warnings)
	}
	var out strings.Builder
	if err := WriteStatus(&out, st); err != nil || !strings.HasPrefix(out.String(), "  warning: filter: ") {
		t.Errorf("WriteStatus of the failed job wrote %q (%v), want its warning", out.String(), err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "thesis.dat")); string(data) != "mine" {
		t.Errorf("the user's file: %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d entries, want only the user's file", dir, len(entries))
	}
}

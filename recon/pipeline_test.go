package recon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/sinogram"
)

// startWorker runs a worker until the test ends (or stop is called).
func startWorker(t *testing.T, b *bus.Bus, dir string) (w *Worker, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	w = &Worker{Bus: b, Dir: dir, RetryDelay: 100 * time.Millisecond, Metrics: NewMetrics()}
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return w, stop
}

// settled returns how many deliveries w settled with outcome, from its
// metrics.
func settled(w *Worker, outcome string) int {
	return int(testutil.ToFloat64(w.Metrics.Jobs.WithLabelValues(outcome)))
}

// waitState polls the job's status until it reaches a final state.
func waitState(t *testing.T, b *bus.Bus, id string, within time.Duration) bus.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := b.GetStatus(context.Background(), id)
		if err == nil && (st.State == bus.StateDone || st.State == bus.StateFailed) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not finished within %v: %+v (%v)", id, within, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func streamJob(t *testing.T, id string) Job {
	j := smallJob(t)
	j.ID, j.Input, j.ScanID, j.Output, j.WriteMHA = id, "", "SIM-0001", "", true
	return j
}

// A scan streamed while a worker reconstructs it gives the same volumes as
// the offline path, bit for bit: the views arrive in the same order, so the
// sums are the same sums. The worker also publishes the features.
func TestStreamedScanMatchesOffline(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	offline, err := offlineVolumes()
	if err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	startWorker(t, b, workDir)
	ctx := context.Background()
	if _, _, err := Submit(ctx, b, streamJob(t, "stream-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, b, "stream-1", time.Minute); st.State != bus.StateDone {
		t.Fatalf("job ended %s: %s", st.State, st.Reason)
	}
	compareVolumes(t, offline, filepath.Join(workDir, "out", "stream-1"))
	n := 0
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b.ConsumeFeatures(fctx, true, func(f bus.Feature) error {
		if n++; f.Pending == 0 {
			return bus.ErrStop
		}
		return nil
	})
	if n < 5 {
		t.Errorf("%d feature vectors published, want at least one per bin", n)
	}
}

// A malformed job is rejected at submit, naming the field, and never
// queued.
func TestSubmitRejectsMalformedJob(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	j := streamJob(t, "bad-1")
	j.Volume.Dim[2] = 0
	if _, _, err := Submit(context.Background(), b, j); !errors.Is(err, ErrJob) || !strings.Contains(err.Error(), "volume.dim[2]") {
		t.Fatalf("err = %v, want ErrJob naming volume.dim[2]", err)
	}
	if _, err := b.GetStatus(context.Background(), "bad-1"); err == nil {
		t.Error("a rejected job has a status")
	}
}

// A job whose frames are corrupt ends failed at once with a reason naming
// the frame, and the scan stays on the bus.
func TestCorruptFrameFailsJob(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{MaxDeliver: 3})
	startWorker(t, b, t.TempDir())
	ctx := context.Background()
	bad := corruptCopy(t, scanDir(t), 7, 2)
	if _, _, err := Submit(ctx, b, streamJob(t, "corrupt-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, b, bad, AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, "corrupt-1", time.Minute)
	if st.State != bus.StateFailed || !strings.Contains(st.Reason, "view") {
		t.Fatalf("status %+v, want failed with a reason naming the frame", st)
	}
	t.Logf("reason: %s", st.Reason)
	kept := 0
	b.ConsumeScan(ctx, "SIM-0001", func(f bus.Frame) error {
		if kept++; f.Pending == 0 {
			return bus.ErrStop
		}
		return nil
	})
	if kept != 1+90*5 {
		t.Errorf("%d messages of the scan kept on the bus, want %d", kept, 1+90*5)
	}
}

// corruptCopy copies the scan folder and truncates one projection frame.
func corruptCopy(t *testing.T, src string, view, bin int) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	scan, err := sinogram.ReadManifest(dst)
	if err != nil {
		t.Fatal(err)
	}
	path := scan.FramePath(sinogram.ProjectionFrame, view, bin, 0, 0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A worker that dies mid-job leaves it to another, which finishes it: one
// series set in the output, the job done.
func TestWorkerDiesMidJob(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{AckWait: time.Second, MaxDeliver: 5})
	ctx := context.Background()
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	j := streamJob(t, "crash-1")
	j.Output, j.Volume.Dim = out, [3]int{128, 128, 8} // long enough to be caught mid-way
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	first, stopFirst := startWorker(t, b, t.TempDir())
	// Let the first worker get into the job, then stop it.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		st, _ := b.GetStatus(ctx, "crash-1")
		if st.State == bus.StateRunning && st.Progress > 0.2 {
			break
		}
		if st.State == bus.StateDone || time.Now().After(deadline) {
			t.Fatalf("could not catch the first worker mid-job: %+v", st)
		}
	}
	stopFirst()
	if settled(first, OutcomeDone) != 0 {
		t.Fatal("the first worker finished before it was stopped")
	}
	startWorker(t, b, t.TempDir())
	if st := waitState(t, b, "crash-1", time.Minute); st.State != bus.StateDone {
		t.Fatalf("job ended %s: %s", st.State, st.Reason)
	}
	series, _ := filepath.Glob(filepath.Join(out, "dicom", "*"))
	if len(series) != 5 {
		t.Errorf("%d series folders, want one per bin: %v", len(series), series)
	}
}

// compareVolumes fails unless every bin's volume in dir equals the offline
// reconstruction's, bit for bit.
func compareVolumes(t *testing.T, offlineDir, dir string) {
	t.Helper()
	for bin := range 5 {
		name := fmt.Sprintf("volume_bin%d.mha", bin)
		want, err := metaimage.Read(filepath.Join(offlineDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := metaimage.Read(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Fatalf("bin %d voxel %d: %g, offline %g", bin, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// offlineVolumes reconstructs the test scan with the offline path, volumes
// written, once per test binary.
var offlineVolumes = sync.OnceValues(func() (string, error) {
	dir, err := sharedTempDir("ctrecon-offline-")
	if err != nil {
		return "", err
	}
	scan, err := simulated()
	if err != nil {
		return "", err
	}
	j := Job{ID: "offline", Input: scan, Output: dir, WriteMHA: true,
		Volume: VolumeSpec{Dim: [3]int{64, 64, 4}, VoxelMM: [3]float64{0.6, 0.6, 0.6}},
		Filter: FilterSpec{Window: "hann", Cutoff: 0.3}}
	_, err = Run(context.Background(), j, Options{})
	return dir, err
})

// Restarting the embedded server in the middle of a scan loses no frame:
// the acquisition host repeats what was not acknowledged, the worker's
// consumer picks up where it was, and the volumes equal the offline path's.
func TestServerRestartMidScan(t *testing.T) {
	offline, err := offlineVolumes()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, srv := bustest.Start(t, bus.Config{})
	opts := srv.Options()
	workDir := t.TempDir()
	startWorker(t, b, workDir)
	if _, _, err := Submit(ctx, b, streamJob(t, "restart-1")); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan *bus.Embedded, 1)
	_, err = Acquire(ctx, b, scanDir(t), AcquireOptions{Retry: time.Second, Progress: func(done, total int) {
		if done == total/2 {
			srv.Shutdown()
			srv.WaitForShutdown()
			again, err := bus.StartEmbedded(ctx, opts)
			if err != nil {
				t.Error(err)
			}
			restarted <- again
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup((<-restarted).Shutdown)
	if st := waitState(t, b, "restart-1", 2*time.Minute); st.State != bus.StateDone {
		t.Fatalf("job ended %s: %s", st.State, st.Reason)
	}
	compareVolumes(t, offline, filepath.Join(workDir, "out", "restart-1"))
}

// On a three-node cluster with three replicas, two workers (each with its
// own connection, as separate processes would have) finish two jobs while
// one node is stopped half-way.
func TestClusterSurvivesANode(t *testing.T) {
	offline, err := offlineVolumes()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nodes, err := bus.StartLocalCluster(ctx, 3, bus.EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		t.Cleanup(n.Shutdown)
	}
	urls := nodes[0].ClientURL() + "," + nodes[1].ClientURL() + "," + nodes[2].ClientURL()
	cfg := bus.Config{Replicas: 3}
	connect := func() *bus.Bus { return bustest.Connect(t, urls, cfg) }
	b := connect()
	dirs := []string{t.TempDir(), t.TempDir()}
	startWorker(t, connect(), dirs[0])
	startWorker(t, connect(), dirs[1])
	for _, id := range []string{"cl-1", "cl-2"} {
		j := streamJob(t, id)
		j.Output = filepath.Join(dirs[0], id) // any folder: the workers share this disk
		if _, _, err := Submit(ctx, b, j); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Acquire(ctx, b, scanDir(t), AcquireOptions{Retry: time.Second, Progress: func(done, total int) {
		if done == total/2 {
			nodes[1].Shutdown()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cl-1", "cl-2"} {
		if st := waitState(t, b, id, 2*time.Minute); st.State != bus.StateDone {
			t.Fatalf("job %s ended %s: %s", id, st.State, st.Reason)
		}
		compareVolumes(t, offline, filepath.Join(dirs[0], id))
	}
}

// After a streamed job, FEATURES holds the worker's feature records of
// every kind for each bin and object: the objects, HU and metric
// histograms, virtual images and radiomics per bin, a spectral signature
// per object, all with the scan, job, study and series, one settings hash
// and the patient ID pseudonymised under the deployment's key; no message
// holds the patient's name or ID. The output's Parquet files hold the same
// records.
func TestWorkerPublishesFeatureRecords(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	workDir := t.TempDir()
	startWorker(t, b, workDir)
	ctx := context.Background()
	j := streamJob(t, "records-1")
	j.PatientName, j.PatientID = "DOE^JANE", "PID-7731"
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, b, scanDir(t), AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, b, "records-1", 2*time.Minute); st.State != bus.StateDone {
		t.Fatalf("job ended %s: %s", st.State, st.Reason)
	}
	key, err := b.PseudonymKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReport(filepath.Join(workDir, "out", "records-1"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []records.Record
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = b.ConsumeFeatures(fctx, true, func(f bus.Feature) error {
		for _, secret := range []string{"DOE", "JANE", "PID-7731"} {
			if bytes.Contains(f.Data, []byte(secret)) || strings.Contains(fmt.Sprint(f.Header), secret) {
				t.Errorf("a FEATURES message holds %q: %s", secret, f.Data)
			}
		}
		r, err := records.Unmarshal(f.Data)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		if f.Pending == 0 {
			return bus.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pseudonym := records.Pseudonymise(key, "PID-7731")
	count := map[string]int{} // by bin/kind
	objects := map[int64]bool{}
	for _, r := range recs {
		if r.Patient != pseudonym || r.ScanID != "SIM-0001" || r.JobID != "records-1" || r.Settings != recs[0].Settings ||
			r.StudyUID != rep.StudyInstanceUID || r.SeriesUID != rep.Bins[r.Bin].SeriesInstanceUID {
			t.Fatalf("record %s: %+v: want patient %s, scan SIM-0001, job records-1, the report's UIDs, one settings hash", r.Key(), r, pseudonym)
		}
		count[fmt.Sprintf("%d/%s", r.Bin, r.KindVersion())]++
		if r.Kind == "objects" {
			objects[r.Object] = true
		}
	}
	if len(objects) < 3 {
		t.Fatalf("%d objects found, want the phantom's body and inserts", len(objects))
	}
	for _, bin := range rep.Bins {
		for kind, want := range map[string]int{"objects-v1": len(objects), "radiomics-v1": len(objects), "vimage-xyz-v1": 1} {
			if got := count[fmt.Sprintf("%d/%s", bin.Index, kind)]; got != want {
				t.Errorf("bin %d: %d %s records, want %d", bin.Index, got, kind, want)
			}
		}
		for _, kind := range []string{"hist-hu-v1", "mhist-hu-v1", "vimage-xy-v1"} {
			if count[fmt.Sprintf("%d/%s", bin.Index, kind)] < 2 {
				t.Errorf("bin %d: no %s records of slices", bin.Index, kind)
			}
		}
	}
	if got := count[fmt.Sprintf("%d/spectral-v1", rep.Bins[0].Index)]; got != len(objects) {
		t.Errorf("%d spectral records, want one per object: %d", got, len(objects))
	}
	files, _ := filepath.Glob(filepath.Join(workDir, "out", "records-1", FeaturesDir, "*.parquet"))
	inFiles := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, rs, err := records.ReadParquet(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		inFiles += len(rs)
	}
	if len(files) != 7 || inFiles != len(recs) {
		t.Errorf("%d Parquet files holding %d records, want 7 kinds holding the stream's %d", len(files), inFiles, len(recs))
	}
	t.Logf("%d records of %d objects in %d bins: %v", len(recs), len(objects), len(rep.Bins), count)
}

// A feature record larger than the server's max_payload (here 2 560
// bytes, which the largest of this small job's records pass) is left out, and the job is done, its status warning
// of each by its key and size, with every other record published. Before,
// the publication failed the same way on every delivery and the job ended
// failed, with none of its records in the search (trial 25: a virtual
// image of 400×400×80 voxels, 1.5 MB against 1 MiB).
func TestWorkerLeavesOutOversizeRecords(t *testing.T) {
	const limit = 2560
	srv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedOptions{DataDir: t.TempDir(), Port: -1, MaxPayload: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b := bustest.Connect(t, srv.ClientURL(), bus.Config{})
	workDir := t.TempDir()
	startWorker(t, b, workDir)
	ctx := context.Background()
	j := smallJob(t) // a folder the worker reads: the scan's frames are over the limit
	j.ID, j.Output = "large-1", ""
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, "large-1", 2*time.Minute)
	data, err := os.ReadFile(filepath.Join(workDir, "out", "large-1", FeaturesName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var large []string
	for _, l := range lines {
		if len(l) > limit {
			r, err := records.Unmarshal([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			large = append(large, r.Key())
		}
	}
	// The server counts the headers too: records a little under the limit
	// are left out as well.
	warned := slices.IndexFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "larger than the NATS server's max_payload") })
	var left int
	if warned >= 0 {
		fmt.Sscanf(st.Warnings[warned], "%d feature records", &left)
	}
	if st.State != bus.StateDone || len(large) == 0 || left < len(large) {
		t.Fatalf("job %s (%s), warnings %q; want done, warning of the %d records over %d bytes and any a little under", st.State, st.Reason, st.Warnings, len(large), limit)
	}
	n := 0
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.ConsumeFeatures(fctx, true, func(f bus.Feature) error {
		n++
		if f.Pending == 0 {
			return bus.ErrStop
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(lines)-left || n == 0 {
		t.Errorf("%d records published, want the %d of %d not left out", n, len(lines)-left, len(lines))
	}
}

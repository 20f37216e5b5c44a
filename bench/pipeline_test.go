package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// BenchmarkStreamingLatency streams a reference scan (360 views, 4 energy
// bins) at the scanner's pace to a worker on an embedded server while it
// reconstructs a 256³ volume per bin, and reports the time from the last
// frame acknowledged to the job done (DICOM series, features and report
// written). The offline path on the same scan, in the same run, gives the
// latency without streaming and the jobs per hour one worker sustains.
func BenchmarkStreamingLatency(b *testing.B) {
	dir, spec, job := referenceJob(b)
	ctx := context.Background()
	for b.Loop() {
		offline := job
		offline.ID, offline.Input, offline.Output = "offline", dir, b.TempDir()
		start := time.Now()
		if _, err := recon.Run(ctx, offline, recon.Options{}); err != nil {
			b.Fatal(err)
		}
		offlineSecs := time.Since(start).Seconds()
		// Pace the scanner so that the worker keeps up: the offline
		// reconstruction's time per view, plus a fifth.
		pace := time.Duration(1.2 * offlineSecs / float64(spec.Views) * float64(time.Second))
		latency := streamedLatency(b, dir, job, pace)
		b.ReportMetric(offlineSecs, "offline-s")
		b.ReportMetric(latency.Seconds(), "stream-latency-s")
		b.ReportMetric(3600/offlineSecs, "jobs/hour")
		b.ReportMetric(pace.Seconds()*1000, "pace-ms/view")
	}
}

// referenceJob simulates the reference scan (360 views, 4 energy bins)
// into a folder and returns it with the job that reconstructs each bin
// into 256³ voxels of 0.15 mm.
func referenceJob(b *testing.B) (string, scansim.Spec, recon.Job) {
	dir := b.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = 360, []float64{15, 30, 50, 70}
	if err := scansim.Simulate(dir, spec); err != nil {
		b.Fatal(err)
	}
	return dir, spec, recon.Job{Volume: recon.VolumeSpec{Dim: [3]int{256, 256, 256}, VoxelMM: [3]float64{0.15, 0.15, 0.15}},
		Filter: recon.FilterSpec{Window: "hann"}}
}

// streamedLatency runs one streamed job and returns the time from the last
// frame's acknowledgement to the done status.
func streamedLatency(b *testing.B, dir string, job recon.Job, pace time.Duration) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bs, _ := bustest.Start(b, bus.Config{})
	w := &recon.Worker{Bus: bs, Dir: b.TempDir()}
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	scan, err := sinogram.ReadManifest(dir)
	if err != nil {
		b.Fatal(err)
	}
	job.ID, job.ScanID = "streamed", scan.ScanID
	if _, _, err := recon.Submit(ctx, bs, job); err != nil {
		b.Fatal(err)
	}
	if _, err := recon.Acquire(ctx, bs, dir, recon.AcquireOptions{Pace: pace}); err != nil {
		b.Fatal(err)
	}
	last := time.Now()
	for {
		st, err := bs.GetStatus(ctx, "streamed")
		if err == nil && st.State == bus.StateDone {
			return time.Since(last)
		}
		if st.State == bus.StateFailed {
			b.Fatalf("streamed job failed: %s", st.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package bench

import (
	"context"
	"testing"

	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
)

// BenchmarkFeaturesPerJob runs the offline job of BenchmarkStreamingLatency
// (a simulated 360-view, 4-bin MARS scan, each bin into 256³ voxels of
// 0.15 mm) with the worker's feature extraction (every kind per bin and
// object, records to JSON lines and Parquet), and reports the features
// stage's time against the reconstruction's.
func BenchmarkFeaturesPerJob(b *testing.B) {
	dir := b.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = 360, []float64{15, 30, 50, 70}
	if err := scansim.Simulate(dir, spec); err != nil {
		b.Fatal(err)
	}
	job := recon.Job{Volume: recon.VolumeSpec{Dim: [3]int{256, 256, 256}, VoxelMM: [3]float64{0.15, 0.15, 0.15}},
		Filter: recon.FilterSpec{Window: "hann"}}
	for b.Loop() {
		j := job
		j.ID, j.Input, j.Output = "features", dir, b.TempDir()
		rep, err := recon.Run(context.Background(), j, recon.Options{Features: true})
		if err != nil {
			b.Fatal(err)
		}
		feat, rec := rep.Seconds["features"], rep.Seconds["reconstruct"]
		b.ReportMetric(feat, "features-s")
		b.ReportMetric(rec, "reconstruct-s")
		b.ReportMetric(100*feat/rec, "features-%")
	}
}

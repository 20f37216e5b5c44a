package bench

import (
	"context"
	"testing"

	"github.com/ctrecon/ctrecon/recon"
)

// BenchmarkFeaturesPerJob runs the offline job of BenchmarkStreamingLatency
// (a simulated 360-view, 4-bin MARS scan, each bin into 256³ voxels of
// 0.15 mm) with the worker's feature extraction (every kind per bin and
// object, records to JSON lines and Parquet), and reports the features
// stage's time against the reconstruction's.
func BenchmarkFeaturesPerJob(b *testing.B) {
	dir, _, job := referenceJob(b)
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

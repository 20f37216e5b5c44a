package bench

import (
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// BenchmarkPreprocess measures counts-to-line-integrals throughput on a
// simulated 720-view, 5-bin MARS scan (4 chips of 128² at 110 µm, gaps,
// flats, darks, bad pixels): frames read from disk, dark-subtracted,
// flat-normalised, bad pixels and gaps filled, -log.
func BenchmarkPreprocess(b *testing.B) {
	dir := b.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views = 720
	if err := scansim.Simulate(dir, spec); err != nil {
		b.Fatal(err)
	}
	scan, err := sinogram.ReadScan(dir)
	if err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		pre, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for v := range scan.Views {
			if _, _, err := pre.View(v); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
	}
	frames := float64(scan.Views * len(scan.Bins) * b.N)
	b.ReportMetric(frames/elapsed.Seconds(), "frames/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "scan-s")
}

package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/kernels"
)

// rabbitCT1024 reconstructs RabbitCT's projections into 1024³ voxels of
// 0.25 mm: a 4 GiB volume, still one slab on an H100.
var rabbitCT1024 = problem{"RabbitCT_1024^3_496x1248x960", 496, 1248, 960, 0.32, 785, 1200, 1024, 0.25}

// openCUDA opens the GPU with opts, or skips the benchmark where there is
// none (fails instead under CTRECON_REQUIRE_GPU=1). It warms the driver's
// JIT cache with a small accumulation so that the first timed run does not
// pay for compiling the PTX.
func openCUDA(b *testing.B, opts kernels.Options) *kernels.CUDA {
	c, err := kernels.Open(opts)
	if err != nil {
		if os.Getenv("CTRECON_REQUIRE_GPU") == "1" {
			b.Fatalf("CTRECON_REQUIRE_GPU=1 but no usable GPU: %v", err)
		}
		b.Skipf("no CUDA device: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	small := problem{"warm-up", 8, 64, 48, 1, 600, 1200, 32, 1}
	streamFDK(b, small.geometry(), small.grid(), viewCopies(make([]float32, 64*48), 8, 1), fdk.Options{Backprojector: c})
	return c
}

// BenchmarkCUDABackproject times back-projection of random filtered views,
// 32 at a time. GUPS counts the wall time from Start to Finish: staging in
// page-locked memory, uploads, kernels and the volume's download, as a user
// waits for them; kernel-GUPS counts the kernels' own time (CUDA events).
func BenchmarkCUDABackproject(b *testing.B) {
	c := openCUDA(b, kernels.Options{})
	for _, p := range []problem{rabbitCT, rabbitCT1024} {
		b.Run(p.name, func(b *testing.B) { reportCUDABackprojection(b, c, p) })
	}
}

func reportCUDABackprojection(b *testing.B, c *kernels.CUDA, p problem) {
	var wall, kernel time.Duration
	for b.Loop() {
		t, dt := backprojectAll(b, c, p, 32)
		wall += t
		kernel += dt.Backproject
	}
	n := float64(b.N)
	b.ReportMetric(p.updates()*n/wall.Seconds()/1e9, "GUPS")
	b.ReportMetric(p.updates()*n/kernel.Seconds()/1e9, "kernel-GUPS")
	b.ReportMetric(wall.Seconds()/n, "total-s")
	b.ReportMetric(kernel.Seconds()/n, "kernel-s")
}

// BenchmarkCUDAFDK times whole reconstructions through fdk.Reconstructor
// with the views streamed in one at a time, as a worker runs them: the GPU
// weights, filters and back-projects (gpu-filter), or the host weights and
// filters (cpu-filter). total-s is the wall time from the first view to the
// volume on the host, uploads and download included; the device's stage
// times come from CUDA events and overlap.
func BenchmarkCUDAFDK(b *testing.B) {
	c := openCUDA(b, kernels.Options{})
	for _, tc := range []struct {
		p          problem
		bins       int
		hostFilter bool
	}{
		{rabbitCT, 1, false}, {rabbitCT, 4, false}, {rabbitCT1024, 1, false}, {rabbitCT, 1, true},
	} {
		where := map[bool]string{false: "gpu-filter", true: "cpu-filter"}[tc.hostFilter]
		b.Run(fmt.Sprintf("%s/%d-bin/%s", tc.p.name, tc.bins, where), func(b *testing.B) {
			g := tc.p.geometry()
			src := randomImage(g.Pixels(), rand.New(rand.NewPCG(3, 4)))
			opts := fdk.Options{Backprojector: c, HostFilter: tc.hostFilter, Batch: 32}
			reportFDK(b, tc.p, tc.bins, func() [][][]float32 { return viewCopies(src, tc.p.views, tc.bins) },
				func(views [][][]float32) fdk.Timings { return streamFDK(b, g, tc.p.grid(), views, opts) })
		})
	}
}

// reportFDK times run on views from prepare (untimed) and reports the
// whole time and the stages. The first run, which also page-locks the
// staging buffers a worker then reuses job after job, is timed apart as
// first-s.
func reportFDK(b *testing.B, p problem, bins int, prepare func() [][][]float32, run func([][][]float32) fdk.Timings) {
	views := prepare()
	start := time.Now()
	run(views)
	first := time.Since(start)
	var elapsed time.Duration
	var t fdk.Timings
	for b.Loop() {
		views := prepare()
		start := time.Now()
		t = run(views)
		elapsed += time.Since(start)
	}
	total := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(p.updates()*float64(bins)/total/1e9, "GUPS")
	b.ReportMetric(total, "total-s")
	b.ReportMetric(t.Setup.Seconds(), "setup-s")
	b.ReportMetric(t.Filter.Seconds(), "host-filter-s")
	b.ReportMetric(t.Device.Upload.Seconds(), "upload-s")
	b.ReportMetric(t.Device.Filter.Seconds(), "gpu-filter-s")
	b.ReportMetric(t.Device.Backproject.Seconds(), "kernel-s")
	b.ReportMetric(t.Device.Download.Seconds(), "download-s")
	b.ReportMetric(peakRSS(), "peak-MiB")
	b.ReportMetric(first.Seconds(), "first-s") // after the loop, which resets the metrics
}

// BenchmarkCUDATune sweeps the launch shape on the RabbitCT problem and
// reports the kernels' device time for each: back-projection shapes
// (views per launch, voxels per thread, block) through Start, filter tiles
// through the GPU filter path. bench/RESULTS.md records the sweep and
// kernels.DefaultShape its winner.
func BenchmarkCUDATune(b *testing.B) {
	for _, v := range []int{16, 32, 64} {
		for _, z := range []int{4, 8, 16} {
			for _, blk := range [][2]int{{32, 4}, {32, 8}, {64, 4}, {128, 2}, {16, 16}} {
				shape := kernels.LaunchShape{ViewsPerLaunch: v, VoxelsPerThread: z, BlockX: blk[0], BlockY: blk[1]}
				b.Run(fmt.Sprintf("bp/P%d_V%d_%dx%d", v, z, blk[0], blk[1]), func(b *testing.B) {
					reportCUDABackprojection(b, openCUDA(b, kernels.Options{Shape: shape}), rabbitCT)
				})
			}
		}
	}
	g := rabbitCT.geometry()
	src := randomImage(g.Pixels(), rand.New(rand.NewPCG(3, 4)))
	for _, tile := range []int{64, 128, 256} {
		for _, rows := range []int{4, 8, 16} {
			shape := kernels.LaunchShape{FilterTile: tile, FilterRows: rows}
			b.Run(fmt.Sprintf("filter/T%d_R%d", tile, rows), func(b *testing.B) {
				c := openCUDA(b, kernels.Options{Shape: shape})
				opts := fdk.Options{Backprojector: c, Batch: 32}
				reportFDK(b, rabbitCT, 1, func() [][][]float32 { return viewCopies(src, rabbitCT.views, 1) },
					func(views [][][]float32) fdk.Timings { return streamFDK(b, g, rabbitCT.grid(), views, opts) })
			})
		}
	}
}

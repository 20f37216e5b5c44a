package bench

import (
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

// openCUDA opens the GPU, or skips the benchmark where there is none
// (fails instead under CTRECON_REQUIRE_GPU=1). It warms the driver's JIT
// cache with a small accumulation so that the first timed run does not pay
// for compiling the PTX.
func openCUDA(b *testing.B) *kernels.CUDA {
	c, err := kernels.Open(kernels.Options{})
	if err != nil {
		if os.Getenv("CTRECON_REQUIRE_GPU") == "1" {
			b.Fatalf("CTRECON_REQUIRE_GPU=1 but no usable GPU: %v", err)
		}
		b.Skipf("no CUDA device: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	small := problem{"warm-up", 8, 64, 48, 1, 600, 1200, 32, 1}
	views, det, pre, err := kernels.PrepareFDK(small.geometry(), fdk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	acc, err := c.StartFDK(views, det, small.grid(), 1, pre)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := acc.Finish(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkCUDABackproject times back-projection of random filtered views
// from Start to Finish: staging in page-locked memory, uploads, kernels and
// the volume's download all count, as they do for a user.
func BenchmarkCUDABackproject(b *testing.B) {
	c := openCUDA(b)
	for _, p := range []problem{rabbitCT, rabbitCT1024} {
		b.Run(p.name, func(b *testing.B) { reportBackprojection(b, c, p, 32) })
	}
}

// BenchmarkCUDAFDK times whole reconstructions with the views streamed in
// one at a time: gpu-filter weights and filters on the GPU (StartFDK, the
// host setup of the weights included), cpu-filter runs fdk.Reconstructor
// with the CUDA back-projector. GUPS counts the whole time.
func BenchmarkCUDAFDK(b *testing.B) {
	c := openCUDA(b)
	for _, p := range []problem{rabbitCT, rabbitCT1024} {
		g := p.geometry()
		src := randomImage(g.Pixels(), rand.New(rand.NewPCG(3, 4)))
		b.Run(p.name+"/gpu-filter", func(b *testing.B) {
			run := func() {
				views, det, pre, err := kernels.PrepareFDK(g, fdk.Options{})
				if err != nil {
					b.Fatal(err)
				}
				acc, err := c.StartFDK(views, det, p.grid(), 1, pre)
				if err != nil {
					b.Fatal(err)
				}
				for v := range p.views {
					if err := acc.Add([]fdk.Filtered{{View: v, Bins: [][]float32{src}}}); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := acc.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			reportFDK(b, p, run)
		})
		b.Run(p.name+"/cpu-filter", func(b *testing.B) {
			run := func() { streamFDK(b, g, p.grid(), src, fdk.Options{Backprojector: c}) }
			reportFDK(b, p, run)
		})
	}
}

func reportFDK(b *testing.B, p problem, run func()) {
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		run()
		elapsed += time.Since(start)
	}
	b.ReportMetric(p.updates()*float64(b.N)/elapsed.Seconds()/1e9, "GUPS")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "total-s")
	b.ReportMetric(peakRSS(), "peak-MiB")
}

package bench

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
)

// problem is a benchmark size.
type problem struct {
	name     string
	views    int
	cols     int
	rows     int
	pitch    float64
	sid, sdd float64
	dim      int
	voxel    float64
}

var (
	// medium is 256³ from 360 views of 512x384.
	medium = problem{"256^3_360x512x384", 360, 512, 384, 0.8, 750, 1200, 256, 1}
	// rabbitCT is the RabbitCT size: 512³ (0.5 mm) from 496 views of
	// 1248x960 (0.32 mm), with a C-arm's distances.
	rabbitCT = problem{"RabbitCT_512^3_496x1248x960", 496, 1248, 960, 0.32, 785, 1200, 512, 0.5}
)

func (p problem) geometry() *fdk.Geometry {
	g := &fdk.Geometry{SID: p.sid, SDD: p.sdd, Detector: fdk.Detector{Cols: p.cols, Rows: p.rows, PitchU: p.pitch, PitchV: p.pitch}}
	for i := range p.views {
		g.Angles = append(g.Angles, float64(i)*2*math.Pi/float64(p.views))
	}
	return g
}

func (p problem) grid() fdk.Grid {
	return fdk.CenteredGrid([3]int{p.dim, p.dim, p.dim}, [3]float64{p.voxel, p.voxel, p.voxel}, fdk.Vec3{})
}

func (p problem) updates() float64 { return float64(p.dim*p.dim*p.dim) * float64(p.views) }

func randomImage(n int, rng *rand.Rand) []float32 {
	img := make([]float32, n)
	for i := range img {
		img[i] = rng.Float32()
	}
	return img
}

// BenchmarkBackproject times back-projection alone: a batch of random
// filtered views at a time, as the reconstructor feeds it.
func BenchmarkBackproject(b *testing.B) {
	for _, p := range []problem{medium, rabbitCT} {
		b.Run(p.name, func(b *testing.B) { reportBackprojection(b, fdk.CPU{}, p, 16) })
	}
}

// reportBackprojection times backprojectAll and reports GUPS, seconds and
// peak memory.
func reportBackprojection(b *testing.B, bp fdk.Backprojector, p problem, batch int) {
	var elapsed time.Duration
	for b.Loop() {
		t, _ := backprojectAll(b, bp, p, batch)
		elapsed += t
	}
	b.ReportMetric(p.updates()*float64(b.N)/elapsed.Seconds()/1e9, "GUPS")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "bp-s")
	b.ReportMetric(peakRSS(), "peak-MiB")
}

// backprojectAll back-projects random images for every view of p through
// bp, batch views at a time, and returns the time from Start to Finish (for
// a GPU that includes staging, uploads and the volume's download) and, for
// a device, its own stage times.
func backprojectAll(b *testing.B, bp fdk.Backprojector, p problem, batch int) (time.Duration, fdk.DeviceTimes) {
	g := p.geometry()
	views, err := g.Views()
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	imgs := make([]fdk.Filtered, batch)
	for i := range imgs {
		imgs[i].Bins = [][]float32{randomImage(g.Pixels(), rng)}
	}
	start := time.Now()
	acc, err := bp.Start(views, g.Detector, p.grid(), 1)
	if err != nil {
		b.Fatal(err)
	}
	for v := 0; v < p.views; v += batch {
		n := min(batch, p.views-v)
		for i := range n {
			imgs[i].View = v + i
		}
		if err := acc.Add(imgs[:n]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := acc.Finish(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	var dt fdk.DeviceTimes
	if t, ok := acc.(fdk.DeviceTimer); ok {
		dt = t.DeviceTimes()
	}
	return elapsed, dt
}

// BenchmarkFDK times a whole reconstruction: weighting, filtering,
// back-projection and the field-of-view mask, with the views streamed in
// one at a time as a scanner would deliver them.
func BenchmarkFDK(b *testing.B) {
	for _, p := range []problem{medium, rabbitCT} {
		b.Run(p.name, func(b *testing.B) {
			g := p.geometry()
			rng := rand.New(rand.NewPCG(3, 4))
			src := randomImage(g.Pixels(), rng)
			var t fdk.Timings
			var elapsed time.Duration
			for b.Loop() {
				views := viewCopies(src, g.NumViews(), 1)
				start := time.Now()
				t = streamFDK(b, g, p.grid(), views, fdk.Options{})
				elapsed += time.Since(start)
			}
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "total-s")
			b.ReportMetric(t.Filter.Seconds(), "filter-s")
			b.ReportMetric(t.Backproject.Seconds(), "bp-s")
			b.ReportMetric(p.updates()/t.Backproject.Seconds()/1e9, "GUPS")
			b.ReportMetric(peakRSS(), "peak-MiB")
		})
	}
}

// peakRSS returns the process's peak resident memory in MiB (VmHWM), which
// covers every benchmark run so far in this process.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

// viewCopies returns views images per bin for bins bins, each a copy of
// src: the reconstructor keeps and may overwrite what it is given, as a
// scanner's frames would be fresh buffers.
func viewCopies(src []float32, views, bins int) [][][]float32 {
	out := make([][][]float32, views)
	for v := range out {
		out[v] = make([][]float32, bins)
		for k := range bins {
			out[v][k] = append([]float32(nil), src...)
		}
	}
	return out
}

// streamFDK reconstructs views (per view, per bin) of g one view at a time
// as a scanner delivers them, and returns the stage timings.
func streamFDK(b *testing.B, g *fdk.Geometry, grid fdk.Grid, views [][][]float32, opts fdk.Options) fdk.Timings {
	r, err := fdk.New(g, grid, len(views[0]), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Abort()
	for v, imgs := range views {
		if err := r.Add(v, imgs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.Finish(); err != nil {
		b.Fatal(err)
	}
	return r.Timings()
}

package bench

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/sinogram"
)

// BenchmarkVsPlastimatch runs `ctrecon recon` and `plastimatch fdk` as
// processes on the same projection folder (exact projections of the
// modified Shepp-Logan head, 360 views of 512x384) into the same 256³ grid,
// and reports the time ratio and each one's error against the truth.
// plastimatch's output is in its own units (offset -1000, scale set by the
// detector width), so it is fitted linearly to the truth first; ctrecon's is
// compared as it is.
func BenchmarkVsPlastimatch(b *testing.B) {
	if _, err := exec.LookPath("plastimatch"); err != nil {
		b.Skip("plastimatch not installed")
	}
	ctrecon, err := filepath.Abs("../bin/ctrecon")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(ctrecon); err != nil {
		b.Skip("build bin/ctrecon first (make build)")
	}
	p := medium
	g := p.geometry()
	ph := phantom.ModifiedSheppLogan(100)
	for i := range ph {
		ph[i].Density *= 0.02 // water-like attenuation in 1/mm
	}
	dir := b.TempDir()
	projs, err := ph.ProjectGeometry(g, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := sinogram.WritePlastimatch(dir+"/proj", "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		b.Fatal(err)
	}
	grid := p.grid()
	truth := fdk.NewVolume(grid)
	ph.Sample(truth, 1)
	size := fmt.Sprintf("%g", float64(p.dim)*p.voxel)
	dims := fmt.Sprint(p.dim)
	for b.Loop() {
		tc := timed(b, ctrecon, "recon", "-i", dir+"/proj", "-o", dir+"/ct.mha", "--dim", dims, "--voxel", fmt.Sprint(p.voxel), "--device", "cpu")
		tp := timed(b, "plastimatch", "fdk", "-I", dir+"/proj", "-O", dir+"/pl.mha", "-r", dims, "-z", size)
		ct, pl := read(b, dir+"/ct.mha"), read(b, dir+"/pl.mha")
		b.ReportMetric(tc.Seconds(), "ctrecon-s")
		b.ReportMetric(tp.Seconds(), "plastimatch-s")
		b.ReportMetric(tp.Seconds()/tc.Seconds(), "speedup")
		b.ReportMetric(p.updates()/tc.Seconds()/1e9, "ctrecon-job-GUPS")
		b.ReportMetric(p.updates()/tp.Seconds()/1e9, "plastimatch-job-GUPS")
		b.ReportMetric(meanAbsError(ct, truth, 1, 0), "ctrecon-MAE")
		a, c := linearFit(pl, truth)
		b.ReportMetric(meanAbsError(pl, truth, a, c), "plastimatch-fitted-MAE")
	}
}

func timed(b *testing.B, name string, args ...string) time.Duration {
	start := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
	return time.Since(start)
}

func read(b *testing.B, path string) *fdk.Volume {
	v, err := metaimage.Read(path)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// inFOV selects the voxels within 100 mm of the axis and 60 mm of the
// mid-plane, which every view of the benchmark geometry sees.
func inFOV(g fdk.Grid, i, j, k int) bool {
	p := g.Position(i, j, k)
	return math.Hypot(p[0], p[1]) < 100 && math.Abs(p[2]) < 60
}

// linearFit returns a, c minimising Σ (a·v + c - truth)² over the FOV.
func linearFit(v, truth *fdk.Volume) (a, c float64) {
	var sx, sy, sxx, sxy, n float64
	each(v, func(i int) {
		x, y := float64(v.Data[i]), float64(truth.Data[i])
		sx, sy, sxx, sxy, n = sx+x, sy+y, sxx+x*x, sxy+x*y, n+1
	})
	a = (sxy - sx*sy/n) / (sxx - sx*sx/n)
	return a, (sy - a*sx) / n
}

// meanAbsError returns the mean |a·v + c - truth| over the FOV.
func meanAbsError(v, truth *fdk.Volume, a, c float64) float64 {
	var s, n float64
	each(v, func(i int) {
		s += math.Abs(a*float64(v.Data[i]) + c - float64(truth.Data[i]))
		n++
	})
	return s / n
}

func each(v *fdk.Volume, fn func(i int)) {
	d := v.Grid.Dim
	for k := range d[2] {
		for j := range d[1] {
			for i := range d[0] {
				if inFOV(v.Grid, i, j, k) {
					fn(i + d[0]*(j+d[1]*k))
				}
			}
		}
	}
}

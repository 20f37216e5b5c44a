package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// The tests in this file run the real host code twice: on the fake GPU
// (fakedriver_test.go), everywhere, and on a real GPU where there is one.
// The real GPU's tests skip without one, and fail instead when
// CTRECON_REQUIRE_GPU=1 (gpu-check.sh sets it).

// testDevice is a CUDA back-end for the tests.
type testDevice struct {
	name string
	// open returns a CUDA with opts whose Close the test's cleanup checks.
	open func(t *testing.T, opts Options) *CUDA
	// tol bounds the relative L2 difference from fdk.CPU on random
	// images: the texture unit's 8-bit interpolation weights
	// (backproject.cu) put about 1e-4 of error on sums of a few dozen
	// random views; the fake's exact bilinear fetch only float32 rounding.
	tol float64
	// views scales the problem sizes: the fake runs the kernels in Go.
	views int
}

func testDevices() []testDevice {
	return []testDevice{
		{"fake", openFake, 1e-5, 30},
		{"gpu", openOrSkip, 1e-3, 60},
	}
}

// openFake opens the fake GPU with 8 GiB; when the test ends it checks
// that the host code broke no ordering rule and leaked nothing.
func openFake(t *testing.T, opts Options) *CUDA {
	t.Helper()
	g := newFakeGPU(8 << 30)
	c, err := open(g.driver(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		for _, v := range g.violations {
			t.Error("fake GPU:", v)
		}
		if live := g.live(); len(live) > 0 {
			t.Errorf("fake GPU: leaked %v", live)
		}
	})
	return c
}

// relL2 returns |got - want| / |want| over all voxels; a NaN anywhere (a
// voxel no kernel wrote keeps the NaN the tests fill slabs with) makes it
// NaN, which fails every !(x < tol) check.
func relL2(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

// accumulate sends images (per view, per bin) to bp in a shuffled order and
// in batches of random sizes, as a scanner's worker would.
func accumulate(t *testing.T, acc fdk.Accumulator, images [][][]float32, rng *rand.Rand) []*fdk.Volume {
	t.Helper()
	order := rng.Perm(len(images))
	for len(order) > 0 {
		n := min(len(order), 1+rng.IntN(40))
		batch := make([]fdk.Filtered, n)
		for i, v := range order[:n] {
			batch[i] = fdk.Filtered{View: v, Bins: images[v]}
		}
		if err := acc.Add(batch); err != nil {
			t.Fatal(err)
		}
		order = order[n:]
	}
	vols, err := acc.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return vols
}

func randomImages(rng *rand.Rand, views, bins, pixels int) [][][]float32 {
	out := make([][][]float32, views)
	for v := range out {
		for range bins {
			img := make([]float32, pixels)
			for i := range img {
				img[i] = rng.Float32()
			}
			out[v] = append(out[v], img)
		}
	}
	return out
}

func compareVolumes(t *testing.T, name string, got, want []*fdk.Volume, tol float64) {
	t.Helper()
	for b := range want {
		e := relL2(got[b].Data, want[b].Data)
		t.Logf("%s bin %d: relative L2 difference %.2e", name, b, e)
		if !(e < tol) {
			t.Errorf("%s bin %d: relative L2 difference %.2e, want < %.0e", name, b, e, tol)
		}
	}
}

// cpuReference returns g's views, random images for them and what fdk.CPU
// accumulates from them.
func cpuReference(t *testing.T, rng *rand.Rand, g *fdk.Geometry, grid fdk.Grid, bins int) ([]fdk.View, [][][]float32, []*fdk.Volume) {
	t.Helper()
	vs := views(t, g)
	images := randomImages(rng, len(vs), bins, g.Pixels())
	cpu, err := fdk.CPU{}.Start(vs, g.Detector, grid, bins)
	if err != nil {
		t.Fatal(err)
	}
	return vs, images, accumulate(t, cpu, images, rng)
}

// The CUDA back-projector matches fdk.CPU on fresh random images and
// random geometries, with one, a full pass and a split pass of energy
// bins, in one slab and in many thin ones, with random launch shapes; the
// volume is filled with NaN first, so every voxel must be written.
func TestCUDAMatchesCPU(t *testing.T) {
	for _, dev := range testDevices() {
		t.Run(dev.name, func(t *testing.T) {
			c := dev.open(t, Options{})
			c.poison = true
			rng := rand.New(rand.NewPCG(rand.Uint64(), 12))
			for trial := range 8 {
				g, grid := randomGeometry(rng, dev.views/3+rng.IntN(dev.views))
				bins := []int{1, 2, 4, 5}[trial%4]
				c.opts.SlabPlanes = 0
				if trial >= 4 {
					c.opts.SlabPlanes = 1 + rng.IntN(7)
				}
				c.opts.Shape = randomShape(rng)
				vs, images, want := cpuReference(t, rng, g, grid, bins)
				gpu, err := c.Start(vs, g.Detector, grid, bins)
				if err != nil {
					t.Fatal(err)
				}
				planes := c.opts.SlabPlanes
				if planes == 0 {
					planes = grid.Dim[2]
				}
				if n, want := len(gpu.(*accumulator).plan.slabs), ceilDiv(grid.Dim[2], planes); n != want {
					t.Fatalf("SlabPlanes %d on %d planes gave %d slabs, want %d", c.opts.SlabPlanes, grid.Dim[2], n, want)
				}
				got := accumulate(t, gpu, images, rng)
				compareVolumes(t, "random", got, want, dev.tol)
			}
		})
	}
}

// randomShape draws a launch shape the kernels are compiled for.
func randomShape(rng *rand.Rand) LaunchShape {
	pick := func(xs []int) int { return xs[rng.IntN(len(xs))] }
	bx := pick([]int{8, 16, 32, 64})
	return LaunchShape{ViewsPerLaunch: 1 + rng.IntN(maxProjPerLaunch), VoxelsPerThread: pick(voxelsPerThreadChoices),
		BlockX: bx, BlockY: 1 + rng.IntN(maxThreads/bx), FilterTile: pick(filterTileChoices), FilterRows: pick(filterRowsChoices)}
}

// Add validates a whole batch before using any of it.
func TestCUDARejectsBadBatch(t *testing.T) {
	for _, dev := range testDevices() {
		t.Run(dev.name, func(t *testing.T) {
			c := dev.open(t, Options{})
			g, grid := randomGeometry(rand.New(rand.NewPCG(1, 1)), 10)
			acc, err := c.Start(views(t, g), g.Detector, grid, 1)
			if err != nil {
				t.Fatal(err)
			}
			good := make([]float32, g.Pixels())
			for _, batch := range [][]fdk.Filtered{
				{{View: 0, Bins: [][]float32{good}}, {View: 10, Bins: [][]float32{good}}},
				{{View: 1, Bins: [][]float32{good, good}}},
				{{View: 2, Bins: [][]float32{good[1:]}}},
			} {
				if err := acc.Add(batch); err == nil {
					t.Errorf("batch %+v accepted", batch)
				}
			}
			if _, err := acc.Finish(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rtkRegression is the margin over the figures measured on an H200 (see
// the test's log) below RTK's thresholds, so that a change that loses
// accuracy fails long before RTK's floor.
const rtkRegression = 1.05

// FDK with the CUDA back-projector, the GPU weighting and filtering
// (through fdk.Reconstructor's FilteringBackprojector path) meets RTK's
// Shepp-Logan thresholds, in one slab and in slabs of 16 planes. The
// Go kernels of the fake would take minutes here: the real GPU only.
func TestCUDASheppLoganRTKThresholds(t *testing.T) {
	c := openOrSkip(t, Options{})
	cases := []struct {
		name          string
		geom          *fdk.Geometry
		slabPlanes    int
		maxMAE, minDB float64 // RTK's thresholds
		mae, db       float64 // measured on an H200
	}{
		{"full scan", fdktest.RTKGeometry(180, 360, 0, 128), 0, 0.03, 26, 0.0286, 26.97},
		{"full scan in slabs", fdktest.RTKGeometry(180, 360, 0, 128), 16, 0.03, 26, 0.0286, 26.97},
		{"short scan Parker", fdktest.RTKGeometry(110, 240, 0, 128), 0, 0.09, 22, 0.0447, 25.39},
		{"displaced detector", fdktest.RTKGeometry(180, 360, 120, 80), 0, 0.061, 24, 0.0351, 26.60},
	}
	ph := phantom.SheppLogan(116)
	grid := fdk.CenteredGrid([3]int{128, 128, 128}, [3]float64{2, 2, 2}, fdk.Vec3{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.opts.SlabPlanes = tc.slabPlanes
			projs, err := ph.ProjectGeometry(tc.geom, 0)
			if err != nil {
				t.Fatal(err)
			}
			vol, err := fdk.Reconstruct(tc.geom, grid, projs, fdk.Options{Backprojector: c})
			if err != nil {
				t.Fatal(err)
			}
			mae, db := fdktest.Quality(vol, ph, 2)
			t.Logf("mean |error| %.4f (RTK limit %.3f), PSNR %.2f dB (RTK limit %.0f)", mae, tc.maxMAE, db, tc.minDB)
			if !(mae < tc.maxMAE) || !(db > tc.minDB) {
				t.Errorf("fails RTK's thresholds")
			}
			if !(mae < tc.mae*rtkRegression) || !(db > tc.db-0.2) {
				t.Errorf("worse than measured: mean |error| %.4f (was %.4f), PSNR %.2f dB (was %.2f)", mae, tc.mae, db, tc.db)
			}
		})
	}
}

// Weighting and filtering on the GPU (StartFDK) gives what fdk's CPU
// stages give, for the full scan, Parker's short scan and a displaced
// detector, whose rows the GPU widens while filtering.
func TestCUDAFDKMatchesCPU(t *testing.T) {
	for _, dev := range testDevices() {
		t.Run(dev.name, func(t *testing.T) { testFDKMatchesCPU(t, dev) })
	}
}

func testFDKMatchesCPU(t *testing.T, dev testDevice) {
	c := dev.open(t, Options{})
	c.poison = true
	ph := phantom.ModifiedSheppLogan(60)
	grid := fdk.CenteredGrid([3]int{48, 48, 30}, [3]float64{2.5, 2.5, 2.5}, fdk.Vec3{3, -2, 1})
	cases := []struct {
		name       string
		geom       *fdk.Geometry
		slabPlanes int
	}{
		{"full scan", fdktest.RTKGeometry(dev.views, 360, 0, 72), 0},
		{"short scan Parker", fdktest.RTKGeometry(dev.views, 240, 0, 72), 0},
		{"displaced detector", fdktest.RTKGeometry(dev.views, 360, 80, 48), 0},
		{"full scan in slabs", fdktest.RTKGeometry(dev.views, 360, 0, 72), 7},
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), 22))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.geom
			g.Rows = 48
			c.opts.SlabPlanes = tc.slabPlanes
			c.opts.Shape = randomShape(rng)
			projs, err := ph.ProjectGeometry(g, 0)
			if err != nil {
				t.Fatal(err)
			}
			raw := make([][][]float32, len(projs)) // two bins: the projection and half of it
			for v, p := range projs {
				half := make([]float32, len(p))
				for i := range p {
					half[i] = p[i] / 2
				}
				raw[v] = [][]float32{p, half}
			}
			opts := fdk.Options{Window: fdk.Hann}
			vs, det, pre, err := PrepareFDK(g, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := cpuFDK(t, g, vs, det, pre, grid, raw, rng)
			gpu, err := c.StartFDK(vs, det, grid, 2, pre)
			if err != nil {
				t.Fatal(err)
			}
			compareVolumes(t, tc.name, accumulate(t, gpu, raw, rng), want, max(dev.tol, 1e-4))
		})
	}
}

// cpuFDK weights, widens and filters raw with fdk's CPU stages and
// back-projects with fdk.CPU: the reference for StartFDK.
func cpuFDK(t *testing.T, g *fdk.Geometry, vs []fdk.View, det fdk.Detector, pre Prefilter, grid fdk.Grid, raw [][][]float32, rng *rand.Rand) []*fdk.Volume {
	t.Helper()
	w, err := fdk.NewWeights(g, views(t, g))
	if err != nil {
		t.Fatal(err)
	}
	ramp := pre.Ramp.Clone()
	filtered := make([][][]float32, len(raw))
	for v, bins := range raw {
		for _, img := range bins {
			weighted := append([]float32(nil), img...)
			w.Apply(v, weighted)
			wide := make([]float32, det.Pixels())
			for r := range det.Rows {
				copy(wide[r*det.Cols+pre.PadLeft:], weighted[r*g.Cols:(r+1)*g.Cols])
			}
			ramp.FilterRows(wide, det.Cols)
			filtered[v] = append(filtered[v], wide)
		}
	}
	acc, err := fdk.CPU{}.Start(vs, det, grid, len(raw[0]))
	if err != nil {
		t.Fatal(err)
	}
	return accumulate(t, acc, filtered, rng)
}

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// The tests in this file need a GPU. They skip where there is none, and
// fail instead when CTRECON_REQUIRE_GPU=1 (gpu-check.sh sets it).

// parityTol bounds the relative L2 difference between the CUDA and CPU
// volumes. The texture unit's 8-bit interpolation weights (backproject.cu)
// put about 1e-4 of error on sums of a few dozen random views.
const parityTol = 1e-3

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

func compareVolumes(t *testing.T, name string, got, want []*fdk.Volume) {
	t.Helper()
	for b := range want {
		e := relL2(got[b].Data, want[b].Data)
		t.Logf("%s bin %d: relative L2 difference %.2e", name, b, e)
		if !(e < parityTol) {
			t.Errorf("%s bin %d: relative L2 difference %.2e, want < %.0e", name, b, e, parityTol)
		}
	}
}

// The CUDA back-projector matches fdk.CPU on random images and random
// geometries, with one, a full pass and a split pass of energy bins, in
// one slab and in many thin ones.
func TestCUDAMatchesCPU(t *testing.T) {
	c := openOrSkip(t, Options{})
	c.poison = true
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := range 8 {
		g, grid := randomGeometry(rng, 20+rng.IntN(60))
		bins := []int{1, 2, 4, 5}[trial%4]
		c.opts.SlabPlanes = 0
		if trial >= 4 {
			c.opts.SlabPlanes = 1 + rng.IntN(7)
		}
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
		compareVolumes(t, "random", got, want)
	}
}

// Add validates a whole batch before using any of it.
func TestCUDARejectsBadBatch(t *testing.T) {
	c := openOrSkip(t, Options{})
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
}

// FDK with the CUDA back-projector meets RTK's Shepp-Logan thresholds, in
// one slab and in slabs of 16 planes.
func TestCUDASheppLoganRTKThresholds(t *testing.T) {
	c := openOrSkip(t, Options{})
	cases := []struct {
		name          string
		geom          *fdk.Geometry
		slabPlanes    int
		maxMAE, minDB float64
	}{
		{"full scan", fdktest.RTKGeometry(180, 360, 0, 128), 0, 0.03, 26},
		{"full scan in slabs", fdktest.RTKGeometry(180, 360, 0, 128), 16, 0.03, 26},
		{"short scan Parker", fdktest.RTKGeometry(110, 240, 0, 128), 0, 0.09, 22},
		{"displaced detector", fdktest.RTKGeometry(180, 360, 120, 80), 0, 0.061, 24},
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
		})
	}
}

// Weighting and filtering on the GPU (StartFDK) gives what fdk's CPU
// stages give, for the full scan, Parker's short scan and a displaced
// detector, whose rows the GPU widens while filtering.
func TestCUDAFDKMatchesCPU(t *testing.T) {
	c := openOrSkip(t, Options{})
	c.poison = true
	ph := phantom.ModifiedSheppLogan(60)
	grid := fdk.CenteredGrid([3]int{64, 64, 40}, [3]float64{2, 2, 2}, fdk.Vec3{3, -2, 1})
	cases := []struct {
		name       string
		geom       *fdk.Geometry
		slabPlanes int
	}{
		{"full scan", fdktest.RTKGeometry(90, 360, 0, 96), 0},
		{"short scan Parker", fdktest.RTKGeometry(80, 240, 0, 96), 0},
		{"displaced detector", fdktest.RTKGeometry(90, 360, 80, 64), 0},
		{"full scan in slabs", fdktest.RTKGeometry(90, 360, 0, 96), 9},
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.geom
			g.Rows = 64
			c.opts.SlabPlanes = tc.slabPlanes
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
			compareVolumes(t, tc.name, accumulate(t, gpu, raw, rng), want)
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

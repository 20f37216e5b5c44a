package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// These tests run the accumulator's host side (planning, slabs, row
// bands, staging, matrices, layers, bin passes) for real and replace the
// device by Go transcriptions of backproject.cu and filter.cu, so that the
// data flow is checked against fdk's CPU stages where there is no GPU. The
// transcriptions follow the kernels line by line, tiling included; the
// texture fetch is exact bilinear interpolation with a zero border (the
// hardware's 8-bit weights are the GPU tests' business).

// emulator holds an accumulator with plain Go memory in place of the
// device's.
type emulator struct {
	a      *accumulator
	vol    []float32 // bins * binStride
	layers []float32 // the slot's array: layers of det.Cols x band
}

func newEmulator(t *testing.T, vs []fdk.View, det fdk.Detector, grid fdk.Grid, bins, slabs int, p *Prefilter) *emulator {
	a := newAccumulator(&CUDA{dev: &device{}}, vs, det, grid, bins, p)
	a.plan = slabPlan(a.ms, grid, det.Rows, slabs)
	a.binStride = grid.Dim[0] * grid.Dim[1] * ceilDiv(grid.Dim[2], slabs)
	for i := range a.slots {
		s := &a.slots[i]
		s.images = make([]float32, projPerLaunch*bins*a.inCols*a.plan.band)
		s.mats = make([]float32, 12*projPerLaunch)
		s.cols = make([]float32, projPerLaunch*a.inCols)
	}
	for range bins {
		a.vols = append(a.vols, fdk.NewVolume(grid))
	}
	return &emulator{a: a, vol: make([]float32, bins*a.binStride), layers: make([]float32, projPerLaunch*bins*det.Cols*a.plan.band)}
}

// run back-projects every view of images through every slab, in launches
// of projPerLaunch views, as Finish does for a sliced volume.
func (e *emulator) run(images [][][]float32) []*fdk.Volume {
	a := e.a
	for i, sl := range a.plan.slabs {
		a.slab, a.first = i, true
		for k := range e.vol {
			e.vol[k] = float32(math.NaN())
		}
		for v0 := 0; v0 < len(images); v0 += projPerLaunch {
			s := &a.slots[a.cur]
			var batch []fdk.Filtered
			for v := v0; v < min(v0+projPerLaunch, len(images)); v++ {
				batch = append(batch, fdk.Filtered{View: v, Bins: images[v]})
			}
			a.stage(s, batch)
			e.upload(s)
			for b0 := 0; b0 < a.bins; b0 += maxBinsPerPass {
				e.backproject(s, b0, min(maxBinsPerPass, a.bins-b0), !a.first)
			}
			s.n, a.first, a.cur = 0, false, a.cur^1
		}
		plane := a.grid.Dim[0] * a.grid.Dim[1]
		for b, v := range a.vols {
			copy(v.Data[sl.z0*plane:(sl.z0+sl.nz)*plane], e.vol[b*a.binStride:])
		}
	}
	return a.vols
}

// upload fills the layers as uploadImages does.
func (e *emulator) upload(s *slot) {
	a := e.a
	n := s.n * a.bins * a.inCols * a.plan.band
	if a.pre == nil {
		copy(e.layers, s.images[:n])
		return
	}
	e.rampFilter(s, s.n*a.bins)
}

// rampFilter transcribes filter.cu's rampFilter for every block and thread.
func (e *emulator) rampFilter(s *slot, images int) {
	a := e.a
	in, col, out := s.images, s.cols, e.layers
	pix, taps := a.pre.Weights.Pixel(), rampTaps(a.pre.Ramp, a.det.Cols)
	inCols, outCols, rows, bins, padLeft := a.inCols, a.det.Cols, a.plan.band, a.bins, a.pre.PadLeft
	row0 := a.plan.slabs[a.slab].row0
	lines := images * rows
	for bx := range ceilDiv(outCols, filterTile) {
		for by := range ceilDiv(lines, filterRows) {
			i0, line0 := bx*filterTile, by*filterRows
			var chunk [filterRows * filterTile]float32
			var tap [2 * filterTile]float32
			var acc [filterTile][filterRows]float32
			for j0 := 0; j0 < inCols; j0 += filterTile {
				for tid := range filterTile {
					j := j0 + tid
					for r := range filterRows {
						line := line0 + r
						v := float32(0)
						if line < lines && j < inCols {
							img, row := line/rows, line%rows
							v = in[line*inCols+j] * pix[(row0+row)*inCols+j] * col[(img/bins)*inCols+j]
						}
						chunk[r*filterTile+tid] = v
					}
					dBase := i0 - padLeft - j0 - (filterTile - 1)
					for q := tid; q < 2*filterTile-1; q += filterTile {
						d := dBase + q
						tap[q] = 0
						if d > -outCols && d < outCols {
							tap[q] = taps[d+outCols-1]
						}
					}
				}
				for tid := range filterTile {
					for jj := 0; jj < filterTile; jj += 4 {
						h := filterTile - 1 + tid - jj
						for r := range filterRows {
							v := chunk[r*filterTile+jj:]
							acc[tid][r] += v[0]*tap[h] + v[1]*tap[h-1] + v[2]*tap[h-2] + v[3]*tap[h-3]
						}
					}
				}
			}
			for tid := range filterTile {
				if i := i0 + tid; i < outCols {
					for r := range filterRows {
						if line0+r < lines {
							out[(line0+r)*outCols+i] = acc[tid][r]
						}
					}
				}
			}
		}
	}
}

// backproject transcribes backproject.cu for bins b0..b0+nb-1.
func (e *emulator) backproject(s *slot, b0, nb int, accumulate bool) {
	a := e.a
	nx, ny, nz := a.grid.Dim[0], a.grid.Dim[1], a.plan.slabs[a.slab].nz
	w, h := a.det.Cols, a.plan.band
	fetch := func(sx, ty float32, layer int) float32 {
		x, y := float64(sx)-0.5, float64(ty)-0.5
		i, j := int(math.Floor(x)), int(math.Floor(y))
		fx, fy := float32(x-float64(i)), float32(y-float64(j))
		at := func(i, j int) float32 {
			if i < 0 || j < 0 || i >= w || j >= h {
				return 0
			}
			return e.layers[(layer*h+j)*w+i]
		}
		top := at(i, j) + fx*(at(i+1, j)-at(i, j))
		bot := at(i, j+1) + fx*(at(i+1, j+1)-at(i, j+1))
		return top + fy*(bot-top)
	}
	for z0 := 0; z0 < nz; z0 += voxelsPerThread {
		for y := range ny {
			for x := range nx {
				sum := make([]float32, voxelsPerThread*nb)
				for i := range s.n {
					m := s.mats[12*i : 12*i+12]
					s0 := m[0]*float32(x) + m[1]*float32(y) + m[3]
					t0 := m[4]*float32(x) + m[5]*float32(y) + m[7]
					w0 := m[8]*float32(x) + m[9]*float32(y) + m[11]
					for k := range voxelsPerThread {
						fz := float32(z0 + k)
						ww := m[10]*fz + w0
						iw := float32(0)
						if ww > 0 {
							iw = 1 / ww
						}
						sx, ty := (m[2]*fz+s0)*iw, (m[6]*fz+t0)*iw
						for b := range nb {
							sum[k*nb+b] += iw * iw * fetch(sx, ty, i*a.bins+b0+b)
						}
					}
				}
				for k := range voxelsPerThread {
					if z0+k >= nz {
						break
					}
					for b := range nb {
						q := &e.vol[(b0+b)*a.binStride+((z0+k)*ny+y)*nx+x]
						if accumulate {
							*q += sum[k*nb+b]
						} else {
							*q = sum[k*nb+b]
						}
					}
				}
			}
		}
	}
}

// emulatedTol bounds the relative L2 difference between the emulated
// kernels and fdk: float32 rounding only.
const emulatedTol = 1e-5

func TestEmulatedBackprojectionMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for trial := range 6 {
		g, grid := randomGeometry(rng, 20+rng.IntN(50))
		bins, slabs := 1+trial, 1+rng.IntN(4)
		vs, images, want := cpuReference(t, rng, g, grid, bins)
		got := newEmulator(t, vs, g.Detector, grid, bins, slabs, nil).run(images)
		for b := range want {
			if e := relL2(got[b].Data, want[b].Data); !(e < emulatedTol) {
				t.Errorf("trial %d (%d bins, %d slabs) bin %d: relative L2 difference %.2e", trial, bins, slabs, b, e)
			}
		}
	}
}

func TestEmulatedFDKMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	grid := fdk.CenteredGrid([3]int{24, 20, 13}, [3]float64{4, 4, 4}, fdk.Vec3{2, -3, 1})
	for name, g := range map[string]*fdk.Geometry{
		"full":      fdktest.RTKGeometry(40, 360, 0, 150),
		"parker":    fdktest.RTKGeometry(40, 240, 0, 150),
		"displaced": fdktest.RTKGeometry(40, 360, 60, 100),
	} {
		g.Rows = 24
		vs, det, pre, err := PrepareFDK(g, fdk.Options{Window: fdk.SheppLogan})
		if err != nil {
			t.Fatal(err)
		}
		raw := randomImages(rng, len(vs), 2, g.Pixels())
		want := cpuFDK(t, g, vs, det, pre, grid, raw, rng)
		got := newEmulator(t, vs, det, grid, 2, 3, &pre).run(raw)
		for b := range want {
			if e := relL2(got[b].Data, want[b].Data); !(e < 1e-4) {
				t.Errorf("%s bin %d: relative L2 difference %.2e", name, b, e)
			}
		}
	}
}

// cpuReference returns g's views, random images for them and what fdk.CPU
// accumulates from them: the reference both the emulated and the real
// kernels are held to.
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

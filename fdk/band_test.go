package fdk_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// bandCase is a scan whose slabs read only part of the detector: a tall
// detector and a cone wide enough that neighbouring slabs' bands differ.
type bandCase struct {
	name string
	geom *fdk.Geometry
}

func bandCases() []bandCase {
	return []bandCase{
		{"full scan", fdktest.RTKGeometry(60, 360, 0, 128)},
		{"short scan Parker", fdktest.RTKGeometry(50, 240, 0, 128)},
		{"displaced detector", fdktest.RTKGeometry(60, 360, 120, 80)},
	}
}

// Each slab reconstructed from only the detector rows NeededRows gives,
// cropped out of every projection, equals bit for bit the same slices of
// the whole grid reconstructed from whole projections: what a volume
// larger than memory is reconstructed from.
func TestRowBandEqualsWholeRows(t *testing.T) {
	ph := phantom.SheppLogan(116)
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{3.1, 3.1, 2.7}, fdk.Vec3{0.3, -0.7, 4.1})
	for _, tc := range bandCases() {
		t.Run(tc.name, func(t *testing.T) {
			projs, whole := projectAndReconstruct(t, ph, tc.geom, grid)
			plane := grid.Dim[0] * grid.Dim[1]
			narrower := false
			// Slabs of 1, 3 and more slices: bands that start at odd and
			// even rows of a cone.
			ranges := [][2]int{{0, 7}, {7, 8}, {8, 21}, {21, 30}}
			for z := 0; z < 30; z += 3 {
				ranges = append(ranges, [2]int{z, z + 3})
			}
			for _, r := range ranges {
				slab, band := slabBand(t, tc.geom, grid, r)
				narrower = narrower || band.Count < tc.geom.Rows
				vol, err := fdk.Reconstruct(tc.geom, slab, cropAll(projs, tc.geom.Cols, band), fdk.Options{Rows: band})
				if err != nil {
					t.Fatal(err)
				}
				if diff := differentBits(vol.Data, whole.Data[r[0]*plane:r[1]*plane]); diff > 0 {
					t.Errorf("slab [%d, %d) from %v: %d of %d voxels differ from the whole grid's", r[0], r[1], band, diff, len(vol.Data))
				}
			}
			if !narrower {
				t.Fatal("every slab read the whole detector: the test shows nothing")
			}
		})
	}
}

// A back-projector without StartBand gets matrices shifted to the band:
// the same volume to float32 rounding.
func TestRowBandShiftedMatrices(t *testing.T) {
	ph := phantom.SheppLogan(116)
	geom := fdktest.RTKGeometry(60, 360, 0, 128)
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{3.1, 3.1, 2.7}, fdk.Vec3{})
	projs, err := ph.ProjectGeometry(geom, 0)
	if err != nil {
		t.Fatal(err)
	}
	slab, band := slabBand(t, geom, grid, [2]int{4, 12})
	want, err := fdk.Reconstruct(geom, slab, cropAll(projs, geom.Cols, band), fdk.Options{Rows: band})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fdk.Reconstruct(geom, slab, cropAll(projs, geom.Cols, band), fdk.Options{Rows: band, Backprojector: plainCPU{}})
	if err != nil {
		t.Fatal(err)
	}
	var worst, peak float64
	for i := range want.Data {
		worst = max(worst, math.Abs(float64(got.Data[i]-want.Data[i])))
		peak = max(peak, math.Abs(float64(want.Data[i])))
	}
	if worst > 1e-4*peak || peak == 0 {
		t.Errorf("shifted matrices differ by up to %g (peak %g)", worst, peak)
	}
}

// plainCPU is the CPU back-projector without StartBand.
type plainCPU struct{}

func (plainCPU) Name() string { return "plain cpu" }
func (plainCPU) Start(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int) (fdk.Accumulator, error) {
	return fdk.CPU{}.Start(views, det, grid, bins)
}

// A band that misses rows the slab reads, or lies off the detector, is
// refused before any work; an image of another height is refused as a
// projection error.
func TestRowBandRefused(t *testing.T) {
	geom := fdktest.RTKGeometry(60, 360, 0, 128)
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{3.1, 3.1, 2.7}, fdk.Vec3{})
	slab, band := slabBand(t, geom, grid, [2]int{4, 12})
	for _, b := range []fdk.RowBand{{band.First + 1, band.Count - 1}, {band.First, band.Count - 1}, {-1, 10}, {geom.Rows - 2, 5}} {
		if _, err := fdk.New(geom, slab, 1, fdk.Options{Rows: b}); !errors.Is(err, fdk.ErrGeometry) {
			t.Errorf("band %v for a slab reading %v: %v, want ErrGeometry", b, band, err)
		}
	}
	rec, err := fdk.New(geom, slab, 1, fdk.Options{Rows: band})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Abort()
	err = rec.Add(0, [][]float32{make([]float32, geom.Pixels())})
	if !errors.Is(err, fdk.ErrProjection) || !strings.Contains(err.Error(), "view 0") {
		t.Errorf("whole image for a band: %v, want ErrProjection naming view 0", err)
	}
}

// The planner cuts a volume into the fewest slabs that fit: one when the
// budget holds the whole job, more as it shrinks, never one over the
// budget, each reading the rows NeededRows gives; a budget under one slice
// is refused with what a slice needs.
func TestPlanSlabs(t *testing.T) {
	geom := fdktest.RTKGeometry(60, 360, 0, 128)
	grid := fdk.CenteredGrid([3]int{256, 256, 64}, [3]float64{0.5, 0.5, 2}, fdk.Vec3{})
	opts := fdk.Options{Threads: 2}
	one, err := fdk.PlanSlabs(geom, grid, 2, opts, 4, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Slabs) != 1 || one.Slabs[0] != (fdk.Slab{Z0: 0, Z1: 64, Rows: mustRows(t, geom, grid)}) {
		t.Errorf("1 GiB: %+v, want one slab of the whole grid", one.Slabs)
	}
	if want := int64(4 * 2 * 256 * 256 * 64); one.Memory.Volume != want {
		t.Errorf("volume of 2 bins of 256x256x64: %d bytes, want %d", one.Memory.Volume, want)
	}
	// Budgets whose usable part (less the reserve) is a half, a third and
	// a fifth of what the whole grid needs.
	whole := one.Memory.Total()
	prev := 1
	for _, part := range []int64{2, 3, 5} {
		budget := (whole/part + 64<<20) * 8 / 7
		p, err := fdk.PlanSlabs(geom, grid, 2, opts, 4, budget)
		if err != nil {
			t.Fatalf("budget %d MiB: %v", budget>>20, err)
		}
		if used := p.Memory.Total() + fdk.Reserve(budget); used > budget {
			t.Errorf("budget %d MiB: the plan needs %v and the reserve", budget>>20, p.Memory)
		}
		if len(p.Slabs) < prev {
			t.Errorf("budget %d MiB: %d slabs, fewer than a larger budget's %d", budget>>20, len(p.Slabs), prev)
		}
		prev = len(p.Slabs)
		z := 0
		for _, s := range p.Slabs {
			slab, err := grid.Slab(s.Z0, s.Z1)
			if err != nil || s.Z0 != z {
				t.Fatalf("budget %d MiB: slabs %+v do not tile the grid (%v)", budget>>20, p.Slabs, err)
			}
			if want := mustRows(t, geom, slab); s.Rows != want {
				t.Errorf("slab [%d, %d) reads %v, NeededRows gives %v", s.Z0, s.Z1, s.Rows, want)
			}
			z = s.Z1
		}
		if z != grid.Dim[2] {
			t.Errorf("budget %d MiB: slabs end at slice %d of %d", budget>>20, z, grid.Dim[2])
		}
	}
	if prev < 5 {
		t.Errorf("a fifth of the memory gave %d slabs", prev)
	}
	_, err = fdk.PlanSlabs(geom, grid, 2, opts, 4, 73<<20)
	if !errors.Is(err, fdk.ErrMemory) || !strings.Contains(err.Error(), "one slice") || !strings.Contains(err.Error(), "give at least") ||
		strings.Contains(err.Error(), " 0 MiB") {
		t.Errorf("73 MiB: %v, want ErrMemory saying what one slice needs (not rounded to 0 MiB) and the least budget", err)
	}
}

func mustRows(t *testing.T, geom *fdk.Geometry, grid fdk.Grid) fdk.RowBand {
	t.Helper()
	b, err := fdk.NeededRows(geom, grid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// slabBand returns slices r of grid and the detector rows they read.
func slabBand(t *testing.T, geom *fdk.Geometry, grid fdk.Grid, r [2]int) (fdk.Grid, fdk.RowBand) {
	t.Helper()
	slab, err := grid.Slab(r[0], r[1])
	if err != nil {
		t.Fatal(err)
	}
	return slab, mustRows(t, geom, slab)
}

func cropAll(projs [][]float32, cols int, b fdk.RowBand) [][]float32 {
	out := make([][]float32, len(projs))
	for i, p := range projs {
		out[i] = fdk.CropRows(p, cols, b)
	}
	return out
}

func differentBits(a, b []float32) int {
	n := 0
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			n++
		}
	}
	return n
}

// Row bands start and end at even rows (or the detector's last): the ramp
// filter transforms rows in pairs and a row's rounding depends on its
// partner, so only such bands filter bit for bit as the whole image. The
// 256³ benchmark's slabs differed from the one-piece volume before.
func TestNeededRowsKeepRowPairs(t *testing.T) {
	grid := fdk.CenteredGrid([3]int{40, 36, 30}, [3]float64{3.1, 3.1, 2.7}, fdk.Vec3{0.3, -0.7, 4.1})
	for _, tc := range bandCases() {
		for z0 := range grid.Dim[2] {
			for _, n := range []int{1, 2, 5} {
				if z0+n > grid.Dim[2] {
					continue
				}
				slab, b := slabBand(t, tc.geom, grid, [2]int{z0, z0 + n})
				if b.First%2 != 0 || b.End()%2 != 0 && b.End() != tc.geom.Rows {
					t.Fatalf("%s: slab of slices [%d, %d) (%v) reads %v", tc.name, z0, z0+n, slab, b)
				}
			}
		}
	}
}

// projectAndReconstruct returns ph's projections through geom and their
// reconstruction on grid from whole images.
func projectAndReconstruct(t *testing.T, ph phantom.Phantom, geom *fdk.Geometry, grid fdk.Grid) ([][]float32, *fdk.Volume) {
	t.Helper()
	projs, err := ph.ProjectGeometry(geom, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Reconstruct weights and filters the projections in place.
	whole, err := fdk.Reconstruct(geom, grid, clone(projs), fdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return projs, whole
}

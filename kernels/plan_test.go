package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// randomGeometry is a circular orbit with every geometry feature set to a
// random value, and a grid that does not fill whole thread blocks.
func randomGeometry(rng *rand.Rand, views int) (*fdk.Geometry, fdk.Grid) {
	sid := 300 + 500*rng.Float64()
	g := &fdk.Geometry{SID: sid, SDD: sid * (1.3 + 0.7*rng.Float64()),
		Detector: fdk.Detector{Cols: 40 + rng.IntN(60), Rows: 20 + rng.IntN(50), PitchU: 0.8 + rng.Float64(), PitchV: 0.8 + rng.Float64()},
		OffsetU:  4 * (rng.Float64() - 0.5), OffsetV: 10 * (rng.Float64() - 0.5),
		COROffset: 3 * (rng.Float64() - 0.5), Tilt: 0.05 * (rng.Float64() - 0.5)}
	start := rng.Float64() * 2 * math.Pi
	for i := range views {
		g.Angles = append(g.Angles, start+2*math.Pi*float64(i)/float64(views)+0.01*rng.Float64())
	}
	mag := g.SDD / g.SID
	fov := float64(g.Cols) * g.PitchU / mag // detector width at the isocentre
	dim := [3]int{17 + rng.IntN(40), 9 + rng.IntN(40), 5 + rng.IntN(30)}
	var sp [3]float64
	for k := range sp {
		sp[k] = fov / 60 * (0.7 + 0.6*rng.Float64())
	}
	off := fdk.Vec3{fov * 0.05 * (rng.Float64() - 0.5), fov * 0.05 * (rng.Float64() - 0.5), 3 * (rng.Float64() - 0.5)}
	return g, fdk.CenteredGrid(dim, sp, off)
}

func views(t testing.TB, g *fdk.Geometry) []fdk.View {
	t.Helper()
	v, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The kernel's matrix puts a voxel where fdk's projection matrix puts its
// centre, shifted to texel coordinates of the slab's band.
func TestTexelMatrixMatchesProjection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		g, grid := randomGeometry(rng, 8)
		for _, v := range views(t, g) {
			z0, row0 := rng.IntN(grid.Dim[2]), rng.IntN(g.Rows)
			m := texelMatrix(grid.IndexMatrix(v.P), z0, row0)
			for range 10 {
				i, j, k := rng.IntN(grid.Dim[0]), rng.IntN(grid.Dim[1]), z0+rng.IntN(grid.Dim[2]-z0)
				u, vv, w := v.P.Project(grid.Position(i, j, k))
				x := [4]float64{float64(i), float64(j), float64(k - z0), 1}
				row := func(r int) float64 {
					s := 0.0
					for c := range 4 {
						s += float64(m[4*r+c]) * x[c]
					}
					return s
				}
				tw := row(2)
				s, tt := row(0)/tw, row(1)/tw
				if math.Abs(s-(u+0.5)) > 1e-3 || math.Abs(tt-(vv-float64(row0)+0.5)) > 1e-3 || math.Abs(tw-w) > 1e-5 {
					t.Fatalf("voxel (%d,%d,%d): texel (%g, %g, w %g), want (%g, %g, w %g)", i, j, k, s, tt, tw, u+0.5, vv-float64(row0)+0.5, w)
				}
			}
		}
	}
}

// Every voxel of a slab reads, with its bilinear neighbour, only rows of
// the slab's band.
func TestRowBandCoversTheSlab(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	narrow := 0 // cases whose band is narrower than the detector
	for range 30 {
		g, grid := randomGeometry(rng, 12)
		vs := views(t, g)
		ms := make([]fdk.Matrix, len(vs))
		for i := range vs {
			ms[i] = grid.IndexMatrix(vs[i].P)
		}
		n := 1 + rng.IntN(grid.Dim[2])
		p := slabPlan(ms, grid, g.Rows, n)
		covered := 0
		for _, sl := range p.slabs {
			if sl.row0 < 0 || sl.row0+p.band > g.Rows {
				t.Fatalf("band %d..%d runs off a %d-row detector", sl.row0, sl.row0+p.band-1, g.Rows)
			}
			covered += sl.nz
			for range 200 {
				i, j, k := rng.IntN(grid.Dim[0]), rng.IntN(grid.Dim[1]), sl.z0+rng.IntN(sl.nz)
				for _, v := range vs {
					_, row, _ := v.P.Project(grid.Position(i, j, k))
					// Rows off the detector read zero either way.
					for _, q := range []int{int(math.Floor(row)), int(math.Floor(row)) + 1} {
						if q >= 0 && q < g.Rows && (q < sl.row0 || q >= sl.row0+p.band) {
							t.Fatalf("voxel (%d,%d,%d) reads row %d outside band %d..%d", i, j, k, q, sl.row0, sl.row0+p.band-1)
						}
					}
				}
			}
		}
		if covered != grid.Dim[2] {
			t.Fatalf("%d slabs cover %d of %d planes", n, covered, grid.Dim[2])
		}
		if p.band < g.Rows {
			narrow++
		}
	}
	if narrow < 5 {
		t.Errorf("only %d of 30 cases had a band narrower than the detector: the test checks little", narrow)
	}
}

func TestMakePlan(t *testing.T) {
	g := &fdk.Geometry{SID: 600, SDD: 1200, Detector: fdk.Detector{Cols: 64, Rows: 64, PitchU: 2, PitchV: 2}}
	for i := range 36 {
		g.Angles = append(g.Angles, float64(i)*math.Pi/18)
	}
	grid := fdk.CenteredGrid([3]int{32, 32, 40}, [3]float64{1, 1, 1}, fdk.Vec3{})
	vs := views(t, g)
	ms := make([]fdk.Matrix, len(vs))
	for i := range vs {
		ms[i] = grid.IndexMatrix(vs[i].P)
	}
	// A footprint of one unit per plane plus the band's rows.
	need := func(planes, rows int) int64 { return int64(planes*1000 + rows) }

	p, err := makePlan(ms, grid, g.Rows, need, 1<<40, 0)
	if err != nil || len(p.slabs) != 1 || p.slabs[0].nz != 40 {
		t.Fatalf("ample budget: %+v, %v; want one slab", p, err)
	}
	p, err = makePlan(ms, grid, g.Rows, need, 1<<40, 7)
	if err != nil || len(p.slabs) != 6 {
		t.Fatalf("7 planes at most: %d slabs, %v; want 6", len(p.slabs), err)
	}
	for _, sl := range p.slabs {
		if sl.nz > 7 {
			t.Errorf("slab of %d planes", sl.nz)
		}
	}
	p, err = makePlan(ms, grid, g.Rows, need, 10100, 0)
	if err != nil || ceilDiv(40, len(p.slabs)) > 10 || p.bytes > 10100 {
		t.Fatalf("budget for 10 planes: %d slabs needing %d, %v", len(p.slabs), p.bytes, err)
	}
	if ceilDiv(40, len(p.slabs)-1) <= 10 {
		t.Errorf("%d slabs where %d would do", len(p.slabs), len(p.slabs)-1)
	}
	if _, err := makePlan(ms, grid, g.Rows, need, 900, 0); err == nil || !strings.Contains(err.Error(), "one z-plane") {
		t.Errorf("budget below one plane: err = %v", err)
	}
}

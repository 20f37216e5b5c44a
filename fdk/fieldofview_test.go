package fdk

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// marsGeometry is the simulated MARS scan's (sinogram.DefaultSimSpec): four
// Medipix3RX chips in a row, 518 columns and 128 rows of 0.11 mm, SID 160
// mm, SDD 240 mm, views over 360 degrees.
func marsGeometry(views int) *Geometry {
	g := &Geometry{SID: 160, SDD: 240, Detector: Detector{Cols: 518, Rows: 128, PitchU: 0.11, PitchV: 0.11}}
	for i := range views {
		g.Angles = append(g.Angles, 2*math.Pi*float64(i)/float64(views))
	}
	return g
}

// circularFOV is the field of view of a centred detector on a circular
// orbit, worked out by hand: the radius where the fan's edges pass the
// axis, and the detector's height scaled to the isocentre.
func circularFOV(g *Geometry) Cylinder {
	halfWidth, halfHeight := float64(g.Cols)*g.PitchU/2, float64(g.Rows)*g.PitchV/2
	h := halfHeight * g.SID / g.SDD
	return Cylinder{Radius: g.SID * math.Sin(math.Atan(halfWidth/g.SDD)), ZMin: -h, ZMax: h}
}

// The field of view of a circular orbit is the cylinder worked out by
// hand, to 0.05 %: 37.7 mm across and 9.4 mm high for the simulated MARS
// scan. A half-fan detector's is that of the detector it is widened to:
// RTK's 80 columns 120 mm off centre see what 140 centred columns see.
func TestFieldOfViewCircular(t *testing.T) {
	rtk := func(offset float64, cols int) *Geometry {
		g := &Geometry{SID: 600, SDD: 1200, OffsetU: offset, Detector: Detector{Cols: cols, Rows: 128, PitchU: 4, PitchV: 4}}
		for i := range 180 {
			g.Angles = append(g.Angles, 2*math.Pi*float64(i)/180)
		}
		return g
	}
	for _, tc := range []struct {
		name string
		g    *Geometry
		want Cylinder
	}{
		{"MARS", marsGeometry(180), circularFOV(marsGeometry(180))},
		{"RTK", rtk(0, 128), circularFOV(rtk(0, 128))},
		{"RTK half fan", rtk(120, 80), circularFOV(rtk(0, 140))},
	} {
		got, err := FieldOfView(tc.g)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%s: %v, by hand %v", tc.name, got, tc.want)
		for _, v := range [][2]float64{{got.Radius, tc.want.Radius}, {got.ZMin, tc.want.ZMin}, {got.ZMax, tc.want.ZMax}} {
			if math.Abs(v[0]/v[1]-1) > 5e-4 {
				t.Errorf("%s: field of view %+v, want %+v", tc.name, got, tc.want)
				break
			}
		}
	}
}

// seen reports whether every view projects every point onto det.
func seen(views []View, det Detector, points ...Vec3) bool {
	const tol = 1e-6 // pixels
	px := det.pixels()
	for _, p := range points {
		for i := range views {
			u, v, w := views[i].P.Project(p)
			if w <= 0 || u < px.u0-tol || u > px.u1+tol || v < px.v0-tol || v > px.v1+tol {
				return false
			}
		}
	}
	return true
}

// circle returns 720 points of the circle of radius r about the axis at
// height z.
func circle(r, z float64) []Vec3 {
	out := make([]Vec3, 720)
	for k := range out {
		s, c := math.Sincos(2 * math.Pi * float64(k) / 720)
		out[k] = Vec3{r * c, r * s, z}
	}
	return out
}

// On random geometries (distances, offsets, centre of rotation, tilt, a
// few views at random angles) the field of view is tight about what every
// view sees as back-projected (widened for a displaced detector): every
// view sees its length of the axis and the circle of its radius in the
// middle, but not the axis 1 % of its height further up or down, or a
// circle 1 % wider.
func TestFieldOfViewBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	tested := 0
	for trial := range 120 {
		g := randomGeometry(rng, 2+rng.IntN(40))
		c, err := FieldOfView(g)
		if errors.Is(err, ErrGeometry) {
			continue // the random views share no point of the axis
		}
		if err != nil {
			t.Fatal(err)
		}
		views, _ := g.Views()
		w, err := NewWeights(g, views)
		if err != nil {
			t.Fatal(err)
		}
		left, right := w.Extension()
		det, bp := Widen(g.Detector, views, left, right)
		tested++
		h, mid := c.ZMax-c.ZMin, (c.ZMin+c.ZMax)/2
		if !seen(bp, det, append(circle(c.Radius, mid), Vec3{0, 0, c.ZMin}, Vec3{0, 0, c.ZMax})...) {
			t.Fatalf("trial %d: some view of %+v misses the axis or the circle of %v", trial, g, c)
		}
		for _, p := range []Vec3{{0, 0, c.ZMin - 0.01*h}, {0, 0, c.ZMax + 0.01*h}} {
			if seen(bp, det, p) {
				t.Errorf("trial %d: every view sees %v, beyond the field of view %v", trial, p, c)
			}
		}
		if seen(bp, det, circle(1.01*c.Radius, mid)...) {
			t.Errorf("trial %d: every view sees the circle 1 %% wider than the field of view %v", trial, c)
		}
	}
	t.Logf("%d of 120 random geometries have a field of view", tested)
	if tested < 60 {
		t.Errorf("only %d of 120 random geometries had a field of view", tested)
	}
}

// Views that share no point of the rotation axis have no field of view
// about it, and say so.
func TestFieldOfViewNone(t *testing.T) {
	g := marsGeometry(4)
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		g.Matrices = append(g.Matrices, v.P)
	}
	// The last view's detector moved 200 rows up: it sees the axis only
	// above where the others do.
	for k := range 4 {
		g.Matrices[3][1][k] += 200 * g.Matrices[3][2][k]
	}
	if _, err := FieldOfView(g); !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "axis") {
		t.Errorf("err = %v, want ErrGeometry about the axis", err)
	}
}

// What a volume spec leaves out is chosen to cover the field of view, as
// Cylinder.Grid documents.
func TestCylinderGrid(t *testing.T) {
	c := Cylinder{Radius: 18.86, ZMin: -4.693, ZMax: 4.693} // the simulated MARS scan's
	const pitch = 0.0733                                    // its detector pitch at the isocentre
	d, h := 2*c.Radius, c.ZMax-c.ZMin
	for _, tc := range []struct {
		name      string
		dim       [3]int
		voxel     [3]float64
		offset    Vec3
		finest    float64
		wantDim   [3]int
		wantVoxel [3]float64
	}{
		{"dimensions: span the diameter, slices spread over the height", [3]int{96, 96, 48}, [3]float64{}, Vec3{}, pitch,
			[3]int{96, 96, 48}, [3]float64{d / 96, d / 96, h / 48}},
		{"dimensions: few slices stay cubic", [3]int{128, 128, 16}, [3]float64{}, Vec3{}, pitch,
			[3]int{128, 128, 16}, [3]float64{d / 128, d / 128, d / 128}},
		{"dimensions: both in-plane axes span the diameter", [3]int{64, 128, 8}, [3]float64{}, Vec3{}, pitch,
			[3]int{64, 128, 8}, [3]float64{d / 64, d / 64, d / 64}},
		{"dimensions and a slice thickness", [3]int{96, 96, 8}, [3]float64{0, 0, 1}, Vec3{}, pitch,
			[3]int{96, 96, 8}, [3]float64{d / 96, d / 96, 1}},
		{"voxel size: enough voxels to cover", [3]int{}, [3]float64{0.3, 0.3, 0.3}, Vec3{1, 2, 3}, pitch,
			[3]int{126, 126, 32}, [3]float64{0.3, 0.3, 0.3}},
		{"neither: the detector pitch, at most 512 voxels", [3]int{}, [3]float64{}, Vec3{}, pitch,
			[3]int{512, 512, 128}, [3]float64{d / 512, d / 512, d / 512}},
		{"neither: a coarse detector's pitch", [3]int{}, [3]float64{}, Vec3{}, 0.2,
			[3]int{189, 189, 47}, [3]float64{0.2, 0.2, 0.2}},
	} {
		g := c.Grid(tc.dim, tc.voxel, tc.offset, tc.finest)
		for k := range 3 {
			centre := g.Origin[k] + float64(g.Dim[k]-1)/2*g.Spacing[k]
			if g.Dim[k] != tc.wantDim[k] || math.Abs(g.Spacing[k]/tc.wantVoxel[k]-1) > 1e-12 || math.Abs(centre-tc.offset[k]) > 1e-9 {
				t.Errorf("%s: %v centred at %v, want %v voxels of %v mm at %v", tc.name, g, g.Position(0, 0, 0), tc.wantDim, tc.wantVoxel, tc.offset)
				break
			}
		}
	}
}

// NewGrid chooses only what is zero, needs all three dimensions or none,
// and refuses a grid too large to hold without overflowing its count.
func TestNewGrid(t *testing.T) {
	g := marsGeometry(12)
	given, err := NewGrid(g, [3]int{8, 8, 2}, [3]float64{1, 1, 1}, Vec3{})
	if err != nil || given != CenteredGrid([3]int{8, 8, 2}, [3]float64{1, 1, 1}, Vec3{}) {
		t.Errorf("a grid given whole: %v, %v", given, err)
	}
	if _, err := NewGrid(g, [3]int{0, 8, 8}, [3]float64{}, Vec3{}); !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "all three") {
		t.Errorf("dimensions 0,8,8: err = %v", err)
	}
	if _, err := NewGrid(g, [3]int{}, [3]float64{1e-6, 1e-6, 1e-6}, Vec3{}); !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("voxels of 1 nm: err = %v", err)
	}
}

// A volume that spans the field of view leaves it only in its corners and
// gets no warning; one that reaches beyond it, across or along the axis,
// or a region of interest that leaves it without spanning it, does, with
// an example voxel outside it.
func TestCheckFOVFits(t *testing.T) {
	g := marsGeometry(90)
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := NewGrid(g, [3]int{64, 64, 16}, [3]float64{}, Vec3{})
	if err != nil {
		t.Fatal(err)
	}
	// 38.4 mm across: its outer voxels' centres are past the field of view,
	// but the voxels reach into it.
	wider := CenteredGrid([3]int{64, 64, 16}, [3]float64{0.6, 0.6, 0.5}, Vec3{})
	for _, grid := range []Grid{chosen, wider} {
		rep := CheckFOV(views, g.Detector, grid)
		if rep.Complete() || !rep.Fits() || !strings.Contains(rep.String(), "corners") {
			t.Errorf("%v: %v", grid, rep)
		}
		// Every view sees the reconstruction cylinder but the cones at the
		// rims of its ends: 1 - (2/3)·R/SID of it, 92 %, in the continuum,
		// less on a lattice that samples the end slices.
		if s := rep.CircleSeen(); s < 0.8 || s > 0.95 {
			t.Errorf("%v: every view sees %.3f of its reconstruction cylinder, want about 0.9", grid, s)
		}
	}
	inner := CenteredGrid([3]int{32, 32, 8}, [3]float64{0.5, 0.5, 0.5}, Vec3{})
	if rep := CheckFOV(views, g.Detector, inner); rep.CircleSeen() != 1 || rep.Circle == 0 {
		t.Errorf("%v: every view sees %.3f of its reconstruction cylinder (%d voxels tested in it), want all", inner, rep.CircleSeen(), rep.Circle)
	}
	fov := circularFOV(g)
	for _, grid := range []Grid{
		CenteredGrid([3]int{64, 64, 16}, [3]float64{0.65, 0.65, 0.5}, Vec3{}), // 41.6 mm across
		CenteredGrid([3]int{64, 64, 24}, [3]float64{0.5, 0.5, 0.5}, Vec3{}),   // 12 mm high
		CenteredGrid([3]int{16, 16, 4}, [3]float64{0.5, 0.5, 0.5}, Vec3{15, 15, 0}),
	} {
		rep := CheckFOV(views, g.Detector, grid)
		x := rep.Example
		if rep.Fits() || math.Hypot(x[0], x[1]) <= fov.Radius && math.Abs(x[2]) <= fov.ZMax || !strings.Contains(rep.String(), "beyond") {
			t.Errorf("%v: %v", grid, rep)
		}
	}
}

package phantom

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// exactTol is the relative tolerance for closed-form chord lengths: a few
// float64 roundings.
const exactTol = 1e-12

// Brute-force line integrals use the midpoint rule over bruteLength mm. A
// sample misjudges at most the one step that straddles a boundary, so each
// entry or exit of an object is off by at most one step times its density.
const (
	bruteSteps  = 200_000
	bruteLength = 240.0
	bruteStep   = bruteLength / bruteSteps
)

func bruteIntegral(p Phantom, src, dir fdk.Vec3) float64 {
	d := scale(dir, 1/math.Sqrt(dot(dir, dir)))
	foot := sub(src, scale(d, dot(src, d))) // closest point to the origin
	sum := 0.0
	for i := range bruteSteps {
		t := -bruteLength/2 + (float64(i)+0.5)*bruteStep
		sum += p.Value(add(foot, scale(d, t)))
	}
	return sum * bruteStep
}

// bruteTol is the worst-case midpoint error: two boundary steps per object.
func bruteTol(p Phantom) float64 {
	tol := 0.0
	for _, o := range p {
		tol += 2 * bruteStep * math.Abs(o.Density)
	}
	return tol
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func randomVec(r *rand.Rand, lo, hi float64) fdk.Vec3 {
	return fdk.Vec3{uniform(r, lo, hi), uniform(r, lo, hi), uniform(r, lo, hi)}
}

// randomRay starts 150 mm from the origin and aims at a point near it, so
// that most rays hit objects placed there and some graze or miss them.
func randomRay(r *rand.Rand) (src, dir fdk.Vec3) {
	u := randomVec(r, -1, 1)
	src = scale(u, 150/math.Sqrt(dot(u, u)))
	return src, sub(randomVec(r, -20, 20), src)
}

func TestLineIntegralMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []Kind{Ellipsoid, Cylinder, Box} {
		hits := 0
		const rays = 12
		for range rays {
			o := Object{Kind: kind, Center: randomVec(r, -10, 10), Axes: randomVec(r, 3, 25),
				Angle: uniform(r, 0, 2*math.Pi), Density: uniform(r, 0.5, 2)}
			p := Phantom{o}
			src, dir := randomRay(r)
			got, want := p.LineIntegral(src, dir), bruteIntegral(p, src, dir)
			if !(math.Abs(got-want) <= bruteTol(p)) {
				t.Errorf("kind %d %+v ray %v %v: exact %.9g, brute force %.9g (tol %.2g)", kind, o, src, dir, got, want, bruteTol(p))
			}
			if got > 0 {
				hits++
			}
		}
		if hits < rays/2 {
			t.Errorf("kind %d: only %d of %d rays hit; the test checks too little", kind, hits, rays)
		}
	}
}

func TestSheppLoganMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := SheppLogan(60)
	for range 8 {
		src, dir := randomRay(r)
		got, want := p.LineIntegral(src, dir), bruteIntegral(p, src, dir)
		if !(math.Abs(got-want) <= bruteTol(p)) || got == 0 {
			t.Errorf("ray %v %v: exact %.9g, brute force %.9g (tol %.2g)", src, dir, got, want, bruteTol(p))
		}
	}
}

// The line, not the ray, is integrated: moving the source along it or
// reversing the direction must not change the result.
func TestLineIntegralDependsOnLineOnly(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := append(SheppLogan(50), Object{Kind: Box, Axes: fdk.Vec3{10, 20, 5}, Angle: 0.4, Density: 0.1},
		Object{Kind: Cylinder, Center: fdk.Vec3{5, 0, 0}, Axes: fdk.Vec3{8, 4, 30}, Angle: 1, Density: 0.1})
	for range 50 {
		src, dir := randomRay(r)
		a := p.LineIntegral(src, dir)
		b := p.LineIntegral(add(src, scale(dir, 0.37)), scale(dir, -3))
		if !(math.Abs(a-b) <= exactTol*max(a, 1)) {
			t.Errorf("ray %v %v: %.17g, moved and reversed %.17g", src, dir, a, b)
		}
	}
}

func TestChordAnalytic(t *testing.T) {
	const ang = 0.7
	c, s := math.Cos(ang), math.Sin(ang)
	ex, ey := fdk.Vec3{c, s, 0}, fdk.Vec3{-s, c, 0} // the rotated object's x and y axes
	z := fdk.Vec3{0, 0, 1}
	ctr := fdk.Vec3{3, -4, 5}
	at := func(v fdk.Vec3, k float64) fdk.Vec3 { return add(ctr, scale(v, k)) }
	sphere := Object{Kind: Ellipsoid, Center: ctr, Axes: fdk.Vec3{7, 7, 7}, Density: 1}
	ell := Object{Kind: Ellipsoid, Center: ctr, Axes: fdk.Vec3{9, 4, 6}, Angle: ang, Density: 1}
	cyl := Object{Kind: Cylinder, Center: ctr, Axes: fdk.Vec3{6, 3, 11}, Angle: ang, Density: 1}
	box := Object{Kind: Box, Center: ctr, Axes: fdk.Vec3{3, 4, 5}, Angle: ang, Density: 1}
	cases := []struct {
		name     string
		o        Object
		src, dir fdk.Vec3
		want     float64
	}{
		{"sphere through centre", sphere, at(fdk.Vec3{1, 2, -2}, 100), fdk.Vec3{-1, -2, 2}, 14},
		{"sphere off centre, 1e7 mm away", sphere, add(at(ex, 0.6*7), scale(z, -1e7)), z, 2 * 7 * 0.8}, // 2√(r²-d²)
		{"sphere missed", sphere, at(ey, 7.001), ex, 0},
		{"ellipsoid along its x", ell, at(ex, -300), ex, 18},
		{"ellipsoid along its y", ell, at(ey, 300), ey, 8},
		{"ellipsoid along z", ell, at(z, 300), z, 12},
		{"cylinder along its axis", cyl, at(ey, 2.9), z, 22},
		{"cylinder along its x", cyl, at(ex, -100), ex, 12},
		{"cylinder along its y, off the mid-plane", cyl, add(at(ey, 50), scale(z, 10.9)), ey, 6},
		{"cylinder parallel to its axis, outside", cyl, at(ey, 3.01), z, 0},
		{"cylinder parallel to its caps, outside", cyl, add(at(ey, 50), scale(z, 11.01)), ey, 0},
		{"box along its x", box, at(ex, 40), ex, 6},
		{"box along its y, off centre", box, add(at(ex, 2.5), scale(z, -4.9)), ey, 8},
		{"box along z", box, at(add(ex, ey), 1), z, 10},
		{"box diagonal in its x-y plane", box, at(add(scale(ex, 3), scale(ey, 4)), 1), add(scale(ex, 3), scale(ey, 4)), 10},
		{"box parallel to a face, outside", box, at(ey, 4.01), ex, 0},
	}
	for _, tc := range cases {
		got := Phantom{tc.o}.LineIntegral(tc.src, tc.dir)
		if !(math.Abs(got-tc.want) <= exactTol*max(tc.want, 1)) {
			t.Errorf("%s: chord %.17g, want %g", tc.name, got, tc.want)
		}
	}
}

// testGeometry is a small full-scan geometry with the detector offset by
// half a pixel in u and v, so that the central ray hits pixel (32, 24).
func testGeometry() *fdk.Geometry {
	return &fdk.Geometry{SID: 600, SDD: 1200,
		Detector: fdk.Detector{Cols: 64, Rows: 48, PitchU: 2, PitchV: 2},
		OffsetU:  -1, OffsetV: -1,
		Angles: []float64{0, 0.7, 2, 3.5, 5.9}}
}

// sphereChord computes, from the geometry's definition in package fdk's
// documentation rather than from its matrices, the chord of a sphere of
// radius r at the origin along the ray through pixel (col, row) of the view
// at angle th.
func sphereChord(g *fdk.Geometry, th float64, col, row int, r float64) float64 {
	n := fdk.Vec3{math.Cos(th), math.Sin(th), 0}
	tu := fdk.Vec3{-n[1], n[0], 0}
	u := (float64(col)-float64(g.Cols-1)/2)*g.PitchU + g.OffsetU
	v := (float64(row)-float64(g.Rows-1)/2)*g.PitchV + g.OffsetV
	src := scale(n, g.SID)
	pix := add(add(scale(n, g.SID-g.SDD), scale(tu, u)), fdk.Vec3{0, 0, v})
	d := sub(pix, src)
	d = scale(d, 1/math.Sqrt(dot(d, d)))
	foot := sub(src, scale(d, dot(src, d)))
	return 2 * math.Sqrt(max(r*r-dot(foot, foot), 0))
}

// float32Tol is the relative rounding of a projection value stored as float32.
const float32Tol = 1e-6

func TestProjectCentredSphere(t *testing.T) {
	const r, rho = 40.0, 0.02
	g := testGeometry()
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	p := Phantom{{Kind: Ellipsoid, Axes: fdk.Vec3{r, r, r}, Density: rho}}
	img := make([]float32, g.Pixels())
	at := func(col, row int) float64 { return float64(img[row*g.Cols+col]) }
	for vi, v := range views {
		if err := p.Project(img, &v.P, g.Detector); err != nil {
			t.Fatal(err)
		}
		if got := at(32, 24); !(math.Abs(got-2*r*rho) <= float32Tol*2*r*rho) {
			t.Errorf("view %d: central pixel %g, want 2r·density = %g", vi, got, 2*r*rho)
		}
		for row := range g.Rows {
			for col := range g.Cols {
				want := rho * sphereChord(g, g.Angles[vi], col, row, r)
				if !(math.Abs(at(col, row)-want) <= float32Tol*2*r*rho) {
					t.Fatalf("view %d pixel (%d,%d): %g, want %g", vi, col, row, at(col, row), want)
				}
				mc, mr := 64-col, 48-row // mirror images about pixel (32, 24)
				if mc < g.Cols && mr < g.Rows &&
					!(math.Abs(at(mc, row)-at(col, row)) <= float32Tol*2*r*rho && math.Abs(at(col, mr)-at(col, row)) <= float32Tol*2*r*rho) {
					t.Errorf("view %d pixel (%d,%d): %g, mirrored in u %g, in v %g", vi, col, row,
						at(col, row), at(mc, row), at(col, mr))
				}
			}
		}
	}
}

func TestProjectErrors(t *testing.T) {
	p := SheppLogan(50)
	g := testGeometry()
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Project(make([]float32, g.Pixels()-1), &views[0].P, g.Detector); err == nil {
		t.Error("short buffer accepted")
	}
	var zero fdk.Matrix
	if err := p.Project(make([]float32, g.Pixels()), &zero, g.Detector); !errors.Is(err, fdk.ErrSingular) {
		t.Errorf("singular matrix: got %v, want fdk.ErrSingular", err)
	}
	bad := *g
	bad.SDD = bad.SID
	if _, err := p.ProjectGeometry(&bad, 2); !errors.Is(err, fdk.ErrGeometry) {
		t.Errorf("invalid geometry: got %v, want fdk.ErrGeometry", err)
	}
}

func TestProjectGeometryMatchesProject(t *testing.T) {
	p := SheppLogan(50)
	g := testGeometry()
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	all, err := p.ProjectGeometry(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(views) {
		t.Fatalf("%d projections for %d views", len(all), len(views))
	}
	want := make([]float32, g.Pixels())
	for i := range views {
		if err := p.Project(want, &views[i].P, g.Detector); err != nil {
			t.Fatal(err)
		}
		for k := range want {
			if all[i][k] != want[k] {
				t.Fatalf("view %d pixel %d: %g in parallel, %g alone", i, k, all[i][k], want[k])
			}
		}
	}
}

func TestSample(t *testing.T) {
	const r = 20.0
	grid := fdk.CenteredGrid([3]int{32, 30, 28}, [3]float64{2, 2, 2}, fdk.Vec3{})
	p := Phantom{{Kind: Ellipsoid, Center: fdk.Vec3{0.3, 0.1, -0.2}, Axes: fdk.Vec3{r, r, r}, Density: 1}}
	vol := fdk.NewVolume(grid)

	p.Sample(vol, 1)
	for _, ijk := range [][3]int{{0, 0, 0}, {16, 15, 14}, {5, 20, 9}, {31, 29, 27}} {
		want := p.Value(grid.Position(ijk[0], ijk[1], ijk[2]))
		if got := vol.At(ijk[0], ijk[1], ijk[2]); float64(got) != want {
			t.Errorf("super=1 voxel %v: %g, want the value at its centre %g", ijk, got, want)
		}
	}

	p.Sample(vol, 4)
	sum := 0.0
	for _, v := range vol.Data {
		sum += float64(v)
	}
	boxVolume := 32 * 30 * 28 * 8.0
	got, want := sum/float64(len(vol.Data)), 4.0/3*math.Pi*r*r*r/boxVolume
	// Measured: 1.1e-4 with super=4, but 7.7e-4 and 1.1e-3 with super=1
	// and 2, so this tolerance tells sub-sampling from none.
	const sampleTol = 5e-4
	if !(math.Abs(got/want-1) <= sampleTol) {
		t.Errorf("mean with super=4: %.6g, want the volume fraction %.6g (relative error %.2g)", got, want, got/want-1)
	}
}

// TestSampleSymmetric samples a sphere centred on the grid: the sub-voxel
// points must sit symmetrically in each voxel, so mirroring any axis must
// leave the volume unchanged (odd and even super).
func TestSampleSymmetric(t *testing.T) {
	grid := fdk.CenteredGrid([3]int{12, 10, 8}, [3]float64{2, 2, 2}, fdk.Vec3{})
	ball := Phantom{{Kind: Ellipsoid, Axes: fdk.Vec3{9.3, 7.7, 6.1}, Density: 1}}
	vol := fdk.NewVolume(grid)
	n := grid.Dim
	for _, super := range []int{3, 4} {
		ball.Sample(vol, super)
		for k := range n[2] {
			for j := range n[1] {
				for i := range n[0] {
					v := vol.At(i, j, k)
					if v != vol.At(n[0]-1-i, j, k) || v != vol.At(i, n[1]-1-j, k) || v != vol.At(i, j, n[2]-1-k) {
						t.Fatalf("super=%d voxel (%d,%d,%d) = %g differs from its mirror images", super, i, j, k, v)
					}
				}
			}
		}
	}
}

// TestSampleBoxPartialVolume samples a box whose faces cut voxels of 2 mm at
// multiples of 0.5 mm: there super=4, whose points lie 0.25 mm and 0.75 mm
// from the voxel centre, gives every voxel its exact covered fraction.
func TestSampleBoxPartialVolume(t *testing.T) {
	grid := fdk.CenteredGrid([3]int{12, 10, 8}, [3]float64{2, 2, 2}, fdk.Vec3{})
	lo, hi := fdk.Vec3{-7.5, -5, -2.5}, fdk.Vec3{6.5, 3.5, 6}
	box := Phantom{{Kind: Box, Center: scale(add(lo, hi), 0.5), Axes: scale(sub(hi, lo), 0.5), Density: 1}}
	vol := fdk.NewVolume(grid)
	box.Sample(vol, 4)
	partial := 0
	for k := range grid.Dim[2] {
		for j := range grid.Dim[1] {
			for i := range grid.Dim[0] {
				c := grid.Position(i, j, k)
				want := 1.0
				for a := range 3 {
					want *= max(0, min(hi[a], c[a]+1)-max(lo[a], c[a]-1)) / 2
				}
				if got := float64(vol.At(i, j, k)); got != want {
					t.Fatalf("voxel (%d,%d,%d): %g, want covered fraction %g", i, j, k, got, want)
				}
				if want > 0 && want < 1 {
					partial++
				}
			}
		}
	}
	if partial == 0 {
		t.Error("no voxel is cut by the box: the test checks nothing")
	}
}

// TestSheppLoganValues checks densities at points whose covering ellipsoids
// were worked out by hand from the tables (items counted from 1).
func TestSheppLoganValues(t *testing.T) {
	const s = 100.0
	cases := []struct {
		name string
		p    Phantom
		x    fdk.Vec3
		want float64
	}{
		{"origin: 1, 2", SheppLogan(s), fdk.Vec3{}, 2 - 0.98},
		{"skull top: 1", SheppLogan(s), fdk.Vec3{0, 0.9, 0}, 2},
		{"outside", SheppLogan(s), fdk.Vec3{0, 0.93, 0}, 0},
		{"centre of 3: 1, 2, 3", SheppLogan(s), fdk.Vec3{-0.22, 0, -0.25}, 2 - 0.98 - 0.02},
		{"centre of 7: 1, 2, 7", SheppLogan(s), fdk.Vec3{-0.08, -0.65, -0.25}, 2 - 0.98 + 0.01},
		{"centre of 9: 1, 2, 9", SheppLogan(s), fdk.Vec3{0.06, -0.105, 0.625}, 2 - 0.98 + 0.02},
		{"centre of 10: 1, 2, 10", SheppLogan(s), fdk.Vec3{0, 0.1, 0.625}, 2 - 0.98 - 0.02},
		{"modified origin: 1, 2", ModifiedSheppLogan(s), fdk.Vec3{}, 1 - 0.8},
		{"modified centre of 7: 1, 2, 7", ModifiedSheppLogan(s), fdk.Vec3{0, -0.1, 0}, 1 - 0.8 + 0.1},
		{"modified centre of 3: 1, 2, 3", ModifiedSheppLogan(s), fdk.Vec3{0.22, 0, 0}, 1 - 0.8 - 0.2},
	}
	for _, tc := range cases {
		if got := tc.p.Value(scale(tc.x, s)); !(math.Abs(got-tc.want) <= exactTol) {
			t.Errorf("%s: %.17g, want %.17g", tc.name, got, tc.want)
		}
	}
}

// The in-plane ellipses of item 4 in both tables must coincide: both lie
// along 72° from +x, which pins the sign convention of the angles.
func TestSheppLoganOrientation(t *testing.T) {
	const s = 100.0
	along := scale(fdk.Vec3{math.Cos(72 * math.Pi / 180), math.Sin(72 * math.Pi / 180), 0}, 0.29*s)
	across := scale(fdk.Vec3{math.Cos(-18 * math.Pi / 180), math.Sin(-18 * math.Pi / 180), 0}, 0.29*s)
	for _, tc := range []struct {
		name   string
		item   Object
		centre fdk.Vec3
	}{
		{"shepp-logan", SheppLogan(s)[3], fdk.Vec3{0.22 * s, 0, -0.25 * s}},
		{"modified-shepp-logan", ModifiedSheppLogan(s)[2], fdk.Vec3{0.22 * s, 0, 0}},
	} {
		o := Phantom{tc.item}
		if o.Value(add(tc.centre, along)) == 0 || o.Value(add(tc.centre, across)) != 0 {
			t.Errorf("%s: the ellipse at x = +0.22 is not elongated along 72°", tc.name)
		}
	}
}

func TestByName(t *testing.T) {
	for _, name := range Names() {
		p, err := ByName(name, 100)
		if err != nil || len(p) == 0 {
			t.Errorf("%s: %d objects, %v", name, len(p), err)
		}
		if v := p.Value(fdk.Vec3{}); !(v > 0) {
			t.Errorf("%s: density %g at the centre, want positive", name, v)
		}
	}
	cyl, _ := ByName("cylinder", 100)
	if got := cyl.LineIntegral(fdk.Vec3{-500, 0, 59}, fdk.Vec3{1, 0, 0}); math.Abs(got-0.02*120) > exactTol {
		t.Errorf("cylinder: diameter line integral %g, want 0.02/mm × 120 mm", got)
	}
	_, err := ByName("head", 1)
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), strings.Join(Names(), ", ")) {
		t.Errorf("unknown name: %v, want ErrUnknown listing %v", err, Names())
	}
}

// TestTablesMatchSources re-reads both tables in their sources' own layouts,
// transcribed separately from tables.go: RTK's SetEllipsoid arguments
// (semi-axes x, y, z; centre x, y, z; angle in degrees; density, with y its
// rotation axis), and ODL's rows (density; semi-axes; centre; rotation).
func TestTablesMatchSources(t *testing.T) {
	rtk := [][8]float64{
		{0.69, 0.90, 0.92, 0., 0., 0., 0., 2.},
		{0.6624, 0.880, 0.874, 0., 0., 0., 0., -0.98},
		{0.41, 0.21, 0.16, -0.22, -0.25, 0., 108., -0.02},
		{0.31, 0.22, 0.11, 0.22, -0.25, 0., 72., -0.02},
		{0.21, 0.50, 0.25, 0., -0.25, 0.35, 0., 0.02},
		{0.046, 0.046, 0.046, 0., -0.25, 0.10, 0., 0.02},
		{0.046, 0.02, 0.023, -0.08, -0.25, -0.65, 0., 0.01},
		{0.046, 0.02, 0.023, 0.06, -0.25, -0.65, 90., 0.01},
		{0.056, 0.1, 0.04, 0.06, 0.625, -0.105, 90., 0.02},
		{0.056, 0.1, 0.056, 0., 0.625, 0.1, 0., -0.02},
	}
	rad18 := 18 * math.Pi / 180
	odl := [][8]float64{
		{1.0, .6900, .9200, .810, 0.0000, 0.0000, 0.00, 0.0},
		{-0.8, .6624, .8740, .780, 0.0000, -.0184, 0.00, 0.0},
		{-0.2, .1100, .3100, .220, 0.2200, 0.0000, 0.00, -rad18},
		{-0.2, .1600, .4100, .280, -.2200, 0.0000, 0.00, rad18},
		{0.1, .2100, .2500, .410, 0.0000, 0.3500, 0.00, 0.0},
		{0.1, .0460, .0460, .050, 0.0000, 0.1000, 0.00, 0.0},
		{0.1, .0460, .0460, .050, 0.0000, -.1000, 0.00, 0.0},
		{0.1, .0460, .0230, .050, -.0800, -.6050, 0.00, 0.0},
		{0.1, .0230, .0230, .020, 0.0000, -.6060, 0.00, 0.0},
		{0.1, .0230, .0460, .020, 0.0600, -.6050, 0.00, 0.0},
	}
	const s = 10.0
	check := func(name string, got Phantom, i int, want Object) {
		o := got[i]
		same := o.Kind == want.Kind && o.Density == want.Density && math.Abs(o.Angle-want.Angle) <= exactTol
		for k := range 3 {
			same = same && math.Abs(o.Center[k]-want.Center[k]) <= exactTol*s && math.Abs(o.Axes[k]-want.Axes[k]) <= exactTol*s
		}
		if !same {
			t.Errorf("%s item %d: %+v, source says %+v", name, i+1, o, want)
		}
	}
	sl, msl := SheppLogan(s), ModifiedSheppLogan(s)
	if len(sl) != len(rtk) || len(msl) != len(odl) {
		t.Fatalf("%d and %d ellipsoids, sources have %d and %d", len(sl), len(msl), len(rtk), len(odl))
	}
	for i, r := range rtk { // RTK (x, y, z) is our (x, z, y)
		check("shepp-logan", sl, i, Object{Kind: Ellipsoid, Center: fdk.Vec3{r[3] * s, r[5] * s, r[4] * s},
			Axes: fdk.Vec3{r[0] * s, r[2] * s, r[1] * s}, Angle: r[6] * math.Pi / 180, Density: r[7]})
	}
	for i, r := range odl {
		check("modified-shepp-logan", msl, i, Object{Kind: Ellipsoid, Center: fdk.Vec3{r[4] * s, r[5] * s, r[6] * s},
			Axes: fdk.Vec3{r[1] * s, r[2] * s, r[3] * s}, Angle: r[7], Density: r[0]})
	}
}

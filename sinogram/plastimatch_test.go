package sinogram_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/peertest"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/sinogram"
)

// spheres is an asymmetric object, so a flipped axis or a mirrored rotation
// moves a sphere and is caught.
var spheres = phantom.Phantom{
	{Kind: phantom.Ellipsoid, Center: fdk.Vec3{0, 0, 0}, Axes: fdk.Vec3{50, 40, 30}, Density: 0.02},
	{Kind: phantom.Ellipsoid, Center: fdk.Vec3{25, -10, 8}, Axes: fdk.Vec3{10, 10, 10}, Density: 0.02},
	{Kind: phantom.Ellipsoid, Center: fdk.Vec3{-20, 15, -10}, Axes: fdk.Vec3{6, 6, 6}, Density: -0.01},
}

func testGeometry(views int) *fdk.Geometry {
	g := &fdk.Geometry{SID: 600, SDD: 1000, OffsetU: 3, OffsetV: -2, Tilt: 0.01, COROffset: 1.5,
		Detector: fdk.Detector{Cols: 120, Rows: 80, PitchU: 1.6, PitchV: 1.2}}
	for i := range views {
		g.Angles = append(g.Angles, 0.3+float64(i)*2*math.Pi/float64(views))
	}
	return g
}

// Writing a set and reading it back keeps every pixel (to float32 rounding
// of the unit change) and every view's projection of any point.
func TestPlastimatchRoundTrip(t *testing.T) {
	g, projs, dir := writeSpheres(t, 12)
	got, err := sinogram.ReadPlastimatch(dir)
	if err != nil {
		t.Fatal(err)
	}
	gd := got.Geometry
	if gd.Cols != g.Cols || gd.Rows != g.Rows || math.Abs(gd.PitchU-g.PitchU) > 1e-9 || math.Abs(gd.PitchV-g.PitchV) > 1e-9 ||
		gd.SID != g.SID || gd.SDD != g.SDD {
		t.Fatalf("read %+v SID %g SDD %g, wrote %+v SID %g SDD %g", gd.Detector, gd.SID, gd.SDD, g.Detector, g.SID, g.SDD)
	}
	want, _ := g.Views()
	have, err := got.Geometry.Views()
	if err != nil {
		t.Fatal(err)
	}
	for v := range want {
		for _, x := range []fdk.Vec3{{0, 0, 0}, {40, -30, 20}, {-55, 10, -35}} {
			c0, r0, w0 := want[v].P.Project(x)
			c1, r1, w1 := have[v].P.Project(x)
			if math.Abs(c0-c1) > 1e-6 || math.Abs(r0-r1) > 1e-6 || math.Abs(w0-w1) > 1e-9 {
				t.Errorf("view %d point %v: read back (%g,%g,%g), wrote (%g,%g,%g)", v, x, c1, r1, w1, c0, r0, w0)
			}
		}
		for i, p := range projs[v] {
			if d := math.Abs(float64(got.Projections[v][i] - p)); d > 1e-6*math.Max(1, math.Abs(float64(p))) {
				t.Fatalf("view %d pixel %d: %g, wrote %g", v, i, got.Projections[v][i], p)
			}
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Projections made by `plastimatch drr` from a volume reconstruct in ctrecon
// to that volume: same place, same orientation, same attenuation.
func TestPlastimatchDRRReconstructs(t *testing.T) {
	peertest.Tool(t, "plastimatch", "plastimatch")
	dir := t.TempDir()
	grid := fdk.CenteredGrid([3]int{80, 80, 60}, [3]float64{1.5, 1.5, 1.5}, fdk.Vec3{})
	truth := fdk.NewVolume(grid)
	spheres.Sample(truth, 3)
	if err := metaimage.Write(filepath.Join(dir, "truth.mha"), truth); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "proj")
	run(t, "plastimatch", "drr", "-t", "pfm", "-P", "none", "-r", "200 120", "-z", "320 192",
		"--sad", "600", "--sid", "1000", "-y", "0", "-a", "180", "-N", "2", "-O", proj+"/img", filepath.Join(dir, "truth.mha"))
	set, err := sinogram.ReadPlastimatch(proj)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := fdk.Reconstruct(&set.Geometry, grid, set.Projections, fdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mae, inside := centralError(vol, truth)
	t.Logf("mean |error| %.5f /mm inside the object (attenuation 0.02 /mm); mean %.5f vs truth %.5f", mae, inside[0], inside[1])
	if !(mae < 0.001) || !(math.Abs(inside[0]/inside[1]-1) < 0.01) {
		t.Errorf("reconstruction of plastimatch drr projections is off")
	}
	for k := range 3 {
		if m, _ := centralError(vol, mirror(truth, k)); !(m > 1.5*mae) {
			t.Errorf("axis %d mirrored fits as well: mean |error| %.5f", k, m)
		}
	}
}

// centralError returns the mean absolute error over the central half of the
// volume and the mean of vol and truth there.
func centralError(vol, truth *fdk.Volume) (float64, [2]float64) {
	d := vol.Grid.Dim
	var abs, a, b float64
	n := 0
	for k := d[2] / 4; k < 3*d[2]/4; k++ {
		for j := d[1] / 4; j < 3*d[1]/4; j++ {
			for i := d[0] / 4; i < 3*d[0]/4; i++ {
				x, y := float64(vol.At(i, j, k)), float64(truth.At(i, j, k))
				abs += math.Abs(x - y)
				a += x
				b += y
				n++
			}
		}
	}
	return abs / float64(n), [2]float64{a / float64(n), b / float64(n)}
}

// A folder written by ctrecon reconstructs in `plastimatch fdk` to a volume
// on the same grid as ctrecon's: after a linear fit (plastimatch's scale is
// not quantitative) the two agree voxel by voxel.
func TestPlastimatchFDKReadsOurFolders(t *testing.T) {
	peertest.Tool(t, "plastimatch", "plastimatch")
	g := testGeometry(120)
	g.OffsetU, g.OffsetV, g.Tilt, g.COROffset = 0, 0, 0, 0
	projs, err := spheres.ProjectGeometry(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sinogram.WritePlastimatch(dir+"/proj", "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		t.Fatal(err)
	}
	run(t, "plastimatch", "fdk", "-I", dir+"/proj", "-O", dir+"/pl.mha", "-r", "64 64 40", "-z", "128 128 80")
	pl, err := metaimage.Read(dir + "/pl.mha")
	if err != nil {
		t.Fatal(err)
	}
	grid := fdk.CenteredGrid([3]int{64, 64, 40}, [3]float64{2, 2, 2}, fdk.Vec3{})
	if d := gridDiff(pl.Grid, grid); d > 1e-3 {
		t.Fatalf("plastimatch grid %+v differs from ctrecon's %+v", pl.Grid, grid)
	}
	// Compare inside the field of view, where both tools have all the data,
	// and against the mirror images, which a flipped axis would match better.
	truth := fdk.NewVolume(grid)
	spheres.Sample(truth, 3)
	a, _, r := fit(pl, truth)
	t.Logf("inside the field of view: plastimatch = %.1f × truth + c, correlation %.4f", a, r)
	if !(r > 0.97) || !(a > 0) {
		t.Errorf("plastimatch's reconstruction of our folder does not match the object (r = %.4f)", r)
	}
	for k := range 3 {
		if _, _, rm := fit(pl, mirror(truth, k)); !(rm < r-0.02) {
			t.Errorf("axis %d mirrored matches as well (r = %.4f)", k, rm)
		}
	}
}

func gridDiff(a, b fdk.Grid) float64 {
	d := 0.0
	for k := range 3 {
		d = math.Max(d, math.Abs(float64(a.Dim[k]-b.Dim[k])))
		d = math.Max(d, math.Abs(a.Spacing[k]-b.Spacing[k]))
		d = math.Max(d, math.Abs(a.Origin[k]-b.Origin[k]))
	}
	return d
}

// fit returns the least-squares line x ≈ a·y + b and the correlation over
// the voxels within 45 mm of the axis and 25 mm of the mid-plane.
func fit(x, y *fdk.Volume) (a, b, r float64) {
	var sx, sy, sxx, syy, sxy, n float64
	d := x.Grid.Dim
	for k := range d[2] {
		for j := range d[1] {
			for i := range d[0] {
				if c := x.Grid.Position(i, j, k); math.Hypot(c[0], c[1]) > 45 || math.Abs(c[2]) > 25 {
					continue
				}
				p, q := float64(x.At(i, j, k)), float64(y.At(i, j, k))
				sx, sy, sxx, syy, sxy, n = sx+p, sy+q, sxx+p*p, syy+q*q, sxy+p*q, n+1
			}
		}
	}
	cov, vx, vy := sxy-sx*sy/n, sxx-sx*sx/n, syy-sy*sy/n
	a = cov / vy
	return a, (sx - a*sy) / n, cov / math.Sqrt(vx*vy)
}

func TestReadPlastimatchRejects(t *testing.T) {
	g := testGeometry(3)
	projs, _ := spheres.ProjectGeometry(g, 0)
	write := func(t *testing.T) string {
		dir := t.TempDir()
		if err := sinogram.WritePlastimatch(dir, "p", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name  string
		spoil func(dir string) error
		want  string
	}{
		{"empty folder", func(dir string) error { return removeGlob(dir, "*") }, "no .pfm files"},
		{"missing txt", func(dir string) error { return os.Remove(dir + "/p0001.txt") }, "p0001.txt"},
		{"truncated pfm", func(dir string) error { return truncate(dir+"/p0002.pfm", 100) }, "p0002.pfm: 87 bytes of pixel data, want 38400"},
		{"bad header", func(dir string) error { return os.WriteFile(dir+"/p0000.pfm", []byte("P5\n1 1\n"), 0o644) }, "p0000.pfm: header"},
		{"big endian", func(dir string) error { return replace(dir+"/p0000.pfm", "\n-1\n", "\n1\n") }, "big-endian"},
		{"nan", func(dir string) error { return poke(dir+"/p0001.pfm", 5*120+7, float32(math.NaN())) }, "p0001.pfm: value at column 7 row 5 is not a finite"},
		{"size mismatch", func(dir string) error { return replace(dir+"/p0002.pfm", "Pf\n120 80\n", "Pf\n160 60\n") }, "p0002.pfm: 160x60 pixels"},
		{"bad txt", func(dir string) error { return replace(dir+"/p0001.txt", "\n600\n", "\nsix hundred\n") }, "p0001.txt: line 5 (SAD)"},
		{"matrix and SID disagree", func(dir string) error { return replace(dir+"/p0001.txt", "\n1000\n", "\n900\n") }, "p0001.txt: line 4 (matrix row 3)"},
		{"detector axis along the beam", func(dir string) error { return copyLine(dir+"/p0002.txt", 3, 1) }, "p0002.txt: line 2 (matrix row 1) is not a detector axis"},
		{"size overflows", func(dir string) error {
			return replace(dir+"/p0000.pfm", "Pf\n120 80\n", "Pf\n1099511627776 1099511627776\n")
		}, "p0000.pfm: impossible size"},
		{"value overflows in mm", func(dir string) error { return poke(dir+"/p0001.pfm", 3, 3e38) }, "p0001.pfm: value at column 3 row 0"},
		{"short txt", func(dir string) error { return os.WriteFile(dir+"/p0000.txt", []byte("1 2\n"), 0o644) }, "p0000.txt: line 2"},
		{"no folder", func(dir string) error { return os.RemoveAll(dir) }, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t)
			if err := tc.spoil(dir); err != nil {
				t.Fatal(err)
			}
			_, err := sinogram.ReadPlastimatch(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(tc.want, ".pfm:") && !errors.Is(err, sinogram.ErrFormat) {
				t.Errorf("err = %v, want ErrFormat", err)
			}
		})
	}
}

func removeGlob(dir, pattern string) error {
	names, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, n := range names {
		if err := os.Remove(n); err != nil {
			return err
		}
	}
	return nil
}

func truncate(name string, n int) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	return os.WriteFile(name, b[:n], 0o644)
}

func replace(name, old, new string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	s := string(b)
	if !strings.Contains(s, old) {
		return fmt.Errorf("%s has no %q", name, old)
	}
	return os.WriteFile(name, []byte(strings.Replace(s, old, new, 1)), 0o644)
}

// copyLine copies line from over line to (0-based) in a text file.
func copyLine(name string, from, to int) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	lines[to] = lines[from]
	return os.WriteFile(name, []byte(strings.Join(lines, "\n")), 0o644)
}

func poke(name string, pixel int, v float32) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	off := len(b) - 4*120*80 + 4*pixel
	bits := math.Float32bits(v)
	b[off], b[off+1], b[off+2], b[off+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	return os.WriteFile(name, b, 0o644)
}

func mirror(v *fdk.Volume, axis int) *fdk.Volume {
	out := fdk.NewVolume(v.Grid)
	d := v.Grid.Dim
	for k := range d[2] {
		for j := range d[1] {
			for i := range d[0] {
				idx := [3]int{i, j, k}
				idx[axis] = d[axis] - 1 - idx[axis]
				out.Data[i+d[0]*(j+d[1]*k)] = v.At(idx[0], idx[1], idx[2])
			}
		}
	}
	return out
}

// writeSpheres writes the spheres' projections from views views of
// testGeometry as a plastimatch folder, and returns the geometry, the
// projections and the folder.
func writeSpheres(t *testing.T, views int) (*fdk.Geometry, [][]float32, string) {
	t.Helper()
	g := testGeometry(views)
	projs, err := spheres.ProjectGeometry(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sinogram.WritePlastimatch(dir, "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		t.Fatal(err)
	}
	return g, projs, dir
}

package sinogram_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
	"github.com/ctrecon/ctrecon/sinogram"
)

// FuzzReadPlastimatch feeds ReadPlastimatch a folder of one view whose .pfm
// and .txt are arbitrary, seeded with what WritePlastimatch writes and with
// the hostile files in testdata/fuzz/FuzzReadPlastimatch. Properties: no
// panic; allocation bounded by the files' size; an error names the .pfm or
// .txt (or the folder, for the geometry they make together); an accepted
// view has cols x rows finite line integrals and a geometry that gives a
// projection matrix; what WritePlastimatch writes of it reads back the same
// detector and distances, and pixels to float32 rounding of the unit
// change.
func FuzzReadPlastimatch(f *testing.F) {
	g := testGeometry(1)
	g.Cols, g.Rows = 4, 3
	projs, err := spheres.ProjectGeometry(g, 0)
	if err != nil {
		f.Fatal(err)
	}
	seed := f.TempDir()
	if err := sinogram.WritePlastimatch(seed, "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		f.Fatal(err)
	}
	pfm, _ := os.ReadFile(filepath.Join(seed, "img0000.pfm"))
	txt, _ := os.ReadFile(filepath.Join(seed, "img0000.txt"))
	f.Add(pfm, txt)
	dir, out := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, pfm, txt []byte) {
		if err := os.WriteFile(filepath.Join(dir, "p0000.pfm"), pfm, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "p0000.txt"), txt, 0o644); err != nil {
			t.Fatal(err)
		}
		var set *sinogram.Set
		fuzztest.AllocBound(t, len(pfm)+len(txt), 16, 1<<20, func() { set, err = sinogram.ReadPlastimatch(dir) })
		if err != nil {
			named := strings.Contains(err.Error(), "p0000.pfm") || strings.Contains(err.Error(), "p0000.txt") ||
				errors.Is(err, fdk.ErrGeometry) && strings.Contains(err.Error(), dir)
			if !named {
				t.Fatalf("error %q names neither file nor the folder", err)
			}
			return
		}
		checkSet(t, set)
		if err := sinogram.WritePlastimatch(out, "p", set); err != nil {
			t.Fatalf("WritePlastimatch of what was read: %v", err)
		}
		again, err := sinogram.ReadPlastimatch(out)
		if err != nil {
			t.Fatalf("ReadPlastimatch of what WritePlastimatch wrote: %v", err)
		}
		// Rows perpendicular to the beam to 1e-6 (what the reader accepts)
		// give pitches to about that.
		a, b := &set.Geometry, &again.Geometry
		near := func(x, y, tol float64) bool { return math.Abs(x-y) <= tol*math.Abs(x) }
		if a.Cols != b.Cols || a.Rows != b.Rows || !near(a.PitchU, b.PitchU, 1e-5) || !near(a.PitchV, b.PitchV, 1e-5) ||
			!near(a.SID, b.SID, 1e-9) || !near(a.SDD, b.SDD, 1e-9) {
			t.Fatalf("detector %+v, SID %g, SDD %g read back as %+v, %g, %g", a.Detector, a.SID, a.SDD, b.Detector, b.SID, b.SDD)
		}
		for i, v := range set.Projections[0] {
			if w := again.Projections[0][i]; !(math.Abs(float64(w-v)) <= 1e-6*math.Abs(float64(v))+1e-37) {
				t.Fatalf("pixel %d: %g read back as %g", i, v, w)
			}
		}
	})
}

// checkSet fails t unless set has one finite image of cols x rows per view
// and a geometry that gives projection matrices.
func checkSet(t *testing.T, set *sinogram.Set) {
	t.Helper()
	g := &set.Geometry
	if _, err := g.Views(); err != nil {
		t.Fatalf("accepted a geometry without views: %v", err)
	}
	if len(set.Projections) != g.NumViews() {
		t.Fatalf("%d images for %d views", len(set.Projections), g.NumViews())
	}
	for v, img := range set.Projections {
		if float64(len(img)) != float64(g.Cols)*float64(g.Rows) {
			t.Fatalf("view %d: %d pixels for a %dx%d detector", v, len(img), g.Cols, g.Rows)
		}
		for i, x := range img {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("view %d pixel %d is %v", v, i, x)
			}
		}
	}
}

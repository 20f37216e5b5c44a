package preview

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// filled returns a volume on a centred grid with value f(i, j, k).
func filled(dim [3]int, spacing [3]float64, f func(i, j, k int) float64) *fdk.Volume {
	v := fdk.NewVolume(fdk.CenteredGrid(dim, spacing, fdk.Vec3{}))
	for k := range dim[2] {
		for j := range dim[1] {
			for i := range dim[0] {
				v.Data[i+dim[0]*(j+dim[1]*k)] = float32(f(i, j, k))
			}
		}
	}
	return v
}

func constant(c float64) func(i, j, k int) float64 { return func(int, int, int) float64 { return c } }

// run returns the length of the run of pixels equal to img's at p along
// (dx, dy), p included: the extent of a uniform panel measured in pixels.
func run(img *image.RGBA, p image.Point, dx, dy int) int {
	c, n := img.RGBAAt(p.X, p.Y), 0
	for q := p; q.In(img.Bounds()) && img.RGBAAt(q.X, q.Y) == c; q = q.Add(image.Pt(dx, dy)) {
		n++
	}
	return n
}

// measure returns the size in pixels of the uniform, non-black panel that
// contains p, measured through p.
func measure(t *testing.T, img *image.RGBA, p image.Point) image.Point {
	t.Helper()
	if img.RGBAAt(p.X, p.Y) == (color.RGBA{A: 0xff}) {
		t.Fatalf("panel pixel %v is black", p)
	}
	return image.Pt(run(img, p, -1, 0)+run(img, p, 1, 0)-1, run(img, p, 0, -1)+run(img, p, 0, 1)-1)
}

// Every panel is at least MinLongSide pixels along the volume's longest
// extent (or one pixel per voxel when that is more), with the same pixels
// per millimetre along both axes and in all three panels: the true aspect
// ratio for anisotropic voxels. Sizes are measured on the picture.
func TestRenderSizeAndAspect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dim     [3]int
		spacing [3]float64
	}{
		{"thin slab", [3]int{128, 128, 32}, [3]float64{0.3, 0.3, 0.3}},
		{"anisotropic 0.3x0.3x1.0 mm", [3]int{128, 128, 32}, [3]float64{0.3, 0.3, 1.0}},
		{"anisotropic 1x2x0.5 mm", [3]int{40, 10, 30}, [3]float64{1, 2, 0.5}},
		{"large", [3]int{600, 600, 8}, [3]float64{0.1, 0.1, 0.1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := render(Volume{Volume: filled(tc.dim, tc.spacing, constant(1))}, Window{0, 2})
			img := p.draw()
			var extent [3]float64 // mm
			longest := 0.0
			for k := range 3 {
				extent[k] = float64(tc.dim[k]) * tc.spacing[k]
				longest = max(longest, extent[k])
			}
			var ppm []float64
			longSide := 0
			for i, c := range p.cells {
				r := c.layout().panel.Add(p.at[i])
				size := measure(t, img, r.Min.Add(r.Size().Div(4)))
				ew, eh := extent[c.plane.h], extent[c.plane.v]
				t.Logf("%s: %dx%d pixels for %gx%g mm", c.plane.name, size.X, size.Y, ew, eh)
				if size.X < tc.dim[c.plane.h] || size.Y < tc.dim[c.plane.v] {
					t.Errorf("%s: %v pixels, fewer than the %dx%d voxels", c.plane.name, size, tc.dim[c.plane.h], tc.dim[c.plane.v])
				}
				// Rounding each side to whole pixels moves px/mm by at most
				// half a pixel over the extent.
				sx, sy := float64(size.X)/ew, float64(size.Y)/eh
				if math.Abs(sx-sy) > 0.5/ew+0.5/eh {
					t.Errorf("%s: %.3f px/mm across, %.3f down: aspect ratio %.4f, want %.4f", c.plane.name, sx, sy, float64(size.X)/float64(size.Y), ew/eh)
				}
				ppm = append(ppm, sx, sy)
				if ew == longest {
					longSide = max(longSide, size.X)
				}
				if eh == longest {
					longSide = max(longSide, size.Y)
				}
			}
			if longSide < MinLongSide {
				t.Errorf("longest extent %g mm drawn %d pixels long, want at least %d", longest, longSide, MinLongSide)
			}
			for _, s := range ppm {
				if math.Abs(s-ppm[0]) > 1/longest+0.5/min(extent[0], extent[1], extent[2]) {
					t.Errorf("panels at %.3f px/mm, not all the same", ppm)
					break
				}
			}
		})
	}
}

// A linear ramp renders as the ramp: every interior pixel within one grey
// level of the analytic value at its centre, across (x) and up (z) the
// panels. Nearest-neighbour sampling would be off by up to half a voxel's
// step, 8 grey levels here.
func TestRenderInterpolatesRamps(t *testing.T) {
	const n = 16
	for _, tc := range []struct {
		name string
		f    func(i, j, k int) float64
		pl   plane
	}{
		{"x across the axial panel", func(i, _, _ int) float64 { return float64(i) }, axial},
		{"z up the coronal panel", func(_, _, k int) float64 { return float64(k) }, coronal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := render(Volume{Volume: filled([3]int{n, n, n}, [3]float64{1, 1, 1}, tc.f)}, Window{0, n - 1})
			img := p.draw()
			for i, c := range p.cells {
				if c.plane != tc.pl {
					continue
				}
				r := c.layout().panel.Add(p.at[i])
				worst := 0.0
				for d := range r.Dx() {
					// The voxel coordinate of the pixel's centre: voxel
					// centres at 0 .. n-1; the ramp's value there.
					u := (float64(d)+0.5)*n/float64(r.Dx()) - 0.5
					if u < 2 || u > n-3 {
						continue // the kernel is truncated near the faces
					}
					var got uint8
					if c.plane.up { // z decreases down the panel
						got = img.RGBAAt(r.Min.X+r.Dx()/3, r.Min.Y+d).R
						u = n - 1 - u
					} else {
						got = img.RGBAAt(r.Min.X+d, r.Min.Y+r.Dy()/3).R
					}
					worst = max(worst, math.Abs(float64(got)-255*u/(n-1)))
				}
				if worst > 1 {
					t.Errorf("%s: off the analytic ramp by up to %.1f grey levels, want at most 1", c.plane.name, worst)
				}
			}
		})
	}
}

// label is a text a picture must carry, where and in which colour.
type label struct {
	text   string
	at     image.Point // line start
	colour color.RGBA
}

// checkLabels checks that each label is drawn, and drawn alone: its
// rectangle has ink and equals the text drawn by itself on black.
func checkLabels(t *testing.T, img *image.RGBA, labels []label) {
	t.Helper()
	for _, l := range labels {
		want := image.NewRGBA(img.Bounds())
		draw.Draw(want, want.Bounds(), image.Black, image.Point{}, draw.Src)
		drawText(want, l.text, l.at.X, l.at.Y, l.colour)
		r := image.Rect(l.at.X, l.at.Y, l.at.X+textWidth(l.text), l.at.Y+lineHeight())
		ink, diff := 0, 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				g := img.RGBAAt(x, y)
				if g.R|g.G|g.B != 0 {
					ink++
				}
				if g != want.RGBAAt(x, y) {
					diff++
				}
			}
		}
		if ink == 0 || diff != 0 {
			t.Errorf("label %q at %v: %d inked pixels, %d differ from the text drawn alone", l.text, l.at, ink, diff)
		}
	}
}

// Every panel is titled with its plane and slice position and carries the
// orientation letters of the radiological convention on its edges and a
// scale bar label; the header names the volume and the window. The panels
// themselves (a black volume here) get no ink.
func TestRenderLabels(t *testing.T) {
	v := Volume{Volume: filled([3]int{20, 20, 10}, [3]float64{1, 1, 2}, constant(0)), Title: "bin 2  33.5-50.5 keV"}
	p := render(v, Window{0, 1})
	img := p.draw()
	labels := []label{{"bin 2  33.5-50.5 keV    window 0 to 1 /mm", image.Pt(pad, pad), textColor}}
	want := map[string]struct{ title, left, right, top, bottom string }{
		"axial":    {"axial  z = +1.0 mm", "R", "L", "A", "P"},
		"coronal":  {"coronal  y = +0.5 mm", "R", "L", "S", "I"},
		"sagittal": {"sagittal  x = +0.5 mm", "A", "P", "S", "I"},
	}
	for i, c := range p.cells {
		w, l, o := want[c.plane.name], c.layout(), p.at[i]
		for j, s := range []string{w.left, w.right, w.top, w.bottom} {
			labels = append(labels, label{s, l.letters[j].Add(o), letterColor})
		}
		labels = append(labels, label{w.title, l.title.Add(o), textColor}, label{"5 mm", l.barLabel.Add(o), textColor})
		r := l.panel.Add(o)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if g := img.RGBAAt(x, y); g.R|g.G|g.B != 0 {
					t.Fatalf("%s panel: ink at %d,%d on a black volume", c.plane.name, x, y)
				}
			}
		}
	}
	if len(p.cells) != 3 {
		t.Fatalf("%d panels, want 3", len(p.cells))
	}
	checkLabels(t, img, labels)
}

// The scale bar is as long in pixels as its stated length in millimetres
// times the panels' pixels per millimetre, worked out here from the extent
// drawn MinLongSide pixels long (or the one pixel per voxel).
func TestScaleBar(t *testing.T) {
	for _, tc := range []struct {
		dim     [3]int
		spacing float64
		ppm     float64 // pixels per mm
		mm      float64 // the bar's stated length
	}{
		{[3]int{128, 128, 32}, 0.3, 512 / 38.4, 10}, // 0.3 of 38.4 mm: 11.5 mm, down to 10
		{[3]int{20, 20, 20}, 1, 512 / 20.0, 5},      // 6 mm, down to 5
		{[3]int{600, 600, 8}, 0.1, 10, 10},          // one pixel per voxel; 18 mm, down to 10
	} {
		p := render(Volume{Volume: filled(tc.dim, [3]float64{tc.spacing, tc.spacing, tc.spacing}, constant(0))}, Window{0, 1})
		img := p.draw()
		want := int(math.Round(tc.mm * tc.ppm))
		var labels []label
		for i, c := range p.cells {
			l := c.layout()
			r := image.Rectangle{Min: image.Pt(0, l.panel.Max.Y), Max: l.size}.Add(p.at[i])
			longest := 0 // the longest run of white below the panel
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					if img.RGBAAt(x, y) == textColor {
						longest = max(longest, run(img, image.Pt(x, y), 1, 0))
					}
				}
			}
			if longest != want {
				t.Errorf("%v voxels of %g mm, %s: bar %d pixels, want %g mm x %.3f px/mm = %d", tc.dim, tc.spacing, c.plane.name, longest, tc.mm, tc.ppm, want)
			}
			labels = append(labels, label{fmt.Sprintf("%g mm", tc.mm), l.barLabel.Add(p.at[i]), textColor})
		}
		checkLabels(t, img, labels)
	}
}

func TestNiceLength(t *testing.T) {
	for _, tc := range []struct{ x, want float64 }{{11.52, 10}, {6, 5}, {0.3, 0.2}, {1, 1}, {99, 50}, {25, 20}, {100, 100}} {
		if got := niceLength(tc.x); math.Abs(got-tc.want) > 1e-9*tc.want {
			t.Errorf("niceLength(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
}

// The zero window is the 1st to 99th percentile, in HU for a volume with
// MuWater, and the header says so.
func TestPercentileWindow(t *testing.T) {
	const mu = 0.02
	v := Volume{Volume: filled([3]int{10, 10, 100}, [3]float64{1, 1, 1}, func(i, j, k int) float64 {
		return mu * (1 + float64(i+10*j+100*k)/10000) // 0 to 999.9 HU
	}), MuWater: mu}
	w := percentiles([]Volume{v}, func(v Volume) []float32 { return v.Data })
	if math.Abs(w.Lo-10) > 0.2 || math.Abs(w.Hi-990) > 0.2 {
		t.Errorf("window %v, want 10 to 990 HU", w)
	}
	if s := w.label(true, true); s != "window 10 to 990 HU (1st to 99th percentile)" {
		t.Errorf("label %q", s)
	}
}

// Jobs draw their previews at the same time, and the font face they share
// keeps glyph buffers: labels drawn concurrently must come out as labels
// drawn alone (run with -race to see the data race the lock prevents; a
// worker test once panicked in the face's glyph cache).
func TestLabelsDrawnConcurrently(t *testing.T) {
	draw := func() *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 400, lineHeight()))
		drawText(img, "axial z = +0.2 mm  bin 2 33.5-50.5 keV", 2, 0, textColor)
		return img
	}
	want := draw()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := draw(); !bytes.Equal(got.Pix, want.Pix) {
					errs <- "a label drawn concurrently differs from one drawn alone"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

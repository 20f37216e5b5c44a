package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// Convolving with rampTaps as the GPU does, including the zero columns of
// a widened detector, gives what fdk's FFT filter gives.
func TestRampTapsMatchFilterRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		raw, padLeft, padRight int
		win                    fdk.Window
		cutoff, pad            float64
	}{
		{64, 0, 0, fdk.RamLak, 1, 2},
		{101, 0, 0, fdk.SheppLogan, 0.8, 2},
		{90, 17, 0, fdk.Hann, 1, 2.5},
		{77, 0, 9, fdk.Cosine, 0.5, 3},
	} {
		out := tc.raw + tc.padLeft + tc.padRight
		f, err := fdk.NewRampFilter(out, 0.7, tc.win, tc.cutoff, tc.pad)
		if err != nil {
			t.Fatal(err)
		}
		taps := rampTaps(f, out)
		in := make([]float32, tc.raw)
		for i := range in {
			in[i] = rng.Float32() - 0.3
		}
		want := make([]float32, out)
		copy(want[tc.padLeft:], in)
		f.FilterRows(want, out)
		var scale float64
		for _, v := range want {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := range out {
			var got float64
			for j, v := range in {
				got += float64(v) * float64(taps[i-tc.padLeft-j+out-1])
			}
			if math.Abs(got-float64(want[i])) > 1e-5*scale {
				t.Fatalf("%+v: output %d = %g, FFT filter gives %g", tc, i, got, want[i])
			}
		}
	}
}

// The separable weights reproduce fdk's weighting on every pixel, for the
// full scan, Parker's short scan and Wang's displaced detector.
func TestSeparableWeightsMatchApply(t *testing.T) {
	base := func(views int, arc, offsetU float64) *fdk.Geometry {
		g := &fdk.Geometry{SID: 600, SDD: 1100, OffsetU: offsetU, OffsetV: 3, COROffset: 1.5, Tilt: 0.01,
			Detector: fdk.Detector{Cols: 48, Rows: 20, PitchU: 3, PitchV: 2.5}}
		for i := range views {
			g.Angles = append(g.Angles, 0.3+arc*float64(i)/float64(views))
		}
		return g
	}
	for name, g := range map[string]*fdk.Geometry{
		"full":      base(40, 2*math.Pi, 0),
		"parker":    base(40, 4.3, 0),
		"displaced": base(40, 2*math.Pi, 40),
	} {
		vs := views(t, g)
		w, err := fdk.NewWeights(g, vs)
		if err != nil {
			t.Fatal(err)
		}
		if name == "parker" && w.Scan().Full || name == "displaced" && !w.Displaced() {
			t.Fatalf("%s: the geometry does not exercise its weights", name)
		}
		sw, err := SeparableWeights(w, g, vs)
		if err != nil {
			t.Fatal(err)
		}
		pix := sw.Pixel()
		for v := range vs {
			want := make([]float32, g.Pixels())
			for i := range want {
				want[i] = 1
			}
			w.Apply(v, want)
			col := sw.Column(v)
			for i, x := range want {
				got := pix[i] * col[i%g.Cols]
				if math.Abs(float64(got-x)) > 2e-6*math.Max(1, math.Abs(float64(x))) {
					t.Fatalf("%s view %d pixel %d: %g x %g = %g, fdk weights %g", name, v, i, pix[i], col[i%g.Cols], got, x)
				}
			}
		}
	}
}

func TestSeparableWeightsRejectsMovingPrincipalPoint(t *testing.T) {
	g := &fdk.Geometry{SID: 600, SDD: 1100, Detector: fdk.Detector{Cols: 16, Rows: 8, PitchU: 1, PitchV: 1}}
	for i := range 8 {
		g.Angles = append(g.Angles, float64(i)*math.Pi/4)
	}
	vs := views(t, g)
	w, err := fdk.NewWeights(g, vs)
	if err != nil {
		t.Fatal(err)
	}
	vs[3].PrincipalV += 2
	if _, err := SeparableWeights(w, g, vs); err == nil {
		t.Error("views with different principal points accepted")
	}
}

func TestPrepareFDKWidensDisplacedDetector(t *testing.T) {
	g := &fdk.Geometry{SID: 600, SDD: 1200, OffsetU: 120, Detector: fdk.Detector{Cols: 80, Rows: 16, PitchU: 4, PitchV: 4}}
	for i := range 60 {
		g.Angles = append(g.Angles, float64(i)*math.Pi/30)
	}
	vs, det, p, err := PrepareFDK(g, fdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.PadLeft+p.Cols > det.Cols || p.Cols != 80 || det.Cols <= 80 {
		t.Fatalf("raw %d + left %d in a %d-column detector", p.Cols, p.PadLeft, det.Cols)
	}
	raw := views(t, g)
	for i := range vs {
		c0, r0, _ := raw[i].P.Project(fdk.Vec3{10, 20, 5})
		c1, r1, _ := vs[i].P.Project(fdk.Vec3{10, 20, 5})
		if math.Abs(c1-c0-float64(p.PadLeft)) > 1e-9 || math.Abs(r1-r0) > 1e-9 {
			t.Fatalf("view %d: widened view moves a point by (%g, %g), want (%d, 0)", i, c1-c0, r1-r0, p.PadLeft)
		}
	}
}

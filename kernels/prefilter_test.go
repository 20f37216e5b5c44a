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

// The separable weights the GPU multiplies by (pixel image times column
// factors) are FDK's, checked against the theory rather than against the
// arrays they are built from: the pixel factor is the cosine of the angle
// between each pixel's ray and the central ray, the column factor the
// view's angular share times a redundancy weight, and the redundancy
// weights of every ray and of its conjugate (β + π + 2γ, -γ) add up to
// what a full measurement of that line needs: 1 for Parker's short scan
// (Parker, Med. Phys. 9, 1982), 2 for Wang's displaced detector over a full
// scan, whose share is halved (Wang, Med. Phys. 29, 2002).
func TestSeparableWeightsAgainstTheory(t *testing.T) {
	base := func(views int, arc, offsetU float64) *fdk.Geometry {
		g := &fdk.Geometry{SID: 600, SDD: 1100, OffsetU: offsetU, OffsetV: 3, COROffset: 1.5,
			Detector: fdk.Detector{Cols: 96, Rows: 20, PitchU: 1.5, PitchV: 2.5}}
		for i := range views {
			g.Angles = append(g.Angles, 0.3+arc*float64(i)/float64(views-1))
		}
		if arc == 2*math.Pi { // evenly round, the last view not on the first
			for i := range g.Angles {
				g.Angles[i] = 0.3 + arc*float64(i)/float64(views)
			}
		}
		return g
	}
	for _, tc := range []struct {
		name  string
		g     *fdk.Geometry
		share float64 // the angular share of an interior view
		pair  float64 // redundancy weights of a ray and its conjugate
	}{
		{"full", base(720, 2*math.Pi, 0), math.Pi / 720, 2},
		{"parker", base(721, 4.3, 0), 4.3 / 720, 1},
		{"displaced", base(720, 2*math.Pi, 40), math.Pi / 720, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			vs := views(t, g)
			w, err := fdk.NewWeights(g, vs)
			if err != nil {
				t.Fatal(err)
			}
			sw, err := SeparableWeights(w, g, vs)
			if err != nil {
				t.Fatal(err)
			}
			red := redundancy(t, g, vs, sw, tc.share)
			checkConjugates(t, g, vs, red, tc.pair)
			if tc.name == "parker" {
				checkParker(t, g, vs, red)
			}
		})
	}
}

// redundancy divides the GPU's weights of each interior view by the
// cosine of each pixel's ray and by the view's angular share, checks that
// what is left is one factor per column, and returns it per view.
func redundancy(t *testing.T, g *fdk.Geometry, vs []fdk.View, sw Weighting, share float64) [][]float64 {
	t.Helper()
	pix := sw.Pixel()
	red := make([][]float64, len(vs))
	for v := range vs {
		central, err := vs[v].P.Ray(vs[v].PrincipalU, vs[v].PrincipalV)
		if err != nil {
			t.Fatal(err)
		}
		red[v] = make([]float64, g.Cols)
		for c := range g.Cols {
			for r := range g.Rows {
				ray, err := vs[v].P.Ray(float64(c), float64(r))
				if err != nil {
					t.Fatal(err)
				}
				cos := dot(ray, central) / math.Sqrt(dot(ray, ray)*dot(central, central))
				got := float64(pix[r*g.Cols+c]*sw.Column(v)[c]) / cos / share
				if r == 0 {
					red[v][c] = got
				} else if v > 0 && v < len(vs)-1 && math.Abs(got-red[v][c]) > 1e-5 {
					t.Fatalf("view %d column %d: weight/cos/share %g on row %d, %g on row 0: not the cosine weight", v, c, got, r, red[v][c])
				}
			}
		}
	}
	return red
}

// checkConjugates looks up the redundancy weight of each midplane ray's
// conjugate by interpolation between views and columns and checks the
// pair's sum; a ray whose conjugate misses the detector must carry the
// whole sum itself.
func checkConjugates(t *testing.T, g *fdk.Geometry, vs []fdk.View, red [][]float64, pair float64) {
	t.Helper()
	fan := make([]float64, g.Cols) // γ of each column, the same in every view
	for c := range fan {
		fan[c] = fanAngle(t, vs[0], float64(c))
	}
	step := (vs[len(vs)-1].Angle - vs[0].Angle) / float64(len(vs)-1)
	full := math.Abs(vs[1].Angle-vs[0].Angle)*float64(len(vs)) > 2*math.Pi-1e-9
	worst := 0.0
	for v := 1; v < len(vs)-1; v++ {
		for c := range g.Cols {
			beta := vs[v].Angle + math.Pi + 2*fan[c]
			fv := math.Mod(beta-vs[0].Angle+4*math.Pi, 2*math.Pi) / step
			fc, ok := columnOf(fan, -fan[c])
			last := float64(len(vs) - 1)
			var other float64
			switch {
			case !ok && !full:
				// Parker's weights assume a detector symmetric about the
				// central ray: the edge columns of a slightly off-centre
				// one, whose conjugates miss it, are not covered.
				continue
			case !ok || !full && (fv < 0 || fv > last):
				other = 0 // the conjugate was not measured
			case fc < 1 || fc > float64(g.Cols-2) || fv < 1 || fv > last-1:
				continue // too near an edge to interpolate
			default:
				other = bilinear(red, fv, fc)
			}
			worst = math.Max(worst, math.Abs(red[v][c]+other-pair))
		}
	}
	t.Logf("largest |w + w_conjugate - %g| = %.2e", pair, worst)
	if worst > 5e-3 {
		t.Errorf("redundancy weights of conjugate rays add up to %g ± %.3f, want ± 0.005", pair, worst)
	}
}

// checkParker compares the short scan's redundancy weights with Parker's
// formula for an arc of π + 2δ (Parker 1982, eq. 12, generalised by
// Wesarg et al., Med. Phys. 29, 2002): the sum rule alone would pass any
// ramp, and Parker's sin² is the one whose filtered projections stay
// smooth.
func checkParker(t *testing.T, g *fdk.Geometry, vs []fdk.View, red [][]float64) {
	t.Helper()
	arc := vs[len(vs)-1].Angle - vs[0].Angle
	delta := (arc - math.Pi) / 2
	s := func(x float64) float64 { return math.Pow(math.Sin(math.Pi/4*x), 2) }
	worst := 0.0
	for v := 1; v < len(vs)-1; v++ {
		beta := vs[v].Angle - vs[0].Angle
		for c := range g.Cols {
			gamma := fanAngle(t, vs[v], float64(c))
			want := 1.0
			switch {
			case beta < 2*(delta-gamma):
				want = s(beta / (delta - gamma))
			case beta > math.Pi-2*gamma:
				want = s((math.Pi + 2*delta - beta) / (delta + gamma))
			}
			worst = math.Max(worst, math.Abs(red[v][c]-want))
		}
	}
	t.Logf("largest difference from Parker's formula %.2e", worst)
	if worst > 1e-4 {
		t.Errorf("short-scan weights differ from Parker's formula by up to %.2e", worst)
	}
}

// fanAngle returns the angle, seen from +z, between the ray through the
// rotation axis and the ray through column col at the axis's row.
func fanAngle(t *testing.T, v fdk.View, col float64) float64 {
	_, row, _ := v.P.Project(fdk.Vec3{})
	d, err := v.P.Ray(col, row)
	if err != nil {
		t.Fatal(err)
	}
	c := fdk.Vec3{-v.Source[0], -v.Source[1], 0}
	return math.Atan2(c[0]*d[1]-c[1]*d[0], c[0]*d[0]+c[1]*d[1])
}

// columnOf returns the fractional column whose fan angle is gamma.
func columnOf(fan []float64, gamma float64) (float64, bool) {
	for c := range len(fan) - 1 {
		a, b := fan[c], fan[c+1]
		if (gamma-a)*(gamma-b) <= 0 && a != b {
			return float64(c) + (gamma-a)/(b-a), true
		}
	}
	return 0, false
}

func bilinear(f [][]float64, x, y float64) float64 {
	i, j := int(x), int(y)
	fx, fy := x-float64(i), y-float64(j)
	top := f[i][j] + fy*(f[i][j+1]-f[i][j])
	bot := f[i+1][j] + fy*(f[i+1][j+1]-f[i+1][j])
	return top + fx*(bot-top)
}

func dot(a, b fdk.Vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

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

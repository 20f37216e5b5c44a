package fdk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomGeometry returns a circular geometry with random distances, offsets,
// tilt and angles, or explicit matrices made from one.
func randomGeometry(rng *rand.Rand, views int) *Geometry {
	g := &Geometry{SID: 300 + 500*rng.Float64(), Detector: Detector{Cols: 20 + rng.IntN(90), Rows: 10 + rng.IntN(70),
		PitchU: 0.5 + rng.Float64(), PitchV: 0.5 + rng.Float64()}}
	g.SDD = g.SID * (1.2 + rng.Float64())
	g.OffsetU, g.OffsetV = 10*rng.NormFloat64(), 10*rng.NormFloat64()
	g.COROffset, g.Tilt = 3*rng.NormFloat64(), 0.05*rng.NormFloat64()
	for range views {
		g.Angles = append(g.Angles, 2*math.Pi*rng.Float64())
	}
	return g
}

func randomGrid(rng *rand.Rand) Grid {
	dim := [3]int{1 + rng.IntN(40), 1 + rng.IntN(40), 1 + rng.IntN(20)}
	s := 0.5 + 2*rng.Float64()
	return CenteredGrid(dim, [3]float64{s, s * (0.5 + rng.Float64()), s}, Vec3{20 * rng.NormFloat64(), 20 * rng.NormFloat64(), 10 * rng.NormFloat64()})
}

// The row clipping guarantees what the unchecked inner loops rely on: every
// voxel it keeps reads its four bilinear neighbours inside the padded image,
// computed in float32 exactly as the loop does; and the voxels just outside
// the kept range really miss the detector.
func TestRowSpanStaysInside(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	kept, clipped := 0, 0
	defer func() {
		t.Logf("%d voxel-views kept, %d clip edges checked", kept, clipped)
		if kept < 100000 || clipped < 10000 {
			t.Errorf("too few voxels exercised")
		}
	}()
	for trial := range 200 {
		g := randomGeometry(rng, 3)
		views, err := g.Views()
		if err != nil {
			t.Fatal(err)
		}
		grid := randomGrid(rng)
		acc := &cpuAccumulator{views: views, det: g.Detector, grid: grid}
		stride, rows := g.Cols+2*border, g.Rows+2*border
		for v := range views {
			m, _ := acc.voxelMatrix(v)
			p := paddedView{m: m}
			for r := range 3 {
				for k := range 4 {
					p.m64[r][k] = float64(p.m[r][k])
				}
			}
			for z := range grid.Dim[2] {
				for y := range grid.Dim[1] {
					x0, x1 := acc.xRange(&p, y, z)
					for x := x0; x <= x1; x++ {
						kept++
						iu, iv := loopIndices(&p.m, x, y, z)
						if iu < 0 || iu+1 >= stride || iv < 0 || iv+1 >= rows {
							t.Fatalf("trial %d view %d voxel (%d,%d,%d): reads (%d,%d) of a %dx%d padded image", trial, v, x, y, z, iu, iv, stride, rows)
						}
					}
					for _, x := range []int{x0 - 1, x1 + 1} {
						if x < 0 || x >= grid.Dim[0] || x0 > x1 {
							continue
						}
						clipped++
						c, r, w := views[v].P.Project(grid.Position(x, y, z))
						if w > 0 && c > -border+0.01 && c < float64(g.Cols)-0.01 && r > -border+0.01 && r < float64(g.Rows)-0.01 {
							t.Fatalf("trial %d view %d voxel (%d,%d,%d) at (%g,%g) was clipped but sees the detector", trial, v, x, y, z, c, r)
						}
					}
				}
			}
		}
	}
}

// loopIndices computes the inner loop's (iu, iv) in float32, as it does.
func loopIndices(m *[3][4]float32, x, y, z int) (int, int) {
	fx, fy, fz := float32(x), float32(y), float32(z)
	bu := m[0][1]*fy + m[0][2]*fz + m[0][3]
	bv := m[1][1]*fy + m[1][2]*fz + m[1][3]
	bw := m[2][1]*fy + m[2][2]*fz + m[2][3]
	iw := 1 / (m[2][0]*fx + bw)
	return int((m[0][0]*fx + bu) * iw), int((m[1][0]*fx + bv) * iw)
}

// The back-projector agrees with a direct float64 evaluation of one view at
// every voxel: bilinear interpolation at the voxel's projection, zero off
// the detector, times 1/w². Two bins exercise the multi-bin loop too, and
// the scalar loop is checked as well as the vector one.
func TestBackprojectMatchesDirect(t *testing.T) {
	vector := haveAVX2
	defer func() { haveAVX2 = vector }()
	for _, haveAVX2 = range []bool{false, vector} {
		testBackprojectMatchesDirect(t)
	}
}

func testBackprojectMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	total, worst := 0, 0.0
	defer func() {
		t.Logf("AVX2 %v: worst |error|/(1+|want|) %.3g (bound %.0e)", haveAVX2, worst, backprojectTol)
		if total < 50000 {
			t.Errorf("only %d voxels saw a view: the test exercises too little", total)
		}
	}()
	for trial := range 40 {
		g := randomGeometry(rng, 2)
		views, _ := g.Views()
		grid := randomGrid(rng)
		for bins := 1; bins <= 2; bins++ {
			imgs := make([][]float32, bins)
			for b := range imgs {
				imgs[b] = make([]float32, g.Pixels())
				for i := range imgs[b] {
					imgs[b][i] = rng.Float32()*2 - 1
				}
			}
			acc, err := CPU{Threads: 3}.Start(views, g.Detector, grid, bins)
			if err != nil {
				t.Fatal(err)
			}
			if err := acc.Add([]Filtered{{View: 1, Bins: imgs}}); err != nil {
				t.Fatal(err)
			}
			vols, _ := acc.Finish()
			nonzero := 0
			for _, v := range vols[0].Data {
				if v != 0 {
					nonzero++
				}
			}
			total += nonzero
			for b := range bins {
				for i, got := range vols[b].Data {
					x, y, z := i%grid.Dim[0], i/grid.Dim[0]%grid.Dim[1], i/grid.Dim[0]/grid.Dim[1]
					want := direct(views[1].P, g.Detector, imgs[b], grid.Position(x, y, z))
					e := math.Abs(float64(got)-want) / (1 + math.Abs(want))
					worst = max(worst, e)
					if !(e <= backprojectTol) {
						t.Fatalf("trial %d bin %d voxel (%d,%d,%d): %g, want %g", trial, b, x, y, z, got, want)
					}
				}
			}
		}
	}
}

// backprojectTol bounds the float32 back-projector's error against the
// float64 reference, relative to 1 + |reference|: measured 1.5e-4 (float32
// projection coordinates on detectors up to 110 pixels wide).
const backprojectTol = 2e-4

// direct is the float64 reference: bilinear with zero outside the detector.
func direct(m Matrix, det Detector, img []float32, p Vec3) float64 {
	c, r, w := m.Project(p)
	if w <= 0 {
		return 0
	}
	at := func(i, j int) float64 {
		if i < 0 || j < 0 || i >= det.Cols || j >= det.Rows {
			return 0
		}
		return float64(img[j*det.Cols+i])
	}
	i, j := math.Floor(c), math.Floor(r)
	fu, fv := c-i, r-j
	ii, jj := int(i), int(j)
	top := at(ii, jj)*(1-fu) + at(ii+1, jj)*fu
	bot := at(ii, jj+1)*(1-fu) + at(ii+1, jj+1)*fu
	return (top*(1-fv) + bot*fv) / (w * w)
}

// Views at exact multiples of 90 degrees leave matrix coefficients of 1e-17
// where 0 is meant; the clipping must still give in-range or empty spans
// (it once returned a start of -2⁶³ there).
func TestRowSpanAxisAlignedViews(t *testing.T) {
	g := &Geometry{SID: 160, SDD: 240, Detector: Detector{Cols: 518, Rows: 128, PitchU: 0.11, PitchV: 0.11}}
	for i := range 360 {
		g.Angles = append(g.Angles, float64(i)*2*math.Pi/360)
	}
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	views = []View{views[0], views[90], views[180], views[270]}
	grid := CenteredGrid([3]int{256, 256, 256}, [3]float64{0.15, 0.15, 0.15}, Vec3{})
	a := &cpuAccumulator{views: views, det: g.Detector, grid: grid}
	for v := range views {
		m, _ := a.voxelMatrix(v)
		p := paddedView{m: m}
		for r := range 3 {
			for k := range 4 {
				p.m64[r][k] = float64(p.m[r][k])
			}
		}
		for z := range 256 {
			for y := range 256 {
				if x0, x1 := a.xRange(&p, y, z); x0 <= x1 && (x0 < 0 || x1 >= 256) {
					t.Fatalf("view %d row (%d, %d): span %d..%d outside the volume", v, y, z, x0, x1)
				}
			}
		}
	}
}

// fovTol bounds the difference between a field-of-view-limited
// reconstruction and a full one masked afterwards, relative to 1 + |full|:
// measured 2.8e-6 (GOAMD64 v1) and 4.5e-8 (v3), float32 rounding of spans
// clipped at different voxels.
const fovTol = 1e-5

// Skipping the voxels outside the field of view changes nothing inside it:
// the reconstruction equals the full one masked afterwards.
func TestFOVLimitKeepsTheFieldOfView(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	inside, worst := 0, 0.0
	defer func() {
		t.Logf("worst |limited - masked|/(1+|masked|) %.3g (bound %.0e)", worst, fovTol)
		if inside < 20000 {
			t.Errorf("only %d voxels inside the field of view: the test exercises too little", inside)
		}
	}()
	for trial := range 10 {
		g := randomGeometry(rng, 24)
		g.Angles = g.Angles[:0]
		for i := range 24 {
			g.Angles = append(g.Angles, float64(i)*2*math.Pi/24)
		}
		// A cube about as wide as the detector sees: its corners fall
		// outside the field of view, its middle inside.
		s := float64(g.Cols) * g.PitchU * g.SID / g.SDD / 40
		grid := CenteredGrid([3]int{40, 40, 20}, [3]float64{s, s, s}, Vec3{2 * rng.NormFloat64(), 2 * rng.NormFloat64(), 0})
		projs := func() [][]float32 {
			r := rand.New(rand.NewPCG(uint64(trial), 7))
			out := make([][]float32, 24)
			for v := range out {
				out[v] = make([]float32, g.Pixels())
				for i := range out[v] {
					out[v][i] = r.Float32()
				}
			}
			return out
		}
		limited, err := Reconstruct(g, grid, projs(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		full, err := Reconstruct(g, grid, projs(), Options{KeepOutsideFOV: true})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(g, grid, 1, Options{})
		if err != nil {
			t.Fatal(err)
		}
		NewFOV(r.bpViews, r.bpDet, grid).Mask(full)
		for i := range full.Data {
			if full.Data[i] != 0 {
				inside++
			}
			d := math.Abs(float64(limited.Data[i]-full.Data[i])) / (1 + math.Abs(float64(full.Data[i])))
			worst = max(worst, d)
			if !(d <= fovTol) {
				t.Fatalf("trial %d voxel %d: limited %g, full then masked %g", trial, i, limited.Data[i], full.Data[i])
			}
		}
	}
}

package radiomics

import (
	"math"
	"testing"
)

// TestResampledGrid checks IBSI's example of grid alignment (UMPJ): 4
// voxels of 3 mm resampled to 2 mm give ceil(12/2) = 6 voxels, centred on
// the original grid, so the first lies at grid coordinate
// (4 − 1 − (2/3)·5)/2 = −1/6, 0.5 mm before the first original voxel.
// In-plane resampling keeps the slices.
func TestResampledGrid(t *testing.T) {
	g := Grid{Size: [3]int{4, 4, 10}, Spacing: [3]float64{3, 3, 3}, Origin: [3]float64{10, -20, 30}}
	out, pos := resampledGrid(g, [3]float64{2, 2, 0}, true)
	if out.Size != [3]int{6, 6, 10} || out.Spacing != [3]float64{2, 2, 3} {
		t.Fatalf("grid %+v", out)
	}
	if math.Abs(pos[0][0]+1.0/6) > 1e-15 || pos[2] != nil {
		t.Errorf("first position %v (want −1/6 voxel), z positions %v (want none)", pos[0][0], pos[2])
	}
	if want := 10 - 0.5; math.Abs(out.Origin[0]-want) > 1e-12 || out.Origin[2] != 30 {
		t.Errorf("origin %v, want x %v and z kept", out.Origin, want)
	}
	// The centres agree.
	for a := range 2 {
		c0 := g.Origin[a] + g.Spacing[a]*float64(g.Size[a]-1)/2
		c1 := out.Origin[a] + out.Spacing[a]*float64(out.Size[a]-1)/2
		if math.Abs(c0-c1) > 1e-12 {
			t.Errorf("axis %d: centre %v, resampled %v", a, c0, c1)
		}
	}
	// 60·3/3 is 60 in decimal though not quite in binary: no extra slice.
	if out, _ := resampledGrid(Grid{Size: [3]int{5, 5, 60}, Spacing: [3]float64{0.977, 0.977, 3}}, [3]float64{2, 2, 3}, false); out.Size[2] != 60 {
		t.Errorf("%d slices, want 60", out.Size[2])
	}
}

// TestResampleMethods checks what each interpolation must do: linear and
// cubic reproduce a linear ramp inside the image (the B-spline with its
// prefilter interpolates, and reproduces polynomials up to degree 3 where
// the kink of the edge padding has decayed, as 0.268^d at d voxels), every
// method returns the original values where the grids coincide, and values
// beyond the edge are the edge's.
func TestResampleMethods(t *testing.T) {
	g := Grid{Size: [3]int{40, 3, 2}, Spacing: [3]float64{1, 1, 1}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	for n := range img.Data {
		i, j, k := g.coords(n)
		img.Data[n] = 5*float64(i) + float64(j) - 2*float64(k)
	}
	for _, method := range []string{Nearest, Linear, Cubic} {
		same := Resample(img, g.Spacing, false, method)
		for n, v := range same.Data {
			if math.Abs(v-img.Data[n]) > 1e-9 {
				t.Fatalf("%s: voxel %d is %v on the same grid, want %v", method, n, v, img.Data[n])
			}
		}
	}
	for _, method := range []string{Linear, Cubic} {
		out := Resample(img, [3]float64{0.5, 1, 1}, false, method)
		for i := range out.Size[0] {
			x := (out.Origin[0] + float64(i)*out.Spacing[0] - g.Origin[0]) / g.Spacing[0]
			want := 5 * min(max(x, 0), 39) // constant beyond the edges
			got := out.Data[out.index(i, 0, 0)]
			inside := x > 14 && x < 25 // cubic: far from the edges
			if (method == Linear || inside) && math.Abs(got-want) > 1e-6 {
				t.Errorf("%s at x %.2f: %v, want %v", method, x, got, want)
			}
		}
	}
	out := Resample(img, [3]float64{0.7, 1, 1}, false, Nearest)
	for i := range out.Size[0] {
		x := (out.Origin[0] + float64(i)*out.Spacing[0]) / g.Spacing[0]
		if want := 5 * math.Min(math.Max(math.Floor(x+0.5), 0), 39); out.Data[out.index(i, 0, 0)] != want {
			t.Errorf("nearest at x %.2f: %v, want %v", x, out.Data[out.index(i, 0, 0)], want)
		}
	}
}

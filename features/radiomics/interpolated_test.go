package radiomics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestComputeInterpolated checks that a mask interpolated once gives every
// feature Compute gives, and that other interpolation settings are refused.
func TestComputeInterpolated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := Grid{Size: [3]int{24, 22, 20}, Spacing: [3]float64{0.9, 0.9, 1.3}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for n := range img.Data {
		i, j, k := g.coords(n)
		d := math.Hypot(math.Hypot(float64(i)-11, float64(j)-10), float64(k)-9)
		img.Data[n] = math.Round(40*rng.NormFloat64() + 30*float64(i%5))
		mask.Data[n] = d < 8
	}
	s := MustPreset("ibsi-c")
	want, err := Compute(img, mask, s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := InterpolateMask(mask, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ComputeInterpolated(img, m, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d features, Compute gives %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Tag != want[i].Tag || got[i].Aggregation != want[i].Aggregation ||
			!same(got[i].Value, want[i].Value) {
			t.Errorf("%s (%s): %v, Compute gives %s (%s): %v", got[i].Tag, got[i].Aggregation, got[i].Value,
				want[i].Tag, want[i].Aggregation, want[i].Value)
		}
	}
	other := s
	in := *s.Interpolation
	in.MaskThreshold = 0.4
	other.Interpolation = &in
	if _, err := ComputeInterpolated(img, m, other); !errors.Is(err, ErrInput) {
		t.Errorf("another mask threshold: error %v, want ErrInput", err)
	}
}

// same reports values equal to 1e-12 relative, or both NaN: the two paths
// may resample in a different order of operations.
func same(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b)) || (math.IsNaN(a) && math.IsNaN(b))
}

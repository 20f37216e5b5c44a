package featvec

import (
	"math"
	"slices"
	"testing"
)

// Standardise leaves out the constant column and the one with a NaN and
// scales the rest to mean 0 and SD 1 (population SD).
func TestStandardise(t *testing.T) {
	rows := [][]float32{{1, 5, 10, float32(math.NaN())}, {3, 5, 20, 1}, {5, 5, 30, 2}}
	got, kept := Standardise(rows)
	if !slices.Equal(kept, []int{0, 2}) {
		t.Fatalf("kept %v, want [0 2]", kept)
	}
	s := float32(math.Sqrt(1.5)) // (−1, 0, 1)·√(3/2)
	want := [][]float32{{-s, -s}, {0, 0}, {s, s}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(got[i][j]-want[i][j])) > 1e-6 {
				t.Errorf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}

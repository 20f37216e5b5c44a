package fdk

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// A view with a NaN or infinity is rejected, naming the first bad pixel
// whatever chunk of a large image it lies in, and changes nothing: the
// same view number is accepted afterwards with good data.
func TestAddRejectsNonFiniteValues(t *testing.T) {
	g := &Geometry{SID: 600, SDD: 1200, Detector: Detector{Cols: 640, Rows: 480, PitchU: 1, PitchV: 1}}
	for i := range 8 {
		g.Angles = append(g.Angles, float64(i)*math.Pi/4)
	}
	r, err := New(g, CenteredGrid([3]int{8, 8, 8}, [3]float64{1, 1, 1}, Vec3{}), 1, Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	for _, tc := range []struct {
		bad  []int // pixels set bad, in order
		want string
	}{
		{[]int{5}, "column 5 row 0"},
		{[]int{300*640 + 17}, "column 17 row 300"},
		{[]int{479*640 + 639, 200*640 + 3}, "column 3 row 200"}, // the first in the image, not the first set
	} {
		img := make([]float32, g.Pixels())
		for k, i := range tc.bad {
			img[i] = []float32{float32(math.NaN()), float32(math.Inf(-1))}[k%2]
		}
		err := r.Add(2, [][]float32{img})
		if !errors.Is(err, ErrProjection) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bad pixels %v: err = %v, want ErrProjection naming %q", tc.bad, err, tc.want)
		}
	}
	if err := r.Add(2, [][]float32{make([]float32, g.Pixels())}); err != nil {
		t.Errorf("view 2 with good data after the rejections: %v", err)
	}
}

func TestFirstNonFinite(t *testing.T) {
	img := make([]float32, 1<<20)
	for _, threads := range []int{1, 3, 16} {
		if got := firstNonFinite(img, threads); got != -1 {
			t.Errorf("threads %d, clean image: %d, want -1", threads, got)
		}
		img[700000], img[900000] = float32(math.Inf(1)), float32(math.NaN())
		if got := firstNonFinite(img, threads); got != 700000 {
			t.Errorf("threads %d: %d, want 700000", threads, got)
		}
		img[700000], img[900000] = 0, 0
	}
}
